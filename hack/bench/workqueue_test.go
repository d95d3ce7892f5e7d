package bench

// Side by side: listwatch's workqueue against client-go's util/workqueue,
// the same four workloads in one process run.
//
//	cd hack/bench && go test -run '^$' -bench Workqueue -benchmem -count=3 .

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	lwqueue "github.com/kunos-io/listwatch/workqueue"
	cgqueue "k8s.io/client-go/util/workqueue"
	testingclock "k8s.io/utils/clock/testing"
)

// The method sets both libraries share (their interfaces are identical).
type wqQueue interface {
	Add(string)
	Get() (string, bool)
	Done(string)
	ShutDown()
}

type wqDelaying interface {
	wqQueue
	AddAfter(string, time.Duration)
}

type wqRateLimiting interface {
	wqDelaying
	AddRateLimited(string)
	Forget(string)
}

type wqImpl struct {
	name         string
	newQueue     func() wqQueue
	newDelaying  func(*testingclock.FakeClock) wqDelaying
	newRequeuing func() wqRateLimiting // 1 µs item backoff, real clock
}

var wqImpls = []wqImpl{
	{
		name:     "listwatch",
		newQueue: func() wqQueue { return lwqueue.NewTypedWithConfig(lwqueue.TypedQueueConfig[string]{}) },
		newDelaying: func(c *testingclock.FakeClock) wqDelaying {
			return lwqueue.NewTypedDelayingQueueWithConfig(lwqueue.TypedDelayingQueueConfig[string]{Clock: c})
		},
		newRequeuing: func() wqRateLimiting {
			return lwqueue.NewTypedRateLimitingQueue(
				lwqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Microsecond, time.Microsecond))
		},
	},
	{
		name:     "client-go",
		newQueue: func() wqQueue { return cgqueue.NewTypedWithConfig(cgqueue.TypedQueueConfig[string]{}) },
		newDelaying: func(c *testingclock.FakeClock) wqDelaying {
			return cgqueue.NewTypedDelayingQueueWithConfig(cgqueue.TypedDelayingQueueConfig[string]{Clock: c})
		},
		newRequeuing: func() wqRateLimiting {
			return cgqueue.NewTypedRateLimitingQueue(
				cgqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Microsecond, time.Microsecond))
		},
	},
}

func BenchmarkWorkqueue(b *testing.B) {
	keys100 := make([]string, 100)
	for i := range keys100 {
		keys100[i] = fmt.Sprintf("key-%d", i)
	}
	keys10k := make([]string, 10000)
	for i := range keys10k {
		keys10k[i] = fmt.Sprintf("ns/key-%d", i)
	}

	// client-go's BenchmarkQueue: 100 Add/Get/Done per op, fresh queue.
	for _, impl := range wqImpls {
		b.Run("Queue/"+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				q := impl.newQueue()
				b.StartTimer()
				for _, k := range keys100 {
					q.Add(k)
					item, _ := q.Get()
					q.Done(item)
				}
				b.StopTimer()
				q.ShutDown()
				b.StartTimer()
			}
		})
	}

	// 8 producers, 2 workers, 10k keys; one op is one Add, draining included.
	for _, impl := range wqImpls {
		b.Run("Contended/"+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			q := impl.newQueue()
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
						q.Add(keys10k[(p*1237+i)%len(keys10k)])
					}
				})
			}
			producers.Wait()
			q.ShutDown()
			workers.Wait()
		})
	}

	// client-go's BenchmarkDelayingQueue_AddAfter: b.N random delays up to
	// 10 min on a fake clock, then take every item out.
	for _, impl := range wqImpls {
		b.Run("AddAfter/"+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			clk := testingclock.NewFakeClock(time.Now())
			q := impl.newDelaying(clk)
			defer q.ShutDown()
			rng := rand.New(rand.NewPCG(1, 2))
			for n := 0; n < b.N; n++ {
				q.AddAfter(fmt.Sprintf("%d", n), time.Duration(rng.Int64N(int64(10*time.Minute))))
			}
			clk.Step(11 * time.Minute)
			for n := 0; n < b.N; n++ {
				item, _ := q.Get()
				q.Done(item)
			}
		})
	}

	// A worker failing every item: 100 keys cycle through Get,
	// AddRateLimited (1 µs backoff through the waiting goroutine) and Done;
	// every 16th requeue Forgets first.
	for _, impl := range wqImpls {
		b.Run("RateLimitedRequeue/"+impl.name, func(b *testing.B) {
			q := impl.newRequeuing()
			defer q.ShutDown()
			for _, k := range keys100 {
				q.Add(k)
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
		})
	}
}

// Compatibility: the two libraries' interfaces are interchangeable, and
// the same single-threaded operation sequence gives the same results.

var (
	_ cgqueue.TypedRateLimitingInterface[string] = (lwqueue.TypedRateLimitingInterface[string])(nil)
	_ lwqueue.TypedRateLimitingInterface[string] = (cgqueue.TypedRateLimitingInterface[string])(nil)
	_ cgqueue.TypedRateLimitingInterface[string] = (*lwqueue.PriorityQueue[string])(nil)
	_ cgqueue.TypedInterface[string]             = (*lwqueue.Typed[string])(nil)
	_ cgqueue.RateLimitingInterface              = (lwqueue.RateLimitingInterface)(nil)
	_ cgqueue.TypedRateLimiter[string]           = (*lwqueue.TypedMaxOfRateLimiter[string])(nil)
	_ cgqueue.TypedRateLimiter[string]           = (*lwqueue.TypedBucketRateLimiter[string])(nil)
	_ lwqueue.TypedRateLimiter[string]           = (*cgqueue.TypedItemExponentialFailureRateLimiter[string])(nil)
	_ cgqueue.Queue[string]                      = (lwqueue.Queue[string])(nil)
)

func TestWorkqueueSameAsClientGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	lw := lwqueue.NewTyped[int]()
	cg := cgqueue.NewTyped[int]()
	defer lw.ShutDown()
	defer cg.ShutDown()
	var processing []int
	for op := range 20000 {
		switch r := rng.IntN(10); {
		case r < 5:
			k := rng.IntN(50)
			lw.Add(k)
			cg.Add(k)
		case r < 8 && lw.Len() > 0:
			a, _ := lw.Get()
			b, _ := cg.Get()
			if a != b {
				t.Fatalf("op %d: Get = %d, client-go %d", op, a, b)
			}
			processing = append(processing, a)
		case len(processing) > 0:
			i := rng.IntN(len(processing))
			k := processing[i]
			processing = append(processing[:i], processing[i+1:]...)
			lw.Done(k)
			cg.Done(k)
		}
		if lw.Len() != cg.Len() {
			t.Fatalf("op %d: Len = %d, client-go %d", op, lw.Len(), cg.Len())
		}
	}
}

func TestWorkqueueRateLimitersSameAsClientGo(t *testing.T) {
	pairs := []struct {
		name   string
		lw, cg lwqueue.TypedRateLimiter[string]
	}{
		{"exponential",
			lwqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Second),
			cgqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Second)},
		{"item-based default", lwqueue.DefaultTypedItemBasedRateLimiter[string](), cgqueue.DefaultTypedItemBasedRateLimiter[string]()},
		{"fast-slow",
			lwqueue.NewTypedItemFastSlowRateLimiter[string](time.Millisecond, time.Second, 3),
			cgqueue.NewTypedItemFastSlowRateLimiter[string](time.Millisecond, time.Second, 3)},
		{"max-of with max-wait",
			lwqueue.NewTypedWithMaxWaitRateLimiter(lwqueue.NewTypedMaxOfRateLimiter(
				lwqueue.NewTypedItemFastSlowRateLimiter[string](5*time.Millisecond, time.Second, 2),
				lwqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, time.Hour)), time.Minute),
			cgqueue.NewTypedWithMaxWaitRateLimiter(cgqueue.NewTypedMaxOfRateLimiter(
				cgqueue.NewTypedItemFastSlowRateLimiter[string](5*time.Millisecond, time.Second, 2),
				cgqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, time.Hour)), time.Minute)},
	}
	for _, p := range pairs {
		rng := rand.New(rand.NewPCG(3, 3))
		for op := range 5000 {
			k := fmt.Sprint(rng.IntN(5))
			if rng.IntN(10) == 0 {
				p.lw.Forget(k)
				p.cg.Forget(k)
				continue
			}
			if a, b := p.lw.When(k), p.cg.When(k); a != b {
				t.Fatalf("%s op %d: When = %v, client-go %v", p.name, op, a, b)
			}
			if a, b := p.lw.NumRequeues(k), p.cg.NumRequeues(k); a != b {
				t.Fatalf("%s op %d: NumRequeues = %d, client-go %d", p.name, op, a, b)
			}
		}
	}
}
