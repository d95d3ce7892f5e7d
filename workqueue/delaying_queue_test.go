package workqueue

import (
	"slices"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// waitArmed waits until the waiting goroutine has set its timer for the
// deadline at (relative to the queue's creation), so stepping the fake
// clock afterwards fires it.
func waitArmed[T comparable](t *testing.T, q TypedDelayingInterface[T], at time.Duration) {
	t.Helper()
	d := q.(*delayingType[T])
	eventually(t, "timer armed at "+at.String(), func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.armed == int64(at)
	})
}

func waitLen[T comparable](t *testing.T, q TypedInterface[T], n int) {
	t.Helper()
	eventually(t, "queue length", func() bool { return q.Len() == n })
}

func waitingCount[T comparable](q TypedDelayingInterface[T]) int {
	d := q.(*delayingType[T])
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.slab.index)
}

func TestDelayingOrderWithFakeClock(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := NewTypedDelayingQueueWithConfig(TypedDelayingQueueConfig[string]{Clock: clk})
	defer q.ShutDown()

	q.AddAfter("a", 3*time.Second)
	q.AddAfter("b", 1*time.Second)
	q.AddAfter("c", 2*time.Second)
	q.AddAfter("now", 0)
	q.AddAfter("neg", -time.Second)
	if q.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (zero and negative delays add at once)", q.Len())
	}
	if got := drainN(t, q, 2); !slices.Equal(got, []string{"now", "neg"}) {
		t.Fatalf("got %v", got)
	}
	for i, want := range []string{"b", "c", "a"} {
		waitArmed(t, q, time.Duration(i+1)*time.Second)
		if q.Len() != 0 {
			t.Fatalf("%s ready early", want)
		}
		clk.Step(time.Second)
		waitLen(t, q, 1)
		if got := drainN(t, q, 1); got[0] != want {
			t.Fatalf("step %d: got %v, want %s", i, got, want)
		}
	}
	if n := waitingCount(q); n != 0 {
		t.Fatalf("%d items still waiting", n)
	}
}

func TestDelayingEarlierReAddWins(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := NewTypedDelayingQueueWithConfig(TypedDelayingQueueConfig[string]{Clock: clk})
	defer q.ShutDown()

	q.AddAfter("x", 10*time.Second)
	q.AddAfter("x", 2*time.Second) // earlier: wins
	q.AddAfter("y", 2*time.Second)
	q.AddAfter("y", 10*time.Second) // later: ignored
	if n := waitingCount(q); n != 2 {
		t.Fatalf("waiting = %d, want 2 (deduplicated)", n)
	}
	waitArmed(t, q, 2*time.Second)
	clk.Step(2 * time.Second)
	waitLen(t, q, 2)
	got := drainN(t, q, 2)
	slices.Sort(got)
	if !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("got %v", got)
	}
	if n := waitingCount(q); n != 0 {
		t.Fatalf("waiting = %d after both fired; the later adds were not merged", n)
	}
}

func TestDelayingAddAfterWhileProcessing(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := NewTypedDelayingQueueWithConfig(TypedDelayingQueueConfig[string]{Clock: clk})
	defer q.ShutDown()
	q.Add("x")
	item, _ := q.Get()
	q.AddAfter("x", time.Second)
	waitArmed(t, q, time.Second)
	clk.Step(time.Second)
	eventually(t, "x moved out of the heap", func() bool { return waitingCount(q) == 0 })
	if q.Len() != 0 {
		t.Fatal("x handed out while processing")
	}
	q.Done(item)
	if q.Len() != 1 {
		t.Fatalf("Len = %d after Done, want 1", q.Len())
	}
}

func TestDelayingShutDown(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	p := &fakeProvider{}
	q := NewTypedDelayingQueueWithConfig(TypedDelayingQueueConfig[string]{Clock: clk, Name: "d", MetricsProvider: p})
	q.AddAfter("later", time.Hour)
	q.AddAfter("now", 0)
	if p.retries.get() != 2 {
		t.Fatalf("retries = %v, want 2 (every AddAfter counts)", p.retries.get())
	}
	q.ShutDown()
	q.AddAfter("after", 0)
	q.AddAfter("after", time.Second)
	if p.retries.get() != 2 {
		t.Fatalf("retries = %v after shutdown, want 2", p.retries.get())
	}
	if got := drainN(t, q, 1); got[0] != "now" {
		t.Fatalf("got %v", got)
	}
	if _, shutdown := q.Get(); !shutdown {
		t.Fatal("want shutdown: delayed items are dropped")
	}
	q.ShutDown() // idempotent
	if d := p.deletedNames(); !slices.Equal(d, []string{"d"}) {
		t.Fatalf("deleted = %v", d)
	}
}

func TestDelayingShutDownWithDrain(t *testing.T) {
	q := NewTypedDelayingQueue[string]()
	q.Add("a")
	item, _ := q.Get()
	done := make(chan struct{})
	go func() {
		q.ShutDownWithDrain()
		close(done)
	}()
	eventually(t, "shutting down", q.ShuttingDown)
	select {
	case <-done:
		t.Fatal("returned with an item in flight")
	default:
	}
	q.Done(item)
	<-done
}

func TestDelayingRealClockSmoke(t *testing.T) {
	q := NewTypedDelayingQueue[int]()
	defer q.ShutDown()
	for i := range 50 {
		q.AddAfter(i, time.Duration(50-i)*100*time.Microsecond)
	}
	// Real time: only check that every item arrives once (ordering is
	// tested on the fake clock, where it is deterministic).
	waitLen(t, q, 50)
	got := drainN(t, q, 50)
	slices.Sort(got)
	for i, v := range got {
		if v != i {
			t.Fatalf("items %v", got)
		}
	}
}
