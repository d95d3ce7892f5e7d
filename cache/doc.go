// Package cache holds the client-side object cache: a keyed Store, an
// Indexer with secondary indices, key functions and typed Listers.
//
// Readers never block writers. An Indexer publishes immutable snapshots
// (persistent hash tries, path-copied on every write) through an atomic
// pointer: List, ByIndex, GetByKey and the listers read one snapshot without
// taking any lock, so any number of concurrent readers cannot slow the
// single writer that an informer runs, and a reader never sees half of a
// write or of a Replace. A snapshot listed more than once keeps its List
// result, so further Lists of an unchanged cache copy one slice instead of
// walking the trie; every caller still gets a slice of its own.
//
// Writers run user code (the key function and the index functions) before
// taking the writer mutex, which only orders writers among themselves and
// is never held while user code runs; the one exception is AddIndexers
// racing a steady stream of writes, which, after a bounded number of rounds
// computed outside the mutex, indexes the last few objects written meanwhile
// while holding it (readers are still never blocked). Each
// object keeps the index values computed when it was written, so updates and
// deletes re-index from those and never call an index function on an old
// object. An index function error fails the write and leaves the store as it
// was.
//
// Objects in a cache are shared and read-only: deep-copy one before changing
// it. Mutating a cached object changes what every other reader sees.
package cache
