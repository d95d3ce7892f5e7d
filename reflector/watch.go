package reflector

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// watch opens a plain watch from the last resourceVersion, with bookmarks.
func (r *Reflector[T]) watch(ctx context.Context) result {
	rv := r.LastSyncResourceVersion()
	opts := metav1.ListOptions{
		ResourceVersion:     rv,
		AllowWatchBookmarks: true,
		TimeoutSeconds:      r.watchTimeout(),
	}
	w, cancel, err := r.openWatch(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			return result{outcome: canceled}
		}
		err = fmt.Errorf("reflector %s: watch (resourceVersion=%q): %w", r.opts.Name, rv, err)
		r.report("watch", err)
		// Nothing was received, so the sink is still whole: retry the
		// watch unless the RV itself is the problem.
		return classify(err, failed)
	}
	r.opts.Metrics.WatchStarted()
	return result{outcome: ok, stream: &stream{
		w:       w,
		cancel:  cancel,
		started: r.opts.Clock.Now(),
		// Synthetic ADDEDs of a watch from ""/"0" come in no RV order.
		propagateRV: rv != "" && rv != "0",
	}}
}

// openWatch calls the ListerWatcher's Watch with the watchdog covering the
// wait for the stream to open, not only the open stream: a request sent on
// a connection that died silently (a half-open TCP connection kept idle in
// a pool, a stalled proxy) gets no response at all, and nothing else
// bounds that wait. The watch lives in a context of its own, which the
// returned cancel (called by stream.stop after Stop) ends.
func (r *Reflector[T]) openWatch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, context.CancelFunc, error) {
	wctx, cancel := context.WithCancel(ctx)
	timer := r.opts.Clock.NewTimer(r.opts.WatchdogTimeout)
	opened := make(chan struct{})
	var fired atomic.Bool
	go func() {
		select {
		case <-timer.C():
			fired.Store(true)
			cancel()
		case <-opened:
		}
	}()
	w, err := r.lw.Watch(wctx, opts)
	close(opened)
	timer.Stop()
	if err == nil && w == nil {
		err = errors.New("ListerWatcher returned neither a watch nor an error")
	}
	if err == nil && fired.Load() {
		// The timer fired as the watch opened: its context is gone.
		w.Stop()
		err = context.Canceled
	}
	if err != nil {
		cancel()
		if fired.Load() && ctx.Err() == nil {
			err = fmt.Errorf("no response within %v (WatchdogTimeout): %w", r.opts.WatchdogTimeout, err)
		}
		return nil, nil, err
	}
	return w, cancel, nil
}

// initialSync is the state of a watch-list before its end bookmark.
type initialSync[T any] struct {
	items []T
	done  bool
}

// watchList fetches the whole state with a watch that sends it first, then
// keeps the watch for what follows.
func (r *Reflector[T]) watchList(ctx context.Context) result {
	rv := ""
	if !r.rvUnavailable {
		rv = r.LastSyncResourceVersion()
	}
	start := r.opts.Clock.Now()
	on := true
	opts := metav1.ListOptions{
		ResourceVersion:      rv,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		SendInitialEvents:    &on,
		AllowWatchBookmarks:  true,
		TimeoutSeconds:       r.watchTimeout(),
	}
	w, cancel, err := r.openWatch(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			return result{outcome: canceled}
		}
		err = fmt.Errorf("reflector %s: watch-list (resourceVersion=%q): %w", r.opts.Name, rv, err)
		r.opts.Metrics.ObserveList(r.opts.Clock.Since(start), err)
		r.report("watch-list", err)
		res := classify(err, failed)
		res.rv = rv
		return res
	}
	r.opts.Metrics.WatchStarted()
	st := &stream{w: w, cancel: cancel, started: start, propagateRV: true}
	init := &initialSync[T]{}
	res := r.consume(ctx, st, init)
	res.rv = rv
	if res.outcome == canceled {
		st.stop()
		return res
	}
	if !init.done {
		st.stop()
		if res.outcome == ended {
			// A clean end before the end bookmark: perhaps a timeout on a
			// huge collection. Fall back for this cycle only; the
			// InitialEventsTimeout bound (unsupported) is what marks a
			// server that ignores sendInitialEvents.
			res.err = fmt.Errorf("reflector %s: watch-list ended before the %s bookmark", r.opts.Name, metav1.InitialEventsAnnotationKey)
			res.outcome = failed
			r.report("watch-list", res.err) // consume reported the others
		}
		r.opts.Metrics.ObserveList(r.opts.Clock.Since(start), res.err)
		return res
	}
	r.opts.Metrics.ObserveList(r.opts.Clock.Since(start), nil)
	return result{outcome: ok, stream: st, rv: rv}
}

// consume applies the events of st to the sink until the stream ends, the
// watchdog fires, an error arrives or ctx ends. With init, it is the start
// of a watch-list: ADDEDs are buffered and consume returns ok once the
// initial-events-end bookmark replaced the sink's contents, or unsupported
// if that bookmark does not come within InitialEventsTimeout.
func (r *Reflector[T]) consume(ctx context.Context, st *stream, init *initialSync[T]) result {
	clk := r.opts.Clock
	// The watchdog timer is not reset per event (too costly at 100k
	// events/s); when it fires it compares with the time of the last event.
	last := clk.Now()
	watchdog := clk.NewTimer(r.opts.WatchdogTimeout)
	defer watchdog.Stop()
	var deadline <-chan time.Time
	if init != nil {
		t := clk.NewTimer(r.opts.InitialEventsTimeout)
		defer t.Stop()
		deadline = t.C()
	}
	for {
		select {
		case <-ctx.Done():
			return result{outcome: canceled}
		case <-deadline:
			err := fmt.Errorf("reflector %s: no %s bookmark within %v of the watch-list",
				r.opts.Name, metav1.InitialEventsAnnotationKey, r.opts.InitialEventsTimeout)
			r.report("watch-list", err)
			return result{outcome: unsupported, err: err}
		case <-watchdog.C():
			if quiet := clk.Since(last); quiet < r.opts.WatchdogTimeout {
				watchdog.Reset(r.opts.WatchdogTimeout - quiet)
				continue
			}
			err := fmt.Errorf("reflector %s: watch silent for %v: presumed dead", r.opts.Name, r.opts.WatchdogTimeout)
			r.report("watch", err)
			return result{outcome: stalled, err: err}
		case ev, open := <-st.w.ResultChan():
			if !open {
				if ctx.Err() != nil {
					return result{outcome: canceled}
				}
				if st.events == 0 && clk.Since(st.started) < time.Second {
					err := fmt.Errorf("reflector %s: watch closed after %v with no event", r.opts.Name, clk.Since(st.started))
					r.report("watch", err)
					return result{outcome: short, err: err}
				}
				return result{outcome: ended}
			}
			st.events++
			r.opts.Metrics.ObserveEvent(ev.Type)
			if res, stop := r.handle(st, init, ev); stop {
				if res.err != nil {
					r.report("watch", res.err)
				}
				return res
			}
			// Silence is counted from when the stream was last read: time
			// spent in the sink (a slow index function, a handler applying
			// backpressure) says nothing about the watch.
			last = clk.Now()
		}
	}
}

// handle applies one event. It returns stop=true with the outcome when the
// stream must end.
func (r *Reflector[T]) handle(st *stream, init *initialSync[T], ev watch.Event) (result, bool) {
	switch ev.Type {
	case watch.Error:
		err := fmt.Errorf("reflector %s: watch ERROR event: %w", r.opts.Name, apierrors.FromObject(ev.Object))
		return classify(err, broken), true

	case watch.Bookmark:
		m, err := meta.Accessor(ev.Object)
		if err != nil || isNil(ev.Object) {
			return result{outcome: broken, err: fmt.Errorf("reflector %s: BOOKMARK without metadata (%T): %v", r.opts.Name, ev.Object, err)}, true
		}
		rv := m.GetResourceVersion()
		if init != nil {
			if m.GetAnnotations()[metav1.InitialEventsAnnotationKey] != "true" {
				return result{}, false // progress inside the initial burst: not yet a sync point
			}
			items := init.items
			init.items = nil
			if err := r.sink.Replace(items, rv); err != nil {
				return result{outcome: failed, err: fmt.Errorf("reflector %s: replace after watch-list: %w", r.opts.Name, err)}, true
			}
			r.setRV(rv)
			r.synced.Store(true)
			init.done = true
			return result{outcome: ok}, true
		}
		r.setRV(rv)
		r.sink.Bookmark(rv)
		return result{}, false

	case watch.Added, watch.Modified, watch.Deleted:
		obj, isT := ev.Object.(T)
		if !isT {
			var want T
			return result{outcome: broken, err: fmt.Errorf("reflector %s: %s event carries %T, want %T", r.opts.Name, ev.Type, ev.Object, want)}, true
		}
		if isNil(obj) {
			return result{outcome: broken, err: fmt.Errorf("reflector %s: %s event without an object", r.opts.Name, ev.Type)}, true
		}
		rv := obj.GetResourceVersion()
		obj, err := r.transform(obj)
		if err != nil {
			return result{outcome: broken, err: err}, true
		}
		if init != nil {
			if ev.Type != watch.Added {
				return result{outcome: broken, err: fmt.Errorf("reflector %s: %s event before the %s bookmark", r.opts.Name, ev.Type, metav1.InitialEventsAnnotationKey)}, true
			}
			init.items = append(init.items, obj)
			return result{}, false
		}
		switch ev.Type {
		case watch.Added:
			err = r.sink.Add(obj)
		case watch.Modified:
			err = r.sink.Update(obj)
		default:
			err = r.sink.Delete(obj)
		}
		if err != nil {
			// The sink refused this object (e.g. its key function failed);
			// the stream itself is fine.
			r.report("sink", fmt.Errorf("reflector %s: apply %s %s/%s: %w", r.opts.Name, ev.Type, obj.GetNamespace(), obj.GetName(), err))
		}
		if ev.Type != watch.Added {
			st.propagateRV = true
		}
		if st.propagateRV {
			r.setRV(rv)
		}
		return result{}, false
	}
	return result{outcome: broken, err: fmt.Errorf("reflector %s: unknown watch event type %q", r.opts.Name, ev.Type)}, true
}
