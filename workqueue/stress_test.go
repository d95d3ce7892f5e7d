package workqueue

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stressAdder adds key k the way one variant of the test wants; it reports
// whether the add was immediate (so it must be processed if it happened
// before shutdown).
type stressAdder func(rng *rand.Rand, k int) (immediate bool)

// stress runs producers and workers against q with random re-adds, shuts
// the queue down in the middle, and checks two invariants:
//   - no key is processed by two workers at once;
//   - nothing is lost: every immediate add that returned before shutdown
//     began is followed by a processing of that key that observes it.
//
// The second uses versions: a producer bumps version[k] before adding k,
// and a worker reads version[k] after Get returned k; the highest version
// a worker saw for k must cover the last add that beat the shutdown.
func stress(t *testing.T, q TypedInterface[int], add stressAdder, drain bool) {
	const (
		keys      = 1000
		producers = 4
		workers   = 4
	)
	perProducer := 10000
	if testing.Short() {
		perProducer = 2000
	}
	var (
		version   [keys]atomic.Int64
		mustSee   [keys]atomic.Int64
		processed [keys]atomic.Int64
		inFlight  [keys]atomic.Int32
		stopping  atomic.Bool
		addsDone  atomic.Int64
		gets      atomic.Int64
		accepted  atomic.Int64
		attempted atomic.Int64
	)
	storeMax := func(a *atomic.Int64, v int64) {
		for {
			old := a.Load()
			if v <= old || a.CompareAndSwap(old, v) {
				return
			}
		}
	}
	addTracked := func(rng *rand.Rand, k int) {
		v := version[k].Add(1)
		attempted.Add(1)
		immediate := add(rng, k)
		if !stopping.Load() {
			accepted.Add(1)
			if immediate {
				storeMax(&mustSee[k], v)
			}
		}
	}

	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 1))
			for range perProducer {
				addTracked(rng, rng.IntN(keys))
				addsDone.Add(1)
				if rng.IntN(4) == 0 {
					runtime.Gosched() // let workers keep up, so they interleave
				}
			}
		})
	}
	var workerWG sync.WaitGroup
	for w := range workers {
		workerWG.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for {
				k, shutdown := q.Get()
				if shutdown {
					return
				}
				gets.Add(1)
				if !inFlight[k].CompareAndSwap(0, 1) {
					t.Errorf("key %d processed by two workers at once", k)
				}
				storeMax(&processed[k], version[k].Load())
				if rng.IntN(4) == 0 {
					addTracked(rng, k) // re-add while processing
				}
				if rng.IntN(8) == 0 {
					runtime.Gosched()
				}
				inFlight[k].Store(0)
				q.Done(k)
			}
		})
	}

	// Shut down in the middle of the run, producers still adding.
	for addsDone.Load() < int64(producers*perProducer/2) {
		time.Sleep(100 * time.Microsecond)
	}
	stopping.Store(true)
	if drain {
		q.ShutDownWithDrain()
	} else {
		q.ShutDown()
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		workerWG.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(60 * time.Second):
		// A broken invariant can wedge the queue; fail instead of hanging.
		t.Fatal("stress run did not finish: the queue is stuck")
	}

	for k := range keys {
		if p, m := processed[k].Load(), mustSee[k].Load(); p < m {
			t.Errorf("key %d lost: last accepted add was version %d, last processing saw %d", k, m, p)
		}
	}
	// Each Get must answer at least one add: the queue only merges adds.
	// All attempted adds count here, since those made between stopping and
	// the queue's shutdown taking effect are legitimately processed.
	if g, a := gets.Load(), attempted.Load(); g > a {
		t.Errorf("%d items handed out for %d adds: some item was handed out twice", g, a)
	}
	t.Logf("accepted adds %d, processed %d (dedup)", accepted.Load(), gets.Load())
}

func TestStressTyped(t *testing.T) {
	for _, drain := range []bool{false, true} {
		q := NewTyped[int]()
		stress(t, q, func(_ *rand.Rand, k int) bool { q.Add(k); return true }, drain)
	}
}

func TestStressTypedWithMetrics(t *testing.T) {
	p := &fakeProvider{}
	q := NewTypedWithConfig(TypedQueueConfig[int]{Name: "stress", MetricsProvider: p})
	stress(t, q, func(_ *rand.Rand, k int) bool { q.Add(k); return true }, true)
	// Every counted add was handed out: the depth gauge is back at zero.
	if d := p.depth.get(); d != 0 {
		t.Fatalf("depth = %v after draining, want 0", d)
	}
}

func TestStressRateLimiting(t *testing.T) {
	for _, drain := range []bool{false, true} {
		q := NewTypedRateLimitingQueue(NewTypedItemExponentialFailureRateLimiter[int](time.Microsecond, time.Millisecond))
		stress(t, q, func(rng *rand.Rand, k int) bool {
			switch rng.IntN(4) {
			case 0:
				q.AddRateLimited(k)
				return false
			case 1:
				q.AddAfter(k, time.Duration(rng.IntN(500))*time.Microsecond)
				return false
			case 2:
				q.Forget(k)
			}
			q.Add(k)
			return true
		}, drain)
	}
}

func TestStressPriority(t *testing.T) {
	for _, drain := range []bool{false, true} {
		p := &fakeProvider{}
		q := NewTypedPriorityQueue(TypedPriorityQueueConfig[int]{
			Name:            "stress",
			MetricsProvider: p,
			AgingInterval:   time.Millisecond,
			RateLimiter:     NewTypedItemExponentialFailureRateLimiter[int](time.Microsecond, time.Millisecond),
		})
		stress(t, q, func(rng *rand.Rand, k int) bool {
			opts := AddOpts{Priority: rng.IntN(5) - 2}
			switch rng.IntN(4) {
			case 0:
				opts.After = time.Duration(rng.IntN(500)) * time.Microsecond
			case 1:
				opts.RateLimited = true
			}
			q.AddWithOpts(opts, k)
			return opts.After <= 0 && !opts.RateLimited
		}, drain)
		if d := p.depth.get(); d != 0 {
			t.Fatalf("depth = %v after draining, want 0", d)
		}
	}
}
