package reflector

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/kunos-io/listwatch/cache"
)

// Reflector keeps a Sink in step with one collection on a server: it fetches
// the whole state (by watch-list or paged list), then watches from the last
// resourceVersion, and recovers from every failure the Kubernetes protocol
// defines. See the package documentation for the full behaviour.
type Reflector[T cache.Object] struct {
	lw      ListerWatcher[T]
	sink    Sink[T]
	opts    Options[T]
	backoff *backoff

	running atomic.Bool
	synced  atomic.Bool
	stale   atomic.Bool
	lastRV  atomic.Pointer[string]

	// Owned by the Run goroutine.
	rvUnavailable        bool // the last RV is gone or ahead: relist consistently
	watchListUnsupported bool // the server never ended a watch-list

	// trace, if set (tests only), sees every transition.
	trace func(from state, r result, to state)
}

// New returns a Reflector that fills sink from lw. Call Run to start it.
func New[T cache.Object](lw ListerWatcher[T], sink Sink[T], opts Options[T]) *Reflector[T] {
	opts = opts.withDefaults()
	r := &Reflector[T]{
		lw:      lw,
		sink:    sink,
		opts:    opts,
		backoff: newBackoff(opts.InitialBackoff, opts.MaxBackoff, opts.BackoffResetAfter, opts.Clock),
	}
	empty := ""
	r.lastRV.Store(&empty)
	return r
}

// Name returns the reflector's name, as used in logs and metrics.
func (r *Reflector[T]) Name() string { return r.opts.Name }

// HasSynced reports whether the first full state was handed to the Sink.
func (r *Reflector[T]) HasSynced() bool { return r.synced.Load() }

// Stale reports that the cache is known to be out of date: the server was
// found behind the cache's resourceVersion (it restarted empty or lost
// data), and the consistent relist that repairs it has not completed yet.
// Readiness checks should fail while it is true.
func (r *Reflector[T]) Stale() bool { return r.stale.Load() }

// LastSyncResourceVersion returns the resourceVersion the Sink is known to
// be up to date with: that of the last sync, event or bookmark applied.
func (r *Reflector[T]) LastSyncResourceVersion() string { return *r.lastRV.Load() }

// Run lists and watches until ctx ends, then returns once the watch it holds
// is stopped. It starts no goroutine of its own: the Sink is called from
// Run's goroutine only. A Reflector runs once; a second Run returns at once.
func (r *Reflector[T]) Run(ctx context.Context) {
	if !r.running.CompareAndSwap(false, true) {
		r.opts.Logger.Error("reflector: Run called twice; ignoring the second call")
		return
	}
	r.opts.Logger.Debug("reflector starting")
	s := state{phase: phaseSync}
	for ctx.Err() == nil {
		s = r.transition(s, r.act(ctx, s))
	}
	s.stream.stop()
	if m, ok := r.opts.Metrics.(MetricsStopper); ok {
		m.Stopped()
	}
	r.opts.Logger.Debug("reflector stopped")
}

// act performs the action of s. Every action ends when ctx ends.
func (r *Reflector[T]) act(ctx context.Context, s state) result {
	switch s.phase {
	case phaseWatchList:
		return r.watchList(ctx)
	case phaseList:
		return r.list(ctx)
	case phaseWatch:
		return r.watch(ctx)
	case phaseStream:
		res := r.consume(ctx, s.stream, nil)
		s.stream.stop()
		return res
	case phaseWait:
		return r.sleep(ctx, s.delay)
	}
	return result{outcome: ok} // phaseSync decides without acting
}

// sleep waits for d on the reflector's clock.
func (r *Reflector[T]) sleep(ctx context.Context, d time.Duration) result {
	t := r.opts.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return result{outcome: canceled}
	case <-t.C():
		return result{outcome: ok}
	}
}

// setRV records that the sink is up to date with rv.
func (r *Reflector[T]) setRV(rv string) {
	if rv == "" || rv == *r.lastRV.Load() {
		return
	}
	r.lastRV.Store(&rv)
	r.opts.Metrics.SetResourceVersion(rv)
}

// report hands err to the WatchErrorHandler and the log.
func (r *Reflector[T]) report(what string, err error) {
	if err == nil {
		return
	}
	// 410s and too-large RVs are routine (compaction, restarts): debug.
	level := slog.LevelWarn
	if isExpired(err) || isTooLarge(err) {
		level = slog.LevelDebug
	}
	r.opts.Logger.Log(context.Background(), level, "reflector: "+what+" failed", "err", err)
	if h := r.opts.WatchErrorHandler; h != nil {
		h(err)
	}
}

// watchTimeout picks a watch's timeoutSeconds in [min, 2*min).
func (r *Reflector[T]) watchTimeout() *int64 {
	min := r.opts.MinWatchTimeout
	d := min + time.Duration(rand.Int64N(int64(min)))
	s := int64(d / time.Second)
	if s < 1 {
		s = 1
	}
	return &s
}
