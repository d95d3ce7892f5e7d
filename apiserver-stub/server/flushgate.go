package server

import (
	"runtime"
	"sync/atomic"
	"time"
)

// Invariants of a flushGate:
//
//   - tokens holds one element per slot in use, so at most cap(tokens)
//     watches write to their connections at once; a nil tokens is no limit.
//   - Each acquire that succeeds is released exactly once: by its release
//     func after the write, or by its hold timer if the write takes longer
//     than maxHold. A client whose connection does not drain thus keeps a
//     slot for maxHold at most, never until its write timeout: the other
//     watches' delivery does not wait on it.
//   - A watch waits for a slot without reading its channel; the store keeps
//     its events meanwhile, so waiting loses and reorders nothing.

// flushGate bounds how many watch connections are written at once (see
// streamWatch).
type flushGate struct {
	tokens  chan struct{}
	maxHold time.Duration
}

// flushGateMaxHold is how long one write keeps its slot at most.
const flushGateMaxHold = 2 * time.Millisecond

// newFlushGate makes a gate with n slots: n == 0 is one per two CPUs (at
// least one), n < 0 no limit.
func newFlushGate(n int) *flushGate {
	if n < 0 {
		return &flushGate{}
	}
	if n == 0 {
		n = max(1, runtime.GOMAXPROCS(0)/2)
	}
	return &flushGate{tokens: make(chan struct{}, n), maxHold: flushGateMaxHold}
}

func noRelease() {}

// acquire waits for a slot; it gives up (false) when drop, deadline or done
// fires first.
func (g *flushGate) acquire(drop <-chan struct{}, deadline <-chan time.Time, done <-chan struct{}) (release func(), ok bool) {
	if g.tokens == nil {
		return noRelease, true
	}
	select {
	case g.tokens <- struct{}{}:
	default:
		select {
		case g.tokens <- struct{}{}:
		case <-drop:
			return nil, false
		case <-deadline:
			return nil, false
		case <-done:
			return nil, false
		}
	}
	var released atomic.Bool
	free := func() {
		if released.CompareAndSwap(false, true) {
			<-g.tokens
		}
	}
	t := time.AfterFunc(g.maxHold, free)
	return func() { t.Stop(); free() }, true
}
