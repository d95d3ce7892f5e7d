package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// Patch media types.
const (
	mergePatchType     = "application/merge-patch+json"
	jsonPatchType      = "application/json-patch+json"
	strategicPatchType = "application/strategic-merge-patch+json"
	applyPatchType     = "application/apply-patch+yaml"
)

// handlePatch serves PATCH with JSON merge patch or JSON patch (and, for
// built-in kinds, strategic merge patch) on an object or its /status, as a
// read-modify-write. A patch that pins
// metadata.resourceVersion applies to that version only (409 otherwise);
// one that does not retries on a concurrent write until it applies, as
// kube-apiserver's GuaranteedUpdate does, within the request's timeout.
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	if _, _, err := negotiateOutput(r, false); err != nil {
		return writeError(w, err)
	}
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch mt {
	case mergePatchType, jsonPatchType:
	case strategicPatchType:
		if !ri.res.StrategicMerge {
			return writeError(w, unsupportedMediaType(ct,
				"application/json-patch+json, application/merge-patch+json (strategic merge patch is not supported for "+ri.res.GVR.Group+" resources, as for custom resources)"))
		}
	case applyPatchType:
	default:
		return writeError(w, unsupportedMediaType(ct, "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"))
	}
	patch, err := s.readBody(w, r)
	if err != nil {
		return writeError(w, err)
	}
	wo, err := parsePatchOptions(r.URL.Query(), mt)
	if err != nil {
		return writeError(w, err)
	}
	if mt == applyPatchType {
		return s.handleApply(w, r, ri, wo, patch)
	}
	var jp jsonpatch.Patch
	if mt == jsonPatchType {
		if jp, err = decodeJSONPatch(patch); err != nil {
			return writeError(w, err)
		}
	} else if !json.Valid(patch) || bytes.TrimSpace(patch)[0] != '{' {
		return writeError(w, apierrors.NewBadRequest("the merge patch is not a valid JSON object"))
	}
	var schema any // the Go type whose tags drive a strategic merge patch
	if mt == strategicPatchType {
		schema = ri.res.New()
	}
	ctx := r.Context()
	for {
		if ctx.Err() != nil {
			return writeError(w, ctxError(ctx))
		}
		cur, err := s.store.Get(ctx, ri.key(ri.name), 0)
		if err != nil {
			return writeError(w, storageError(err, ri.gr(), ri.name, msgListTooOld))
		}
		patched, err := applyPatch(mt, jp, patch, cur.Data, schema)
		if err != nil {
			return writeError(w, err)
		}
		if int64(len(patched)) > s.maxBody {
			return writeError(w, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the patched object is larger than the limit of %d bytes", s.maxBody)))
		}
		obj, warnings, err := decodeObjectFor(ri.res, ri.subresource, patched, wo.fv)
		if err != nil {
			return writeError(w, err)
		}
		acc, _ := meta.Accessor(obj)
		if err := checkPatchedName(ri, acc); err != nil {
			return writeError(w, err)
		}
		if rvs := acc.GetResourceVersion(); rvs != "" && rvs != strconv.FormatInt(cur.Revision, 10) {
			return writeError(w, apierrors.NewConflict(ri.gr(), ri.name, fmt.Errorf("%s", msgModified)))
		}
		rec, code, err := s.commitUpdate(ctx, ri, cur, obj, wo.dryRun, managerOf(wo, r))
		if err != nil {
			var rc *retryableConflict
			if errors.As(err, &rc) {
				continue // read again and reapply; a pinned version fails above
			}
			return writeError(w, err)
		}
		addWarnings(w, warnings)
		writeRaw(w, code, rec)
		return code
	}
}

// handleApply serves server-side apply (PATCH with
// application/apply-patch+yaml): the configuration is merged into the
// stored object by the field manager as fieldManager's (required, 422
// without), conflicts with other managers' fields are 409 unless force;
// an object that does not exist is created (201). Like other patches it
// retries on a concurrent write.
func (s *Server) handleApply(w http.ResponseWriter, r *http.Request, ri *requestInfo, wo writeOptions, patch []byte) int {
	cfg, err := decodeApplyPatch(patch)
	if err != nil {
		return writeError(w, err)
	}
	ctx := r.Context()
	for {
		if ctx.Err() != nil {
			return writeError(w, ctxError(ctx))
		}
		cur, err := s.store.Get(ctx, ri.key(ri.name), 0)
		if err != nil && !storage.IsNotFound(err) {
			return writeError(w, storageError(err, ri.gr(), ri.name, msgListTooOld))
		}
		if cur == nil && ri.subresource != "" {
			return writeError(w, apierrors.NewNotFound(ri.gr(), ri.name))
		}
		var live []byte
		if cur != nil {
			live = cur.Data
		}
		applied, err := s.applyTo(ri, live, cfg, wo.manager, wo.force)
		if err != nil {
			return writeError(w, err)
		}
		if int64(len(applied)) > s.maxBody {
			return writeError(w, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the patched object is larger than the limit of %d bytes", s.maxBody)))
		}
		obj, warnings, err := decodeObject(ri.res, applied, wo.fv)
		if err != nil {
			return writeError(w, err)
		}
		acc, _ := meta.Accessor(obj)
		if err := checkPatchedName(ri, acc); err != nil {
			return writeError(w, err)
		}
		if cur == nil {
			return s.create(w, r, ri, writeRequest{opts: wo, obj: obj, acc: acc, warnings: warnings}, "")
		}
		if rvs := acc.GetResourceVersion(); rvs != "" && rvs != strconv.FormatInt(cur.Revision, 10) {
			return writeError(w, apierrors.NewConflict(ri.gr(), ri.name, fmt.Errorf("%s", msgModified)))
		}
		rec, code, err := s.commitUpdate(ctx, ri, cur, obj, wo.dryRun, "")
		if err != nil {
			var rc *retryableConflict
			if errors.As(err, &rc) {
				continue
			}
			return writeError(w, err)
		}
		addWarnings(w, warnings)
		writeRaw(w, code, rec)
		return code
	}
}

// checkPatchedName refuses a patch that renames the object or moves it to
// another namespace: 400, as kube-apiserver's checkName
// (endpoints/handlers/rest.go). An emptied namespace is the path's.
func checkPatchedName(ri *requestInfo, acc metav1.Object) error {
	if acc.GetName() != ri.name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", acc.GetName(), ri.name))
	}
	if ri.res.Namespaced && acc.GetNamespace() != "" && acc.GetNamespace() != ri.namespace {
		return apierrors.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace on the request (%s)", acc.GetNamespace(), ri.namespace))
	}
	return checkNamespace(ri, acc)
}

// patchTypeOf is the PatchType of a patch media type.
func patchTypeOf(mt string) types.PatchType {
	switch mt {
	case jsonPatchType:
		return types.JSONPatchType
	case strategicPatchType:
		return types.StrategicMergePatchType
	case applyPatchType:
		return types.ApplyYAMLPatchType
	}
	return types.MergePatchType
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

// applyPatch applies a patch to a stored document; a strategic merge patch
// follows the patch tags of schema's Go type. A patch that cannot be
// applied (a failed test, a missing path) is 422, as in kube-apiserver.
func applyPatch(mt string, jp jsonpatch.Patch, patch, doc []byte, schema any) (out []byte, err error) {
	// The json-patch library panics on some malformed operations (found by
	// FuzzPatch); a bad patch must be a client error, never a crash.
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", groupResourceNone, "",
				fmt.Sprintf("the patch cannot be applied: %v", p), 0, false)
		}
	}()
	switch mt {
	case jsonPatchType:
		out, err = jp.Apply(doc)
	case strategicPatchType:
		out, err = strategicpatch.StrategicMergePatch(doc, patch, schema)
	default:
		out, err = jsonpatch.MergePatch(doc, patch)
	}
	if err != nil {
		return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", groupResourceNone, "", err.Error(), 0, false)
	}
	return out, nil
}
