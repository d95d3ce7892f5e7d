package storage

import (
	"context"
	"sort"
	"time"
)

// Invariant of compaction: after compactLocked(C), s.compacted == C, the
// event log holds only revisions above C, and every key touched by a dropped event
// has been pruned to what reads at revisions >= C can see. Keys untouched by
// dropped events hold one version at or below C already, so only the keys
// of dropped events need pruning: the cost is proportional to the events
// dropped, never to the number of keys. Watchers that still needed a
// dropped event are found by the sync loop, which ends them with an
// ErrCompacted Error event once they have received everything before it.

// Compact implements Interface. Compacting to a revision at or below the
// compacted one is a no-op; a future revision is ErrFutureRevision.
func (s *MemoryStore) Compact(ctx context.Context, revision int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if revision > s.rev {
		cur := s.rev
		s.mu.Unlock()
		return &Error{Code: CodeFutureRevision, Revision: revision, Current: cur}
	}
	if revision <= s.compacted {
		s.mu.Unlock()
		return nil
	}
	s.compactLocked(revision)
	s.mu.Unlock()
	s.compactHook(revision)
	return nil
}

// compactLocked drops history at or below rev (rev > s.compacted).
func (s *MemoryStore) compactLocked(rev int64) {
	if rev <= s.compacted {
		return
	}
	for _, e := range s.events.dropThrough(rev) {
		k := e.key()
		if h := s.keys[k]; h != nil && h.prune(rev) {
			delete(s.keys, k)
			s.index.remove(k)
		}
	}
	s.compacted = rev
	// Unsynced watchers behind rev must now get their Error event.
	s.kickSync()
}

// compactHook reports a compaction, outside the lock.
func (s *MemoryStore) compactHook(rev int64) {
	s.log.Debug("storage compacted", "revision", rev)
	if f := s.cfg.Hooks.OnCompact; f != nil {
		f(rev)
	}
}

// compactByAge compacts the events older than MaxHistoryAge, always
// keeping the newest event so that a watch from the current revision never
// needs compaction checks.
func (s *MemoryStore) compactByAge() {
	if s.cfg.MaxHistoryAge <= 0 {
		return
	}
	s.mu.Lock()
	cutoff := s.now().Add(-s.cfg.MaxHistoryAge).UnixNano()
	ev := s.events.events
	// Events are appended in commit order, so their times do not decrease.
	n := sort.Search(len(ev), func(i int) bool { return ev[i].at > cutoff })
	if n == len(ev) {
		n-- // keep the newest
	}
	if n <= 0 {
		s.mu.Unlock()
		return
	}
	rev := ev[n-1].rev()
	s.compactLocked(rev)
	s.mu.Unlock()
	s.compactHook(rev)
}

// ageTicker returns the channel of the periodic compaction ticker, or nil
// (never ready) when compaction by age is disabled.
func (s *MemoryStore) ageTicker() (<-chan time.Time, func()) {
	if s.cfg.CompactInterval <= 0 || s.cfg.MaxHistoryAge <= 0 {
		return nil, func() {}
	}
	t := time.NewTicker(s.cfg.CompactInterval)
	return t.C, t.Stop
}
