package workqueue

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// TypedInterface is a work queue of items of type T: fair (FIFO by default),
// stingy (an item added many times before it is processed is processed
// once), safe for many producers and consumers, and an item is never handed
// to two workers at once.
type TypedInterface[T comparable] interface {
	// Add marks item as needing processing. Adds after ShutDown are ignored.
	Add(item T)
	// Len returns the number of items waiting to be handed out. It is for
	// information only: never gate Add or Get on it.
	Len() int
	// Get blocks until an item is available and marks it as being processed.
	// shutdown is true only once the queue is shut down and empty; the
	// caller then stops. Every item returned must be passed to Done.
	Get() (item T, shutdown bool)
	// Done marks item as processed. If it was added again while it was
	// being processed, it is queued again now.
	Done(item T)
	// ShutDown makes the queue ignore new adds; Get keeps handing out what
	// is queued, then reports shutdown. It does not wait for workers.
	ShutDown()
	// ShutDownWithDrain is ShutDown that also waits until every item being
	// processed is Done. A later ShutDown makes it return early.
	ShutDownWithDrain()
	// ShuttingDown reports whether ShutDown has been called.
	ShuttingDown() bool
}

// Interface is TypedInterface for items of any type.
//
// Deprecated: use TypedInterface.
type Interface TypedInterface[any]

// TypedQueueConfig holds the optional settings of a Typed queue.
type TypedQueueConfig[T comparable] struct {
	// Name of the queue; metrics are recorded only for named queues.
	Name string
	// MetricsProvider for this queue; nil means the one set by SetProvider.
	MetricsProvider MetricsProvider
	// Clock drives metric timestamps and the unfinished-work updater; nil
	// means the real clock. Tests pass k8s.io/utils/clock/testing.FakeClock.
	Clock clock.WithTicker
	// Queue is the ordering store; nil means DefaultQueue (FIFO).
	Queue Queue[T]
}

// QueueConfig is TypedQueueConfig for items of any type.
//
// Deprecated: use TypedQueueConfig.
type QueueConfig = TypedQueueConfig[any]

// Type is Typed for items of any type.
//
// Deprecated: use Typed.
type Type = Typed[any]

// Item states in Typed.state. An item absent from the map is neither.
const (
	stateDirty      uint8 = 1 << iota // needs processing (queued, or re-added while processing)
	stateProcessing                   // handed out by Get, not yet Done
)

// Typed is the basic work queue; it implements TypedInterface.
//
// Invariant (under mu): an item is in queue iff its state is dirty and not
// processing; nprocessing counts the items whose state has stateProcessing.
type Typed[T comparable] struct {
	gate

	queue Queue[T]
	state map[T]uint8
	peak  int // largest len(state) since the map was made

	metrics *queueMetrics[T]
	clock   clock.WithTicker

	stopCh   chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// NewTyped returns a FIFO work queue without metrics.
func NewTyped[T comparable]() *Typed[T] {
	return NewTypedWithConfig(TypedQueueConfig[T]{})
}

// NewTypedWithConfig returns a work queue with the given settings.
func NewTypedWithConfig[T comparable](config TypedQueueConfig[T]) *Typed[T] {
	return newTyped(config, unfinishedWorkUpdatePeriod)
}

// New returns a FIFO work queue of any items.
//
// Deprecated: use NewTyped.
func New() *Type {
	return NewWithConfig(QueueConfig{})
}

// NewWithConfig returns a work queue of any items with the given settings.
//
// Deprecated: use NewTypedWithConfig.
func NewWithConfig(config QueueConfig) *Type {
	return NewTypedWithConfig(config)
}

// NewNamed returns a named work queue of any items.
//
// Deprecated: use NewTypedWithConfig.
func NewNamed(name string) *Type {
	return NewWithConfig(QueueConfig{Name: name})
}

func newTyped[T comparable](config TypedQueueConfig[T], updatePeriod time.Duration) *Typed[T] {
	if config.Clock == nil {
		config.Clock = clock.RealClock{}
	}
	if config.Queue == nil {
		config.Queue = DefaultQueue[T]()
	}
	q := &Typed[T]{
		queue:   config.Queue,
		state:   map[T]uint8{},
		metrics: newQueueMetrics[T](config.MetricsProvider, config.Name, config.Clock),
		clock:   config.Clock,
		stopCh:  make(chan struct{}),
	}
	q.gate.init()
	if q.metrics != nil {
		// Only a metered queue needs the updater; an unmetered one owns no
		// goroutine at all.
		// The ticker exists before the constructor returns, so a test
		// stepping a fake clock right away cannot miss it.
		t := q.clock.NewTicker(updatePeriod)
		q.wg.Add(1)
		go q.updateUnfinishedWorkLoop(t)
	}
	return q
}

// Add implements TypedInterface.
func (q *Typed[T]) Add(item T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shuttingDown {
		return
	}
	s := q.state[item]
	if s&stateDirty != 0 {
		if s&stateProcessing == 0 {
			q.queue.Touch(item)
		}
		return
	}
	q.metrics.add(item)
	q.state[item] = s | stateDirty
	q.peak = max(q.peak, len(q.state))
	if s&stateProcessing != 0 {
		// Queued again by Done, so no worker sees it twice at once.
		return
	}
	q.queue.Push(item)
	q.nonEmpty.Signal()
}

// Len implements TypedInterface.
func (q *Typed[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.queue.Len()
}

// Get implements TypedInterface.
func (q *Typed[T]) Get() (item T, shutdown bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.queue.Len() == 0 && !q.shuttingDown {
		q.nonEmpty.Wait()
	}
	if q.queue.Len() == 0 {
		return item, true
	}
	item = q.queue.Pop()
	q.metrics.get(item)
	q.state[item] = stateProcessing
	q.nprocessing++
	return item, false
}

// Done implements TypedInterface. Done for an item that is not being
// processed is ignored.
func (q *Typed[T]) Done(item T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, ok := q.state[item]
	if !ok || s&stateProcessing == 0 {
		return
	}
	q.metrics.done(item)
	q.nprocessing--
	if s&stateDirty != 0 {
		q.state[item] = stateDirty
		q.queue.Push(item)
		q.nonEmpty.Signal()
	} else {
		delete(q.state, item)
		if len(q.state) == 0 && q.peak > 1024 {
			// Go maps never shrink: drop the one a burst grew.
			q.state = map[T]uint8{}
			q.peak = 0
		}
	}
	if q.nprocessing == 0 {
		q.idle.Broadcast()
	}
}

// ShutDown implements TypedInterface. It waits for the queue's own
// goroutine (the metrics updater) to end, not for workers.
func (q *Typed[T]) ShutDown() {
	q.shutDown(false, nil)
	q.stop()
}

// ShutDownWithDrain implements TypedInterface. Workers must call Done for
// every item, or this blocks until ShutDown is called.
func (q *Typed[T]) ShutDownWithDrain() {
	q.shutDown(true, nil)
	q.stop()
}

// stop ends the updater goroutine and removes the metric series once.
func (q *Typed[T]) stop() {
	q.stopOnce.Do(func() {
		close(q.stopCh)
		q.wg.Wait()
		// metrics is immutable after construction; no lock needed, and
		// none is held while calling into the provider.
		q.metrics.deleteSeries()
	})
	q.wg.Wait()
}

// ShuttingDown implements TypedInterface.
func (q *Typed[T]) ShuttingDown() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.shuttingDown
}

func (q *Typed[T]) updateUnfinishedWorkLoop(t clock.Ticker) {
	defer q.wg.Done()
	defer t.Stop()
	for {
		select {
		case <-t.C():
			q.mu.Lock()
			if !q.shuttingDown {
				q.metrics.updateUnfinishedWork()
			}
			q.mu.Unlock()
		case <-q.stopCh:
			return
		}
	}
}
