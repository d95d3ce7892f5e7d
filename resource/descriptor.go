package resource

// This file holds the Descriptor. Invariant: everything a component needs
// to address, decode and select one resource is in its Descriptor, and
// nothing else duplicates it: GVRs, kinds and scopes are read from here.

import (
	"errors"
	"fmt"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Object is a Kubernetes object with metadata, such as *kunosv1.Task: what
// a Descriptor describes. It has the method set of cache.Object, so a type
// satisfies both.
type Object interface {
	metav1.Object
	runtime.Object
}

// ErrScope is wrapped by the errors that report a namespace used against a
// resource's scope: a namespace given for a cluster-scoped resource, or
// none where a namespaced resource needs one. Such a call can never
// succeed, so it fails at once and is not retried.
var ErrScope = errors.New("namespace does not fit the resource's scope")

// Info is what a Descriptor says about its resource independently of the
// Go type: where the resource lives and how discovery names it.
type Info struct {
	// GVR is the group, version and plural resource name, e.g. kunos.io,
	// v1, tasks.
	GVR schema.GroupVersionResource
	// Kind and ListKind are the kinds of one object and of a list, e.g.
	// Task and TaskList.
	Kind, ListKind string
	// Singular and ShortNames are the names kubectl accepts besides the
	// plural, e.g. task and tk.
	Singular   string
	ShortNames []string
	// Namespaced says objects live in a namespace; false means the
	// resource is cluster-scoped, like Nodes.
	Namespaced bool
	// HasStatus says the resource has a /status subresource: writes to the
	// main resource then leave .status as stored, and UpdateStatus writes it.
	HasStatus bool
	// SelectableFields are the field-selector keys beyond metadata.name and
	// metadata.namespace, e.g. spec.nodeName.
	SelectableFields []string
}

// GVK returns the GroupVersionKind of one object of the resource.
func (i Info) GVK() schema.GroupVersionKind { return i.GVR.GroupVersion().WithKind(i.Kind) }

// String names the resource as kubectl does, e.g. "tasks.kunos.io" (just
// "events" for the core group).
func (i Info) String() string { return i.GVR.GroupResource().String() }

// CheckNamespace reports whether ns ("" for none) may address the
// collection of the resource: a cluster-scoped resource takes no namespace;
// a namespaced one takes a namespace or "" for all namespaces. The error
// wraps ErrScope.
func (i Info) CheckNamespace(ns string) error {
	if ns != "" && !i.Namespaced {
		return fmt.Errorf("%s is cluster-scoped, so namespace %q cannot be used: %w", i, ns, ErrScope)
	}
	return nil
}

// CheckObjectNamespace reports whether ns may address one object of the
// resource (get, create, update, delete): a cluster-scoped resource takes
// no namespace, a namespaced one needs one. The error wraps ErrScope.
func (i Info) CheckObjectNamespace(ns string) error {
	if err := i.CheckNamespace(ns); err != nil {
		return err
	}
	if ns == "" && i.Namespaced {
		return fmt.Errorf("%s is namespaced: give the object a namespace, or call Namespace first: %w", i, ErrScope)
	}
	return nil
}

// validate checks the fields every component relies on.
func (i Info) validate() error {
	switch {
	case i.GVR.Version == "" || i.GVR.Resource == "":
		return fmt.Errorf("resource: descriptor %q has no version or resource name", i.GVR)
	case i.Kind == "":
		return fmt.Errorf("resource: descriptor %s has no kind", i)
	}
	return nil
}

// Descriptor describes one resource whose objects have the Go type T, a
// pointer type such as *kunosv1.Task. Define one per resource, as a
// package-level variable next to the type (kunosv1.Tasks), and pass it to
// client.For, informer.For, controller.New and the server: T is inferred
// from it, so the type and the resource cannot disagree.
type Descriptor[T Object] struct {
	Info
	// Fields returns the values of obj's SelectableFields. It may be nil
	// when there are none; metadata.name and metadata.namespace are added
	// by FieldSet and need not be returned.
	Fields func(obj T) fields.Set
}

// Validate reports a descriptor that cannot work: T not a pointer type, or
// no version, resource name or kind. Components that take a descriptor call
// it when they are built.
func (d Descriptor[T]) Validate() error {
	if t := reflect.TypeFor[T](); t.Kind() != reflect.Pointer {
		return fmt.Errorf("resource: descriptor %s: type %v must be a pointer type such as *kunosv1.Task", d.Info, t)
	}
	return d.Info.validate()
}

// New returns a new, empty T (a pointer to a zero value).
func (d Descriptor[T]) New() T {
	return reflect.New(reflect.TypeFor[T]().Elem()).Interface().(T)
}

// FieldSet returns every field a field selector can match on obj with its
// value: metadata.name, metadata.namespace ("" for a cluster-scoped
// resource) and the SelectableFields.
func (d Descriptor[T]) FieldSet(obj T) fields.Set {
	var set fields.Set
	if d.Fields != nil {
		set = d.Fields(obj)
	}
	if set == nil {
		set = make(fields.Set, 2)
	}
	set["metadata.name"] = obj.GetName()
	if d.Namespaced {
		set["metadata.namespace"] = obj.GetNamespace()
	} else {
		set["metadata.namespace"] = ""
	}
	return set
}

// Untyped is a Descriptor with its Go type hidden, for code that handles
// several resources in one list (a server's registry, a test table). Every
// Descriptor[T] implements it.
type Untyped interface {
	// ResourceInfo returns the descriptor's Info.
	ResourceInfo() Info
	// NewObject returns a new, empty object of the descriptor's type.
	NewObject() runtime.Object
	// ObjectFields returns FieldSet of obj, or an error if obj is not of
	// the descriptor's type.
	ObjectFields(obj runtime.Object) (fields.Set, error)
	// Validate is Descriptor.Validate.
	Validate() error
}

// ResourceInfo returns d.Info; it makes d an Untyped.
func (d Descriptor[T]) ResourceInfo() Info { return d.Info }

// NewObject returns d.New() as a runtime.Object.
func (d Descriptor[T]) NewObject() runtime.Object { return d.New() }

// ObjectFields returns d.FieldSet(obj) for an obj of type T.
func (d Descriptor[T]) ObjectFields(obj runtime.Object) (fields.Set, error) {
	o, ok := obj.(T)
	if !ok {
		return nil, fmt.Errorf("resource: %s holds %v, not %T", d.Info, reflect.TypeFor[T](), obj)
	}
	return d.FieldSet(o), nil
}
