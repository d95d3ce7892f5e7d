package workqueue

import (
	"math"
	"slices"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

func newTestPQ(t *testing.T, clk *testingclock.FakeClock, aging time.Duration) *PriorityQueue[string] {
	t.Helper()
	q := NewTypedPriorityQueue(TypedPriorityQueueConfig[string]{
		Clock:         clk,
		AgingInterval: aging,
		RateLimiter:   NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, time.Second),
	})
	t.Cleanup(q.ShutDown)
	return q
}

func getAll(t *testing.T, q *PriorityQueue[string]) (items []string, prios []int) {
	t.Helper()
	for q.Len() > 0 {
		item, p, shutdown := q.GetWithPriority()
		if shutdown {
			t.Fatal("unexpected shutdown")
		}
		items = append(items, item)
		prios = append(prios, p)
		q.Done(item)
	}
	return items, prios
}

func TestPriorityOrder(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newTestPQ(t, clk, -1)
	q.AddWithOpts(AddOpts{Priority: 1}, "p1a", "p1b")
	q.Add("p0")
	q.AddWithOpts(AddOpts{Priority: 10}, "p10")
	q.AddWithOpts(AddOpts{Priority: -5}, "m5")
	q.AddWithOpts(AddOpts{Priority: 1}, "p1c")
	items, prios := getAll(t, q)
	if !slices.Equal(items, []string{"p10", "p1a", "p1b", "p1c", "p0", "m5"}) {
		t.Fatalf("order %v", items)
	}
	if !slices.Equal(prios, []int{10, 1, 1, 1, 0, -5}) {
		t.Fatalf("priorities %v", prios)
	}
}

func TestPriorityExtremesDoNotOverflow(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newTestPQ(t, clk, time.Nanosecond)
	q.AddWithOpts(AddOpts{Priority: math.MinInt}, "min")
	q.AddWithOpts(AddOpts{Priority: 0}, "zero")
	q.AddWithOpts(AddOpts{Priority: math.MaxInt}, "max")
	items, _ := getAll(t, q)
	if !slices.Equal(items, []string{"max", "zero", "min"}) {
		t.Fatalf("order %v", items)
	}
	strict := newTestPQ(t, clk, -1)
	strict.AddWithOpts(AddOpts{Priority: math.MinInt}, "min")
	strict.AddWithOpts(AddOpts{Priority: 0}, "zero")
	strict.AddWithOpts(AddOpts{Priority: math.MaxInt}, "max")
	items, _ = getAll(t, strict)
	if !slices.Equal(items, []string{"max", "zero", "min"}) {
		t.Fatalf("order without aging %v", items)
	}
}

func TestPriorityDedup(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newTestPQ(t, clk, -1)
	q.AddWithOpts(AddOpts{Priority: 1}, "x")
	q.AddWithOpts(AddOpts{Priority: 2}, "y")
	q.AddWithOpts(AddOpts{Priority: 5}, "x")      // raises x above y
	q.AddWithOpts(AddOpts{Priority: 0}, "y")      // lower: y keeps 2
	q.AddWithOpts(AddOpts{After: time.Hour}, "x") // later: ignored, x is ready
	if q.Len() != 2 {
		t.Fatalf("Len = %d, want 2", q.Len())
	}
	items, prios := getAll(t, q)
	if !slices.Equal(items, []string{"x", "y"}) || !slices.Equal(prios, []int{5, 2}) {
		t.Fatalf("got %v %v", items, prios)
	}

	// Waiting items: the earlier ready time wins.
	q.AddWithOpts(AddOpts{After: 10 * time.Second}, "w")
	q.AddWithOpts(AddOpts{After: 1 * time.Second}, "w")
	q.AddWithOpts(AddOpts{After: 5 * time.Second}, "w")
	q.AddWithOpts(AddOpts{After: 3 * time.Second}, "v")
	q.AddWithOpts(AddOpts{}, "v") // immediate beats any delay
	if q.Len() != 1 {
		t.Fatalf("Len = %d, want 1 (v)", q.Len())
	}
	clk.Step(time.Second)
	items, _ = getAll(t, q)
	if !slices.Equal(items, []string{"v", "w"}) {
		t.Fatalf("got %v", items)
	}
	clk.Step(time.Hour)
	if q.Len() != 0 {
		t.Fatal("a merged add fired again")
	}
}

func TestPriorityNoConcurrentProcessing(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newTestPQ(t, clk, -1)
	q.Add("x")
	item, _ := q.Get()
	q.AddWithOpts(AddOpts{Priority: 3}, "x")
	q.AddWithOpts(AddOpts{Priority: 1}, "x")
	if q.Len() != 0 {
		t.Fatal("x is ready while processing")
	}
	q.Done(item)
	_, prios := getAll(t, q)
	if !slices.Equal(prios, []int{3}) {
		t.Fatalf("priorities %v, want [3] (one reprocess, highest priority)", prios)
	}

	// A delayed re-add while processing waits for its time after Done.
	q.Add("y")
	item, _ = q.Get()
	q.AddAfter("y", 2*time.Second)
	q.Done(item)
	if q.Len() != 0 {
		t.Fatal("y ready early")
	}
	clk.Step(2 * time.Second)
	if q.Len() != 1 {
		t.Fatal("y not ready after its delay")
	}
}

func TestPriorityRateLimited(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newTestPQ(t, clk, -1)
	q.AddWithOpts(AddOpts{RateLimited: true, After: time.Hour, Priority: 7}, "x") // limiter says 1 ms: shorter wins
	q.AddRateLimited("y")                                                         // 1 ms
	q.AddRateLimited("y")                                                         // 2 ms: earlier wins
	if q.NumRequeues("x") != 1 || q.NumRequeues("y") != 2 {
		t.Fatalf("NumRequeues %d %d", q.NumRequeues("x"), q.NumRequeues("y"))
	}
	if q.Len() != 0 {
		t.Fatal("ready early")
	}
	clk.Step(time.Millisecond)
	items, prios := getAll(t, q)
	if !slices.Equal(items, []string{"x", "y"}) || !slices.Equal(prios, []int{7, 0}) {
		t.Fatalf("got %v %v", items, prios)
	}
	q.Forget("y")
	if q.NumRequeues("y") != 0 {
		t.Fatal("Forget")
	}
}

func TestPriorityBlockedGetWokenByTimer(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newTestPQ(t, clk, 0)
	got := make(chan string, 1)
	go func() {
		item, _ := q.Get()
		got <- item
	}()
	q.AddAfter("x", time.Second)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-deadline:
			t.Fatal("Get was never woken")
		case item := <-got:
			if item != "x" {
				t.Fatalf("got %q", item)
			}
			q.Done(item)
			return
		case <-time.After(time.Millisecond):
			clk.Step(100 * time.Millisecond) // the waiting goroutine's timer wakes Get
		}
	}
}

// TestPriorityAgingBound checks the starvation bound: a low item of priority
// pL ready at tL is served before every item of priority pH that becomes
// ready after tL + (pH-pL)*AgingInterval. With a steady flood of pH items
// (two arrive per item served) it is served after at most the backlog plus
// the arrivals in that window; without aging it is never served.
func TestPriorityAgingBound(t *testing.T) {
	const (
		aging    = 10 * time.Millisecond
		step     = time.Millisecond
		pH, pL   = 0, -100
		backlog  = 50
		perRound = 2
	)
	window := time.Duration(pH-pL) * aging           // 1 s
	bound := backlog + perRound*int(window/step) + 1 // served by this Get at the latest

	run := func(aging time.Duration, rounds int) (servedAt int) {
		clk := testingclock.NewFakeClock(time.Unix(1000, 0))
		q := newTestPQ(t, clk, aging)
		n := 0
		add := func() {
			q.AddWithOpts(AddOpts{Priority: pH}, "h"+itoa(n))
			n++
		}
		for range backlog {
			add()
		}
		q.AddWithOpts(AddOpts{Priority: pL}, "low")
		for round := 1; round <= rounds; round++ {
			for range perRound {
				add()
			}
			item, _ := q.Get()
			q.Done(item)
			if item == "low" {
				return round
			}
			clk.Step(step)
		}
		return -1
	}

	served := run(aging, 2*bound)
	t.Logf("low item served at Get %d of a bound of %d", served, bound)
	if served < 0 || served > bound {
		t.Fatalf("low item served at Get %d, bound %d", served, bound)
	}
	// The bound is tight up to the last window's arrivals: it is not
	// served long before either.
	if served < bound/2 {
		t.Fatalf("low item served at Get %d, suspiciously early (bound %d)", served, bound)
	}
	if served := run(-1, 2*bound); served != -1 {
		t.Fatalf("without aging the low item was served at %d; the flood should starve it", served)
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{digits[n%10]}, b...)
	}
	return string(b)
}

func TestPriorityAgingOrder(t *testing.T) {
	// An item of priority 0 that has waited 3 intervals beats a fresh item
	// of priority 2 and loses to a fresh one of priority 4.
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newTestPQ(t, clk, time.Second)
	q.Add("old")
	clk.Step(3 * time.Second)
	q.AddWithOpts(AddOpts{Priority: 2}, "p2")
	q.AddWithOpts(AddOpts{Priority: 4}, "p4")
	items, _ := getAll(t, q)
	if !slices.Equal(items, []string{"p4", "old", "p2"}) {
		t.Fatalf("order %v", items)
	}
	// Delayed items age from their ready time, not from their promotion.
	q.AddAfter("delayed", time.Second)
	clk.Step(3 * time.Second) // ready for 2 s
	q.AddWithOpts(AddOpts{Priority: 1}, "p1")
	items, _ = getAll(t, q)
	if !slices.Equal(items, []string{"delayed", "p1"}) {
		t.Fatalf("order %v", items)
	}
}

func TestPriorityShutDown(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	p := &fakeProvider{}
	q := NewTypedPriorityQueue(TypedPriorityQueueConfig[string]{Clock: clk, Name: "pq", MetricsProvider: p})
	q.Add("a")
	q.AddWithOpts(AddOpts{Priority: 1}, "b")
	q.AddAfter("later", time.Second)
	q.Add("c")
	item, _ := q.Get() // b
	q.Add("b")         // dirty while processing
	if p.adds.get() != 4 || p.depth.get() != 3 || p.retries.get() != 1 {
		t.Fatalf("adds=%v depth=%v retries=%v", p.adds.get(), p.depth.get(), p.retries.get())
	}
	done := make(chan struct{})
	go func() {
		q.ShutDownWithDrain()
		close(done)
	}()
	eventually(t, "shutting down", q.ShuttingDown)
	q.Add("ignored")
	clk.Step(time.Hour) // "later" is dropped, not promoted
	select {
	case <-done:
		t.Fatal("drain returned with b in flight")
	default:
	}
	q.Done(item) // b is re-queued: it was re-added before shutdown
	<-done
	var got []string
	for {
		item, shutdown := q.Get()
		if shutdown {
			break
		}
		got = append(got, item)
		q.Done(item)
	}
	// b (re-added at priority 0) became ready at Done, an hour after a and
	// c, which have aged past it.
	if !slices.Equal(got, []string{"a", "c", "b"}) {
		t.Fatalf("drained %v", got)
	}
	if d := p.deletedNames(); !slices.Equal(d, []string{"pq"}) {
		t.Fatalf("deleted %v", d)
	}
	q.ShutDown()
}
