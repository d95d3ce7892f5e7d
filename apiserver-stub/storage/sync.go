package storage

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/watch"
)

// Invariant of the sync loop: one goroutine, owned by the store (started by
// NewMemoryStore, ended by Close), moves unsynced and victim watchers
// forward. Each step handles one watcher under the store lock and does
// bounded work (its pending events, then at most syncBatch events read
// from the log), so writers wait at most for one such step. A watcher is
// only promoted to synced when it has nothing pending and nextRev is past
// the current revision, under the lock writers take, so no event falls
// between replay and push.

const (
	// syncBatch bounds the log events read for one watcher in one step.
	syncBatch = 512
	// Watchers whose channels were full are retried after a delay that
	// starts at retryMin once they made progress (a reader is draining them,
	// so keep up with it) and doubles up to retryMax while none of them
	// moves (a stuck reader costs a few wake-ups a second, nothing more).
	// retryMin is short because a reader drains a full channel (128 events)
	// in well under a millisecond: at 1 ms the wait, not the reader, bounded
	// a 10k-object watch-list burst (131 ms vs 91 ms at 50 µs).
	retryMin = 50 * time.Microsecond
	retryMax = 10 * time.Millisecond
)

// kickSync wakes the sync loop without blocking.
func (s *MemoryStore) kickSync() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *MemoryStore) syncLoop(ctx context.Context) {
	defer close(s.done)
	ageC, stopAge := s.ageTicker()
	defer stopAge()
	retry := time.NewTimer(retryMax)
	defer retry.Stop()
	delay := retryMin
	var behind []*watcher
	for {
		var progress, remaining bool
		behind, progress, remaining = s.syncOnce(behind[:0])
		clear(behind)
		s.flushHooks()
		if n := s.watch.count.Load(); n != s.reported && s.cfg.Hooks.OnWatcherCount != nil {
			s.reported = n
			s.cfg.Hooks.OnWatcherCount(int(n))
		}
		var retryC <-chan time.Time
		if remaining {
			if progress {
				delay = retryMin
				// More to do right away; stop only for shutdown or a
				// due compaction (which must not starve under load).
				select {
				case <-ctx.Done():
					return
				case <-ageC:
					s.compactByAge()
				default:
				}
				continue
			}
			retry.Reset(delay)
			retryC = retry.C
			delay = min(2*delay, retryMax)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-retryC:
		case <-ageC:
			s.compactByAge()
		}
	}
}

// syncOnce advances every unsynced and victim watcher by one step. It
// reports whether any sent something or changed group, and whether any is
// still behind afterwards.
func (s *MemoryStore) syncOnce(behind []*watcher) (_ []*watcher, progress, remaining bool) {
	s.mu.Lock()
	for w := range s.watch.victims {
		behind = append(behind, w)
	}
	for w := range s.watch.unsynced {
		behind = append(behind, w)
	}
	s.mu.Unlock()
	for _, w := range behind {
		s.mu.Lock()
		if st := w.state; st == stateUnsynced || st == stateVictim {
			if s.advanceLocked(w, syncBatch) > 0 || w.state != st {
				progress = true
			}
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	remaining = len(s.watch.victims)+len(s.watch.unsynced) > 0
	s.mu.Unlock()
	return behind, progress, remaining
}

// advanceLocked sends w what its channel takes without blocking: first its
// initial and pending events, then events replayed from the log, reading
// at most budget of them. It leaves w synced if it caught up, a victim if
// its channel filled while events were pending, unsynced if it has more to
// replay, or closed after an Error event. It returns the events sent.
func (s *MemoryStore) advanceLocked(w *watcher, budget int) (sent int) {
	for len(w.initial) > 0 {
		rec := w.initial[0]
		select {
		case w.ch <- Event{Type: watch.Added, Revision: rec.Revision, Object: rec}:
		default:
			s.moveLocked(w, stateVictim)
			return sent
		}
		sent++
		w.initial[0] = nil
		w.initial = w.initial[1:]
	}
	w.initial = nil
	for {
		for w.head < len(w.pending) {
			ev := w.pending[w.head]
			select {
			case w.ch <- ev:
			default:
				s.moveLocked(w, stateVictim)
				return sent
			}
			sent++
			w.pending[w.head] = Event{}
			w.head++
			if ev.Type == watch.Error {
				s.closeWatcherLocked(w)
				s.watch.expired.Add(1)
				return sent
			}
		}
		// Everything pending was sent; reuse the array.
		w.pending, w.head = w.pending[:0], 0
		switch {
		case w.nextRev > s.rev:
			if cap(w.pending) > 16 {
				w.pending = nil // synced watchers rarely need it again
			}
			s.moveLocked(w, stateSynced)
			return sent
		case w.nextRev <= s.compacted:
			// The events it needs are gone: end it, as etcd does with a
			// compacted watch response.
			w.pending = append(w.pending, Event{
				Type:     watch.Error,
				Revision: s.compacted,
				Err:      &Error{Code: CodeCompacted, Revision: w.nextRev - 1, Current: s.compacted},
			})
			continue
		case budget <= 0 || len(w.ch) == cap(w.ch):
			s.moveLocked(w, stateUnsynced)
			return sent
		}
		// Replay straight into the channel, only as far as it has room:
		// only the store sends on it, under this lock, so a send into free
		// room cannot block, and catching up needs no buffer of its own.
		i := s.events.search(w.nextRev)
		for budget > 0 && i < s.events.len() && len(w.ch) < cap(w.ch) {
			e := s.events.events[i]
			i++
			w.nextRev = e.rev() + 1
			budget--
			ev, ok := s.eventFor(w, e)
			if !ok {
				continue
			}
			select {
			case w.ch <- ev:
				sent++
			default: // unreachable; keep the event rather than lose it
				w.pending = append(w.pending, ev)
			}
		}
		if i == s.events.len() {
			// No event left: revisions up to the current one had none
			// (a cache's revisions skip those of other resources).
			w.nextRev = s.rev + 1
		}
	}
}
