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
// frequent, costs nothing more than before. Callers still own the slice
// they get: the shared slice itself is never handed out.
//
// The cached slice lives exactly as long as its snapshot, which a write
// replaces; it is built by readers, without locks: two readers racing to
// build it both succeed and one result is kept.

// listCache is the List state of one snapshot. Its zero value is empty.
type listCache[T Object] struct {
	walked atomic.Bool         // a List walked the trie
	shared atomic.Pointer[[]T] // set by the second walk; never modified
}

// inherit makes c share from's cached List result, for a snapshot with the
// same content.
func (c *listCache[T]) inherit(from *listCache[T]) {
	c.shared.Store(from.shared.Load())
	c.walked.Store(from.walked.Load())
}

// list returns every object of s in a slice the caller owns.
func (s *snapshot[T]) list() []T {
	if p := s.lists.shared.Load(); p != nil {
		return slices.Clone(*p)
	}
	out := s.listObjects()
	if s.lists.walked.Load() {
		// The second walk of this snapshot: keep a copy for the next ones.
		shared := slices.Clone(out)
		s.lists.shared.CompareAndSwap(nil, &shared)
		return out
	}
	s.lists.walked.Store(true)
	return out
}
