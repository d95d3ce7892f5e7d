package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kunos-io/listwatch/apiserver-stub/deletion"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// handleUpdate serves PUT on an object or its /status. The body must carry
// metadata.resourceVersion (422 without it) equal to the stored one (409
// otherwise); custom resources never create on update (404).
func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	wr, err := s.decodeWrite(w, r, ri, parseUpdateOptions)
	if err != nil {
		return writeError(w, err)
	}
	wo, obj, acc, warnings := wr.opts, wr.obj, wr.acc, wr.warnings
	if acc.GetName() != ri.name {
		return writeError(w, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", acc.GetName(), ri.name)))
	}
	rvs := acc.GetResourceVersion()
	if rvs == "" {
		return writeError(w, apierrors.NewInvalid(ri.gk(), ri.name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "resourceVersion"), rvs, "must be specified for an update")}))
	}
	rv, err := strconv.ParseInt(rvs, 10, 64)
	if err != nil || rv <= 0 {
		return writeError(w, apierrors.NewInvalid(ri.gk(), ri.name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "resourceVersion"), rvs, "must be a resourceVersion returned by the server")}))
	}
	cur, err := s.store.Get(r.Context(), ri.key(ri.name), 0)
	if err != nil {
		return writeError(w, storageError(err, ri.gr(), ri.name, msgListTooOld))
	}
	if cur.Revision != rv {
		return writeError(w, apierrors.NewConflict(ri.gr(), ri.name, fmt.Errorf("%s", msgModified)))
	}
	addWarnings(w, warnings)
	rec, code, err := s.commitUpdate(r.Context(), ri, cur, obj, wo.dryRun, managerOf(wo, r))
	if err != nil {
		// A write between our read and ours: the request's
		// resourceVersion is stale now, 409 like any stale one.
		var rc *retryableConflict
		if errors.As(err, &rc) {
			err = rc.err
		}
		return writeError(w, err)
	}
	writeRaw(w, code, rec)
	return code
}

// retryableConflict is a write that lost against a concurrent one: the
// object changed between its read and its write. An unconditional write
// (no resourceVersion from the client) retries on it, as kube-apiserver's
// GuaranteedUpdate does (storage/etcd3/store.go: it loops until the
// write applies, bounded only by the request's context).
type retryableConflict struct{ err error }

func (e *retryableConflict) Error() string { return e.err.Error() }

func (e *retryableConflict) Unwrap() error { return e.err }

// commitUpdate turns the requested new state of the object stored as cur
// into the state to store (main resource: status kept, generation bumped on
// spec changes where the resource tracks it; /status: only status taken), validates it and writes it
// with cur's revision as precondition. An update that changes nothing is not
// written. Removing the last finalizer of an object being deleted deletes
// it. track names the manager whose Update the managedFields record; ""
// keeps obj's (an apply has set them). It returns the response body and
// code.
func (s *Server) commitUpdate(ctx context.Context, ri *requestInfo, cur *storage.Record, obj runtime.Object, dryRun bool, track string) ([]byte, int, error) {
	old, err := s.codec.Decode(cur.Key, cur.Data)
	if err != nil {
		return nil, 0, apierrors.NewInternalError(err)
	}
	oldAcc, _ := meta.Accessor(old)
	if ri.subresource == "status" {
		// Only .status changes; everything else stays as stored.
		upd := old.DeepCopyObject()
		copyField(upd, obj, "Status")
		if track == "" {
			// An apply to /status: its managedFields.
			nacc, _ := meta.Accessor(obj)
			uacc, _ := meta.Accessor(upd)
			uacc.SetManagedFields(nacc.GetManagedFields())
		}
		obj = upd
		if err := validateUpdate(ri.res, obj, old); err != nil {
			return nil, 0, err
		}
	} else {
		acc, _ := meta.Accessor(obj)
		if ri.res.HasStatus {
			copyField(obj, old, "Status")
		}
		gen := oldAcc.GetGeneration()
		if ri.res.Generation && !fieldEqual(obj, old, "Spec") {
			gen++
		}
		acc.SetGeneration(gen)
		if acc.GetUID() == "" {
			acc.SetUID(oldAcc.GetUID())
		}
		acc.SetCreationTimestamp(oldAcc.GetCreationTimestamp())
		acc.SetDeletionTimestamp(oldAcc.GetDeletionTimestamp())
		acc.SetDeletionGracePeriodSeconds(oldAcc.GetDeletionGracePeriodSeconds())
		acc.SetSelfLink("")
		if ri.res.PrepareUpdate != nil {
			ri.res.PrepareUpdate(obj, old)
		}
		if err := validateUpdate(ri.res, obj, old); err != nil {
			return nil, 0, err
		}
	}
	acc, _ := meta.Accessor(obj)
	if track != "" {
		s.trackUpdate(ri, old, obj, track)
	}
	acc.SetResourceVersion(strconv.FormatInt(cur.Revision, 10))
	enc, err := s.codec.Encode(obj)
	if err != nil {
		return nil, 0, apierrors.NewInternalError(err)
	}
	if bytes.Equal(enc, cur.Data) {
		return cur.Data, http.StatusOK, nil // no-op: no new revision, no event
	}
	if dryRun {
		return enc, http.StatusOK, nil
	}
	if deletion.Finished(obj, acc, ri.res.Hold) {
		rec, err := s.store.Delete(ctx, cur.Key, cur.Revision)
		if err != nil {
			return nil, 0, writeConflict(ctx, err, ri)
		}
		return rec.Data, http.StatusOK, nil
	}
	rec, err := s.store.Update(ctx, cur.Key, cur.Revision, obj)
	if err != nil {
		return nil, 0, writeConflict(ctx, err, ri)
	}
	return rec.Data, http.StatusOK, nil
}

// writeConflict maps the error of a conditional write: a lost race is a
// retryableConflict, a request out of time a 504, anything else as usual.
func writeConflict(ctx context.Context, err error, ri *requestInfo) error {
	if ctx.Err() != nil {
		return ctxError(ctx)
	}
	apiErr := storageError(err, ri.gr(), ri.name, msgListTooOld)
	if storage.IsConflict(err) {
		return &retryableConflict{apiErr}
	}
	return apiErr
}
