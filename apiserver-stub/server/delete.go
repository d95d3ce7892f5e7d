package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/kunos-io/listwatch/apiserver-stub/deletion"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// handleDelete serves DELETE of an object. Its DeleteOptions (body or
// query) are all read and validated first: on any error nothing is
// deleted. Preconditions (uid, resourceVersion) are honoured (409 on
// mismatch). The propagation policy becomes the garbage collector's
// finalizer (orphan, foregroundDeletion); an object with finalizers only
// gets its deletionTimestamp set (its generation bumped) and is returned;
// otherwise it is removed and, as for custom resources, the answer is a
// Success Status.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	if _, _, err := negotiateOutput(r, false); err != nil {
		return writeError(w, err)
	}
	opts, err := s.parseDeleteOptions(w, r)
	if err != nil {
		return writeError(w, err)
	}
	if err := refuseImmortal(ri, ri.name); err != nil {
		return writeError(w, err)
	}
	data, uid, removed, err := s.deleteObject(r.Context(), ri, ri.name, opts, len(opts.DryRun) > 0)
	if err != nil {
		return writeError(w, err)
	}
	if !removed {
		// kube-apiserver answers 202 to a delete that explicitly asked
		// not to orphan and did not complete (handlers/delete.go).
		code := http.StatusOK
		//nolint:staticcheck // the deprecated field decides the code
		if o := opts.OrphanDependents; o != nil && !*o {
			code = http.StatusAccepted
		}
		writeRaw(w, code, data)
		return code
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
		if refuseImmortal(ri, name) != nil {
			continue
		}
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

// deleteObject deletes one object with the deletion rules every writer
// shares (package deletion: propagation policy as finalizers,
// deletionTimestamp and generation, removal when nothing holds it),
// checking the preconditions on each try. It returns the state to report
// (the last state, or the object marked for deletion when finalizers keep
// it), its uid and whether it is gone.
func (s *Server) deleteObject(ctx context.Context, ri *requestInfo, name string, opts *metav1.DeleteOptions, dryRun bool) ([]byte, types.UID, bool, error) {
	res, err := deletion.Delete(ctx, s.store, s.codec, ri.key(name), deletion.Options{
		Policy: propagationPolicy(opts),
		DryRun: dryRun,
		Hold:   ri.res.Hold,
		Check: func(_ runtime.Object, acc metav1.Object) error {
			p := opts.Preconditions
			if p == nil {
				return nil
			}
			if p.UID != nil && *p.UID != acc.GetUID() {
				return apierrors.NewConflict(ri.gr(), name,
					fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, acc.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != acc.GetResourceVersion() {
				return apierrors.NewConflict(ri.gr(), name,
					fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, acc.GetResourceVersion()))
			}
			return nil
		},
	})
	if err != nil {
		if _, ok := err.(apierrors.APIStatus); ok {
			return nil, "", false, err
		}
		if ctx.Err() != nil {
			return nil, "", false, ctxError(ctx)
		}
		return nil, "", false, storageError(err, ri.gr(), name, msgListTooOld)
	}
	acc, _ := meta.Accessor(res.Object)
	return res.Record.Data, acc.GetUID(), res.Removed, nil
}

// propagationPolicy is the policy a delete asks for: propagationPolicy,
// else the deprecated orphanDependents, else "" (what the object's
// finalizers say, Background by default, as for custom resources).
func propagationPolicy(opts *metav1.DeleteOptions) metav1.DeletionPropagation {
	if opts.PropagationPolicy != nil {
		return *opts.PropagationPolicy
	}
	//nolint:staticcheck // the deprecated field is still honoured, as kube-apiserver does
	if o := opts.OrphanDependents; o != nil {
		if *o {
			return metav1.DeletePropagationOrphan
		}
		return metav1.DeletePropagationBackground
	}
	return ""
}
