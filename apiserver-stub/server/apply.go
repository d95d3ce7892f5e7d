package server

// This file holds server-side apply and the managedFields of every write,
// on the libraries kube-apiserver uses: apimachinery's managedfields
// FieldManager over sigs.k8s.io/structured-merge-diff. Until the kinds'
// OpenAPI schemas reach the server, the type converter is the deduced one
// (managedfields.NewDeducedTypeConverter), as kube-apiserver uses for
// custom resources without a schema: objects are maps all the way down
// and lists are atomic (a list is owned, and conflicts, as a whole).
//
// Invariant: a create, update or non-apply patch records its changes as
// an Update entry of its manager (the fieldManager parameter, else the
// User-Agent's product), an apply as an Apply entry; the main resource
// and /status keep separate entries (subresource "status"), as in kube.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/yaml"
)

// fieldManagers holds one FieldManager per resource and subresource.
type fieldManagers map[*Resource]map[string]*managedfields.FieldManager

func newFieldManagers(reg *registry) (fieldManagers, error) {
	tc := managedfields.NewDeducedTypeConverter()
	out := fieldManagers{}
	for _, r := range reg.all {
		subs := []string{""}
		if r.HasStatus {
			subs = append(subs, "status")
		}
		out[r] = map[string]*managedfields.FieldManager{}
		for _, sub := range subs {
			fm, err := managedfields.NewDefaultCRDFieldManager(tc, identityConvertor{}, noDefaults{}, unstructuredCreater{}, r.GVK(), r.GVR.GroupVersion(), sub, nil)
			if err != nil {
				return nil, fmt.Errorf("server: field manager for %s: %w", r.GVR.Resource, err)
			}
			out[r][sub] = fm
		}
	}
	return out, nil
}

func (f fieldManagers) of(ri *requestInfo) *managedfields.FieldManager {
	return f[ri.res][ri.subresource]
}

// managerOf is kube-apiserver's managerOrUserAgent: the fieldManager
// parameter, else the product of the User-Agent (before its first "/").
func managerOf(wo writeOptions, r *http.Request) string {
	if wo.manager != "" {
		return wo.manager
	}
	m, _, _ := strings.Cut(r.UserAgent(), "/")
	return m
}

// toUnstructured converts a typed object (or nil: an empty one of ri's
// kind) for the field manager.
func toUnstructured(ri *requestInfo, obj runtime.Object) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	if obj != nil {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, err
		}
		u.Object = m
	}
	u.SetGroupVersionKind(ri.res.GVK())
	return u, nil
}

// trackUpdate sets obj's managedFields to what an Update by manager from
// live (nil for a create) records. As kube's UpdateNoErrors, a failure
// leaves the object's managedFields reset rather than failing the write.
func (s *Server) trackUpdate(ri *requestInfo, live, obj runtime.Object, manager string) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	lu, err1 := toUnstructured(ri, live)
	nu, err2 := toUnstructured(ri, obj)
	if err1 != nil || err2 != nil {
		acc.SetManagedFields(nil)
		return
	}
	out, err := s.fields.of(ri).Update(lu, nu, manager)
	if err != nil {
		s.log.Debug("managedFields: update not tracked", "err", err)
		acc.SetManagedFields(nil)
		return
	}
	oacc, err := meta.Accessor(out)
	if err != nil {
		acc.SetManagedFields(nil)
		return
	}
	acc.SetManagedFields(oacc.GetManagedFields())
}

// decodeApplyPatch parses an apply configuration (YAML or JSON): 400 when
// it is not an object.
func decodeApplyPatch(patch []byte) (*unstructured.Unstructured, error) {
	m := map[string]any{}
	if err := yaml.Unmarshal(patch, &m); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// applyTo merges the apply configuration into live (nil: the object does
// not exist yet) as manager, and returns the result as JSON. Conflicts are
// the library's 409 with one cause per field and manager.
func (s *Server) applyTo(ri *requestInfo, liveJSON []byte, cfg *unstructured.Unstructured, manager string, force bool) ([]byte, error) {
	live := &unstructured.Unstructured{Object: map[string]any{}}
	if liveJSON != nil {
		if err := json.Unmarshal(liveJSON, &live.Object); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
	}
	live.SetGroupVersionKind(ri.res.GVK())
	out, err := s.fields.of(ri).Apply(live, cfg.DeepCopy(), manager, force)
	if err != nil {
		if _, ok := err.(apierrors.APIStatus); ok {
			return nil, err
		}
		return nil, apierrors.NewBadRequest(err.Error())
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return b, nil
}

// identityConvertor converts between the one version each resource has:
// nothing to do.
type identityConvertor struct{}

func (identityConvertor) Convert(in, out, _ any) error {
	u, ok1 := in.(*unstructured.Unstructured)
	o, ok2 := out.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return fmt.Errorf("server: cannot convert %T to %T", in, out)
	}
	o.Object = u.DeepCopy().Object
	return nil
}

func (identityConvertor) ConvertToVersion(in runtime.Object, _ runtime.GroupVersioner) (runtime.Object, error) {
	return in, nil
}

func (identityConvertor) ConvertFieldLabel(_ schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

type noDefaults struct{}

func (noDefaults) Default(runtime.Object) {}

type unstructuredCreater struct{}

func (unstructuredCreater) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(gvk)
	return u, nil
}
