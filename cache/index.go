package cache

import (
	"fmt"
)

// NamespaceIndex is the conventional name of the index built by
// MetaNamespaceIndexFunc. Listers use it, when present, to list one
// namespace without scanning the whole store.
const NamespaceIndex = "namespace"

// IndexFunc computes the values under which an object is indexed. It is
// user code and runs without any Indexer lock held, so it may read the
// Indexer; it must be a pure function of obj and must not modify obj. The
// values it returns are kept with the object and used to remove it from the
// index later; the function is never called again on a stored object.
type IndexFunc[T Object] func(obj T) ([]string, error)

// Indexers maps index names to the functions that compute them.
type Indexers[T Object] map[string]IndexFunc[T]

// MetaNamespaceIndexFunc indexes an object by its namespace. Cluster-scoped
// objects are indexed under "".
func MetaNamespaceIndexFunc[T Object](obj T) ([]string, error) {
	return []string{obj.GetNamespace()}, nil
}

// IndexError reports an index function that failed for one object. The write
// that called it was not applied.
type IndexError struct {
	Index string // the index name
	Key   string // the object's key
	Err   error  // what the index function returned
}

func (e *IndexError) Error() string {
	return fmt.Sprintf("cache: index %q failed for %q: %v", e.Index, e.Key, e.Err)
}

// Unwrap returns the index function's error.
func (e *IndexError) Unwrap() error { return e.Err }

// KeyError reports a key function that failed for an object.
type KeyError struct {
	Obj Object
	Err error
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("cache: cannot compute key for %T: %v", e.Obj, e.Err)
}

// Unwrap returns the key function's error.
func (e *KeyError) Unwrap() error { return e.Err }

// errNoIndex is returned for queries on an index that was never added.
func errNoIndex(name string) error {
	return fmt.Errorf("cache: index with name %q does not exist", name)
}
