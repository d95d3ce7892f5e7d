package cache

import (
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Lister lists and gets objects from an Indexer by label selector and name,
// like client-go's generated listers. Get looks up a cluster-scoped object;
// use Namespace for namespaced ones.
type Lister[T Object] interface {
	// List returns the objects, in every namespace, whose labels match
	// selector.
	List(selector labels.Selector) ([]T, error)
	// Get returns the cluster-scoped object called name, or a NotFound
	// error (apierrors.IsNotFound).
	Get(name string) (T, error)
	// Namespace returns a lister restricted to namespace ns.
	Namespace(ns string) NamespaceLister[T]
}

// NamespaceLister lists and gets objects of one namespace.
type NamespaceLister[T Object] interface {
	// List returns the namespace's objects whose labels match selector.
	List(selector labels.Selector) ([]T, error)
	// Get returns the object called name in the namespace, or a NotFound
	// error (apierrors.IsNotFound).
	Get(name string) (T, error)
}

// NewLister returns a Lister over indexer whose NotFound errors name the
// resource gr. The indexer must use MetaNamespaceKeyFunc keys; namespace
// listing uses its NamespaceIndex when it has one and scans otherwise.
func NewLister[T Object](indexer Indexer[T], gr schema.GroupResource) Lister[T] {
	return &lister[T]{indexer: indexer, gr: gr}
}

type lister[T Object] struct {
	indexer Indexer[T]
	gr      schema.GroupResource
}

func (l *lister[T]) List(selector labels.Selector) ([]T, error) {
	if isNothing(selector) {
		return nil, nil
	}
	return filter(l.indexer.List(), "", selector), nil
}

func (l *lister[T]) Get(name string) (T, error) { return l.get("", name) }

func (l *lister[T]) get(ns, name string) (T, error) {
	key := name
	if ns != "" {
		key = ns + "/" + name
	}
	obj, ok, err := l.indexer.GetByKey(key)
	if err != nil {
		return obj, err
	}
	if !ok {
		return obj, apierrors.NewNotFound(l.gr, name)
	}
	return obj, nil
}

func (l *lister[T]) Namespace(ns string) NamespaceLister[T] {
	return &namespaceLister[T]{lister: l, ns: ns}
}

type namespaceLister[T Object] struct {
	*lister[T]
	ns string
}

func (n *namespaceLister[T]) List(selector labels.Selector) ([]T, error) {
	if n.ns == "" { // NamespaceAll
		return n.lister.List(selector)
	}
	if isNothing(selector) {
		return nil, nil
	}
	objs, err := n.indexer.ByIndex(NamespaceIndex, n.ns)
	if err == nil {
		return filter(objs, "", selector), nil
	}
	// No namespace index: scan everything.
	return filter(n.indexer.List(), n.ns, selector), nil
}

func (n *namespaceLister[T]) Get(name string) (T, error) { return n.get(n.ns, name) }

// isNothing reports whether s is labels.Nothing(), which selects nothing.
func isNothing(s labels.Selector) bool {
	if s == nil {
		return false
	}
	_, ok := s.Requirements()
	return !ok
}

// filter returns the objects in namespace ns (any if ns is "") whose labels
// match selector. It never writes to objs, which another Indexer
// implementation might share.
func filter[T Object](objs []T, ns string, selector labels.Selector) []T {
	if selector == nil {
		selector = labels.Everything()
	}
	everything := selector.Empty()
	if everything && ns == "" {
		return objs
	}
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if ns != "" && o.GetNamespace() != ns {
			continue
		}
		if everything || selector.Matches(labels.Set(o.GetLabels())) {
			out = append(out, o)
		}
	}
	return out
}
