package server

import (
	"testing"
	"time"
)

// TestFlushGateSlotIsNotHeldByAStuckWrite: a write that never returns
// keeps its token for maxHold at most, so the next watch gets one.
func TestFlushGateSlotIsNotHeldByAStuckWrite(t *testing.T) {
	g := newFlushGate(1)
	never := make(chan struct{})
	stuck := g.slot()
	if waited, ok := stuck.acquire(never, nil, never); !ok || waited {
		t.Fatalf("first acquire: waited %v, ok %v", waited, ok)
	}
	// The stuck write never releases.
	giveUp := time.After(30 * time.Second)
	got := make(chan *slot, 1)
	go func() {
		s := g.slot()
		if waited, ok := s.acquire(never, nil, never); ok && waited {
			got <- s
		}
	}()
	select {
	case s := <-got:
		s.release()
		s.release() // a second release changes nothing
		stuck.release()
	case <-giveUp:
		t.Fatal("the second acquire waited on the stuck token")
	}
	s := g.slot()
	for range 3 { // every token is free again, and a slot is reusable
		if waited, ok := s.acquire(never, nil, never); !ok || waited {
			t.Fatalf("acquire after releases: waited %v, ok %v", waited, ok)
		}
		s.release()
	}
	if len(g.tokens) != 0 {
		t.Fatalf("%d tokens still taken", len(g.tokens))
	}
}

// TestFlushGateGivesUp: a watch that ends while it waits for a token
// stops waiting; a negative size is no limit.
func TestFlushGateGivesUp(t *testing.T) {
	g := newFlushGate(1)
	g.maxHold = time.Hour
	never := make(chan struct{})
	holder := g.slot()
	holder.acquire(never, nil, never)
	defer holder.release()
	drop := make(chan struct{})
	close(drop)
	if _, ok := g.slot().acquire(drop, nil, never); ok {
		t.Fatal("acquired a taken token")
	}
	free := newFlushGate(-1)
	for range 3 {
		if waited, ok := free.slot().acquire(never, nil, never); !ok || waited {
			t.Fatal("a gate without a limit made a watch wait")
		}
	}
}
