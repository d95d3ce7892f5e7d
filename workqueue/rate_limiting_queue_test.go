package workqueue

import (
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

func TestRateLimitingQueue(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	limiter := NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, time.Second)
	q := NewTypedRateLimitingQueueWithConfig(limiter, TypedRateLimitingQueueConfig[string]{Clock: clk})
	defer q.ShutDown()
	delaying := q.(*rateLimitingType[string]).TypedDelayingInterface

	q.AddRateLimited("one") // 1 ms
	q.AddRateLimited("one") // 2 ms: the earlier 1 ms wins
	q.AddRateLimited("two") // 1 ms
	if q.NumRequeues("one") != 2 || q.NumRequeues("two") != 1 {
		t.Fatalf("NumRequeues = %d, %d", q.NumRequeues("one"), q.NumRequeues("two"))
	}
	waitArmed(t, delaying, time.Millisecond)
	clk.Step(time.Millisecond)
	waitLen(t, q, 2)
	if n := waitingCount(delaying); n != 0 {
		t.Fatalf("waiting = %d, want 0", n)
	}

	q.Forget("one")
	if q.NumRequeues("one") != 0 {
		t.Fatal("Forget did not reset")
	}
	q.AddRateLimited("one") // back to 1 ms
	waitArmed(t, delaying, 2*time.Millisecond)
}

func TestRateLimitingQueueWorkerRetries(t *testing.T) {
	// A worker that fails an item three times, then succeeds: the item is
	// retried after 1, 2 and 4 ms of fake time, and forgotten at the end.
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := NewTypedRateLimitingQueueWithConfig(
		NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, time.Second),
		TypedRateLimitingQueueConfig[string]{Clock: clk})
	defer q.ShutDown()
	delaying := q.(*rateLimitingType[string]).TypedDelayingInterface
	q.Add("job")
	var elapsed time.Duration
	for attempt := 0; ; attempt++ {
		item, _ := q.Get()
		if attempt == 3 {
			q.Forget(item)
			q.Done(item)
			break
		}
		q.AddRateLimited(item)
		q.Done(item)
		wait := time.Millisecond << attempt
		elapsed += wait
		waitArmed(t, delaying, elapsed)
		clk.Step(wait)
		waitLen(t, q, 1)
	}
	if q.NumRequeues("job") != 0 || elapsed != 7*time.Millisecond {
		t.Fatalf("NumRequeues = %d, elapsed = %v", q.NumRequeues("job"), elapsed)
	}
}
