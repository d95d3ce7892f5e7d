package server

import (
	"testing"
	"time"
)

// TestFlushGateSlotIsNotHeldByAStuckWrite: a write that never returns
// keeps its slot for maxHold at most, so the next watch gets one.
func TestFlushGateSlotIsNotHeldByAStuckWrite(t *testing.T) {
	g := newFlushGate(1)
	never := make(chan struct{})
	release, ok := g.acquire(never, nil, never)
	if !ok {
		t.Fatal("first acquire failed")
	}
	_ = release // the stuck write never releases
	giveUp := time.After(30 * time.Second)
	gotIt := make(chan func(), 1)
	go func() {
		r, ok := g.acquire(never, nil, never)
		if ok {
			gotIt <- r
		}
	}()
	select {
	case r := <-gotIt:
		r()
		r() // a second release changes nothing
		release()
	case <-giveUp:
		t.Fatal("the second acquire waited on the stuck slot")
	}
	// Every slot is free again.
	r, ok := g.acquire(never, nil, never)
	if !ok {
		t.Fatal("acquire after releases failed")
	}
	r()
	if len(g.tokens) != 0 {
		t.Fatalf("%d slots still taken", len(g.tokens))
	}
}

// TestFlushGateGivesUp: a watch that ends while it waits for a slot
// stops waiting.
func TestFlushGateGivesUp(t *testing.T) {
	g := newFlushGate(1)
	never := make(chan struct{})
	g.maxHold = time.Hour
	release, _ := g.acquire(never, nil, never)
	defer release()
	drop := make(chan struct{})
	close(drop)
	if _, ok := g.acquire(drop, nil, never); ok {
		t.Fatal("acquired a taken slot")
	}
	if g := newFlushGate(-1); g.tokens != nil {
		t.Fatal("a negative size has a limit")
	}
}
