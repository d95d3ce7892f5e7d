package storage

import (
	"context"
	"strings"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/watch"
)

// Invariants of watching (all guarded by MemoryStore.mu):
//
//   - Every open watcher is in exactly one group: synced (it has been sent,
//     or has queued, every event up to the current revision, and writers
//     push new events to it at commit), unsynced (it still needs events
//     from nextRev on, which the sync loop replays from the log) or victims
//     (its channel was full: pending holds events that must be sent before
//     anything else).
//   - For a watcher that is not synced, every event it should see with a
//     revision below nextRev has been sent or is queued (initial, then
//     pending), in order, and none at or above nextRev has been. Moving
//     between groups happens under the same lock as writes, so there is no
//     gap and no duplicate.
//   - Channel sends never block, and a watcher's channel is only sent on
//     and closed under the lock, so a close never races a send.

// watchState is the store's watcher bookkeeping.
type watchState struct {
	synced   watcherGroup
	unsynced watcherSet
	victims  watcherSet
	count    atomic.Int64 // open watchers

	scratch []pendingSend // reused by notifyLocked

	// Hook calls owed, made outside the lock by flushHooks.
	slow, expired atomic.Int64
}

type pendingSend struct {
	w  *watcher
	ev Event
}

func (ws *watchState) init() {
	ws.synced = newWatcherGroup()
	ws.unsynced = make(watcherSet)
	ws.victims = make(watcherSet)
}

type watcherState uint8

const (
	stateNew watcherState = iota
	stateSynced
	stateUnsynced
	stateVictim
	stateClosed
)

// watcher is one open watch.
type watcher struct {
	s        *MemoryStore
	prefix   string
	pred     Predicate
	filtered bool // pred has a non-empty selector
	// indexed: the field selector requires indexField == indexValue.
	indexed    bool
	indexValue string
	ch         chan Event

	// Guarded by s.mu.
	state   watcherState
	nextRev int64
	// initial holds the snapshot of a SendInitialEvents watch not sent yet
	// (8 bytes per object rather than an Event each); it goes before
	// pending, where the end bookmark waits.
	initial []*Record
	pending []Event // pending[head:] are still to be sent
	head    int
	stopCtx func() bool
}

var _ Watcher = (*watcher)(nil)

// ResultChan implements Watcher.
func (w *watcher) ResultChan() <-chan Event { return w.ch }

// Stop implements Watcher.
func (w *watcher) Stop() {
	s := w.s
	s.mu.Lock()
	if w.state != stateClosed {
		s.closeWatcherLocked(w)
	}
	s.mu.Unlock()
	s.kickSync()
}

// RequestProgress implements Watcher: the Bookmark goes after everything
// already sent or queued for this watcher.
func (w *watcher) RequestProgress() {
	s := w.s
	s.mu.Lock()
	switch w.state {
	case stateClosed:
	case stateSynced:
		ev := Event{Type: watch.Bookmark, Revision: s.rev}
		select {
		case w.ch <- ev:
		default:
			s.toVictimLocked(w, ev, s.rev+1)
		}
	default:
		w.pending = append(w.pending, Event{Type: watch.Bookmark, Revision: w.nextRev - 1})
	}
	s.mu.Unlock()
	s.kickSync()
	s.flushHooks()
}

// Watch implements Interface.
func (s *MemoryStore) Watch(ctx context.Context, prefix string, opts WatchOptions) (Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Revision < 0 {
		return nil, &Error{Code: CodeInvalidObject, Msg: "negative watch revision"}
	}
	w := &watcher{
		s:      s,
		prefix: prefix,
		pred:   opts.Predicate,
		ch:     make(chan Event, s.cfg.WatcherBufferSize),
	}
	w.filtered = (w.pred.Label != nil && !w.pred.Label.Empty()) || (w.pred.Field != nil && !w.pred.Field.Empty())
	if f := w.pred.Field; f != nil && !f.Empty() {
		w.indexValue, w.indexed = f.RequiresExactMatch(indexField)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if max := s.cfg.MaxWatchers; max > 0 && s.watch.count.Load() >= int64(max) {
		return nil, &Error{Code: CodeTooManyWatchers}
	}
	if opts.Revision > s.rev {
		return nil, &Error{Code: CodeFutureRevision, Revision: opts.Revision, Current: s.rev}
	}
	if opts.SendInitialEvents {
		// The snapshot is the current state; Revision only bounds it from
		// below, which the current revision always satisfies.
		s.index.ascendPrefix(prefix, prefix, func(h *keyHistory) bool {
			if rec := h.live(); rec != nil && w.pred.Matches(rec) {
				w.initial = append(w.initial, rec)
			}
			return true
		})
		w.pending = append(w.pending, Event{Type: watch.Bookmark, Revision: s.rev, InitialEventsEnd: true})
		w.nextRev = s.rev + 1
	} else {
		start := opts.Revision
		if start == 0 {
			start = s.rev
		}
		if start < s.compacted {
			return nil, &Error{Code: CodeCompacted, Revision: start, Current: s.compacted}
		}
		w.nextRev = start + 1
	}
	s.watch.count.Add(1)
	// Send what fits right away; the sync loop does the rest.
	s.advanceLocked(w, syncBatch)
	w.stopCtx = context.AfterFunc(ctx, w.Stop)
	s.kickSync()
	return w, nil
}

// notifyLocked pushes a just-committed event to the synced watchers that
// may match it. A watcher whose channel is full becomes a victim holding
// the event; the writer does not wait.
func (s *MemoryStore) notifyLocked(e *logEvent) {
	ws := &s.watch
	ws.synced.visit(e, func(w *watcher) {
		ev, ok := s.eventFor(w, e)
		if !ok {
			return
		}
		select {
		case w.ch <- ev:
		default:
			ws.scratch = append(ws.scratch, pendingSend{w, ev})
		}
	})
	for i, p := range ws.scratch {
		s.toVictimLocked(p.w, p.ev, e.rev()+1)
		ws.scratch[i] = pendingSend{}
	}
	ws.scratch = ws.scratch[:0]
}

// toVictimLocked moves a synced watcher whose channel is full to the
// victims, holding ev; everything before next has been handled.
func (s *MemoryStore) toVictimLocked(w *watcher, ev Event, next int64) {
	w.pending, w.head = append(w.pending[:0], ev), 0
	w.nextRev = next
	s.moveLocked(w, stateVictim)
	s.watch.slow.Add(1)
	s.kickSync()
}

// eventFor returns what watcher w sees of e, if anything (see selectEvent).
func (s *MemoryStore) eventFor(w *watcher, e *logEvent) (Event, bool) {
	if !strings.HasPrefix(e.key(), w.prefix) {
		return Event{}, false
	}
	return selectEvent(w.pred, w.filtered, e.typ, e.obj, e.prev, func() *Record { return s.prevAtRev(e) })
}

// selectEvent returns what a watcher with predicate pred sees of a change
// of type typ from prev to obj (obj is the deletion record for Deleted):
// with a selector (filtered), an object that starts matching is Added, one
// that stops matching is Deleted with its previous state at the change's
// revision, which prevAtRev builds, as Kubernetes does.
func selectEvent(pred Predicate, filtered bool, typ watch.EventType, obj, prev *Record, prevAtRev func() *Record) (Event, bool) {
	rev := obj.Revision
	if !filtered {
		return Event{Type: typ, Revision: rev, Object: obj}, true
	}
	switch typ {
	case watch.Added, watch.Deleted:
		// A deletion record carries the attributes of the last state.
		if pred.Matches(obj) {
			return Event{Type: typ, Revision: rev, Object: obj}, true
		}
	case watch.Modified:
		now, before := pred.Matches(obj), pred.Matches(prev)
		switch {
		case now && before:
			return Event{Type: watch.Modified, Revision: rev, Object: obj}, true
		case now:
			return Event{Type: watch.Added, Revision: rev, Object: obj}, true
		case before:
			return Event{Type: watch.Deleted, Revision: rev, Object: prevAtRev()}, true
		}
	}
	return Event{}, false
}

// prevAtRev returns e.prev re-encoded at e's revision, built once per event.
func (s *MemoryStore) prevAtRev(e *logEvent) *Record {
	if r := e.prevAtRev.Load(); r != nil {
		return r
	}
	r, err := s.reencode(e.prev, e.rev())
	if err != nil {
		// Cannot happen with a codec that decodes what it encoded; send the
		// old bytes rather than lose the event.
		s.log.Error("storage: re-encoding previous state failed", "key", e.key(), "err", err)
		r = &Record{Key: e.prev.Key, Revision: e.rev(), Data: e.prev.Data, attrs: e.prev.attrs}
	}
	e.prevAtRev.CompareAndSwap(nil, r)
	return e.prevAtRev.Load()
}

// moveLocked puts w in the group of state st.
func (s *MemoryStore) moveLocked(w *watcher, st watcherState) {
	if w.state == st {
		return
	}
	ws := &s.watch
	switch w.state {
	case stateSynced:
		ws.synced.remove(w)
	case stateUnsynced:
		delete(ws.unsynced, w)
	case stateVictim:
		delete(ws.victims, w)
	}
	w.state = st
	switch st {
	case stateSynced:
		ws.synced.add(w)
	case stateUnsynced:
		ws.unsynced[w] = struct{}{}
	case stateVictim:
		ws.victims[w] = struct{}{}
	}
}

// closeWatcherLocked removes w and closes its channel.
func (s *MemoryStore) closeWatcherLocked(w *watcher) {
	s.moveLocked(w, stateClosed)
	w.initial, w.pending, w.head = nil, nil, 0
	close(w.ch)
	s.watch.count.Add(-1)
	if w.stopCtx != nil {
		w.stopCtx()
	}
}

// closeAllWatchersLocked closes every watcher and returns how many.
func (s *MemoryStore) closeAllWatchersLocked() int {
	var all []*watcher
	s.watch.synced.each(func(w *watcher) { all = append(all, w) })
	for w := range s.watch.unsynced {
		all = append(all, w)
	}
	for w := range s.watch.victims {
		all = append(all, w)
	}
	for _, w := range all {
		s.closeWatcherLocked(w)
	}
	return len(all)
}

// flushHooks makes the hook calls owed, outside the lock.
func (s *MemoryStore) flushHooks() {
	h := &s.cfg.Hooks
	if n := s.watch.slow.Swap(0); n > 0 && h.OnSlowWatcher != nil {
		for range n {
			h.OnSlowWatcher()
		}
	}
	if n := s.watch.expired.Swap(0); n > 0 && h.OnWatcherExpired != nil {
		for range n {
			h.OnWatcherExpired()
		}
	}
}
