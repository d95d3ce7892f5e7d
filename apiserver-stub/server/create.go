package server

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

// maxGenerateNameAttempts bounds the names tried for one create with
// generateName, as kube-apiserver's maxNameGenerationCreateAttempts
// (registry/generic/registry/store.go).
const maxGenerateNameAttempts = 8

// writeRequest is a decoded create or update body with its options.
type writeRequest struct {
	opts     writeOptions
	obj      runtime.Object
	acc      metav1.Object
	warnings []string
}

// decodeWrite reads, decodes and checks a create or update, in
// kube-apiserver's order: the Accept header (406), the Content-Type (415),
// the body (413, 400, 504), the query options (400, 422), the kind and
// fields (400), the namespace against the path (400). It changes nothing
// stored.
func (s *Server) decodeWrite(w http.ResponseWriter, r *http.Request, ri *requestInfo, parseOpts func(url.Values) (writeOptions, error)) (writeRequest, error) {
	if _, _, err := negotiateOutput(r, false); err != nil {
		return writeRequest{}, err
	}
	mt, err := bodyMediaType(r.Header.Get("Content-Type"), ri.res)
	if err != nil {
		return writeRequest{}, err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return writeRequest{}, err
	}
	wo, err := parseOpts(r.URL.Query())
	if err != nil {
		return writeRequest{}, err
	}
	data, err := bodyJSON(mt, body, ri.res)
	if err != nil {
		return writeRequest{}, err
	}
	obj, warnings, err := decodeObjectFor(ri.res, ri.subresource, data, wo.fv)
	if err != nil {
		return writeRequest{}, err
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return writeRequest{}, apierrors.NewBadRequest(err.Error())
	}
	if err := checkNamespace(ri, acc); err != nil {
		return writeRequest{}, err
	}
	return writeRequest{opts: wo, obj: obj, acc: acc, warnings: warnings}, nil
}

// errRVOnCreate is kube-apiserver's answer to a create whose body sets
// metadata.resourceVersion: its storage refuses it
// (storage.ErrResourceVersionSetOnCreate from etcd3/store.go Create), and
// as that is not an API error it reaches the client as a 500 with no
// reason (responsewriters.ErrorToAPIStatus).
var errRVOnCreate = &apierrors.StatusError{ErrStatus: metav1.Status{
	Status:  metav1.StatusFailure,
	Code:    http.StatusInternalServerError,
	Reason:  metav1.StatusReasonUnknown,
	Message: "resourceVersion should not be set on objects to be created",
}}

// handleCreate serves POST on a collection (or, for a custom resource, on
// an object's path, whose name it ignores as kube-apiserver does): 201
// with the stored object.
// The server sets uid, creationTimestamp, generation 1 (for resources that
// track it) and the resourceVersion, fills the name from generateName and, as for custom
// resources with a status subresource, drops .status.
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	wr, err := s.decodeWrite(w, r, ri, parseCreateOptions)
	if err != nil {
		var wk *wrongKindError
		if errors.As(err, &wk) {
			// Admission (the namespace's existence) comes before validation.
			if nsErr := s.admitNamespace(r.Context(), ri, wk.name); nsErr != nil {
				return writeError(w, nsErr)
			}
		}
		return writeError(w, err)
	}
	return s.create(w, r, ri, wr, managerOf(wr.opts, r))
}

// create stores a decoded new object (a POST's, or an apply's that found
// no object). track names the manager whose Update the managedFields
// record; "" leaves them as they are (an apply has set them).
func (s *Server) create(w http.ResponseWriter, r *http.Request, ri *requestInfo, wr writeRequest, track string) int {
	wo, obj, acc, warnings := wr.opts, wr.obj, wr.acc, wr.warnings
	// kube-apiserver's versioner reads the resourceVersion as an unsigned
	// integer: one that does not parse, and "0", are ignored (and cleared).
	rvSet := false
	if v, err := strconv.ParseUint(acc.GetResourceVersion(), 10, 64); err == nil && v != 0 {
		rvSet = true
	}
	generated := acc.GetName() == "" && acc.GetGenerateName() != ""
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	acc.SetUID(newUIDType())
	acc.SetCreationTimestamp(now)
	if ri.res.Generation {
		acc.SetGeneration(1)
	} else {
		acc.SetGeneration(0)
	}
	acc.SetResourceVersion("")
	acc.SetDeletionTimestamp(nil)
	acc.SetDeletionGracePeriodSeconds(nil)
	acc.SetSelfLink("")
	if ri.res.HasStatus {
		resetField(obj, "Status")
	}
	if ri.res.PrepareCreate != nil {
		ri.res.PrepareCreate(obj)
	}
	if err := s.admitNamespace(r.Context(), ri, acc.GetName()); err != nil {
		return writeError(w, err)
	}
	if track != "" {
		s.trackUpdate(ri, nil, obj, track)
	}
	for attempt := 0; ; attempt++ {
		if generated {
			acc.SetName(acc.GetGenerateName() + utilrand.String(5))
		}
		if err := validateNew(ri.res, obj); err != nil {
			return writeError(w, err)
		}
		if rvSet && !wo.dryRun {
			// Validation first, then storage, as in kube-apiserver; a dry
			// run never reaches its storage's check.
			return writeError(w, errRVOnCreate)
		}
		addWarningsOnce(w, &warnings)
		if wo.dryRun {
			// Nothing is written, but the answer is what a write would say.
			if _, err := s.store.Get(r.Context(), ri.key(acc.GetName()), 0); err == nil {
				return writeError(w, apierrors.NewAlreadyExists(ri.gr(), acc.GetName()))
			}
			b, err := s.codec.Encode(obj)
			if err != nil {
				return writeError(w, err)
			}
			writeRaw(w, http.StatusCreated, b)
			return http.StatusCreated
		}
		rec, err := s.store.Create(r.Context(), ri.key(acc.GetName()), obj)
		if err != nil {
			if generated && storage.IsAlreadyExists(err) && attempt+1 < maxGenerateNameAttempts {
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
