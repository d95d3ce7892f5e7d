package workqueue

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// The shapes match client-go's benchmarks (and hack/bench/workqueue_test.go
// runs the same four against client-go side by side).

// BenchmarkQueue is client-go's BenchmarkQueue: 100 Add/Get/Done per op on a
// fresh queue.
func BenchmarkQueue(b *testing.B) {
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		q := NewTypedWithConfig(TypedQueueConfig[string]{})
		b.StartTimer()
		for _, k := range keys {
			q.Add(k)
			item, _ := q.Get()
			q.Done(item)
		}
	}
}

// BenchmarkQueueContended: 8 producers and 2 workers over 10k keys; one op
// is one Add (deduplicated adds included), and the time includes draining.
func BenchmarkQueueContended(b *testing.B) {
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = fmt.Sprintf("ns/key-%d", i)
	}
	b.ReportAllocs()
	q := NewTyped[string]()
	var workers sync.WaitGroup
	for range 2 {
		workers.Go(func() {
			for {
				item, shutdown := q.Get()
				if shutdown {
					return
				}
				q.Done(item)
			}
		})
	}
	b.ResetTimer()
	var producers sync.WaitGroup
	for p := range 8 {
		n := b.N / 8
		if p < b.N%8 {
			n++
		}
		producers.Go(func() {
			for i := range n {
				q.Add(keys[(p*1237+i)%len(keys)])
			}
		})
	}
	producers.Wait()
	q.ShutDown()
	workers.Wait()
}

// BenchmarkDelayingQueue_AddAfter is client-go's: b.N AddAfter calls with
// random delays up to 10 minutes, then every item is taken out.
func BenchmarkDelayingQueue_AddAfter(b *testing.B) {
	clk := testingclock.NewFakeClock(time.Now())
	q := NewTypedDelayingQueueWithConfig(TypedDelayingQueueConfig[string]{Clock: clk})
	defer q.ShutDown()
	b.ReportAllocs()
	for n := 0; n < b.N; n++ {
		q.AddAfter(fmt.Sprintf("%d", n), time.Duration(rand.Int64N(int64(10*time.Minute))))
	}
	clk.Step(11 * time.Minute)
	for n := 0; n < b.N; n++ {
		item, _ := q.Get()
		q.Done(item)
	}
}

// BenchmarkRateLimitedRequeue: a worker that fails every item. 100 keys
// cycle through Get, AddRateLimited (a 1 µs backoff through the waiting
// goroutine, real clock) and Done; every 16th requeue Forgets first. One
// op is one Get/AddRateLimited/Done.
func BenchmarkRateLimitedRequeue(b *testing.B) {
	q := NewTypedRateLimitingQueue(NewTypedItemExponentialFailureRateLimiter[string](time.Microsecond, time.Microsecond))
	defer q.ShutDown()
	for i := range 100 {
		q.Add(fmt.Sprintf("key-%d", i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		item, _ := q.Get()
		if i++; i%16 == 0 {
			q.Forget(item)
		}
		q.AddRateLimited(item)
		q.Done(item)
	}
}

// BenchmarkPriorityQueue is BenchmarkQueue on the priority queue, with
// priorities spread over 4 levels.
func BenchmarkPriorityQueue(b *testing.B) {
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		q := NewTypedPriorityQueue(TypedPriorityQueueConfig[string]{})
		b.StartTimer()
		for i, k := range keys {
			q.AddWithOpts(AddOpts{Priority: i % 4}, k)
			item, _ := q.Get()
			q.Done(item)
		}
		b.StopTimer()
		q.ShutDown()
		b.StartTimer()
	}
}

// BenchmarkPriorityQueueBacklog: Add and Get with 10k items waiting, so the
// heap is deep.
func BenchmarkPriorityQueueBacklog(b *testing.B) {
	q := NewTypedPriorityQueue(TypedPriorityQueueConfig[int]{})
	defer q.ShutDown()
	for i := range 10000 {
		q.AddWithOpts(AddOpts{Priority: i % 8}, i)
	}
	b.ReportAllocs()
	next := 10000
	for b.Loop() {
		item, _ := q.Get()
		q.Done(item)
		q.AddWithOpts(AddOpts{Priority: next % 8}, next)
		next++
	}
}
