package workqueue

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
)

// TypedDelayingInterface is a TypedInterface that can also add an item
// later, so a failed item can be retried without a hot loop.
type TypedDelayingInterface[T comparable] interface {
	TypedInterface[T]
	// AddAfter adds item once duration has passed; a duration <= 0 adds it
	// at once. If item is already waiting, the earlier time wins.
	AddAfter(item T, duration time.Duration)
}

// DelayingInterface is TypedDelayingInterface for items of any type.
//
// Deprecated: use TypedDelayingInterface.
type DelayingInterface TypedDelayingInterface[any]

// TypedDelayingQueueConfig holds the optional settings of a delaying queue.
type TypedDelayingQueueConfig[T comparable] struct {
	// Logger, if set, records a panic of the waiting goroutine (raised by a
	// custom Queue) before it is re-raised. It has client-go's type
	// (klog.Logger is an alias of logr.Logger).
	Logger *logr.Logger
	// Name of the queue; metrics are recorded only for named queues.
	Name string
	// MetricsProvider for this queue; nil means the one set by SetProvider.
	MetricsProvider MetricsProvider
	// Clock decides when delayed items are due; nil means the real clock.
	Clock clock.WithTicker
	// Queue receives the items once they are due; nil means a new Typed
	// queue with the same Name, MetricsProvider and Clock.
	Queue TypedInterface[T]
}

// DelayingQueueConfig is TypedDelayingQueueConfig for items of any type.
//
// Deprecated: use TypedDelayingQueueConfig.
type DelayingQueueConfig = TypedDelayingQueueConfig[any]

// NewTypedDelayingQueue returns a delaying queue without metrics.
func NewTypedDelayingQueue[T comparable]() TypedDelayingInterface[T] {
	return NewTypedDelayingQueueWithConfig(TypedDelayingQueueConfig[T]{})
}

// NewTypedDelayingQueueWithConfig returns a delaying queue with the given
// settings. It owns one goroutine, which ShutDown ends.
func NewTypedDelayingQueueWithConfig[T comparable](config TypedDelayingQueueConfig[T]) TypedDelayingInterface[T] {
	if config.Clock == nil {
		config.Clock = clock.RealClock{}
	}
	if config.Queue == nil {
		config.Queue = NewTypedWithConfig(TypedQueueConfig[T]{
			Name:            config.Name,
			MetricsProvider: config.MetricsProvider,
			Clock:           config.Clock,
		})
	}
	return newDelayingQueue(config)
}

// TypedNewDelayingQueue is NewTypedDelayingQueue under its old name.
//
// Deprecated: use NewTypedDelayingQueueWithConfig.
func TypedNewDelayingQueue[T comparable]() TypedDelayingInterface[T] {
	return NewTypedDelayingQueue[T]()
}

// NewDelayingQueue returns a delaying queue of any items.
//
// Deprecated: use NewTypedDelayingQueue.
func NewDelayingQueue() DelayingInterface {
	return NewDelayingQueueWithConfig(DelayingQueueConfig{})
}

// NewDelayingQueueWithConfig returns a delaying queue of any items.
//
// Deprecated: use NewTypedDelayingQueueWithConfig.
func NewDelayingQueueWithConfig(config DelayingQueueConfig) DelayingInterface {
	return NewTypedDelayingQueueWithConfig(config)
}

// NewDelayingQueueWithCustomQueue returns a delaying queue feeding q.
//
// Deprecated: use NewDelayingQueueWithConfig.
func NewDelayingQueueWithCustomQueue(q Interface, name string) DelayingInterface {
	return NewDelayingQueueWithConfig(DelayingQueueConfig{Name: name, Queue: q})
}

// NewNamedDelayingQueue returns a named delaying queue of any items.
//
// Deprecated: use NewDelayingQueueWithConfig.
func NewNamedDelayingQueue(name string) DelayingInterface {
	return NewDelayingQueueWithConfig(DelayingQueueConfig{Name: name})
}

// NewDelayingQueueWithCustomClock returns a named delaying queue driven by
// clock.
//
// Deprecated: use NewDelayingQueueWithConfig.
func NewDelayingQueueWithCustomClock(clock clock.WithTicker, name string) DelayingInterface {
	return NewDelayingQueueWithConfig(DelayingQueueConfig{Name: name, Clock: clock})
}

// delayingType adds AddAfter to a TypedInterface. Waiting items sit in a
// min-heap on their ready time, deduplicated by item; one goroutine sleeps
// until the head is due and moves due items into the queue.
type delayingType[T comparable] struct {
	TypedInterface[T]

	clock   clock.WithTicker
	epoch   time.Time // ready times are stored as nanoseconds since epoch
	logger  *logr.Logger
	metrics *retryMetrics

	mu      sync.Mutex
	slab    *slab[T]
	waiting nodeHeap // keyed by readyAt; lazy (see heap.go)
	stopped bool
	armed   int64 // deadline the waiting goroutine's timer is set for (tests wait on it)

	wake     chan struct{} // capacity 1: "the head changed"
	stopCh   chan struct{}
	stopOnce sync.Once
	loopDone chan struct{}
}

func newDelayingQueue[T comparable](config TypedDelayingQueueConfig[T]) *delayingType[T] {
	s := newSlab[T]()
	q := &delayingType[T]{
		TypedInterface: config.Queue,
		clock:          config.Clock,
		epoch:          config.Clock.Now(),
		logger:         config.Logger,
		metrics:        newRetryMetrics(config.MetricsProvider, config.Name),
		slab:           s,
		wake:           make(chan struct{}, 1),
		stopCh:         make(chan struct{}),
		loopDone:       make(chan struct{}),
	}
	go q.waitingLoop()
	return q
}

// AddAfter implements TypedDelayingInterface. It never blocks on the
// waiting goroutine.
func (q *delayingType[T]) AddAfter(item T, duration time.Duration) {
	if q.ShuttingDown() {
		return
	}
	q.metrics.retry()
	if duration <= 0 {
		q.Add(item)
		return
	}
	at := satAdd(int64(q.clock.Now().Sub(q.epoch)), duration)
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	head := q.insertLocked(item, at)
	q.mu.Unlock()
	if head {
		select {
		case q.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// insertLocked adds item at readyAt, or moves an already waiting item
// earlier. It reports whether the item is now the head of the heap.
func (q *delayingType[T]) insertLocked(item T, readyAt int64) bool {
	i, ok := q.slab.index[item]
	if ok {
		if readyAt >= q.slab.at(i).readyAt {
			return false
		}
	} else {
		i = q.slab.alloc(item)
	}
	e := q.slab.at(i)
	e.readyAt = readyAt
	e.seq = q.slab.nextSeq() // an older node for the item is now stale
	head := q.waiting.push(node{key: readyAt, seq: e.seq, slot: i})
	if q.waiting.len() > 2*len(q.slab.index)+64 {
		q.waiting.compact(q.live)
	}
	return head
}

// live reports whether n is the current node of its entry.
func (q *delayingType[T]) live(n node) bool {
	return q.slab.valid(n.slot) && q.slab.at(n.slot).seq == n.seq
}

// ShutDown stops the waiting goroutine (dropping items not yet due) and
// shuts the underlying queue down.
func (q *delayingType[T]) ShutDown() {
	q.stopLoop()
	q.TypedInterface.ShutDown()
}

// ShutDownWithDrain is ShutDown that waits for the items being processed,
// like TypedInterface.ShutDownWithDrain.
func (q *delayingType[T]) ShutDownWithDrain() {
	q.stopLoop()
	q.TypedInterface.ShutDownWithDrain()
}

func (q *delayingType[T]) stopLoop() {
	q.stopOnce.Do(func() {
		q.mu.Lock()
		q.stopped = true
		q.mu.Unlock()
		close(q.stopCh)
	})
	<-q.loopDone
}

// maxDueBatch bounds how many due items the waiting goroutine takes per
// lock hold, so a burst neither blocks AddAfter for long nor needs a buffer
// as large as the burst.
const maxDueBatch = 1024

// waitingLoop moves due items into the queue. It calls the queue's Add
// without holding q.mu, so a custom queue can never deadlock with AddAfter.
func (q *delayingType[T]) waitingLoop() {
	defer close(q.loopDone)
	defer func() {
		if r := recover(); r != nil {
			if q.logger != nil {
				q.logger.Error(fmt.Errorf("panic: %v", r), "workqueue: delaying queue waiting loop panicked")
			}
			panic(r)
		}
	}()

	timer := newDeadlineTimer(q.clock, q.epoch)
	defer timer.stop()
	var due []T
	for {
		q.mu.Lock()
		if q.stopped { // also ends a long burst of due items promptly
			q.mu.Unlock()
			return
		}
		now := int64(q.clock.Now().Sub(q.epoch))
		next := int64(math.MaxInt64)
		for q.waiting.len() > 0 {
			n := q.waiting.peek()
			if !q.live(n) {
				q.waiting.pop()
				continue
			}
			if n.key > now {
				next = n.key
				break
			}
			if len(due) == maxDueBatch {
				next = now // more are due: come straight back
				break
			}
			q.waiting.pop()
			due = append(due, q.slab.at(n.slot).item)
			q.slab.release(n.slot)
		}
		q.mu.Unlock()

		for _, item := range due {
			q.Add(item)
		}
		clear(due)
		due = due[:0]

		if next == now || !timer.arm(next) {
			continue
		}
		q.mu.Lock()
		q.armed = timer.armed
		q.mu.Unlock()
		select {
		case <-q.stopCh:
			return
		case <-timer.C():
			timer.fired()
		case <-q.wake:
		}
	}
}
