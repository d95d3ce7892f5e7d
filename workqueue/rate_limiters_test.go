package workqueue

import (
	"math"
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func whenSeq[T comparable](r TypedRateLimiter[T], item T, n int) []time.Duration {
	var out []time.Duration
	for range n {
		out = append(out, r.When(item))
	}
	return out
}

func equalDurations(t *testing.T, what string, got, want []time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}

func TestItemExponentialFailureRateLimiter(t *testing.T) {
	r := NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, time.Second)
	ms := time.Millisecond
	equalDurations(t, "one", whenSeq(r, "one", 12),
		[]time.Duration{1 * ms, 2 * ms, 4 * ms, 8 * ms, 16 * ms, 32 * ms, 64 * ms, 128 * ms, 256 * ms, 512 * ms, time.Second, time.Second})
	equalDurations(t, "two", whenSeq(r, "two", 2), []time.Duration{1 * ms, 2 * ms})
	if n := r.NumRequeues("one"); n != 12 {
		t.Fatalf("NumRequeues = %d", n)
	}
	r.Forget("one")
	if n := r.NumRequeues("one"); n != 0 {
		t.Fatalf("NumRequeues after Forget = %d", n)
	}
	equalDurations(t, "one again", whenSeq(r, "one", 1), []time.Duration{ms})
}

func TestItemExponentialOverflow(t *testing.T) {
	r := NewTypedItemExponentialFailureRateLimiter[string](time.Hour, time.Duration(math.MaxInt64))
	var last time.Duration
	for i := range 2000 { // 2^2000 overflows float64 to +Inf
		d := r.When("x")
		if d < last || d <= 0 {
			t.Fatalf("step %d: %v after %v", i, d, last)
		}
		last = d
	}
	if last != time.Duration(math.MaxInt64) {
		t.Fatalf("last = %v, want the max", last)
	}
}

func TestZeroValueLimiterIsUsable(t *testing.T) {
	var r TypedItemExponentialFailureRateLimiter[string]
	r.When("x")
	r.Forget("x")
	var f TypedItemFastSlowRateLimiter[string]
	f.When("x")
}

func TestDefaultItemBasedRateLimiter(t *testing.T) {
	r := DefaultTypedItemBasedRateLimiter[string]()
	equalDurations(t, "default", whenSeq(r, "x", 3), []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond})
	for range 40 {
		r.When("x")
	}
	if d := r.When("x"); d != 1000*time.Second {
		t.Fatalf("cap = %v, want 1000s", d)
	}
}

func TestItemFastSlowRateLimiter(t *testing.T) {
	r := NewTypedItemFastSlowRateLimiter[string](5*time.Millisecond, 10*time.Second, 3)
	f, s := 5*time.Millisecond, 10*time.Second
	equalDurations(t, "one", whenSeq(r, "one", 5), []time.Duration{f, f, f, s, s})
	equalDurations(t, "two", whenSeq(r, "two", 2), []time.Duration{f, f})
	if r.NumRequeues("one") != 5 {
		t.Fatal("NumRequeues")
	}
	r.Forget("one")
	equalDurations(t, "one after Forget", whenSeq(r, "one", 1), []time.Duration{f})
}

func TestMaxOfRateLimiter(t *testing.T) {
	r := NewTypedMaxOfRateLimiter(
		NewTypedItemFastSlowRateLimiter[string](5*time.Millisecond, 3*time.Second, 3),
		NewTypedItemExponentialFailureRateLimiter[string](1*time.Millisecond, 1*time.Second),
	)
	ms := time.Millisecond
	equalDurations(t, "one", whenSeq(r, "one", 5), []time.Duration{5 * ms, 5 * ms, 5 * ms, 3 * time.Second, 3 * time.Second})
	if r.NumRequeues("one") != 5 {
		t.Fatal("NumRequeues")
	}
	r.Forget("one")
	if r.NumRequeues("one") != 0 {
		t.Fatal("Forget not passed to all limiters")
	}
}

func TestWithMaxWaitRateLimiter(t *testing.T) {
	r := NewTypedWithMaxWaitRateLimiter(NewTypedItemExponentialFailureRateLimiter[string](time.Second, time.Hour), 3*time.Second)
	equalDurations(t, "capped", whenSeq(r, "x", 4), []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second})
	if r.NumRequeues("x") != 4 {
		t.Fatal("NumRequeues")
	}
	r.Forget("x")
	if r.NumRequeues("x") != 0 {
		t.Fatal("Forget")
	}
}

func TestBucketRateLimiter(t *testing.T) {
	// One token per hour, so the real time the test takes cannot refill it.
	r := &TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Every(time.Hour), 3)}
	// The burst is free; then one token per hour, shared by all items.
	for i := range 3 {
		if d := r.When("x"); d != 0 {
			t.Fatalf("burst %d: %v", i, d)
		}
	}
	d1, d2 := r.When("y"), r.When("z")
	if d1 <= 59*time.Minute || d1 > time.Hour || d2 <= 119*time.Minute || d2 > 2*time.Hour {
		t.Fatalf("after burst: %v, %v; want ~1h, ~2h", d1, d2)
	}
	if r.NumRequeues("x") != 0 {
		t.Fatal("bucket tracks no items")
	}
}

func TestDefaultControllerRateLimiter(t *testing.T) {
	r := DefaultTypedControllerRateLimiter[string]()
	ms := time.Millisecond
	// Per-item exponential from 5 ms, while the bucket's burst of 100 lasts.
	equalDurations(t, "x", whenSeq(r, "x", 4), []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms})
	for i := range 96 {
		if d := r.When("item-" + strconv.Itoa(i)); d != 5*ms {
			t.Fatalf("fresh item %d within the burst: %v, want 5ms", i, d)
		}
	}
	// The bucket is (nearly) empty: fresh items soon wait for a token
	// (100 ms apart at 10 qps), longer than their own 5 ms. A slow run may
	// have refilled a few tokens, hence the loop.
	delayed := false
	for i := range 1000 {
		if r.When("fresh-"+strconv.Itoa(i)) > 5*ms {
			delayed = true
			break
		}
	}
	if !delayed {
		t.Fatal("the token bucket never delayed a fresh item")
	}
	if r.NumRequeues("x") != 4 {
		t.Fatalf("NumRequeues = %d", r.NumRequeues("x"))
	}
}
