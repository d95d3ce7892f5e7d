package storage

import (
	"k8s.io/apimachinery/pkg/watch"
)

// Invariants of a mirror: a MemoryStore can hold a copy of another store's
// data (the etcd backend's watch cache) instead of assigning revisions.
// Such a store is never written through Create, Update or Delete; one
// goroutine, its feeder, calls load once on the empty store, then apply
// and advance in the source's revision order. Revisions may skip (the
// source's other prefixes), which the event log allows. Every read, watch
// and compaction guarantee of the store then holds for the mirror at the
// revisions it has reached: a watcher registered at revision R sees
// exactly the source's changes after R, in order.

// load makes the empty store hold recs, all live as of revision rev. Reads
// and watches below rev are refused as compacted: the mirror has no
// history from before it was loaded.
func (s *MemoryStore) load(recs []*Record, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range recs {
		h := &keyHistory{key: rec.Key, versions: []version{{rec: rec}}}
		s.keys[rec.Key] = h
		s.index.insert(h)
		s.addLive(rec.Key, 1)
	}
	s.rev, s.compacted = rev, rev
}

// apply mirrors the source's change of key at revision rev: rec is the new
// state, or nil for a deletion. A revision the mirror has already reached
// is ignored, so a replayed change is never applied twice.
func (s *MemoryStore) apply(key string, rev int64, rec *Record) error {
	s.mu.Lock()
	if rev <= s.rev {
		s.mu.Unlock()
		return nil
	}
	h := s.keys[key]
	var prev *Record
	if h != nil {
		prev = h.live()
	}
	var e *logEvent
	switch {
	case rec == nil && prev == nil:
		// A deletion of a key the mirror never held (its value did not
		// decode): nothing to show, but the revision was reached.
		s.rev = rev
		s.mu.Unlock()
		s.kickSync()
		return nil
	case rec == nil:
		del, err := s.reencode(prev, rev)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		e = &logEvent{typ: watch.Deleted, obj: del, prev: prev}
	case prev == nil:
		e = &logEvent{typ: watch.Added, obj: rec}
	default:
		e = &logEvent{typ: watch.Modified, obj: rec, prev: prev}
	}
	compactedTo := s.commitLocked(h, e)
	s.mu.Unlock()
	s.afterWrite(compactedTo)
	return nil
}

// advance records that the source has no change for this mirror up to
// rev (an etcd progress notification), so that reads, bookmarks and
// waiting watchers move on.
func (s *MemoryStore) advance(rev int64) {
	s.mu.Lock()
	moved := rev > s.rev
	if moved {
		s.rev = rev
	}
	s.mu.Unlock()
	if moved {
		s.kickSync()
	}
}
