package cache

// Store is a thread-safe, keyed collection of objects. Objects returned by a
// Store are shared and read-only: deep-copy before changing one.
//
// Reads never wait for user code or for other reads: every read works on an
// immutable snapshot that a concurrent write cannot change, so a reader sees
// each write completely or not at all. A read after a write may wait for
// that one write's in-memory update to finish so that it sees it. Writes
// are serialized among themselves.
type Store[T Object] interface {
	// Add inserts or replaces obj under its key.
	Add(obj T) error
	// Update inserts or replaces obj under its key (same as Add).
	Update(obj T) error
	// Delete removes the object stored under obj's key; deleting an absent
	// key is not an error.
	Delete(obj T) error
	// Replace atomically swaps the whole content for items and records rv as
	// the store's resource version. Readers see the old or the new content,
	// never a mix. When items holds several objects with one key, the last
	// one wins.
	Replace(items []T, rv string) error
	// Get returns the object stored under obj's key.
	Get(obj T) (item T, exists bool, err error)
	// GetByKey returns the object stored under key.
	GetByKey(key string) (item T, exists bool, err error)
	// List returns every object, in no particular order. The slice is the
	// caller's; the objects are shared.
	List() []T
	// ListKeys returns every key, in no particular order.
	ListKeys() []string
	// Len returns the number of objects.
	Len() int
	// Bookmark records rv as the store's resource version without changing
	// its content.
	Bookmark(rv string)
	// LastStoreSyncResourceVersion returns the resource version of the last
	// Replace, Bookmark, or written object that carried one ("" if none).
	LastStoreSyncResourceVersion() string
}

// Indexer is a Store with secondary indices. Every method is safe for
// concurrent use; reads hold no lock while they read.
type Indexer[T Object] interface {
	Store[T]
	// Index returns the objects that share at least one value of index
	// indexName with obj.
	Index(indexName string, obj T) ([]T, error)
	// IndexKeys returns the keys of the objects indexed under value.
	IndexKeys(indexName, value string) ([]string, error)
	// ListIndexFuncValues returns every value present in index indexName.
	ListIndexFuncValues(indexName string) []string
	// ByIndex returns the objects indexed under value.
	ByIndex(indexName, value string) ([]T, error)
	// GetIndexers returns a copy of the index functions.
	GetIndexers() Indexers[T]
	// AddIndexers adds indices and indexes the objects already stored. It
	// fails, changing nothing, if a name is already used or an index
	// function fails.
	AddIndexers(newIndexers Indexers[T]) error
}

// Swapper is implemented by the Indexers of NewIndexer: writes that return
// the object they replaced or removed. They read it from the writer's own
// state, so a writer that needs the previous version (an informer
// computing its update notifications) neither reads a snapshot nor makes
// the indexer publish one; GetByKey then Update costs a path copy per
// write instead of an in-place update.
type Swapper[T Object] interface {
	// Swap inserts or replaces obj under its key and returns the object it
	// replaced.
	Swap(obj T) (old T, existed bool, err error)
	// Remove removes the object stored under obj's key and returns it.
	Remove(obj T) (old T, existed bool, err error)
}

var _ Swapper[Object] = (*indexer[Object])(nil)
