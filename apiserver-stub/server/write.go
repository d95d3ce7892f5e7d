package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxConflictRetries bounds the read-modify-write loop of PATCH and DELETE.
const maxConflictRetries = 8

// writeOptions are the query parameters common to writes.
type writeOptions struct {
	dryRun bool
	fv     fieldValidation
}

func parseWriteOptions(r *http.Request) (writeOptions, error) {
	q := r.URL.Query()
	var wo writeOptions
	for _, v := range q["dryRun"] {
		if v != "All" {
			return wo, apierrors.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q: supported values: \"All\"", v))
		}
		wo.dryRun = true
	}
	fv, err := parseFieldValidation(q.Get("fieldValidation"))
	wo.fv = fv
	return wo, err
}

// handleCreate serves POST on a collection: 201 with the stored object.
// The server sets uid, creationTimestamp, generation 1 and the
// resourceVersion, fills the name from generateName and, as for custom
// resources with a status subresource, drops .status.
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	wo, err := parseWriteOptions(r)
	if err != nil {
		return writeError(w, err)
	}
	body, err := readBody(r, s.maxBody)
	if err != nil {
		return writeError(w, err)
	}
	data, err := bodyJSON(r.Header.Get("Content-Type"), body)
	if err != nil {
		return writeError(w, err)
	}
	obj, warnings, err := decodeObject(ri.res, data, wo.fv)
	if err != nil {
		return writeError(w, err)
	}
	acc, _ := meta.Accessor(obj)
	if err := checkNamespace(ri, acc); err != nil {
		return writeError(w, err)
	}
	generated := acc.GetName() == "" && acc.GetGenerateName() != ""
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	acc.SetUID(newUIDType())
	acc.SetCreationTimestamp(now)
	acc.SetGeneration(1)
	acc.SetResourceVersion("")
	acc.SetDeletionTimestamp(nil)
	acc.SetDeletionGracePeriodSeconds(nil)
	acc.SetSelfLink("")
	if ri.res.HasStatus {
		resetField(obj, "Status")
	}
	for attempt := 0; ; attempt++ {
		if generated {
			acc.SetName(acc.GetGenerateName() + utilrand.String(5))
		}
		if err := validateNew(ri.res, obj); err != nil {
			return writeError(w, err)
		}
		addWarningsOnce(w, &warnings)
		if wo.dryRun {
			b, err := s.codec.Encode(obj)
			if err != nil {
				return writeError(w, err)
			}
			writeRaw(w, http.StatusCreated, b)
			return http.StatusCreated
		}
		rec, err := s.store.Create(r.Context(), ri.key(acc.GetName()), obj)
		if err != nil {
			if generated && storage.IsAlreadyExists(err) && attempt < maxConflictRetries {
				continue
			}
			return writeError(w, storageError(err, ri.gr(), acc.GetName(), msgListTooOld))
		}
		writeRaw(w, http.StatusCreated, rec.Data)
		return http.StatusCreated
	}
}

func addWarningsOnce(w http.ResponseWriter, warnings *[]string) {
	addWarnings(w, *warnings)
	*warnings = nil
}

func newUIDType() types.UID { return types.UID(newUID()) }

// checkNamespace defaults an empty namespace in the body to the path's and
// rejects a different one; cluster-scoped objects have no namespace.
func checkNamespace(ri *requestInfo, acc metav1.Object) error {
	if !ri.res.Namespaced {
		acc.SetNamespace("")
		return nil
	}
	switch acc.GetNamespace() {
	case "":
		acc.SetNamespace(ri.namespace)
	case ri.namespace:
	default:
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return nil
}

// handleUpdate serves PUT on an object or its /status. The body must carry
// metadata.resourceVersion (422 without it) equal to the stored one (409
// otherwise); custom resources never create on update (404).
func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	wo, err := parseWriteOptions(r)
	if err != nil {
		return writeError(w, err)
	}
	body, err := readBody(r, s.maxBody)
	if err != nil {
		return writeError(w, err)
	}
	data, err := bodyJSON(r.Header.Get("Content-Type"), body)
	if err != nil {
		return writeError(w, err)
	}
	obj, warnings, err := decodeObject(ri.res, data, wo.fv)
	if err != nil {
		return writeError(w, err)
	}
	acc, _ := meta.Accessor(obj)
	if err := checkNamespace(ri, acc); err != nil {
		return writeError(w, err)
	}
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
	rec, code, err := s.commitUpdate(r.Context(), ri, cur, obj, wo.dryRun)
	if err != nil {
		return writeError(w, err)
	}
	writeRaw(w, code, rec)
	return code
}

// commitUpdate turns the requested new state of the object stored as cur
// into the state to store (main resource: status kept, generation bumped on
// spec changes; /status: only status taken), validates it and writes it
// with cur's revision as precondition. An update that changes nothing is not
// written. Removing the last finalizer of an object being deleted deletes
// it. It returns the response body and code.
func (s *Server) commitUpdate(ctx context.Context, ri *requestInfo, cur *storage.Record, obj runtime.Object, dryRun bool) ([]byte, int, error) {
	old, err := s.codec.Decode(cur.Key, cur.Data)
	if err != nil {
		return nil, 0, apierrors.NewInternalError(err)
	}
	oldAcc, _ := meta.Accessor(old)
	if ri.subresource == "status" {
		// Only .status changes; everything else stays as stored.
		upd := old.DeepCopyObject()
		copyField(upd, obj, "Status")
		obj = upd
	} else {
		acc, _ := meta.Accessor(obj)
		if ri.res.HasStatus {
			copyField(obj, old, "Status")
		}
		gen := oldAcc.GetGeneration()
		if !fieldEqual(obj, old, "Spec") {
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
		if err := validateUpdate(ri.res, obj, old); err != nil {
			return nil, 0, err
		}
	}
	acc, _ := meta.Accessor(obj)
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
	if oldAcc.GetDeletionTimestamp() != nil && len(acc.GetFinalizers()) == 0 {
		rec, err := s.store.Delete(ctx, cur.Key, cur.Revision)
		if err != nil {
			return nil, 0, storageError(err, ri.gr(), ri.name, msgListTooOld)
		}
		return rec.Data, http.StatusOK, nil
	}
	rec, err := s.store.Update(ctx, cur.Key, cur.Revision, obj)
	if err != nil {
		return nil, 0, storageError(err, ri.gr(), ri.name, msgListTooOld)
	}
	return rec.Data, http.StatusOK, nil
}

// Patch media types.
const (
	mergePatchType     = "application/merge-patch+json"
	jsonPatchType      = "application/json-patch+json"
	strategicPatchType = "application/strategic-merge-patch+json"
	applyPatchType     = "application/apply-patch+yaml"
)

// handlePatch serves PATCH with JSON merge patch or JSON patch on an object
// or its /status, as a read-modify-write that retries on a concurrent write
// unless the patch itself pins metadata.resourceVersion.
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	wo, err := parseWriteOptions(r)
	if err != nil {
		return writeError(w, err)
	}
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch mt {
	case mergePatchType, jsonPatchType:
	case strategicPatchType:
		return writeError(w, unsupportedMediaType(ct,
			"application/json-patch+json, application/merge-patch+json (strategic merge patch is not supported for kunos.io resources, as for custom resources)"))
	case applyPatchType:
		return writeError(w, unsupportedMediaType(ct,
			"application/json-patch+json, application/merge-patch+json (server-side apply is not supported)"))
	default:
		return writeError(w, unsupportedMediaType(ct, "application/json-patch+json, application/merge-patch+json"))
	}
	patch, err := readBody(r, s.maxBody)
	if err != nil {
		return writeError(w, err)
	}
	var jp jsonpatch.Patch
	if mt == jsonPatchType {
		if jp, err = decodeJSONPatch(patch); err != nil {
			return writeError(w, err)
		}
	} else if !json.Valid(patch) || bytes.TrimSpace(patch)[0] != '{' {
		return writeError(w, apierrors.NewBadRequest("the merge patch is not a valid JSON object"))
	}
	for attempt := 0; ; attempt++ {
		cur, err := s.store.Get(r.Context(), ri.key(ri.name), 0)
		if err != nil {
			return writeError(w, storageError(err, ri.gr(), ri.name, msgListTooOld))
		}
		patched, err := applyPatch(mt, jp, patch, cur.Data)
		if err != nil {
			return writeError(w, err)
		}
		if int64(len(patched)) > s.maxBody {
			return writeError(w, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the patched object is larger than the limit of %d bytes", s.maxBody)))
		}
		obj, warnings, err := decodeObject(ri.res, patched, wo.fv)
		if err != nil {
			return writeError(w, err)
		}
		acc, _ := meta.Accessor(obj)
		if rvs := acc.GetResourceVersion(); rvs != "" && rvs != strconv.FormatInt(cur.Revision, 10) {
			return writeError(w, apierrors.NewConflict(ri.gr(), ri.name, fmt.Errorf("%s", msgModified)))
		}
		rec, code, err := s.commitUpdate(r.Context(), ri, cur, obj, wo.dryRun)
		if err != nil {
			if apierrors.IsConflict(err) && attempt < maxConflictRetries {
				continue
			}
			return writeError(w, err)
		}
		addWarnings(w, warnings)
		writeRaw(w, code, rec)
		return code
	}
}

// maxJSONPatchOperations is kube-apiserver's cap on the operations of one
// JSON patch.
const maxJSONPatchOperations = 10000

// maxCopyGrowth bounds how much "copy" operations may grow a document, so
// that a small patch cannot double a document into gigabytes. The json-patch
// v4 library only has a process-wide setting for it; we set it unless the
// program already chose one.
const maxCopyGrowth = 3 << 20

func init() {
	if jsonpatch.AccumulatedCopySizeLimit == 0 {
		jsonpatch.AccumulatedCopySizeLimit = maxCopyGrowth
	}
}

// decodeJSONPatch parses an RFC 6902 patch; malformed is 400.
func decodeJSONPatch(patch []byte) (jsonpatch.Patch, error) {
	jp, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid JSON patch: %v", err))
	}
	if len(jp) > maxJSONPatchOperations {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the JSON patch has %d operations, more than the limit of %d", len(jp), maxJSONPatchOperations))
	}
	for i, op := range jp {
		switch op.Kind() {
		case "add", "replace", "test":
			if _, ok := op["value"]; !ok {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid JSON patch: operation %d (%s) has no value", i, op.Kind()))
			}
		case "remove", "move", "copy":
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid JSON patch: unsupported operation %q", op.Kind()))
		}
		if _, err := op.Path(); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid JSON patch: operation %d (%s): %v", i, op.Kind(), err))
		}
	}
	return jp, nil
}

// applyPatch applies a patch to a stored document. A patch that cannot be
// applied (a failed test, a missing path) is 422, as in kube-apiserver.
func applyPatch(mt string, jp jsonpatch.Patch, patch, doc []byte) (out []byte, err error) {
	// The json-patch library panics on some malformed operations (found by
	// FuzzPatch); a bad patch must be a client error, never a crash.
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", groupResourceNone, "",
				fmt.Sprintf("the patch cannot be applied: %v", p), 0, false)
		}
	}()
	if mt == jsonPatchType {
		out, err = jp.Apply(doc)
	} else {
		out, err = jsonpatch.MergePatch(doc, patch)
	}
	if err != nil {
		return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", groupResourceNone, "", err.Error(), 0, false)
	}
	return out, nil
}

// handleDelete serves DELETE of an object. Preconditions (uid,
// resourceVersion) from DeleteOptions are honoured (409 on mismatch). An
// object with finalizers only gets its deletionTimestamp set and is
// returned; otherwise it is removed and, as for custom resources, the
// answer is a Success Status.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	opts, dryRun, err := s.parseDeleteOptions(r)
	if err != nil {
		return writeError(w, err)
	}
	data, uid, removed, err := s.deleteObject(r.Context(), ri, ri.name, opts, dryRun)
	if err != nil {
		return writeError(w, err)
	}
	if !removed {
		writeRaw(w, http.StatusOK, data)
		return http.StatusOK
	}
	writeJSON(w, http.StatusOK, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details:  &metav1.StatusDetails{Name: ri.name, Group: groupName, Kind: ri.res.GVR.Resource, UID: uid},
	})
	return http.StatusOK
}

// handleDeleteCollection serves DELETE on a collection: every object that
// matches the label and field selectors is deleted (or, with finalizers,
// marked) one by one, and the answer lists them, as for custom resources.
func (s *Server) handleDeleteCollection(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	opts, dryRun, err := s.parseDeleteOptions(r)
	if err != nil {
		return writeError(w, err)
	}
	lopts, err := parseListOptions(r.URL.Query(), ri.res, false)
	if err != nil {
		return writeError(w, err)
	}
	lo := storage.ListOptions{}
	if lopts.LabelSelector != nil && !lopts.LabelSelector.Empty() {
		lo.Predicate.Label = lopts.LabelSelector
	}
	if lopts.FieldSelector != nil && !lopts.FieldSelector.Empty() {
		lo.Predicate.Field = lopts.FieldSelector
	}
	res, err := s.store.List(r.Context(), ri.prefix(), lo)
	if err != nil {
		return writeError(w, storageError(err, ri.gr(), "", msgListTooOld))
	}
	var items []*storage.Record
	for _, it := range res.Items {
		name := it.Key[strings.LastIndexByte(it.Key, '/')+1:]
		data, _, _, err := s.deleteObject(r.Context(), ri, name, opts, dryRun)
		if apierrors.IsNotFound(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			return writeError(w, err)
		}
		items = append(items, &storage.Record{Key: it.Key, Data: data})
	}
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatInt(s.store.CurrentRevision(), 10)}
	writeRaw(w, http.StatusOK, listBody(ri, lm, items))
	return http.StatusOK
}

// parseDeleteOptions reads the optional DeleteOptions body and dryRun.
func (s *Server) parseDeleteOptions(r *http.Request) (*metav1.DeleteOptions, bool, error) {
	wo, err := parseWriteOptions(r)
	if err != nil {
		return nil, false, err
	}
	body, err := readBody(r, s.maxBody)
	if err != nil {
		return nil, false, err
	}
	opts := &metav1.DeleteOptions{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, opts); err != nil {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions: %v", err))
		}
	}
	for _, v := range opts.DryRun {
		if v != "All" {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q", v))
		}
		wo.dryRun = true
	}
	return opts, wo.dryRun, nil
}

// deleteObject deletes one object, retrying on a concurrent write. It
// returns the state to report (the last state, or the object marked for
// deletion when finalizers keep it), its uid and whether it is gone.
func (s *Server) deleteObject(ctx context.Context, ri *requestInfo, name string, opts *metav1.DeleteOptions, dryRun bool) ([]byte, types.UID, bool, error) {
	for attempt := 0; ; attempt++ {
		cur, err := s.store.Get(ctx, ri.key(name), 0)
		if err != nil {
			return nil, "", false, storageError(err, ri.gr(), name, msgListTooOld)
		}
		obj, err := s.codec.Decode(cur.Key, cur.Data)
		if err != nil {
			return nil, "", false, apierrors.NewInternalError(err)
		}
		acc, _ := meta.Accessor(obj)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != acc.GetUID() {
				return nil, "", false, apierrors.NewConflict(ri.gr(), name,
					fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, acc.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != acc.GetResourceVersion() {
				return nil, "", false, apierrors.NewConflict(ri.gr(), name,
					fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, acc.GetResourceVersion()))
			}
		}
		if len(acc.GetFinalizers()) > 0 {
			if acc.GetDeletionTimestamp() != nil || dryRun {
				return cur.Data, acc.GetUID(), false, nil
			}
			now := metav1.NewTime(time.Now().Truncate(time.Second))
			zero := int64(0)
			acc.SetDeletionTimestamp(&now)
			acc.SetDeletionGracePeriodSeconds(&zero)
			rec, err := s.store.Update(ctx, cur.Key, cur.Revision, obj)
			if err != nil {
				if storage.IsConflict(err) && attempt < maxConflictRetries {
					continue
				}
				return nil, "", false, storageError(err, ri.gr(), name, msgListTooOld)
			}
			return rec.Data, acc.GetUID(), false, nil
		}
		if dryRun {
			return cur.Data, acc.GetUID(), true, nil
		}
		rec, err := s.store.Delete(ctx, cur.Key, cur.Revision)
		if err != nil {
			if storage.IsConflict(err) && attempt < maxConflictRetries {
				continue
			}
			return nil, "", false, storageError(err, ri.gr(), name, msgListTooOld)
		}
		return rec.Data, acc.GetUID(), true, nil
	}
}
