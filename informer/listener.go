package informer

import (
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kunos-io/listwatch/cache"
)

// This file holds the per-handler delivery machinery. Invariant: each
// registration has one buffer and one goroutine; the informer only ever
// appends to the buffer (under the listener's own short lock, never calling
// user code), and only the goroutine calls the handler. A slow handler
// therefore delays nothing but its own buffer; under Block it slows the
// informer's sink, by design.

type kind uint8

const (
	kindAdd kind = iota + 1
	kindUpdate
	kindDelete
)

// notification is one call to make on a handler.
type notification[T cache.Object] struct {
	kind kind
	// flag is isInInitialList for an add, finalStateUnknown for a delete,
	// and "this is a resync" for an update.
	flag   bool
	key    string
	oldObj T // update only
	obj    T
}

// slot is a key's pending work under Coalesce: at most a delete of the
// state the handler last saw, then at most one add or update.
type slot[T cache.Object] struct {
	del, live       notification[T]
	hasDel, hasLive bool
}

type listener[T cache.Object] struct {
	name    string
	handler Handler[T]
	policy  Policy
	bound   int
	metrics MetricsHook
	timed   bool
	log     *slog.Logger

	// resync and nextResync belong to the informer and are guarded by its
	// mutex.
	resync     time.Duration
	nextResync time.Time

	mu      sync.Mutex
	fifo    ring[notification[T]] // every policy; under Coalesce, the in-order window
	keys    ring[string]          // Coalesce: keys in the order they became pending
	pending map[string]*slot[T]   // Coalesce
	free    []*slot[T]
	deletes int // map deletions since pending was last cleared
	closed  bool

	wake     chan struct{} // a notification was queued
	space    chan struct{} // Block: a notification was taken
	stop     chan struct{} // closed to end delivery
	done     chan struct{} // closed when the goroutine ended
	removed  atomic.Bool   // set by RemoveEventHandler before close
	stopOnce sync.Once

	// initial counts initial-list notifications not yet delivered.
	initial  atomic.Int64
	admitted atomic.Bool // its initial snapshot was queued
	synced   func() bool // the informer's HasSynced
	owner    any         // the informer, to reject foreign registrations
}

func newListener[T cache.Object](name string, h Handler[T], d Delivery, m MetricsHook, log *slog.Logger, synced func() bool) *listener[T] {
	_, noop := m.(noMetrics)
	l := &listener[T]{
		name:    name,
		handler: h,
		policy:  d.Policy,
		bound:   d.size(),
		metrics: m,
		timed:   !noop,
		log:     log,
		wake:    make(chan struct{}, 1),
		space:   make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		synced:  synced,
	}
	size := l.bound
	if size > DefaultBufferSize {
		size = DefaultBufferSize // grows to its bound on demand
	}
	l.fifo = newRing[notification[T]](size)
	if l.policy == Coalesce {
		l.keys = newRing[string](256)
		l.pending = make(map[string]*slot[T])
	}
	return l
}

// Name implements Registration.
func (l *listener[T]) Name() string { return l.name }

// HasSynced implements Registration.
func (l *listener[T]) HasSynced() bool {
	return l.admitted.Load() && l.synced() && l.initial.Load() == 0
}

// Done implements Registration.
func (l *listener[T]) Done() <-chan struct{} { return l.done }

// close ends delivery; queued notifications are dropped.
func (l *listener[T]) close() {
	l.stopOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(l.stop)
	})
}

// push queues n. Under Block it waits while the buffer is full, unless
// force is set, until there is space, the listener is closed or abort is
// closed. It never calls user code.
func (l *listener[T]) push(n notification[T], force bool, abort <-chan struct{}) {
	if n.kind == kindAdd && n.flag {
		l.initial.Add(1)
	}
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			l.dropped(n)
			return
		}
		var size, merged int
		switch l.policy {
		case Coalesce:
			// In order while the handler keeps up; past the window, and
			// until the coalesced backlog is drained, merge per key. Every
			// FIFO entry was queued before every coalesced one, and the
			// FIFO is drained first, so per-key order holds.
			if l.keys.len() == 0 && l.fifo.len() < l.bound {
				l.fifo.push(n)
			} else {
				merged = l.coalesceLocked(n)
			}
			size = l.fifo.len() + l.keys.len()
		case Block:
			if !force && l.fifo.len() >= l.bound {
				l.mu.Unlock()
				select {
				case <-l.space:
					continue
				case <-l.stop:
				case <-abort:
				}
				l.dropped(n)
				return
			}
			fallthrough
		default:
			l.fifo.push(n)
			size = l.fifo.len()
		}
		l.mu.Unlock()
		for ; merged > 0; merged-- {
			l.metrics.Coalesced(l.name)
		}
		l.metrics.SetPending(l.name, size)
		select {
		case l.wake <- struct{}{}:
		default:
		}
		return
	}
}

// dropped accounts for a notification that will never be delivered.
func (l *listener[T]) dropped(n notification[T]) {
	if n.kind == kindAdd && n.flag {
		l.initial.Add(-1)
	}
}

// coalesceLocked merges n into its key's slot and returns how many
// notifications were saved.
func (l *listener[T]) coalesceLocked(n notification[T]) int {
	s, ok := l.pending[n.key]
	if !ok {
		if k := len(l.free); k > 0 {
			s = l.free[k-1]
			l.free = l.free[:k-1]
		} else {
			s = new(slot[T])
		}
		l.pending[n.key] = s
		l.keys.push(n.key)
	}
	switch n.kind {
	case kindAdd, kindUpdate:
		switch {
		case s.hasLive && n.kind == kindUpdate && n.flag:
			// A resync of a key already pending: the pending state is as new.
			return 1
		case s.hasLive:
			// Keep the pending kind and old state (what the handler last
			// saw); take the newer state.
			s.live.obj = n.obj
			if s.live.kind == kindUpdate {
				s.live.flag = false
			}
			return 1
		case s.hasDel:
			// Re-created after a pending delete: new to the handler.
			s.live = notification[T]{kind: kindAdd, key: n.key, obj: n.obj}
			s.hasLive = true
			if n.kind == kindAdd && n.flag {
				l.initial.Add(-1) // cannot be initial after a delete
			}
		default:
			s.live, s.hasLive = n, true
		}
		return 0
	default: // kindDelete
		if s.hasLive {
			live := s.live
			s.live, s.hasLive = notification[T]{}, false
			if live.kind == kindAdd {
				// Never seen by the handler: drop the add and the delete.
				if live.flag {
					l.initial.Add(-1)
				}
				return 2
			}
			s.del, s.hasDel = n, true
			return 1
		}
		merged := 0
		if s.hasDel {
			merged = 1
		}
		s.del, s.hasDel = n, true
		return merged
	}
}

// next takes the next notifications to deliver: one, or under Coalesce up
// to two for the same key.
func (l *listener[T]) next(out *[2]notification[T]) (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, ok := l.fifo.pop(); ok {
		out[0] = n
		return 1, l.fifo.len() + l.keys.len()
	}
	if l.policy != Coalesce {
		return 0, 0
	}
	for {
		key, ok := l.keys.pop()
		if !ok {
			return 0, 0
		}
		s := l.pending[key]
		delete(l.pending, key)
		// Deletions leave tombstones that lengthen every later probe (a
		// miss can end up scanning the whole table); rebuild the map once
		// they outnumber its entries, which costs O(1) amortized.
		if l.deletes++; l.deletes > 64+2*len(l.pending) {
			fresh := make(map[string]*slot[T], len(l.pending))
			for k, v := range l.pending {
				fresh[k] = v
			}
			l.pending, l.deletes = fresh, 0
		}
		c := 0
		if s.hasDel {
			out[c] = s.del
			c++
		}
		if s.hasLive {
			out[c] = s.live
			c++
		}
		*s = slot[T]{}
		if len(l.free) < 1024 {
			l.free = append(l.free, s)
		}
		if c > 0 {
			return c, l.keys.len()
		}
	}
}

// run delivers notifications until the listener is closed.
func (l *listener[T]) run() {
	defer func() {
		// HandlerRemoved must be the registration's last report, or a call
		// that was in progress would recreate the series it deletes.
		if l.removed.Load() {
			l.metrics.HandlerRemoved(l.name)
		}
		close(l.done)
	}()
	var batch [2]notification[T]
	for {
		c, left := l.next(&batch)
		if c == 0 {
			select {
			case <-l.wake:
				continue
			case <-l.stop:
				return
			}
		}
		if l.policy == Block {
			select {
			case l.space <- struct{}{}:
			default:
			}
		}
		l.metrics.SetPending(l.name, left)
		for i := 0; i < c; i++ {
			select {
			case <-l.stop:
				for j := i; j < c; j++ {
					l.dropped(batch[j])
				}
				return
			default:
			}
			l.deliver(&batch[i])
			batch[i] = notification[T]{}
		}
	}
}

// deliver calls the handler once, recovering a panic so the handler keeps
// receiving later notifications.
func (l *listener[T]) deliver(n *notification[T]) {
	var start time.Time
	if l.timed {
		start = time.Now()
	}
	defer func() {
		if r := recover(); r != nil {
			l.metrics.HandlerPanicked(l.name)
			l.log.Error("informer: handler panicked; continuing with the next notification",
				"handler", l.name, "key", n.key, "panic", r, "stack", string(debug.Stack()))
		}
		if l.timed {
			l.metrics.ObserveHandler(l.name, time.Since(start))
		}
		if n.kind == kindAdd && n.flag {
			l.initial.Add(-1)
		}
	}()
	switch n.kind {
	case kindAdd:
		l.handler.OnAdd(n.obj, n.flag)
	case kindUpdate:
		l.handler.OnUpdate(n.oldObj, n.obj)
	case kindDelete:
		l.handler.OnDelete(n.obj, n.flag)
	}
}
