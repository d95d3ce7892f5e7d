package storage

import (
	"sort"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/watch"
)

// Invariants of the history (all guarded by MemoryStore.mu):
//
//   - A keyHistory's versions are in strictly increasing revision order. A
//     version is either a live state or a tombstone (the deletion record).
//     After compaction to C, at most one version of a key has a revision
//     <= C, and it is live: reading at any revision >= C finds the right
//     state, reading below C is refused with ErrCompacted.
//   - The event log holds every event with a revision in (compacted,
//     current], in increasing revision order. In a store that assigns its
//     own revisions there is one event per revision; a cache of another
//     store (the etcd backend's watch cache) sees only some of the
//     backend's revisions, so revisions may skip: search, never index by
//     revision. Events and records are immutable once appended, so
//     watchers and readers share them without copying.

// version is one state of a key.
type version struct {
	rec     *Record
	deleted bool // rec is the deletion record: the key is absent from rec.Revision on
}

// keyHistory is every retained version of one key.
type keyHistory struct {
	key      string
	versions []version
}

// latest returns the newest version (the key always has at least one).
func (h *keyHistory) latest() version { return h.versions[len(h.versions)-1] }

// live returns the current record, or nil if the key is deleted.
func (h *keyHistory) live() *Record {
	v := h.latest()
	if v.deleted {
		return nil
	}
	return v.rec
}

// at returns the record live at revision rev, or nil if the key did not
// exist (or was deleted) at rev.
func (h *keyHistory) at(rev int64) *Record {
	for i := len(h.versions) - 1; i >= 0; i-- {
		v := h.versions[i]
		if v.rec.Revision <= rev {
			if v.deleted {
				return nil
			}
			return v.rec
		}
	}
	return nil
}

// prune drops the versions that no read at a revision >= rev can see. It
// reports whether the key has no versions left.
func (h *keyHistory) prune(rev int64) (empty bool) {
	// keep = index of the newest version with revision <= rev.
	keep := -1
	for i, v := range h.versions {
		if v.rec.Revision > rev {
			break
		}
		keep = i
	}
	if keep < 0 {
		return false
	}
	drop := keep
	if h.versions[keep].deleted {
		drop++ // a tombstone at or below rev hides nothing anyone can read
	}
	if drop == 0 {
		return false
	}
	n := copy(h.versions, h.versions[drop:])
	clear(h.versions[n:])
	h.versions = h.versions[:n]
	if cap(h.versions) > 4 && n <= cap(h.versions)/4 {
		h.versions = append([]version(nil), h.versions...)
	}
	return n == 0
}

// logEvent is one committed write, as kept for watch replay.
type logEvent struct {
	typ watch.EventType // Added, Modified or Deleted
	// obj is the new state; for Deleted, the last state at the deletion
	// revision.
	obj *Record
	// prev is the state before the write (nil for Added).
	prev *Record
	// at is when the write committed (UnixNano), for compaction by age.
	at int64
	// prevAtRev is prev re-encoded at this event's revision: the Deleted
	// sent to a watcher whose selector stopped matching. Built once, on
	// first need, and shared by all such watchers.
	prevAtRev atomic.Pointer[Record]
}

func (e *logEvent) rev() int64  { return e.obj.Revision }
func (e *logEvent) key() string { return e.obj.Key }

// eventLog is the log of events after the compacted revision, in
// revision order.
type eventLog struct {
	events []*logEvent
}

func (l *eventLog) len() int { return len(l.events) }

// search returns the index of the first event with a revision >= rev
// (len if there is none). Dense logs, the common case, answer without a
// search.
func (l *eventLog) search(rev int64) int {
	n := len(l.events)
	if n == 0 {
		return 0
	}
	if i := rev - l.events[0].rev(); i >= 0 && i < int64(n) && l.events[i].rev() == rev {
		return int(i)
	}
	return sort.Search(n, func(i int) bool { return l.events[i].rev() >= rev })
}

func (l *eventLog) append(e *logEvent) { l.events = append(l.events, e) }

// dropThrough removes every event with revision <= rev and returns them.
// The returned slice is only valid until the next append.
func (l *eventLog) dropThrough(rev int64) []*logEvent {
	n := l.search(rev + 1)
	if n <= 0 {
		return nil
	}
	dropped := make([]*logEvent, n)
	copy(dropped, l.events[:n])
	// Clear the slots so the dropped events can be freed; append reallocates
	// once the shrinking capacity runs out, which frees the array itself.
	clear(l.events[:n])
	l.events = l.events[n:]
	return dropped
}
