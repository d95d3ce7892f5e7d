package reflector_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/reflector"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

var tasksGR = schema.GroupResource{Group: "kunos.io", Resource: "tasks"}

func gone() error { return apierrors.NewResourceExpired("too old resource version: 1 (5)") }

func tooLarge() error {
	err := apierrors.NewTimeoutError("Too large resource version: 99, current: 10", 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return err
}

func throttle(secs int) error { return apierrors.NewTooManyRequests("slow down", secs) }

func statusOf(err error) *metav1.Status {
	s := err.(apierrors.APIStatus).Status()
	return &s
}

func off() *bool { b := false; return &b }

func TestWatchListSyncKeepsStream(t *testing.T) {
	h := start(t, func(o *reflector.Options[*kunosv1.Task]) {
		o.Transform = func(t *kunosv1.Task) (*kunosv1.Task, error) {
			t.ManagedFields = nil
			if t.Labels == nil {
				t.Labels = map[string]string{}
			}
			t.Labels["transformed"] = "yes"
			return t, nil
		}
	})
	h.expectTrans("sync/ok->watch-list")
	c := h.expect("watch")
	if c.opts.SendInitialEvents == nil || !*c.opts.SendInitialEvents ||
		c.opts.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan ||
		!c.opts.AllowWatchBookmarks || c.opts.ResourceVersion != "" || c.opts.TimeoutSeconds == nil {
		t.Fatalf("watch-list options %+v", c.opts)
	}
	w := c.watch()
	w.send(t, watch.Added, task("a", "3"))
	w.send(t, watch.Added, task("b", "5"))
	w.send(t, watch.Bookmark, bookmark("7", false)) // progress, not the end
	if h.r.HasSynced() {
		t.Fatal("synced before the end bookmark")
	}
	w.send(t, watch.Bookmark, bookmark("9", true))
	h.expectOp(op{"replace", "ns/a,ns/b", "9"})
	h.expectTrans("watch-list/ok->stream")
	if !h.r.HasSynced() || h.r.LastSyncResourceVersion() != "9" {
		t.Fatalf("synced=%v rv=%q", h.r.HasSynced(), h.r.LastSyncResourceVersion())
	}
	if got := h.sink.get("ns/a"); got.Labels["transformed"] != "yes" {
		t.Fatalf("buffered object not transformed: %+v", got.Labels)
	}
	// The same stream carries live events.
	w.send(t, watch.Modified, task("a", "10"))
	h.expectOp(op{"update", "ns/a", "10"})
	w.send(t, watch.Deleted, task("b", "11"))
	h.expectOp(op{"delete", "ns/b", "11"})
	w.send(t, watch.Added, task("c", "12"))
	h.expectOp(op{"add", "ns/c", "12"})
	if h.sink.get("ns/c").Labels["transformed"] != "yes" {
		t.Fatal("watch event not transformed")
	}
	w.send(t, watch.Bookmark, bookmark("15", false))
	h.expectOp(op{"bookmark", "", "15"})
	h.expectRV("15")
	// Clean end: re-watch at once from the last RV, no relist.
	w.end()
	h.expectTrans("stream/ended->watch")
	c = h.expect("watch")
	if c.opts.ResourceVersion != "15" || c.opts.SendInitialEvents != nil || !c.opts.AllowWatchBookmarks {
		t.Fatalf("re-watch options %+v", c.opts)
	}
	c.watch()
	h.expectTrans("watch/ok->stream")
	if h.metrics.lists != 1 || h.metrics.watches != 2 {
		t.Fatalf("metrics lists=%d watches=%d", h.metrics.lists, h.metrics.watches)
	}
}

func TestWatchListRejectedFallsBackToPagedList(t *testing.T) {
	h := start(t, func(o *reflector.Options[*kunosv1.Task]) { o.PageSize = 2 })
	h.expectTrans("sync/ok->watch-list")
	h.expect("watch").fail(apierrors.NewInvalid(schema.GroupKind{Kind: "ListOptions"}, "", nil))
	h.expectTrans("watch-list/failed->list")
	c := h.expect("list")
	if c.opts.ResourceVersion != "0" || c.opts.Limit != 2 || c.opts.Continue != "" {
		t.Fatalf("first page options %+v", c.opts)
	}
	c.list([]*kunosv1.Task{task("a", "2"), task("b", "3")}, "20", "tok1")
	c = h.expect("list")
	if c.opts.ResourceVersion != "" || c.opts.Limit != 2 || c.opts.Continue != "tok1" {
		t.Fatalf("second page options %+v", c.opts)
	}
	c.list([]*kunosv1.Task{task("c", "4")}, "20", "")
	h.expectOp(op{"replace", "ns/a,ns/b,ns/c", "20"})
	h.expectTrans("list/ok->watch")
	c = h.expect("watch")
	if c.opts.ResourceVersion != "20" || c.opts.SendInitialEvents != nil {
		t.Fatalf("watch options %+v", c.opts)
	}
	w := c.watch()
	h.expectTrans("watch/ok->stream")
	w.send(t, watch.Added, task("d", "21"))
	h.expectOp(op{"add", "ns/d", "21"})

	// A later relist tries watch-list again (the rejection was for one
	// cycle), at the last RV.
	w.send(t, watch.Error, statusOf(apierrors.NewInternalError(errors.New("boom"))))
	h.expectTrans("stream/broken->wait(sync)")
	h.elapse(time.Minute)
	h.transitions("wait/ok->sync", "sync/ok->watch-list")
	if c := h.expect("watch"); c.opts.ResourceVersion != "21" || c.opts.SendInitialEvents == nil {
		t.Fatalf("relist watch-list options %+v", c.opts)
	}
}

func TestListExpiredPageFallsBackToFullList(t *testing.T) {
	h := start(t, func(o *reflector.Options[*kunosv1.Task]) { o.WatchList = off(); o.PageSize = 1 })
	h.expectTrans("sync/ok->list")
	h.expect("list").list([]*kunosv1.Task{task("a", "2")}, "20", "tok1")
	h.expect("list").fail(gone())
	c := h.expect("list")
	if c.opts.Limit != 0 || c.opts.Continue != "" || c.opts.ResourceVersion != "0" {
		t.Fatalf("full list options %+v", c.opts)
	}
	c.list([]*kunosv1.Task{task("a", "2"), task("b", "3")}, "25", "")
	h.expectOp(op{"replace", "ns/a,ns/b", "25"})
	h.expectTrans("list/ok->watch")
}

// A watch whose RV is ahead of the server (it restarted empty) makes the
// cache known stale: a consistent relist at once, no backoff, Stale until
// it completes.
func TestWatchTooLargeResyncsAtOnceAndIsStale(t *testing.T) {
	h := start(t, func(o *reflector.Options[*kunosv1.Task]) { o.WatchList = off() })
	h.expectTrans("sync/ok->list")
	h.expect("list").list([]*kunosv1.Task{task("a", "2")}, "10", "")
	h.expectOp(op{"replace", "ns/a", "10"})
	h.expectTrans("list/ok->watch")
	if h.r.Stale() {
		t.Fatal("stale after a good sync")
	}
	h.expect("watch").fail(tooLarge())
	h.transitions("watch/too-large->sync", "sync/ok->list") // no wait
	if !h.r.Stale() {
		t.Fatal("not stale after the server was found behind the cache")
	}
	c := h.expect("list")
	if c.opts.ResourceVersion != "" || c.opts.ResourceVersionMatch != "" {
		t.Fatalf("resync options %+v, want a consistent list", c.opts)
	}
	c.list([]*kunosv1.Task{task("b", "3")}, "3", "")
	h.expectOp(op{"replace", "ns/b", "3"})
	h.expectTrans("list/ok->watch")
	if h.r.Stale() {
		t.Fatal("still stale after the consistent relist")
	}
	if h.metrics.relisted(reflector.RelistTooLarge) != 1 {
		t.Fatalf("relists %v", h.metrics.relists)
	}
}

func TestListExpiredRetriesConsistent(t *testing.T) {
	for name, failure := range map[string]error{"expired": gone()} {
		t.Run(name, func(t *testing.T) {
			h := start(t, func(o *reflector.Options[*kunosv1.Task]) { o.WatchList = off() })
			h.expectTrans("sync/ok->list")
			h.expect("list").list([]*kunosv1.Task{task("a", "2")}, "10", "")
			h.expectOp(op{"replace", "ns/a", "10"})
			h.expectTrans("list/ok->watch")
			// The watch's RV is gone: relist at the last RV (NotOlderThan),
			// then consistently.
			h.expect("watch").fail(failure)
			tr := h.expectTrans("watch/" + name + "->wait(sync)")
			h.elapse(tr.Delay)
			h.transitions("wait/ok->sync", "sync/ok->list")
			c := h.expect("list")
			if c.opts.ResourceVersion != "10" || c.opts.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan {
				t.Fatalf("relist options %+v", c.opts)
			}
			c.fail(failure)
			h.expectTrans("list/" + name + "->list") // at once
			c = h.expect("list")
			if c.opts.ResourceVersion != "" || c.opts.ResourceVersionMatch != "" {
				t.Fatalf("consistent relist options %+v", c.opts)
			}
			c.list([]*kunosv1.Task{task("b", "30")}, "30", "")
			h.expectOp(op{"replace", "ns/b", "30"})
			h.expectTrans("list/ok->watch")
			if c := h.expect("watch"); c.opts.ResourceVersion != "30" {
				t.Fatalf("watch after relist %+v", c.opts)
			}
			reason := reflector.RelistExpired
			if name == "too-large" {
				reason = reflector.RelistTooLarge
			}
			if h.metrics.relisted(reason) != 1 {
				t.Fatalf("relists %v", h.metrics.relists)
			}
		})
	}
}

func TestStreamErrorEventExpiredRelists(t *testing.T) {
	h := start(t, nil)
	w := h.syncByWatchList("10", task("a", "5"))
	w.send(t, watch.Modified, task("a", "12"))
	h.expectOp(op{"update", "ns/a", "12"})
	w.send(t, watch.Error, statusOf(gone()))
	tr := h.expectTrans("stream/expired->wait(sync)")
	if !w.isStopped() {
		t.Fatal("stream not stopped after ERROR")
	}
	if tr.Delay < 800*time.Millisecond || tr.Delay >= 1600*time.Millisecond {
		t.Fatalf("first backoff %v outside [0.8s, 1.6s)", tr.Delay)
	}
	h.elapse(tr.Delay)
	h.transitions("wait/ok->sync", "sync/ok->watch-list")
	c := h.expect("watch")
	if c.opts.ResourceVersion != "12" {
		t.Fatalf("relist watch-list should ask for the last RV: %+v", c.opts)
	}
	// The server no longer has it either: consistent watch-list at once.
	c.fail(gone())
	h.expectTrans("watch-list/expired->watch-list")
	c = h.expect("watch")
	if c.opts.ResourceVersion != "" {
		t.Fatalf("consistent watch-list %+v", c.opts)
	}
	w = c.watch()
	w.send(t, watch.Added, task("b", "40"))
	w.send(t, watch.Bookmark, bookmark("41", true))
	h.expectOp(op{"replace", "ns/b", "41"})
	h.expectTrans("watch-list/ok->stream")
	if h.metrics.relisted(reflector.RelistExpired) != 1 {
		t.Fatalf("relists %v", h.metrics.relists)
	}
}

func TestWatchListExpiredInStream(t *testing.T) {
	// An ERROR 410 inside the watch-list stream (the server's history
	// moved past the requested RV) is the same as an HTTP 410.
	h := start(t, nil)
	w := h.syncByWatchList("10")
	w.send(t, watch.Error, statusOf(gone()))
	h.elapse(h.expectTrans("stream/expired->wait(sync)").Delay)
	h.transitions("wait/ok->sync", "sync/ok->watch-list")
	w = h.expect("watch").watch()
	w.send(t, watch.Error, statusOf(gone()))
	h.expectTrans("watch-list/expired->watch-list")
	if c := h.expect("watch"); c.opts.ResourceVersion != "" {
		t.Fatalf("want a consistent watch-list, got %+v", c.opts)
	}
}

func TestThrottledRewatchesAfterRetryAfter(t *testing.T) {
	h := start(t, nil)
	w := h.syncByWatchList("10")
	// ERROR 429 in the stream: wait Retry-After, re-watch, no relist.
	w.send(t, watch.Error, statusOf(throttle(3)))
	tr := h.expectTrans("stream/throttled->wait(watch)")
	if tr.Delay != 3*time.Second {
		t.Fatalf("delay %v, want the server's 3s", tr.Delay)
	}
	h.elapse(tr.Delay)
	h.expectTrans("wait/ok->watch")
	// HTTP 429 on the watch request without Retry-After: backoff.
	h.expect("watch").fail(throttle(0))
	tr = h.expectTrans("watch/throttled->wait(watch)")
	if tr.Delay < 800*time.Millisecond {
		t.Fatalf("delay %v, want a backoff", tr.Delay)
	}
	h.elapse(tr.Delay)
	h.expectTrans("wait/ok->watch")
	if c := h.expect("watch"); c.opts.ResourceVersion != "10" {
		t.Fatalf("re-watch %+v", c.opts)
	}
	if n := h.metrics.relists; len(n) != 0 {
		t.Fatalf("relists %v", n)
	}
}

func TestWatchErrorsBackOffExponentiallyAndReset(t *testing.T) {
	h := start(t, func(o *reflector.Options[*kunosv1.Task]) {
		o.InitialBackoff = time.Second
		o.MaxBackoff = 8 * time.Second
		o.BackoffResetAfter = time.Minute
	})
	h.syncByWatchList("10").end()
	h.expectTrans("stream/ended->watch")
	var delays []time.Duration
	for i := 0; i < 6; i++ {
		h.expect("watch").fail(errors.New("connection refused"))
		tr := h.expectTrans("watch/failed->wait(watch)")
		delays = append(delays, tr.Delay)
		h.elapse(tr.Delay)
		h.expectTrans("wait/ok->watch")
	}
	// Each delay is in [b, 2b) with b = 1s, 2s, 4s, 8s, 8s, 8s.
	base := []time.Duration{1, 2, 4, 8, 8, 8}
	for i, d := range delays {
		if lo := base[i] * time.Second; d < lo || d >= 2*lo {
			t.Fatalf("delay %d = %v, want in [%v, %v); all %v", i, d, lo, 2*lo, delays)
		}
	}
	// A quiet minute later the backoff starts over.
	w := h.expect("watch").watch()
	h.expectTrans("watch/ok->stream")
	w.send(t, watch.Bookmark, bookmark("11", false))
	h.expectOp(op{"bookmark", "", "11"})
	h.clock.Step(2 * time.Minute)
	w.end()
	h.expectTrans("stream/ended->watch")
	h.expect("watch").fail(errors.New("connection refused"))
	if tr := h.expectTrans("watch/failed->wait(watch)"); tr.Delay >= 2*time.Second {
		t.Fatalf("backoff not reset: %v", tr.Delay)
	}
}

func TestVeryShortWatchBacksOffWithoutRelist(t *testing.T) {
	h := start(t, nil)
	h.syncByWatchList("10").end() // long-lived enough: it carried the sync
	h.expectTrans("stream/ended->watch")
	w := h.expect("watch").watch()
	h.expectTrans("watch/ok->stream")
	w.end() // at once, nothing sent
	tr := h.expectTrans("stream/short->wait(watch)")
	if tr.Err == nil {
		t.Fatal("short watch should carry an error")
	}
	h.elapse(tr.Delay)
	h.expectTrans("wait/ok->watch")
	c := h.expect("watch")
	if c.opts.ResourceVersion != "10" {
		t.Fatalf("re-watch %+v", c.opts)
	}
	// A quiet watch that lasts over a second and ends is a clean end.
	w = c.watch()
	h.expectTrans("watch/ok->stream")
	h.elapse(1500 * time.Millisecond)
	w.end()
	h.expectTrans("stream/ended->watch")
}

func TestWatchdogRestartsSilentWatch(t *testing.T) {
	h := start(t, func(o *reflector.Options[*kunosv1.Task]) {
		o.WatchdogTimeout = 0
		o.BookmarkInterval = 10 * time.Second
	})
	w := h.syncByWatchList("10", task("a", "4"))
	// An event half-way resets the watchdog's count.
	h.elapse(20 * time.Second)
	w.send(t, watch.Bookmark, bookmark("12", false))
	h.expectOp(op{"bookmark", "", "12"})
	h.clock.Step(20 * time.Second) // 40s since start, 20s since the bookmark: alive
	h.clock.Step(14 * time.Second) // 34s since the bookmark: still under 35s
	select {
	case tr := <-h.trans:
		t.Fatalf("watchdog fired early: %v", tr)
	case <-time.After(50 * time.Millisecond):
	}
	h.clock.Step(2 * time.Second)
	tr := h.expectTrans("stream/stalled->watch")
	if tr.Err == nil || !w.isStopped() {
		t.Fatalf("watchdog: err=%v stopped=%v", tr.Err, w.isStopped())
	}
	c := h.expect("watch")
	if c.opts.ResourceVersion != "12" || c.opts.SendInitialEvents != nil {
		t.Fatalf("re-watch after watchdog %+v", c.opts)
	}
	// The re-watch finds the RV gone: now it relists.
	c.fail(gone())
	h.expectTrans("watch/expired->wait(sync)")
	if h.metrics.relisted(reflector.RelistWatchdog) != 1 || h.metrics.relisted(reflector.RelistExpired) != 1 {
		t.Fatalf("relists %v", h.metrics.relists)
	}
}

// A watch request that gets no response (sent on a connection that died
// silently) is abandoned after WatchdogTimeout and retried from the same
// resourceVersion, without a relist.
func TestWatchdogBoundsTheWatchOpen(t *testing.T) {
	h := start(t, func(o *reflector.Options[*kunosv1.Task]) {
		o.WatchdogTimeout = 5 * time.Second
		o.MinWatchTimeout = time.Hour
	})
	w := h.syncByWatchList("10", task("a", "4"))
	w.end() // the server ends the stream cleanly: re-watch at once
	h.expectTrans("stream/ended->watch")
	c := h.expect("watch") // never answered
	h.elapse(4 * time.Second)
	select {
	case tr := <-h.trans:
		t.Fatalf("open abandoned early: %v", tr)
	case <-time.After(50 * time.Millisecond):
	}
	h.clock.Step(time.Second)
	tr := h.expectTrans("watch/failed->wait(watch)")
	if tr.Err == nil || !strings.Contains(tr.Err.Error(), "WatchdogTimeout") {
		t.Fatalf("abandoned open: err %v", tr.Err)
	}
	h.elapse(time.Minute) // the backoff
	h.expectTrans("wait/ok->watch")
	if c2 := h.expect("watch"); c2.opts.ResourceVersion != "10" || c.opts.ResourceVersion != "10" {
		t.Fatalf("re-watch from %q after %q, want 10", c2.opts.ResourceVersion, c.opts.ResourceVersion)
	}
}

// Time spent inside the sink is not silence of the watch: a handler call
// that takes longer than the watchdog timeout (Block backpressure, a slow
// index function) must not get a healthy watch restarted and counted.
func TestWatchdogIgnoresTimeInSink(t *testing.T) {
	h := start(t, func(o *reflector.Options[*kunosv1.Task]) {
		o.WatchdogTimeout = 30 * time.Second
	})
	w := h.syncByWatchList("10", task("a", "4"))
	h.sink.mu.Lock()
	h.sink.during = func() { h.clock.Step(45 * time.Second) } // the sink blocks for 45s
	h.sink.mu.Unlock()
	w.send(t, watch.Added, task("b", "11"))
	h.expectOp(op{"add", "ns/b", "11"})
	h.sink.mu.Lock()
	h.sink.during = nil
	h.sink.mu.Unlock()
	// Right after the slow call the stream is read again: not stalled.
	// (The reflector notes the read after the sink returns, which may be
	// after the test has moved the clock on: by then it is at most 29s
	// later, still inside the timeout.)
	w.send(t, watch.Bookmark, bookmark("12", false))
	h.expectOp(op{"bookmark", "", "12"})
	h.clock.Step(29 * time.Second)
	select {
	case tr := <-h.trans:
		t.Fatalf("watchdog fired for time spent in the sink: %v", tr)
	case <-time.After(50 * time.Millisecond):
	}
	if n := h.metrics.relisted(reflector.RelistWatchdog); n != 0 {
		t.Fatalf("watchdog relists %d, want 0", n)
	}
	// A real silence after that still fires.
	h.clock.Step(31 * time.Second)
	h.expectTrans("stream/stalled->watch")
}

func TestWatchListWithoutEndBookmarkFallsBackForGood(t *testing.T) {
	h := start(t, func(o *reflector.Options[*kunosv1.Task]) { o.InitialEventsTimeout = 30 * time.Second })
	h.expectTrans("sync/ok->watch-list")
	w := h.expect("watch").watch()
	w.send(t, watch.Added, task("a", "3")) // a server that ignores sendInitialEvents
	h.elapse(30 * time.Second)
	tr := h.expectTrans("watch-list/unsupported->list")
	if tr.Err == nil || !w.isStopped() {
		t.Fatalf("err=%v stopped=%v", tr.Err, w.isStopped())
	}
	if errs := h.drainErrs(); len(errs) != 1 {
		t.Fatalf("reported %d errors, want 1: %v", len(errs), errs)
	}
	h.expect("list").list([]*kunosv1.Task{task("a", "3")}, "5", "")
	h.expectOp(op{"replace", "ns/a", "5"})
	h.expectTrans("list/ok->watch")
	w = h.expect("watch").watch()
	h.expectTrans("watch/ok->stream")
	w.send(t, watch.Error, statusOf(apierrors.NewInternalError(errors.New("x"))))
	h.elapse(h.expectTrans("stream/broken->wait(sync)").Delay)
	// Later relists list directly.
	h.transitions("wait/ok->sync", "sync/ok->list")
}

func TestWatchListEndsCleanlyBeforeBookmark(t *testing.T) {
	h := start(t, nil)
	h.expectTrans("sync/ok->watch-list")
	w := h.expect("watch").watch()
	w.send(t, watch.Added, task("a", "3"))
	w.end()
	h.expectTrans("watch-list/failed->list")
	if errs := h.drainErrs(); len(errs) != 1 {
		t.Fatalf("reported %d errors, want 1: %v", len(errs), errs)
	}
	h.expect("list").fail(errors.New("refused"))
	h.elapse(h.expectTrans("list/failed->wait(sync)").Delay)
	// One clean end is no proof of an old server: try watch-list again.
	h.transitions("wait/ok->sync", "sync/ok->watch-list")
}

func TestWrongTypeEventRelistsWithoutPanic(t *testing.T) {
	h := start(t, nil)
	w := h.syncByWatchList("10")
	w.send(t, watch.Added, &kunosv1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", ResourceVersion: "11"}})
	tr := h.expectTrans("stream/broken->wait(sync)")
	if tr.Err == nil {
		t.Fatal("no error for the wrong type")
	}
	if h.metrics.relisted(reflector.RelistError) != 1 {
		t.Fatalf("relists %v", h.metrics.relists)
	}
	if h.r.LastSyncResourceVersion() != "10" {
		t.Fatalf("rv advanced past a dropped event: %q", h.r.LastSyncResourceVersion())
	}
	if errs := h.drainErrs(); len(errs) != 1 || errs[0] == nil {
		t.Fatalf("WatchErrorHandler saw %v, want one error", errs)
	}
}

func TestNilAndBadEventsAreErrors(t *testing.T) {
	for name, ev := range map[string]watch.Event{
		"nil object":       {Type: watch.Modified, Object: (*kunosv1.Task)(nil)},
		"nil bookmark":     {Type: watch.Bookmark, Object: nil},
		"unknown type":     {Type: "SURPRISE", Object: task("a", "11")},
		"non-status error": {Type: watch.Error, Object: task("a", "11")},
	} {
		t.Run(name, func(t *testing.T) {
			h := start(t, nil)
			w := h.syncByWatchList("10")
			w.ch <- ev
			h.expectTrans("stream/broken->wait(sync)")
		})
	}
}

func TestTransformErrorDuringWatchListFallsBack(t *testing.T) {
	h := start(t, func(o *reflector.Options[*kunosv1.Task]) {
		o.Transform = func(t *kunosv1.Task) (*kunosv1.Task, error) {
			if t.Name == "bad" {
				return nil, fmt.Errorf("cannot")
			}
			return t, nil
		}
	})
	h.expectTrans("sync/ok->watch-list")
	w := h.expect("watch").watch()
	w.send(t, watch.Added, task("bad", "3"))
	h.expectTrans("watch-list/broken->list")
	if errs := h.drainErrs(); len(errs) != 1 {
		t.Fatalf("reported %d errors, want 1: %v", len(errs), errs)
	}
	// The list meets the same object: the sync fails and is retried later.
	h.expect("list").list([]*kunosv1.Task{task("bad", "3")}, "5", "")
	h.expectTrans("list/failed->wait(sync)")
	if h.r.HasSynced() {
		t.Fatal("synced without the object")
	}
}

func TestWatchFromZeroDoesNotAdvanceOnSyntheticAdds(t *testing.T) {
	h := start(t, func(o *reflector.Options[*kunosv1.Task]) { o.WatchList = off() })
	h.expectTrans("sync/ok->list")
	h.expect("list").list(nil, "0", "") // an empty server may say "0"
	h.expectOp(op{"replace", "", "0"})
	h.expectTrans("list/ok->watch")
	c := h.expect("watch")
	if c.opts.ResourceVersion != "0" {
		t.Fatalf("watch %+v", c.opts)
	}
	w := c.watch()
	w.send(t, watch.Added, task("b", "7"))
	w.send(t, watch.Added, task("a", "5"))
	h.expectOp(op{"add", "ns/b", "7"})
	h.expectOp(op{"add", "ns/a", "5"})
	if rv := h.r.LastSyncResourceVersion(); rv != "0" {
		t.Fatalf("rv advanced on synthetic ADDED: %q", rv)
	}
	w.send(t, watch.Modified, task("a", "8"))
	h.expectOp(op{"update", "ns/a", "8"})
	h.expectRV("8")
	w.send(t, watch.Added, task("c", "9"))
	h.expectOp(op{"add", "ns/c", "9"})
	h.expectRV("9")
}

func TestSinkErrorIsReportedAndStreamContinues(t *testing.T) {
	h := start(t, nil)
	w := h.syncByWatchList("10")
	h.sink.mu.Lock()
	h.sink.failAdd = errors.New("no key")
	h.sink.mu.Unlock()
	w.send(t, watch.Added, task("a", "11"))
	h.expectOp(op{"add-failed", "ns/a", "11"})
	w.send(t, watch.Modified, task("b", "12"))
	h.expectOp(op{"update", "ns/b", "12"})
	select {
	case err := <-h.errs:
		if !errors.Is(err, h.sink.failAdd) {
			t.Fatalf("reported %v", err)
		}
	case <-time.After(waitLong):
		t.Fatal("sink error not reported")
	}
}

func TestWatchHTTPErrorRewatchesWithoutRelist(t *testing.T) {
	h := start(t, nil)
	h.syncByWatchList("10").end()
	h.expectTrans("stream/ended->watch")
	h.expect("watch").fail(apierrors.NewForbidden(tasksGR, "", errors.New("no")))
	h.elapse(h.expectTrans("watch/failed->wait(watch)").Delay)
	h.expectTrans("wait/ok->watch")
	h.expect("watch").fail(apierrors.NewGone("gone"))
	h.expectTrans("watch/expired->wait(sync)")
}

func TestRunStopsOnCancelAndStopsWatch(t *testing.T) {
	h := start(t, nil)
	w := h.syncByWatchList("10")
	h.stop()
	if !w.isStopped() {
		t.Fatal("watch not stopped when Run returned")
	}
	// A second Run returns at once.
	done := make(chan struct{})
	go func() { h.r.Run(t.Context()); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLong):
		t.Fatal("second Run blocked")
	}
}

func TestCancelDuringEveryPhase(t *testing.T) {
	// Cancel while a List, a Watch and a wait are in flight.
	t.Run("list", func(t *testing.T) {
		h := start(t, func(o *reflector.Options[*kunosv1.Task]) { o.WatchList = off() })
		h.expect("list")
		h.stop()
	})
	t.Run("watch", func(t *testing.T) {
		h := start(t, nil)
		h.expect("watch")
		h.stop()
	})
	t.Run("wait", func(t *testing.T) {
		h := start(t, func(o *reflector.Options[*kunosv1.Task]) { o.WatchList = off() })
		h.expect("list").fail(errors.New("x"))
		h.transitions("sync/ok->list", "list/failed->wait(sync)")
		h.elapse(0)
		h.stop()
	})
}

func TestWatchTimeoutRandomizedInRange(t *testing.T) {
	h := start(t, nil)
	seen := map[int64]bool{}
	w := h.syncByWatchList("10")
	for i := 0; i < 20; i++ {
		h.elapse(1500 * time.Millisecond)
		w.end()
		h.expectTrans("stream/ended->watch")
		c := h.expect("watch")
		if c.opts.TimeoutSeconds == nil || *c.opts.TimeoutSeconds < 300 || *c.opts.TimeoutSeconds >= 600 {
			t.Fatalf("timeoutSeconds %v outside [300, 600)", c.opts.TimeoutSeconds)
		}
		seen[*c.opts.TimeoutSeconds] = true
		w = c.watch()
		h.expectTrans("watch/ok->stream")
	}
	if len(seen) < 5 {
		t.Fatalf("timeouts not spread: %v", seen)
	}
}

func TestMetricsHookSeesEverything(t *testing.T) {
	h := start(t, nil)
	w := h.syncByWatchList("10", task("a", "3"))
	w.send(t, watch.Modified, task("a", "11"))
	h.expectOp(op{"update", "ns/a", "11"})
	w.send(t, watch.Bookmark, bookmark("12", false))
	h.expectOp(op{"bookmark", "", "12"})
	w.send(t, watch.Error, statusOf(gone()))
	h.elapse(h.expectTrans("stream/expired->wait(sync)").Delay)
	h.transitions("wait/ok->sync", "sync/ok->watch-list")
	h.expect("watch").fail(apierrors.NewBadRequest("no watch-list here"))
	h.expectTrans("watch-list/failed->list")
	h.expect("list").list(nil, "20", "")
	h.expectOp(op{"replace", "", "20"})
	h.expectTrans("list/ok->watch")
	h.expect("watch").watch()
	h.expectTrans("watch/ok->stream")

	m := h.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	// Syncs: the first watch-list, the failed one, the list.
	if m.lists != 3 || m.listErrs != 1 {
		t.Errorf("ObserveList: %d calls, %d errors; want 3, 1", m.lists, m.listErrs)
	}
	if m.watches != 2 { // the two accepted watches (watch-list, plain)
		t.Errorf("WatchStarted: %d, want 2", m.watches)
	}
	want := map[watch.EventType]int{watch.Added: 1, watch.Bookmark: 2, watch.Modified: 1, watch.Error: 1}
	for typ, n := range want {
		if m.events[typ] != n {
			t.Errorf("ObserveEvent(%s): %d, want %d (all %v)", typ, m.events[typ], n, m.events)
		}
	}
	if m.relists[reflector.RelistExpired] != 1 || m.rv != "20" {
		t.Errorf("relists %v rv %q", m.relists, m.rv)
	}
}
