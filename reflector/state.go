package reflector

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/watch"
)

// The reflector is a state machine. A state names the next action (a phase)
// and carries what that action needs; each action reports an outcome; the
// function transition, below, is the only place that decides which state
// follows which outcome. Run is "state = transition(state, act(state))"
// until the context ends.
//
//	phase      outcome      next state
//	---------  -----------  ----------------------------------------------
//	sync       -            watchList if enabled and supported, else list
//	watchList  ok           stream (the same watch continues, synced)
//	watchList  expired,     if it asked for an RV: watchList again at once,
//	           tooLarge     consistent (RV ""); else wait(backoff) → watchList
//	watchList  throttled    wait(Retry-After or backoff) → watchList
//	watchList  unsupported  list, and never watch-list again
//	watchList  failed,      list (fallback for this cycle)
//	           broken,
//	           short
//	list       ok           watch
//	list       expired,     if it asked for an RV: list again at once,
//	           tooLarge     consistent (RV ""); else wait(backoff) → list
//	list       throttled    wait(Retry-After or backoff) → list
//	list       failed,...   wait(backoff) → sync
//	watch      ok           stream
//	watch      expired      wait(backoff) → sync (relist at the last RV)
//	watch      tooLarge     sync at once, consistent: the server is behind
//	                        the cache (it restarted empty, or lost data), so
//	                        the cache is stale; marked so until synced
//	watch      throttled    wait(Retry-After or backoff) → watch
//	watch      failed       wait(backoff) → watch (the cache is still whole)
//	stream     ended        watch at once (clean end, e.g. timeoutSeconds)
//	stream     short        wait(backoff) → watch (closed < 1s, no events)
//	stream     stalled      watch at once (watchdog; the RV is still valid)
//	stream     expired      wait(backoff) → sync (relist at the last RV)
//	stream     tooLarge     sync at once, consistent, stale (as for watch)
//	stream     throttled    wait(Retry-After or backoff) → watch
//	stream     broken       wait(backoff) → sync (an event may be lost)
//	wait       ok           the state it was told to go to
//
// After a relist at the last RV fails with expired or tooLarge, the next
// relist is consistent (RV ""), and stays so until a sync succeeds.
type state struct {
	phase phase
	// stream is the open watch of phaseStream.
	stream *stream
	// delay and then describe phaseWait.
	delay time.Duration
	then  phase
}

// phase names the action a state performs.
type phase uint8

const (
	// phaseSync chooses how to fetch the whole state: watch-list or list.
	phaseSync phase = iota
	// phaseWatchList opens a watch with sendInitialEvents, buffers the
	// initial ADDEDs until the initial-events-end bookmark and replaces the
	// sink's contents; the stream then continues in phaseStream.
	phaseWatchList
	// phaseList fetches the state page by page and replaces the sink's
	// contents.
	phaseList
	// phaseWatch opens a watch from the last resourceVersion.
	phaseWatch
	// phaseStream applies the events of an open watch until it ends.
	phaseStream
	// phaseWait sleeps for delay, then moves to then.
	phaseWait
)

func (p phase) String() string {
	switch p {
	case phaseSync:
		return "sync"
	case phaseWatchList:
		return "watch-list"
	case phaseList:
		return "list"
	case phaseWatch:
		return "watch"
	case phaseStream:
		return "stream"
	case phaseWait:
		return "wait"
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// outcome is how an action ended.
type outcome uint8

const (
	// ok: the action did what it was for.
	ok outcome = iota
	// ended: the server closed the stream cleanly.
	ended
	// short: the server closed the stream within a second without sending
	// anything, which signals a problem rather than a timeout.
	short
	// stalled: the watchdog found the stream silent for too long.
	stalled
	// expired: 410 Gone / Expired, from a response or an ERROR event.
	expired
	// tooLarge: 504 with cause ResourceVersionTooLarge.
	tooLarge
	// throttled: 429, to be retried after result.delay (or a backoff).
	throttled
	// unsupported: the server answered a watch-list without ever sending
	// the initial-events-end bookmark.
	unsupported
	// failed: an error that left the sink consistent up to the last RV.
	failed
	// broken: an error after which the sink may have missed an event.
	broken
	// canceled: the context ended.
	canceled
)

func (o outcome) String() string {
	return [...]string{"ok", "ended", "short", "stalled", "expired", "too-large", "throttled",
		"unsupported", "failed", "broken", "canceled"}[o]
}

// result is what an action reports.
type result struct {
	outcome outcome
	err     error
	// delay is the server's Retry-After for throttled, if it gave one.
	delay time.Duration
	// stream is the watch opened by phaseWatch or kept by phaseWatchList.
	stream *stream
	// rv is the resourceVersion a sync asked for.
	rv string
}

// stream is an open watch and what the reflector knows about it.
type stream struct {
	w watch.Interface
	// cancel ends the context the watch was opened with (openWatch).
	cancel  context.CancelFunc
	started time.Time
	events  int
	// propagateRV is false while a watch that began at RV "" or "0" sends
	// its synthetic ADDEDs, which are not in resourceVersion order.
	propagateRV bool
}

func (s *stream) stop() {
	if s == nil {
		return
	}
	if s.w != nil {
		s.w.Stop()
	}
	if s.cancel != nil {
		s.cancel()
	}
}

// transition returns the state that follows s after r. It is the only place
// where the reflector decides what to do next; it also records the
// decisions that outlive a state (RV availability, watch-list support) and
// counts relists.
func (x *Reflector[T]) transition(s state, r result) state {
	next := x.decide(s, r)
	if x.trace != nil {
		x.trace(s, r, next)
	}
	return next
}

func (x *Reflector[T]) decide(s state, r result) state {
	wait := func(d time.Duration, then phase) state {
		if d <= 0 {
			d = x.backoff.next()
		}
		return state{phase: phaseWait, delay: d, then: then}
	}
	relist := func(o outcome) state {
		switch o {
		case expired:
			x.opts.Metrics.Relisted(RelistExpired)
		case tooLarge:
			x.opts.Metrics.Relisted(RelistTooLarge)
		default:
			x.opts.Metrics.Relisted(RelistError)
		}
		return wait(0, phaseSync)
	}
	// resync handles tooLarge on a watch: the server has not reached the
	// cache's RV, so it lost what the cache holds. Waiting would only keep
	// the cache stale: ask at once for the server's current state.
	resync := func() state {
		x.opts.Metrics.Relisted(RelistTooLarge)
		x.rvUnavailable = true
		if !x.stale.Swap(true) {
			x.opts.Logger.Warn("reflector: the server is behind the cache's resourceVersion (restarted empty?); "+
				"the cache is stale until a consistent relist", "resourceVersion", x.LastSyncResourceVersion(), "err", r.err)
		}
		return state{phase: phaseSync}
	}
	// retrySyncConsistent handles expired and tooLarge during a sync: the
	// last RV is gone (or ahead of the server); ask for the current state.
	retrySyncConsistent := func(same phase) state {
		x.rvUnavailable = true
		if r.rv != "" {
			return state{phase: same}
		}
		return wait(0, same)
	}

	if r.outcome == canceled {
		return s
	}
	switch s.phase {
	case phaseSync:
		if *x.opts.WatchList && !x.watchListUnsupported {
			return state{phase: phaseWatchList}
		}
		return state{phase: phaseList}

	case phaseWatchList:
		switch r.outcome {
		case ok:
			x.rvUnavailable = false
			x.stale.Store(false)
			return state{phase: phaseStream, stream: r.stream}
		case expired, tooLarge:
			return retrySyncConsistent(phaseWatchList)
		case throttled:
			return wait(r.delay, phaseWatchList)
		case unsupported:
			x.watchListUnsupported = true
			return state{phase: phaseList}
		default:
			return state{phase: phaseList}
		}

	case phaseList:
		switch r.outcome {
		case ok:
			x.rvUnavailable = false
			x.stale.Store(false)
			return state{phase: phaseWatch}
		case expired, tooLarge:
			return retrySyncConsistent(phaseList)
		case throttled:
			return wait(r.delay, phaseList)
		default:
			return wait(0, phaseSync)
		}

	case phaseWatch:
		switch r.outcome {
		case ok:
			return state{phase: phaseStream, stream: r.stream}
		case tooLarge:
			return resync()
		case expired:
			return relist(r.outcome)
		case throttled:
			return wait(r.delay, phaseWatch)
		default:
			return wait(0, phaseWatch)
		}

	case phaseStream:
		switch r.outcome {
		case ended:
			return state{phase: phaseWatch}
		case stalled:
			x.opts.Metrics.Relisted(RelistWatchdog)
			return state{phase: phaseWatch}
		case short:
			return wait(0, phaseWatch)
		case throttled:
			return wait(r.delay, phaseWatch)
		case tooLarge:
			return resync()
		default: // expired, broken, failed
			return relist(r.outcome)
		}

	case phaseWait:
		return state{phase: s.then}
	}
	// Unreachable: every phase is handled above. Starting over is safe.
	x.opts.Logger.Error("reflector: no transition", "phase", s.phase, "outcome", r.outcome)
	return state{phase: phaseSync}
}
