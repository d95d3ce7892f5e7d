package cache

import (
	"slices"
	"sync/atomic"
)

// List results are shared per snapshot.
//
// An informer's cache is read far more often than it is written, and every
// List of an unchanged snapshot returns the same objects. The second List of
// a snapshot keeps its walk of the trie with the snapshot; later Lists of
// that snapshot copy it (one memmove instead of a trie walk). The first List
// does not cache, so a snapshot that is listed once, as when writes are
// frequent, costs only a small allocation more. Callers still own the slice
// they get: the shared slice itself is never handed out.
//
// The cached slice lives exactly as long as its snapshot, which a write
// replaces; it is built by readers, without locks: two readers racing to
// build it both succeed and one result is kept.

// ByIndex results are kept the same way, for one (index, value) pair per
// snapshot: the one asked for twice in a row, as when every worker of a
// controller lists the same namespace through a lister.

// listCache is the List and ByIndex state of one snapshot (or of several
// with the same content, after Bookmark). Its zero value is empty.
type listCache[T Object] struct {
	walked atomic.Bool         // a List walked the trie
	shared atomic.Pointer[[]T] // set by the second walk; never modified

	lastQuery atomic.Uint64                  // queryHash of the last ByIndex walk
	byIndex   atomic.Pointer[indexResult[T]] // never modified once stored
}

// indexResult is the result of ByIndex(index i, value).
type indexResult[T Object] struct {
	i     int
	value string
	objs  []T
}

// cache returns the snapshot's listCache, allocating it on first use: by a
// reader, so that writes, which make a snapshot each, do not pay for it.
func (s *snapshot[T]) cache() *listCache[T] {
	if c := s.lists.Load(); c != nil {
		return c
	}
	s.lists.CompareAndSwap(nil, new(listCache[T]))
	return s.lists.Load()
}

// queryHash identifies a ByIndex query; a collision only costs a wasted
// copy, since a cached result is matched on (i, value) itself.
func queryHash(i int, value string) uint64 {
	return hashKey(value) ^ (uint64(i)+1)*0x9e3779b97f4a7c15
}

// byIndex returns the objects of s indexed under value in index i, in a
// slice the caller owns.
func (s *snapshot[T]) byIndex(i int, value string) []T {
	c := s.cache()
	if r := c.byIndex.Load(); r != nil && r.i == i && r.value == value {
		return slices.Clone(r.objs)
	}
	out := s.byIndexObjects(i, value)
	q := queryHash(i, value)
	if c.lastQuery.Load() == q {
		// Asked twice in a row: keep a copy for the next ones.
		c.byIndex.Store(&indexResult[T]{i: i, value: value, objs: slices.Clone(out)})
		return out
	}
	c.lastQuery.Store(q)
	return out
}

// list returns every object of s in a slice the caller owns.
func (s *snapshot[T]) list() []T {
	c := s.cache()
	if p := c.shared.Load(); p != nil {
		return slices.Clone(*p)
	}
	out := s.listObjects()
	if c.walked.Load() {
		// The second walk of this snapshot: keep a copy for the next ones.
		shared := slices.Clone(out)
		c.shared.CompareAndSwap(nil, &shared)
		return out
	}
	c.walked.Store(true)
	return out
}
