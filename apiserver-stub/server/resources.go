package server

// This file holds the resource registry. Invariant: every resource the
// server serves is one Resource in the registry, and everything the server
// does per resource (routing, discovery, OpenAPI, decoding, field
// selectors, tables, storage keys, metrics) reads it from there; no
// handler switches on a kind. Storage sees only keys and the fields.Set the
// Codec computes with Resource.Fields.

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/deletion"
	"github.com/kunos-io/listwatch/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource is one resource the server serves: its descriptor's Info (where
// it lives, how discovery names it, its selectable fields), with the
// descriptor's Go type hidden behind New and Fields, and what only a server
// needs (generation, patch types, categories, table columns). Build one
// from a descriptor with ResourceOf.
type Resource struct {
	resource.Info
	Categories []string
	// Generation says metadata.generation is 1 at creation and bumped on
	// every change of .spec, as for custom resources. Without it the server
	// leaves generation unset, as kube-apiserver does for Leases and Events.
	Generation bool
	// StrategicMerge says PATCH also takes
	// application/strategic-merge-patch+json, applied with the patch tags
	// of the Go type (kinds from k8s.io/api have them).
	StrategicMerge bool
	// Hold, if set, is the kind's own finalization (a Namespace's
	// spec.finalizers): see deletion.HoldFunc.
	Hold deletion.HoldFunc
	// PrepareCreate and PrepareUpdate, if set, apply the kind's strategy to
	// a new object (server-set defaults) and to an update of the main
	// resource (fields only the server or a subresource may change).
	PrepareCreate func(obj runtime.Object)
	PrepareUpdate func(obj, old runtime.Object)
	// New returns an empty object of the resource's Go type.
	New func() runtime.Object
	// Fields returns every selectable field of obj with its value,
	// metadata.name and metadata.namespace included. obj has the type New
	// returns.
	Fields func(obj runtime.Object) fields.Set
	// Columns and Cells make kubectl's table: one cell per column for obj
	// (of the type New returns), all columns always (kubectl hides those
	// of Priority > 0 unless -o wide), as kube-apiserver answers.
	Columns []metav1.TableColumnDefinition
	Cells   func(obj runtime.Object, now time.Time) []any
	// Validate, when set, checks what the metadata checks do not: obj
	// (of the type New returns) about to be stored, old the stored
	// version on an update and nil on a create.
	Validate func(obj, old runtime.Object) field.ErrorList
	// Review, when set, makes the resource a review (kube's
	// SelfSubjectAccessReview, SelfSubjectReview): create is its only
	// verb, nothing is stored, and the answer (201) is what Review
	// returns for the decoded request.
	Review func(ctx context.Context, rc ReviewContext, obj runtime.Object) (runtime.Object, error)
	// schema is the kind's structural schema (from its generated CRD), or
	// nil: writes are validated against it and OpenAPI publishes it.
	schema *kindSchema
}

// custom reports whether kube-apiserver serves the kind through its
// custom resource handler (kunos.io and any kind a user registers) rather
// than go-restful routes (kinds from k8s.io/api, the ones that take
// strategic merge patches); the two route some methods differently.
func (r *Resource) custom() bool { return !r.StrategicMerge }

// Stored reports whether the resource keeps objects in storage (all but
// reviews).
func (r *Resource) Stored() bool { return r.Review == nil }

// verbs are the discovery verbs of the resource.
func (r *Resource) verbs() metav1.Verbs {
	if !r.Stored() {
		return metav1.Verbs{"create"}
	}
	return metav1.Verbs{"delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"}
}

// Serving says how the server serves the resource of a Descriptor[T]
// beyond what the descriptor says: the parts only a server needs.
type Serving[T resource.Object] struct {
	// Categories are discovery's categories (kubectl get all).
	Categories []string
	// Generation and StrategicMerge are Resource's.
	Generation, StrategicMerge bool
	// Columns and Cells make kubectl's table; without them the table has
	// Name and Age.
	Columns []metav1.TableColumnDefinition
	Cells   func(obj T, now time.Time) []any
}

// ResourceOf builds the Resource that serves d, so that the descriptor
// stays the one source of the resource's names, scope and fields, and its
// typed functions are written against T.
func ResourceOf[T resource.Object](d resource.Descriptor[T], s Serving[T]) Resource {
	if err := d.Validate(); err != nil {
		panic(fmt.Sprintf("server: %v", err)) // static tables only
	}
	r := Resource{
		Info: d.Info, Categories: s.Categories, Generation: s.Generation, StrategicMerge: s.StrategicMerge,
		Columns: s.Columns,
		New:     func() runtime.Object { return d.New() },
	}
	r.Fields = func(obj runtime.Object) fields.Set {
		o, ok := obj.(T)
		if !ok {
			return nil
		}
		return d.FieldSet(o)
	}
	cells := s.Cells
	if cells == nil {
		r.Columns = []metav1.TableColumnDefinition{colName, colAge}
		cells = func(o T, now time.Time) []any { return []any{o.GetName(), age(o.GetCreationTimestamp(), now)} }
	}
	r.Cells = func(obj runtime.Object, now time.Time) []any {
		o, ok := obj.(T)
		if !ok {
			return nil
		}
		return cells(o, now)
	}
	return r
}

// registry indexes the served resources.
type registry struct {
	all []*Resource
	// byGV maps a group/version to its resources by plural name.
	byGV map[schema.GroupVersion]map[string]*Resource
	// byStorage maps the first segment of a storage key (the plural name,
	// unique across groups) to its resource.
	byStorage map[string]*Resource
	byType    map[reflect.Type]*Resource
	// groups lists the named API groups in serving order, and their
	// versions; the core group ("") is served at /api.
	groups []string
	gvs    map[string][]schema.GroupVersion
}

func newRegistry(rs []Resource) *registry {
	reg := &registry{
		byGV:      map[schema.GroupVersion]map[string]*Resource{},
		byStorage: map[string]*Resource{},
		byType:    map[reflect.Type]*Resource{},
		gvs:       map[string][]schema.GroupVersion{},
	}
	for i := range rs {
		r := &rs[i]
		gv := r.GVR.GroupVersion()
		if reg.byStorage[r.GVR.Resource] != nil {
			panic(fmt.Sprintf("server: two resources named %q", r.GVR.Resource)) // static table
		}
		t := reflect.TypeOf(r.New())
		if reg.byType[t] != nil {
			panic(fmt.Sprintf("server: two resources of type %v", t))
		}
		reg.all = append(reg.all, r)
		reg.byStorage[r.GVR.Resource] = r
		reg.byType[t] = r
		if reg.byGV[gv] == nil {
			reg.byGV[gv] = map[string]*Resource{}
			if r.GVR.Group != "" && len(reg.gvs[r.GVR.Group]) == 0 {
				reg.groups = append(reg.groups, r.GVR.Group)
			}
			reg.gvs[r.GVR.Group] = append(reg.gvs[r.GVR.Group], gv)
		}
		reg.byGV[gv][r.GVR.Resource] = r
	}
	return reg
}

// lookup returns the resource of a group/version with a plural name.
func (reg *registry) lookup(gv schema.GroupVersion, resource string) (*Resource, bool) {
	r, ok := reg.byGV[gv][resource]
	return r, ok
}

// servesGV reports whether any resource is served in gv.
func (reg *registry) servesGV(gv schema.GroupVersion) bool { return len(reg.byGV[gv]) > 0 }

// resources returns the resources of gv, in registration order.
func (reg *registry) resources(gv schema.GroupVersion) []*Resource {
	var out []*Resource
	for _, r := range reg.all {
		if r.GVR.GroupVersion() == gv {
			out = append(out, r)
		}
	}
	return out
}

// resources is the server's registry: the kunos.io/v1 resources (as
// apis/kunos/v1 describes them), then the built-in kinds controllers need
// (coordination.k8s.io/v1 Leases for leader election, core v1 Events),
// the RBAC kinds and the self reviews.
var resources = newRegistry(slices.Concat(kunosResources(), builtinResources(), rbacResources(), reviewResources()))

// Resources returns the descriptors of every resource the server stores
// (reviews, which are not stored, are left out). Their storage keys start
// with "/" + GVR.Resource + "/".
func Resources() []Resource {
	out := make([]Resource, 0, len(resources.all))
	for _, r := range resources.all {
		if r.Stored() {
			out = append(out, *r)
		}
	}
	return out
}

// kunosResources serves the kunos.io/v1 descriptors of apis/kunos/v1,
// which stay the source of truth for those kinds, as custom resources.
func kunosResources() []Resource {
	cats := []string{"all", "kunos"}
	rs := []Resource{
		ResourceOf(kunosv1.Nodes, Serving[*kunosv1.Node]{Categories: cats, Generation: true, Columns: nodeColumns, Cells: nodeCells}),
		ResourceOf(kunosv1.Tasks, Serving[*kunosv1.Task]{Categories: cats, Generation: true, Columns: taskColumns, Cells: taskCells}),
		ResourceOf(kunosv1.Jobs, Serving[*kunosv1.Job]{Categories: cats, Generation: true, Columns: jobColumns, Cells: jobCells}),
	}
	// Their schemas are the generated CRDs' (apis/kunos/v1/zz_generated.crds.yaml).
	for i := range rs {
		rs[i].schema = kunosSchemas[rs[i].Kind]
	}
	return rs
}
