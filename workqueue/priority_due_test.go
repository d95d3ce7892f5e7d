package workqueue

import (
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// An entry whose delay has passed but which the waiting goroutine has not
// promoted yet is due. An immediate add must make it ready (it used to be a
// no-op, because the entry's ready time was already earlier than now), and a
// shutdown must still hand it out (Get used to stop promoting at shutdown,
// so such an entry was dropped as if it were still delayed). Found by
// TestStressPriority losing keys under ShutDownWithDrain.
func TestDueWaitingEntryIsReadyForImmediateAddAndShutdown(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := NewTypedPriorityQueue(TypedPriorityQueueConfig[string]{Clock: clk})
	defer q.ShutDown()
	q.AddWithOpts(AddOpts{After: time.Second}, "a", "b")

	// Make both due while holding the lock, so the waiting goroutine cannot
	// promote them first, then add "a" without delay.
	q.mu.Lock()
	clk.SetTime(clk.Now().Add(2 * time.Second))
	q.addLocked("a", 0, 0, q.now())
	e := q.slab.at(q.slab.index["a"])
	ready := e.flags&pqReady != 0
	q.mu.Unlock()
	if !ready {
		t.Fatalf("a due waiting entry stayed waiting after an immediate add (flags %b)", e.flags)
	}

	// "b" is due too; whether or not the waiting goroutine promoted it
	// yet, shutdown must hand both out before reporting shutdown.
	q.ShutDown()
	got := map[string]bool{}
	for {
		item, shutdown := q.Get()
		if shutdown {
			break
		}
		got[item] = true
		q.Done(item)
	}
	if !got["a"] || !got["b"] {
		t.Fatalf("after shutdown Get handed out %v, want a and b", got)
	}
}
