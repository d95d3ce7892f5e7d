package server

import (
	"runtime"
	"sync/atomic"
	"time"
)

// Invariants of a flushGate and its slots:
//
//   - tokens holds one element per slot in use, so at most cap(tokens)
//     watches write to their connections at once; a nil tokens is no limit.
//   - A slot's held flag is set while it holds a token, and whoever clears
//     it (release after the write, or the hold timer when the write takes
//     longer than maxHold) gives the token back: exactly once per
//     acquire. A client whose connection does not drain thus keeps a token
//     for maxHold at most, never until its write timeout, and the other
//     watches' delivery does not wait on it. A hold timer that fires late,
//     after its slot was released and taken again, may end the next hold
//     early: one more write at once for a moment, never a lost token.
//   - A watch waits for a token without reading its channel; the store
//     keeps its events meanwhile, so waiting loses and reorders nothing.

// flushGate bounds how many watch connections are written at once (see
// streamWatch).
type flushGate struct {
	tokens  chan struct{}
	maxHold time.Duration
}

// flushGateMaxHold is how long one write keeps its token at most.
const flushGateMaxHold = 2 * time.Millisecond

// newFlushGate makes a gate with n tokens: n == 0 is one per two CPUs (at
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

// slot is one watch's use of the gate, reused for each of its writes so
// that a write allocates nothing.
type slot struct {
	g     *flushGate
	held  atomic.Bool
	timer *time.Timer // the hold timer, made on first use
}

func (g *flushGate) slot() *slot { return &slot{g: g} }

// acquire waits for a token; it gives up (false) when drop, deadline or
// done fires first. waited reports that no token was free at once: the
// server is busy writing other watches.
func (s *slot) acquire(drop <-chan struct{}, deadline <-chan time.Time, done <-chan struct{}) (waited, ok bool) {
	g := s.g
	if g.tokens == nil {
		return false, true
	}
	select {
	case g.tokens <- struct{}{}:
	default:
		waited = true
		select {
		case g.tokens <- struct{}{}:
		case <-drop:
			return true, false
		case <-deadline:
			return true, false
		case <-done:
			return true, false
		}
	}
	s.held.Store(true)
	if s.timer == nil {
		s.timer = time.AfterFunc(g.maxHold, s.giveBack)
	} else {
		s.timer.Reset(g.maxHold)
	}
	return waited, true
}

// release gives the token back after the write, unless the hold timer
// already has. It may be called when nothing is held.
func (s *slot) release() {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.giveBack()
}

func (s *slot) giveBack() {
	if s.held.CompareAndSwap(true, false) {
		<-s.g.tokens
	}
}
