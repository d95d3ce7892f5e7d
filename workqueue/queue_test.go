package workqueue

import (
	"slices"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

func drainN[T comparable](t *testing.T, q TypedInterface[T], n int) []T {
	t.Helper()
	var got []T
	for range n {
		item, shutdown := q.Get()
		if shutdown {
			t.Fatalf("unexpected shutdown after %v", got)
		}
		got = append(got, item)
		q.Done(item)
	}
	return got
}

func TestQueueFIFO(t *testing.T) {
	q := NewTyped[int]()
	defer q.ShutDown()
	for i := range 100 {
		q.Add(i)
	}
	if q.Len() != 100 {
		t.Fatalf("Len = %d, want 100", q.Len())
	}
	got := drainN(t, q, 100)
	for i, v := range got {
		if v != i {
			t.Fatalf("item %d = %d: not FIFO", i, v)
		}
	}
}

func TestQueueStingy(t *testing.T) {
	q := NewTyped[string]()
	defer q.ShutDown()
	q.Add("a")
	q.Add("b")
	q.Add("a")
	q.Add("a")
	if q.Len() != 2 {
		t.Fatalf("Len = %d, want 2", q.Len())
	}
	if got := drainN(t, q, 2); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("got %v", got)
	}
	if q.Len() != 0 {
		t.Fatalf("Len = %d after drain", q.Len())
	}
}

func TestQueueReAddWhileProcessing(t *testing.T) {
	q := NewTyped[string]()
	defer q.ShutDown()
	q.Add("a")
	item, _ := q.Get()
	q.Add("a") // while processing: must not be handed out yet
	q.Add("a")
	if q.Len() != 0 {
		t.Fatalf("Len = %d while a is processing, want 0", q.Len())
	}
	q.Add("b")
	if got, _ := q.Get(); got != "b" {
		t.Fatalf("got %q, want b (a is still processing)", got)
	}
	q.Done("b")
	q.Done(item)
	if q.Len() != 1 {
		t.Fatalf("Len = %d after Done, want 1 (a requeued once)", q.Len())
	}
	if got := drainN(t, q, 1); got[0] != "a" {
		t.Fatalf("got %v", got)
	}
	if q.Len() != 0 {
		t.Fatalf("a requeued twice")
	}
}

func TestQueueDoneUnknownIsNoop(t *testing.T) {
	q := NewTyped[string]()
	defer q.ShutDown()
	q.Done("x") // never added
	q.Add("a")
	q.Done("a") // queued, not processing: must not duplicate it
	if q.Len() != 1 {
		t.Fatalf("Len = %d, want 1", q.Len())
	}
}

func TestQueueShutDownDrainsThenReports(t *testing.T) {
	q := NewTyped[int]()
	q.Add(1)
	q.Add(2)
	q.ShutDown()
	if !q.ShuttingDown() {
		t.Fatal("ShuttingDown = false")
	}
	q.Add(3) // ignored
	if got := drainN(t, q, 2); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("got %v", got)
	}
	if _, shutdown := q.Get(); !shutdown {
		t.Fatal("Get after drain: shutdown = false")
	}
}

func TestQueueShutDownWakesWaiters(t *testing.T) {
	q := NewTyped[int]()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, shutdown := q.Get(); !shutdown {
				t.Error("Get returned an item from an empty queue")
			}
		})
	}
	q.ShutDown()
	wg.Wait()
}

func TestQueueShutDownWithDrainWaitsForInFlight(t *testing.T) {
	q := NewTyped[string]()
	q.Add("a")
	item, _ := q.Get()
	returned := make(chan struct{})
	go func() {
		q.ShutDownWithDrain()
		close(returned)
	}()
	eventually(t, "shutting down", q.ShuttingDown)
	select {
	case <-returned:
		t.Fatal("ShutDownWithDrain returned while an item is in flight")
	case <-time.After(20 * time.Millisecond):
	}
	q.Done(item)
	<-returned
}

func TestQueueShutDownReleasesDrain(t *testing.T) {
	q := NewTyped[string]()
	q.Add("a")
	q.Get() // never Done
	returned := make(chan struct{})
	go func() {
		q.ShutDownWithDrain()
		close(returned)
	}()
	eventually(t, "shutting down", q.ShuttingDown)
	q.ShutDown()
	<-returned
}

func TestQueueDrainHandsOutDirtyAfterDone(t *testing.T) {
	// An item re-added while processing before ShutDown is still
	// processed after Done, as in client-go.
	q := NewTyped[string]()
	q.Add("a")
	q.Get()
	q.Add("a")
	q.ShutDown()
	q.Done("a")
	if got, shutdown := q.Get(); shutdown || got != "a" {
		t.Fatalf("Get = %q, %v; want a, false", got, shutdown)
	}
	q.Done("a")
	if _, shutdown := q.Get(); !shutdown {
		t.Fatal("want shutdown")
	}
}

// lifo is a custom ordering store; it records Touch calls.
type lifo struct {
	items   []string
	touched []string
}

func (l *lifo) Touch(item string) { l.touched = append(l.touched, item) }
func (l *lifo) Push(item string)  { l.items = append(l.items, item) }
func (l *lifo) Len() int          { return len(l.items) }
func (l *lifo) Pop() string {
	item := l.items[len(l.items)-1]
	l.items = l.items[:len(l.items)-1]
	return item
}

func TestQueueCustomStore(t *testing.T) {
	store := &lifo{}
	q := NewTypedWithConfig(TypedQueueConfig[string]{Queue: store})
	defer q.ShutDown()
	q.Add("a")
	q.Add("b")
	q.Add("a") // queued: Touch
	if !slices.Equal(store.touched, []string{"a"}) {
		t.Fatalf("touched = %v", store.touched)
	}
	item, _ := q.Get() // b (LIFO)
	q.Add(item)        // processing: no Touch, no Push
	if !slices.Equal(store.touched, []string{"a"}) || store.Len() != 1 {
		t.Fatalf("touched = %v len = %d", store.touched, store.Len())
	}
	if item != "b" {
		t.Fatalf("got %q, want b", item)
	}
	q.Done(item)
	if store.Len() != 2 {
		t.Fatalf("store len = %d after Done, want 2", store.Len())
	}
}

func TestFIFOGrowAndShrink(t *testing.T) {
	f := DefaultQueue[int]()
	next := 0
	for round := range 5 {
		for i := range 1000 * (round + 1) {
			f.Push(i)
		}
		for i := range 1000 * (round + 1) {
			if got := f.Pop(); got != i {
				t.Fatalf("round %d: Pop = %d, want %d", round, got, i)
			}
			// interleave to wrap around the ring
			if i%3 == 0 {
				f.Push(-1)
				next++
			}
		}
		for f.Len() > 0 {
			if got := f.Pop(); got != -1 {
				t.Fatalf("got %d, want -1", got)
			}
		}
	}
	if len(f.(*fifo[int]).buf) > 128 {
		t.Fatalf("buffer not shrunk: %d", len(f.(*fifo[int]).buf))
	}
}

func TestQueueMetrics(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	p := &fakeProvider{}
	q := NewTypedWithConfig(TypedQueueConfig[string]{Name: "test", MetricsProvider: p, Clock: clk})
	q.Add("a")
	q.Add("b")
	q.Add("a")
	if p.adds.get() != 2 || p.depth.get() != 2 {
		t.Fatalf("adds=%v depth=%v, want 2 2", p.adds.get(), p.depth.get())
	}
	clk.Step(time.Second)
	item, _ := q.Get()
	if p.depth.get() != 1 {
		t.Fatalf("depth = %v, want 1", p.depth.get())
	}
	if obs := p.latency.observations(); !slices.Equal(obs, []float64{1}) {
		t.Fatalf("latency = %v, want [1]", obs)
	}
	// The updater runs on the fake clock's ticker.
	clk.Step(2 * time.Second)
	eventually(t, "unfinished work update", func() bool { return p.unfinished.get() == 2 && p.longest.get() == 2 })
	clk.Step(time.Second)
	q.Done(item)
	if obs := p.work.observations(); !slices.Equal(obs, []float64{3}) {
		t.Fatalf("work duration = %v, want [3]", obs)
	}
	q.ShutDown()
	q.ShutDown()
	if d := p.deletedNames(); !slices.Equal(d, []string{"test"}) {
		t.Fatalf("DeleteQueueMetrics calls = %v, want [test]", d)
	}
}

func TestQueueUnnamedHasNoMetricsAndNoGoroutine(t *testing.T) {
	p := &fakeProvider{}
	q := NewTypedWithConfig(TypedQueueConfig[string]{MetricsProvider: p})
	q.Add("a")
	q.ShutDown()
	if p.adds.get() != 0 || len(p.deletedNames()) != 0 {
		t.Fatal("unnamed queue recorded metrics")
	}
	if q.metrics != nil {
		t.Fatal("unnamed queue has metrics")
	}
}

func TestDeprecatedConstructors(t *testing.T) {
	var qs []Interface
	qs = append(qs, New(), NewNamed("n"), NewWithConfig(QueueConfig{}))
	var dq []DelayingInterface
	dq = append(dq, NewDelayingQueue(), NewNamedDelayingQueue("n"),
		NewDelayingQueueWithConfig(DelayingQueueConfig{}),
		NewDelayingQueueWithCustomClock(testingclock.NewFakeClock(time.Now()), "c"),
		NewDelayingQueueWithCustomQueue(New(), "q"))
	rq := []RateLimitingInterface{
		NewRateLimitingQueue(DefaultControllerRateLimiter()),
		NewNamedRateLimitingQueue(DefaultItemBasedRateLimiter(), "n"),
		NewRateLimitingQueueWithConfig(NewItemExponentialFailureRateLimiter(time.Millisecond, time.Second), RateLimitingQueueConfig{}),
		NewRateLimitingQueueWithDelayingInterface(NewDelayingQueue(), NewMaxOfRateLimiter(
			NewItemFastSlowRateLimiter(time.Millisecond, time.Second, 3),
			NewWithMaxWaitRateLimiter(&BucketRateLimiter{}, time.Second))),
	}
	tq := TypedNewDelayingQueue[int]()
	tq.ShutDown()
	for _, q := range qs {
		q.Add(1)
		q.ShutDown()
	}
	for _, q := range dq {
		q.AddAfter(1, time.Hour)
		q.ShutDown()
	}
	for _, q := range rq {
		q.Add(1)
		q.ShutDown()
	}
}
