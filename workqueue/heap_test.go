package workqueue

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// The node heap pops in (key, seq) order, also after compaction drops a
// random subset.
func TestNodeHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h nodeHeap
	var want []node
	for i := range 5000 {
		n := node{key: rng.Int64N(100), seq: uint64(i), slot: int32(i)}
		h.push(n)
		want = append(want, n)
	}
	dropped := map[int32]bool{}
	for i := range 5000 {
		if rng.IntN(3) == 0 {
			dropped[int32(i)] = true
		}
	}
	h.compact(func(n node) bool { return !dropped[n.slot] })
	want = slices.DeleteFunc(want, func(n node) bool { return dropped[n.slot] })
	slices.SortFunc(want, func(a, b node) int {
		if a.less(b) {
			return -1
		}
		return 1
	})
	for i, w := range want {
		if got := h.pop(); got != w {
			t.Fatalf("pop %d = %+v, want %+v", i, got, w)
		}
	}
	if h.len() != 0 {
		t.Fatalf("%d nodes left", h.len())
	}
}

// Re-adding with ever earlier times or ever higher priorities leaves stale
// nodes behind; compaction keeps the heaps within about twice the live
// entries, and the order stays right.
func TestStaleNodesAreCompacted(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newTestPQ(t, clk, -1)
	for i := range 10000 {
		q.AddWithOpts(AddOpts{Priority: i}, "x")
		q.AddWithOpts(AddOpts{After: time.Duration(20000-i) * time.Second}, "y")
	}
	q.mu.Lock()
	readyNodes, waitNodes := q.ready.len(), q.waiting.len()
	q.mu.Unlock()
	if readyNodes > 2*1+64 || waitNodes > 2*1+64 {
		t.Fatalf("heaps hold %d and %d nodes for one live entry each", readyNodes, waitNodes)
	}
	item, prio, _ := q.GetWithPriority()
	if item != "x" || prio != 9999 {
		t.Fatalf("got %s %d", item, prio)
	}
	q.Done(item)
	clk.Step(10001 * time.Second)
	if item, _ := q.Get(); item != "y" {
		t.Fatalf("got %s", item)
	}

	dq := NewTypedDelayingQueueWithConfig(TypedDelayingQueueConfig[string]{Clock: clk})
	defer dq.ShutDown()
	for i := range 10000 {
		dq.AddAfter("z", time.Duration(20000-i)*time.Second)
	}
	d := dq.(*delayingType[string])
	d.mu.Lock()
	n := d.waiting.len()
	d.mu.Unlock()
	if n > 2*1+64 {
		t.Fatalf("delaying heap holds %d nodes for one entry", n)
	}
}

// Slots are reused and the slab resets after a burst, without confusing a
// stale node with the slot's new entry.
func TestSlabReuse(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newTestPQ(t, clk, -1)
	for round := range 3 {
		for i := range 3000 {
			q.AddWithOpts(AddOpts{Priority: i % 7}, itoa(i))
			q.AddWithOpts(AddOpts{Priority: 10 + i%7}, itoa(i)) // leaves a stale node
		}
		seen := map[string]bool{}
		lastPrio := 1 << 30
		for q.Len() > 0 {
			item, prio, _ := q.GetWithPriority()
			if seen[item] {
				t.Fatalf("round %d: %s handed out twice", round, item)
			}
			if prio > lastPrio {
				t.Fatalf("round %d: priority %d after %d", round, prio, lastPrio)
			}
			seen[item], lastPrio = true, prio
			q.Done(item)
		}
		if len(seen) != 3000 {
			t.Fatalf("round %d: %d items, want 3000", round, len(seen))
		}
	}
}
