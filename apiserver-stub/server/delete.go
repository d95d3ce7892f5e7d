package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// handleDelete serves DELETE of an object. Its DeleteOptions (body or
// query) are all read and validated first: on any error nothing is
// deleted. Preconditions (uid, resourceVersion) are honoured (409 on
// mismatch). An object with finalizers only gets its deletionTimestamp set
// and is returned; otherwise it is removed and, as for custom resources,
// the answer is a Success Status.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	if _, _, err := negotiateOutput(r, false); err != nil {
		return writeError(w, err)
	}
	opts, err := s.parseDeleteOptions(w, r)
	if err != nil {
		return writeError(w, err)
	}
	data, uid, removed, err := s.deleteObject(r.Context(), ri, ri.name, opts, len(opts.DryRun) > 0)
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
		Details:  &metav1.StatusDetails{Name: ri.name, Group: ri.res.GVR.Group, Kind: ri.res.GVR.Resource, UID: uid},
	})
	return http.StatusOK
}

// handleDeleteCollection serves DELETE on a collection: every object that
// matches the label and field selectors is deleted (or, with finalizers,
// marked) one by one, and the answer lists them, as for custom resources.
func (s *Server) handleDeleteCollection(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	if _, _, err := negotiateOutput(r, true); err != nil {
		return writeError(w, err)
	}
	lopts, err := parseListOptions(r.URL.Query(), ri.res, false)
	if err != nil {
		return writeError(w, err)
	}
	opts, err := s.parseDeleteOptions(w, r)
	if err != nil {
		return writeError(w, err)
	}
	dryRun := len(opts.DryRun) > 0
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

// deleteObject deletes one object, retrying on a concurrent write until it
// applies (preconditions are checked again on each try), within the
// request's timeout. It returns the state to report (the last state, or
// the object marked for deletion when finalizers keep it), its uid and
// whether it is gone.
func (s *Server) deleteObject(ctx context.Context, ri *requestInfo, name string, opts *metav1.DeleteOptions, dryRun bool) ([]byte, types.UID, bool, error) {
	for {
		if ctx.Err() != nil {
			return nil, "", false, ctxError(ctx)
		}
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
				if storage.IsConflict(err) {
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
			if storage.IsConflict(err) {
				continue
			}
			return nil, "", false, storageError(err, ri.gr(), name, msgListTooOld)
		}
		return rec.Data, acc.GetUID(), true, nil
	}
}
