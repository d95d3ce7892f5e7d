package workqueue

import (
	"math"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// AddOpts are the options of PriorityQueue.AddWithOpts.
type AddOpts struct {
	// After delays the item; zero or negative adds it at once.
	After time.Duration
	// RateLimited delays the item by the queue's rate limiter; with After
	// also set, the shorter delay wins.
	RateLimited bool
	// Priority orders ready items: higher is served first. Plain Add uses 0.
	Priority int
}

// TypedPriorityInterface is a rate-limiting queue that serves higher
// priorities first, with aging so that no item starves.
type TypedPriorityInterface[T comparable] interface {
	TypedRateLimitingInterface[T]
	// AddWithOpts adds items with a priority and an optional delay. An item
	// already waiting keeps the higher of its priorities and the earlier of
	// its ready times.
	AddWithOpts(opts AddOpts, items ...T)
	// GetWithPriority is Get that also returns the item's priority.
	GetWithPriority() (item T, priority int, shutdown bool)
}

// DefaultAgingInterval is the waiting time that raises an item's effective
// priority by one when TypedPriorityQueueConfig.AgingInterval is zero.
const DefaultAgingInterval = time.Second

// TypedPriorityQueueConfig holds the optional settings of a PriorityQueue.
type TypedPriorityQueueConfig[T comparable] struct {
	// Name of the queue; metrics are recorded only for named queues.
	Name string
	// MetricsProvider for this queue; nil means the one set by SetProvider.
	MetricsProvider MetricsProvider
	// Clock drives delays, aging and metrics; nil means the real clock.
	Clock clock.WithTicker
	// RateLimiter for AddRateLimited; nil means
	// DefaultTypedControllerRateLimiter.
	RateLimiter TypedRateLimiter[T]
	// AgingInterval is how long a ready item waits to gain one priority
	// level: an item of priority p that has been ready for w is served as if
	// its priority were p + w/AgingInterval. Zero means DefaultAgingInterval;
	// negative disables aging (strict priority, which can starve).
	AgingInterval time.Duration
}

// PriorityQueue is a work queue that hands out the ready item with the
// highest effective priority: its priority plus one per AgingInterval it
// has been ready. Among equal effective priorities it is FIFO. Like Typed,
// it deduplicates items and never hands one item to two workers at once.
//
// Aging needs no re-sorting: the effective priority at time now is
// p + (now-enq)/A, and ordering items by it is the same as ordering them by
// the constant key p*A - enq (now is common to all), so the ready items sit
// in a plain heap on that key. The consequence is a starvation bound: an
// item of priority p ready at enq is served before every item of priority q
// that becomes ready after enq + (q-p)*A.
type PriorityQueue[T comparable] struct {
	clock       clock.WithTicker
	epoch       time.Time
	aging       int64 // ns per priority level; <= 0: no aging
	rateLimiter TypedRateLimiter[T]
	metrics     *queueMetrics[T]
	retries     *retryMetrics

	gate

	slab     *slab[T]
	ready    nodeHeap // pqReady entries, keyed by -key(prio, readyAt); lazy
	waiting  nodeHeap // pqWaiting entries, keyed by readyAt; lazy
	nready   int      // live entries in ready
	nwaiting int      // live entries in waiting
	// shutdownAt is when shutdown began: during shutdown only entries due
	// by then are served; the others are dropped (see dueLimitLocked).
	shutdownAt int64

	wake     chan struct{}
	stopCh   chan struct{}
	stopOnce sync.Once
	loopDone chan struct{}
}

// Entry flags of a PriorityQueue. A dirty entry that is not processing is
// in exactly one heap (pqReady or pqWaiting); a processing entry is in none.
const (
	pqDirty      uint8 = 1 << iota // needs processing; prio and readyAt are pending
	pqProcessing                   // handed out by Get, not yet Done
	pqCounted                      // the metrics add of this dirty episode was recorded
	pqReady                        // in the ready heap
	pqWaiting                      // in the wait heap
)

var _ TypedPriorityInterface[string] = &PriorityQueue[string]{}

// NewTypedPriorityQueue returns a priority queue with the given settings.
// It owns one goroutine, which ShutDown ends.
func NewTypedPriorityQueue[T comparable](config TypedPriorityQueueConfig[T]) *PriorityQueue[T] {
	if config.Clock == nil {
		config.Clock = clock.RealClock{}
	}
	if config.RateLimiter == nil {
		config.RateLimiter = DefaultTypedControllerRateLimiter[T]()
	}
	switch {
	case config.AgingInterval == 0:
		config.AgingInterval = DefaultAgingInterval
	case config.AgingInterval < 0:
		config.AgingInterval = 0
	}
	s := newSlab[T]()
	q := &PriorityQueue[T]{
		clock:       config.Clock,
		epoch:       config.Clock.Now(),
		aging:       int64(config.AgingInterval),
		rateLimiter: config.RateLimiter,
		metrics:     newQueueMetrics[T](config.MetricsProvider, config.Name, config.Clock),
		retries:     newRetryMetrics(config.MetricsProvider, config.Name),
		slab:        s,
		wake:        make(chan struct{}, 1),
		stopCh:      make(chan struct{}),
		loopDone:    make(chan struct{}),
	}
	q.gate.init()
	var ticker clock.Ticker
	if q.metrics != nil {
		ticker = q.clock.NewTicker(unfinishedWorkUpdatePeriod)
	}
	go q.loop(ticker)
	return q
}

// key returns the heap key of priority p ready since enq (see PriorityQueue).
func (q *PriorityQueue[T]) key(p int, enq int64) int64 {
	// Clamp so neither the key nor its negation (the heap is a min-heap)
	// can overflow: priorities beyond +-2^62/A (4.6e9 levels at A = 1 s;
	// +-2^62 without aging) compare equal, then FIFO.
	const limit = int64(1) << 62
	if q.aging <= 0 {
		return min(max(int64(p), -limit), limit)
	}
	var pa int64
	switch {
	case int64(p) > limit/q.aging:
		pa = limit
	case int64(p) < -limit/q.aging:
		pa = -limit
	default:
		pa = int64(p) * q.aging
	}
	return pa - enq
}

func (q *PriorityQueue[T]) now() int64 {
	return int64(q.clock.Now().Sub(q.epoch))
}

// Add adds item with priority 0.
func (q *PriorityQueue[T]) Add(item T) {
	q.mu.Lock()
	q.addLocked(item, 0, 0, q.now())
	q.mu.Unlock()
}

// AddAfter adds item with priority 0 after duration.
func (q *PriorityQueue[T]) AddAfter(item T, duration time.Duration) {
	if q.ShuttingDown() {
		return
	}
	q.retries.retry()
	q.add(item, 0, duration)
}

// AddRateLimited adds item with priority 0 after the rate limiter's delay.
func (q *PriorityQueue[T]) AddRateLimited(item T) {
	q.AddWithOpts(AddOpts{RateLimited: true}, item)
}

// AddWithOpts implements TypedPriorityInterface.
func (q *PriorityQueue[T]) AddWithOpts(opts AddOpts, items ...T) {
	for _, item := range items {
		after := opts.After
		if opts.RateLimited {
			// The limiter is user code: ask it before taking the lock.
			if d := q.rateLimiter.When(item); after <= 0 || d < after {
				after = d
			}
		}
		if opts.RateLimited || opts.After > 0 {
			q.retries.retry()
		}
		q.add(item, opts.Priority, after)
	}
}

func (q *PriorityQueue[T]) add(item T, prio int, after time.Duration) {
	q.mu.Lock()
	newHead := q.addLocked(item, prio, after, q.now())
	q.mu.Unlock()
	if newHead {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// addLocked merges one add into the item's entry. It reports whether the
// wait heap has a new head, so the waiting goroutine must re-arm.
func (q *PriorityQueue[T]) addLocked(item T, prio int, after time.Duration, now int64) bool {
	if q.shuttingDown {
		return false
	}
	readyAt := now
	if after > 0 {
		readyAt = satAdd(now, after)
	}
	i, ok := q.slab.index[item]
	if !ok {
		i = q.slab.alloc(item)
		e := q.slab.at(i)
		e.prio = prio
		e.flags = pqDirty
		if readyAt <= now {
			q.pushReadyLocked(i, now)
			return false
		}
		return q.pushWaitLocked(i, readyAt)
	}
	e := q.slab.at(i)
	if e.flags&pqDirty == 0 {
		// Being processed: remember the add; Done queues it.
		e.flags |= pqDirty
		e.prio = prio
		e.readyAt = readyAt
		if readyAt <= now {
			q.metrics.add(item)
			e.flags |= pqCounted
		}
		return false
	}
	// Already pending: keep the higher priority and the earlier ready time.
	if prio > e.prio {
		e.prio = prio
		if e.flags&pqReady != 0 {
			q.pushReadyLocked(i, e.readyAt) // same enqueue time, new key
		}
	}
	if readyAt >= e.readyAt {
		// A waiting entry whose time has come but which the waiting
		// goroutine has not promoted yet is due now: an immediate add
		// makes it ready at once, keeping its earlier ready time (it ages
		// from then). Left waiting, it would be dropped by a shutdown.
		if e.flags&pqWaiting != 0 && readyAt <= now {
			q.pushReadyLocked(i, e.readyAt)
		}
		return false
	}
	switch {
	case e.flags&pqWaiting != 0:
		if readyAt <= now {
			q.pushReadyLocked(i, now)
			return false
		}
		return q.pushWaitLocked(i, readyAt)
	case e.flags&pqProcessing != 0:
		e.readyAt = readyAt
		if readyAt <= now && e.flags&pqCounted == 0 {
			q.metrics.add(item)
			e.flags |= pqCounted
		}
	}
	return false
}

// pushReadyLocked makes entry i ready since enq (or re-keys it if it is
// ready already); a node it had in either heap becomes stale.
func (q *PriorityQueue[T]) pushReadyLocked(i int32, enq int64) {
	e := q.slab.at(i)
	switch {
	case e.flags&pqWaiting != 0:
		q.nwaiting--
		q.nready++
	case e.flags&pqReady == 0:
		q.nready++
	}
	e.flags = e.flags&^pqWaiting | pqReady
	e.readyAt = enq
	e.seq = q.slab.nextSeq()
	if e.flags&pqCounted == 0 {
		q.metrics.add(e.item)
		e.flags |= pqCounted
	}
	q.ready.push(node{key: -q.key(e.prio, enq), seq: e.seq, slot: i})
	if q.ready.len() > 2*q.nready+64 {
		q.ready.compact(q.liveReady)
	}
	q.nonEmpty.Signal()
}

// pushWaitLocked makes entry i wait until at and reports whether it is the
// head of the wait heap.
func (q *PriorityQueue[T]) pushWaitLocked(i int32, at int64) bool {
	e := q.slab.at(i)
	if e.flags&pqWaiting == 0 {
		q.nwaiting++
	}
	e.flags |= pqWaiting
	e.readyAt = at
	e.seq = q.slab.nextSeq()
	head := q.waiting.push(node{key: at, seq: e.seq, slot: i})
	if q.waiting.len() > 2*q.nwaiting+64 {
		q.waiting.compact(q.liveWaiting)
	}
	return head
}

func (q *PriorityQueue[T]) liveNode(n node, flag uint8) bool {
	if !q.slab.valid(n.slot) {
		return false
	}
	e := q.slab.at(n.slot)
	return e.seq == n.seq && e.flags&flag != 0
}

func (q *PriorityQueue[T]) liveReady(n node) bool   { return q.liveNode(n, pqReady) }
func (q *PriorityQueue[T]) liveWaiting(n node) bool { return q.liveNode(n, pqWaiting) }

// promoteLocked moves due entries from the wait heap to the ready heap and
// returns the next deadline (MaxInt64 if none). An entry ages from its ready
// time, not from when it was promoted.
func (q *PriorityQueue[T]) promoteLocked(now int64) int64 {
	for q.waiting.len() > 0 {
		n := q.waiting.peek()
		if !q.liveWaiting(n) {
			q.waiting.pop()
			continue
		}
		if n.key > now {
			return n.key
		}
		q.waiting.pop()
		q.pushReadyLocked(n.slot, n.key)
	}
	return math.MaxInt64
}

// Len returns the number of ready items.
func (q *PriorityQueue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.shuttingDown && q.nwaiting > 0 {
		q.promoteLocked(q.now())
	}
	return q.nready
}

// Get implements TypedInterface.
func (q *PriorityQueue[T]) Get() (item T, shutdown bool) {
	item, _, shutdown = q.GetWithPriority()
	return item, shutdown
}

// GetWithPriority implements TypedPriorityInterface.
func (q *PriorityQueue[T]) GetWithPriority() (item T, priority int, shutdown bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		// Promote here too, so a due item is served even if the waiting
		// goroutine has not run yet, and during shutdown: an item that was
		// due when shutdown began is queued, and shutdown drains what is
		// queued. Items still delayed then are dropped.
		if q.nwaiting > 0 {
			q.promoteLocked(q.dueLimitLocked(q.now()))
		}
		if q.nready > 0 {
			break
		}
		if q.shuttingDown {
			return item, 0, true
		}
		q.nonEmpty.Wait()
	}
	n := q.ready.pop()
	for !q.liveReady(n) {
		n = q.ready.pop()
	}
	e := q.slab.at(n.slot)
	e.flags = pqProcessing
	q.nready--
	q.nprocessing++
	q.metrics.get(e.item)
	return e.item, e.prio, false
}

// Done implements TypedInterface.
func (q *PriorityQueue[T]) Done(item T) {
	q.mu.Lock()
	i, ok := q.slab.index[item]
	if !ok || q.slab.at(i).flags&pqProcessing == 0 {
		q.mu.Unlock()
		return
	}
	e := q.slab.at(i)
	q.metrics.done(item)
	q.nprocessing--
	e.flags &^= pqProcessing
	newHead := false
	if e.flags&pqDirty == 0 {
		q.slab.release(i)
	} else if now := q.now(); e.readyAt <= q.dueLimitLocked(now) {
		q.pushReadyLocked(i, now)
	} else if q.shuttingDown {
		q.slab.release(i) // was not due when shutdown began: dropped
	} else {
		newHead = q.pushWaitLocked(i, e.readyAt)
	}
	if q.nprocessing == 0 {
		q.idle.Broadcast()
	}
	q.mu.Unlock()
	if newHead {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// Forget implements TypedRateLimitingInterface.
func (q *PriorityQueue[T]) Forget(item T) { q.rateLimiter.Forget(item) }

// NumRequeues implements TypedRateLimitingInterface.
func (q *PriorityQueue[T]) NumRequeues(item T) int { return q.rateLimiter.NumRequeues(item) }

// ShutDown implements TypedInterface. Delayed items not yet due are dropped.
func (q *PriorityQueue[T]) ShutDown() {
	q.shutDown(false, q.markShutdown)
	q.stop()
}

// ShutDownWithDrain implements TypedInterface.
func (q *PriorityQueue[T]) ShutDownWithDrain() {
	q.shutDown(true, q.markShutdown)
	q.stop()
}

// markShutdown records when shutdown began; called under q.mu.
func (q *PriorityQueue[T]) markShutdown() { q.shutdownAt = q.now() }

// dueLimitLocked is the time up to which a waiting entry counts as due:
// now, or during shutdown the moment it began. An entry due by then is
// queued and is drained; one that was still delayed is dropped, as
// client-go's delaying queue drops what still waits at shutdown.
func (q *PriorityQueue[T]) dueLimitLocked(now int64) int64 {
	if q.shuttingDown {
		return min(now, q.shutdownAt)
	}
	return now
}

func (q *PriorityQueue[T]) stop() {
	q.stopOnce.Do(func() {
		close(q.stopCh)
		<-q.loopDone
		q.metrics.deleteSeries()
	})
	<-q.loopDone
}

// ShuttingDown implements TypedInterface.
func (q *PriorityQueue[T]) ShuttingDown() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.shuttingDown
}

// loop promotes delayed items when they are due and, for a metered queue,
// refreshes the unfinished-work gauges.
func (q *PriorityQueue[T]) loop(ticker clock.Ticker) {
	defer close(q.loopDone)
	timer := newDeadlineTimer(q.clock, q.epoch)
	defer timer.stop()
	var tick <-chan time.Time
	if ticker != nil {
		defer ticker.Stop()
		tick = ticker.C()
	}
	for {
		q.mu.Lock()
		next := int64(math.MaxInt64)
		if !q.shuttingDown {
			next = q.promoteLocked(q.now())
		}
		q.mu.Unlock()
		if !timer.arm(next) {
			continue
		}
		select {
		case <-q.stopCh:
			return
		case <-timer.C():
			timer.fired()
		case <-q.wake:
		case <-tick:
			q.mu.Lock()
			if !q.shuttingDown {
				q.metrics.updateUnfinishedWork()
			}
			q.mu.Unlock()
		}
	}
}
