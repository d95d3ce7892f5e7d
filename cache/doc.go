// Package cache holds the client-side object cache: a keyed Store, an
// Indexer with secondary indices, key functions and typed Listers.
//
// Readers never block writers. An Indexer publishes immutable snapshots
// (persistent hash tries) through an atomic pointer: List, ByIndex, GetByKey
// and the listers read one snapshot without holding any lock while they
// read, so any number of concurrent readers cannot slow the single writer
// that an informer runs, and a reader never sees half of a write or of a
// Replace. Snapshots are published lazily: a write with no reader since the
// previous one updates the writer's own trie nodes in place, and the first
// read after a write publishes the new state (an O(1) step under the writer
// mutex, taken only when it is free, or done by the writer as it commits);
// from then on the writer copies the published nodes it changes. A snapshot listed more than once keeps its List
// result, so further Lists of an unchanged cache copy one slice instead of
// walking the trie; every caller still gets a slice of its own.
//
// Writers run user code (the key function and the index functions) before
// taking the writer mutex, which only orders writers among themselves and
// is never held while user code runs; the one exception is AddIndexers
// racing a steady stream of writes, which, after a bounded number of rounds
// computed outside the mutex, indexes the last few objects written meanwhile
// while holding it (readers then wait for it to finish to see a newer
// state, never on user code). Each
// object keeps the index values computed when it was written, so updates and
// deletes re-index from those and never call an index function on an old
// object. An index function error fails the write and leaves the store as it
// was.
//
// Objects in a cache are shared and read-only: deep-copy one before changing
// it. Mutating a cached object changes what every other reader sees.
package cache
