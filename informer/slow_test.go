package informer

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// lastSeen is a cheap handler for long streams: it remembers each key's
// last resourceVersion and counts order violations.
type lastSeen struct {
	sleep  time.Duration
	calls  atomic.Int64
	bad    atomic.Int64
	latest []atomic.Int64 // by key index
}

func newLastSeen(keys int, sleep time.Duration) *lastSeen {
	return &lastSeen{sleep: sleep, latest: make([]atomic.Int64, keys)}
}

func (h *lastSeen) see(obj *kunosv1.Task) {
	if h.sleep > 0 {
		time.Sleep(h.sleep)
	}
	var i int
	fmt.Sscanf(obj.Name, "k%d", &i)
	rv := int64(rvOf(obj))
	if prev := h.latest[i].Load(); rv < prev {
		h.bad.Add(1)
	}
	h.latest[i].Store(rv)
	h.calls.Add(1)
}

func (h *lastSeen) OnAdd(obj *kunosv1.Task, _ bool)    { h.see(obj) }
func (h *lastSeen) OnUpdate(_, obj *kunosv1.Task)      { h.see(obj) }
func (h *lastSeen) OnDelete(obj *kunosv1.Task, _ bool) { h.see(obj) }
func (h *lastSeen) caughtUp(s *informer[*kunosv1.Task]) bool {
	for i := range h.latest {
		obj, ok, _ := s.indexer.GetByKey(fmt.Sprintf("default/k%d", i))
		if !ok || int64(rvOf(obj)) != h.latest[i].Load() {
			return false
		}
	}
	return true
}

// TestSlowHandlerDoesNotDelayOthers streams events for 1k keys through the
// sink to a fast handler and to one that sleeps 1ms on every call. Under
// Coalesce the sink never waits, the fast handler catches up with the cache
// while the slow one is still far behind, and the slow handler's buffer
// never holds more than its in-order window plus one entry per key.
func TestSlowHandlerDoesNotDelayOthers(t *testing.T) {
	sizes := []int{100_000}
	if !testing.Short() && !raceEnabled {
		sizes = append(sizes, 1_000_000)
	}
	for _, events := range sizes {
		t.Run(fmt.Sprint(events), func(t *testing.T) { slowHandlerRun(t, Coalesce, events) })
	}
	// For contrast (client-go's behaviour): the slow handler's buffer holds
	// every event. Only reported, not asserted.
	t.Run("Unbounded/100000", func(t *testing.T) { slowHandlerRun(t, Unbounded, 100_000) })
}

func slowHandlerRun(t *testing.T, p Policy, events int) {
	const keys = 1000
	m := newCountingMetrics()
	s := sinkInformer(t, Options[*kunosv1.Task]{InformerMetrics: m, Delivery: Delivery{Policy: p}})
	fast, slow := newLastSeen(keys, 0), newLastSeen(keys, time.Millisecond)
	_, err := s.AddEventHandler(fast, WithName("fast"))
	must(t, err)
	_, err = s.AddEventHandler(slow, WithName("slow"))
	must(t, err)
	items := make([]*kunosv1.Task, keys)
	for i := range items {
		items[i] = task(fmt.Sprintf("k%d", i), i+1)
	}
	must(t, s.Replace(items, fmt.Sprint(keys)))

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	for i := range events {
		must(t, s.Update(task(fmt.Sprintf("k%d", rng.IntN(keys)), keys+1+i)))
	}
	elapsed := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	eventually(t, "fast handler caught up", func() bool { return fast.caughtUp(s) })
	slowCalls := slow.calls.Load()
	if slowCalls >= int64(events)/2 {
		t.Errorf("slow handler handled %d of %d events by the time the fast one caught up", slowCalls, events)
	}
	maxPending := m.get(func(m *countingMetrics) int { return m.maxPending["slow"] })
	if p == Coalesce && maxPending > keys+DefaultBufferSize {
		t.Errorf("slow handler's buffer reached %d entries for %d keys and a window of %d", maxPending, keys, DefaultBufferSize)
	}
	if fast.bad.Load() != 0 || slow.bad.Load() != 0 {
		t.Errorf("resourceVersions went back: fast %d, slow %d times", fast.bad.Load(), slow.bad.Load())
	}
	t.Logf("%s: %d events for %d keys in %v (%.0f events/s through the sink); fast handler got %d calls, slow %d; "+
		"slow buffer max %d entries; live heap %.1f MiB before the stream, %.1f MiB after it with the slow handler behind",
		p, events, keys, elapsed.Round(time.Millisecond), float64(events)/elapsed.Seconds(), fast.calls.Load(), slowCalls,
		maxPending, float64(before.HeapAlloc)/(1<<20), float64(after.HeapAlloc)/(1<<20))
}
