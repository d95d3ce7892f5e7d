package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kunos-io/listwatch/workqueue"
)

// TestWorkqueueRealQueue drives a real rate-limiting queue and reads the
// registry: adds, retries, depth and durations match what the queue did,
// and every series goes when the queue shuts down.
func TestWorkqueueRealQueue(t *testing.T) {
	m := New(nil)
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Millisecond),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "jobs", MetricsProvider: m.WorkqueueProvider()},
	)
	defer q.ShutDown()
	adds := m.wq.adds.WithLabelValues("jobs")
	retries := m.wq.retries.WithLabelValues("jobs")
	depth := m.wq.depth.WithLabelValues("jobs")

	q.Add("a")
	q.Add("b")
	q.Add("a") // already queued: not an add
	if got := testutil.ToFloat64(adds); got != 2 {
		t.Fatalf("adds = %v, want 2", got)
	}
	if got := testutil.ToFloat64(depth); got != 2 {
		t.Fatalf("depth = %v, want 2", got)
	}

	// Fail "a" twice through the rate limiter, then succeed; "b" succeeds.
	failures := map[string]int{}
	for succeeded := 0; succeeded < 2; {
		item, shutdown := q.Get()
		if shutdown {
			t.Fatal("queue shut down")
		}
		if item == "a" && failures[item] < 2 {
			failures[item]++
			q.AddRateLimited(item)
		} else {
			q.Forget(item)
			succeeded++
		}
		q.Done(item)
	}

	if got := testutil.ToFloat64(retries); got != 2 {
		t.Fatalf("retries = %v, want 2", got)
	}
	if got := testutil.ToFloat64(adds); got != 4 {
		t.Fatalf("adds = %v, want 4 (a, b and two retries of a)", got)
	}
	if got := testutil.ToFloat64(depth); got != 0 {
		t.Fatalf("depth = %v, want 0", got)
	}
	if n := testutil.CollectAndCount(m.wq.latency); n != 1 {
		t.Fatalf("queue duration series = %d, want 1", n)
	}
	if n := histogramCount(t, m.wq.workDur); n != 4 {
		t.Fatalf("work duration observations = %d, want 4", n)
	}

	q.ShutDown()
	if n := testutil.CollectAndCount(m); n != 0 {
		t.Fatalf("%d series left after ShutDown", n)
	}
}
