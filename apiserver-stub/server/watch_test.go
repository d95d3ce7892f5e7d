package server_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rvq(v int64) string { return strconv.FormatInt(v, 10) }

func forEachTransport(t *testing.T, f func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			f(t, tr)
		})
	}
}

func wantEvent(t *testing.T, e event, typ, name string, rv int64) {
	t.Helper()
	m := e.meta(t)
	if e.Type != typ || (name != "" && m.Name != name) || (rv != 0 && m.ResourceVersion != rvq(rv)) {
		t.Fatalf("event %s %s@%s, want %s %s@%d: %s", e.Type, m.Name, m.ResourceVersion, typ, name, rv, e.Object)
	}
}

// wantInitialEnd checks the bookmark that ends the initial events: an empty
// Task with apiVersion, kind, the resourceVersion and the annotation.
func wantInitialEnd(t *testing.T, e event, rv int64) {
	t.Helper()
	var o struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
		Spec       any               `json:"spec"`
	}
	if err := json.Unmarshal(e.Object, &o); err != nil {
		t.Fatal(err)
	}
	if e.Type != "BOOKMARK" || o.APIVersion != "kunos.io/v1" || o.Kind != "Task" || o.Metadata.ResourceVersion != rvq(rv) ||
		o.Metadata.Annotations[metav1.InitialEventsAnnotationKey] != "true" || o.Spec != nil || o.Metadata.Name != "" {
		t.Fatalf("initial-events-end bookmark wrong (want rv %d): %s %s", rv, e.Type, e.Object)
	}
}

func TestWatchFromEveryKindOfResourceVersion(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := stubtest.Start(t)
		rvA := mustCreate(t, srv, "a")
		rvB := mustCreate(t, srv, "b")

		// "" and "0" without bookmarks: ADDED for the current state, then live.
		for _, rv := range []string{"", "0"} {
			w, _ := startWatch(t, srv, tr, tasksNS, "watch=true&resourceVersion="+rv)
			a, b := w.next(t), w.next(t)
			wantEvent(t, a, "ADDED", "a", rvA)
			wantEvent(t, b, "ADDED", "b", rvB)
			w.quiet(t, 50*time.Millisecond)
			w.close()
		}
		// With bookmarks: the initial-events-end bookmark follows (1.34+ default).
		w, _ := startWatch(t, srv, tr, tasksNS, "watch=1&allowWatchBookmarks=true")
		wantEvent(t, w.next(t), "ADDED", "a", rvA)
		wantEvent(t, w.next(t), "ADDED", "b", rvB)
		wantInitialEnd(t, w.next(t), rvB)
		rvC := mustCreate(t, srv, "c")
		wantEvent(t, w.next(t), "ADDED", "c", rvC)
		w.close()

		// N: only what happened after N, in order.
		w, _ = startWatch(t, srv, tr, tasksNS, "watch=true&resourceVersion="+rvq(rvA))
		wantEvent(t, w.next(t), "ADDED", "b", rvB)
		wantEvent(t, w.next(t), "ADDED", "c", rvC)
		r := do(t, srv, http.MethodDelete, tasksNS+"/a", "", "")
		wantCode(t, r, 200)
		del := w.next(t)
		wantEvent(t, del, "DELETED", "a", srv.Store().CurrentRevision()) // deletion RV
		w.close()

		// Watch-list: sendInitialEvents + NotOlderThan.
		w, _ = startWatch(t, srv, tr, tasksAll, "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion="+rvq(rvA))
		wantEvent(t, w.next(t), "ADDED", "b", rvB)
		wantEvent(t, w.next(t), "ADDED", "c", rvC)
		cur := srv.Store().CurrentRevision()
		wantInitialEnd(t, w.next(t), cur)
		rvD := mustCreate(t, srv, "d")
		wantEvent(t, w.next(t), "ADDED", "d", rvD)
		w.close()

		// Watch from the current revision with sendInitialEvents=false: nothing old.
		w, _ = startWatch(t, srv, tr, tasksNS, "watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan")
		w.quiet(t, 50*time.Millisecond)
		rvE := mustCreate(t, srv, "e")
		wantEvent(t, w.next(t), "ADDED", "e", rvE)
		w.close()

		// Future RV: 504 before streaming, for plain watches and watch-lists.
		for _, q := range []string{"watch=true&resourceVersion=" + rvq(rvE+10),
			"watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=" + rvq(rvE+10)} {
			w, r := startWatch(t, srv, tr, tasksNS, q)
			if w != nil {
				t.Fatalf("%s: watch started", q)
			}
			st := wantStatus(t, *r, 504, metav1.StatusReasonTimeout)
			if len(st.Details.Causes) == 0 || st.Details.Causes[0].Type != metav1.CauseTypeResourceVersionTooLarge {
				t.Fatalf("%s: %s", q, r.body)
			}
		}
		// Invalid watch options: 422 before streaming.
		for _, q := range []string{"watch=true&sendInitialEvents=true",
			"watch=true&resourceVersionMatch=NotOlderThan&resourceVersion=1",
			"watch=true&sendInitialEvents=true&resourceVersionMatch=Exact&resourceVersion=1"} {
			w, r := startWatch(t, srv, tr, tasksNS, q)
			if w != nil {
				t.Fatalf("%s: watch started", q)
			}
			wantStatus(t, *r, 422, metav1.StatusReasonInvalid)
		}

		// Compacted RV: 200, one ERROR event with a 410 Expired Status, end.
		srv.Compact()
		w, _ = startWatch(t, srv, tr, tasksNS, "watch=true&resourceVersion="+rvq(rvA))
		e := w.next(t)
		var st metav1.Status
		if err := json.Unmarshal(e.Object, &st); err != nil || e.Type != "ERROR" || st.Kind != "Status" || st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
			t.Fatalf("compacted watch: %s %s", e.Type, e.Object)
		}
		w.expectEnd(t)
	})
}

func TestWatchSelectorsTransitions(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := stubtest.Start(t)
		mustCreate(t, srv, "a") // app=x
		w, _ := startWatch(t, srv, tr, tasksNS, "watch=true&labelSelector=tier%3Dweb&resourceVersion="+rvq(srv.Store().CurrentRevision()))
		merge := "application/merge-patch+json"
		r := do(t, srv, http.MethodPatch, tasksNS+"/a", merge, `{"metadata":{"labels":{"tier":"web"}}}`)
		wantEvent(t, w.next(t), "ADDED", "a", rvOf(t, r.obj(t)))
		r = do(t, srv, http.MethodPatch, tasksNS+"/a", merge, `{"spec":{"image":"v2"}}`)
		wantEvent(t, w.next(t), "MODIFIED", "a", rvOf(t, r.obj(t)))
		r = do(t, srv, http.MethodPatch, tasksNS+"/a", merge, `{"metadata":{"labels":{"tier":"db"}}}`)
		wantEvent(t, w.next(t), "DELETED", "a", rvOf(t, r.obj(t)))
		// Field selector on spec.nodeName.
		w2, _ := startWatch(t, srv, tr, tasksAll, "watch=true&fieldSelector=spec.nodeName%3Dn1&resourceVersion="+rvq(srv.Store().CurrentRevision()))
		mustCreate(t, srv, "other")
		r = do(t, srv, http.MethodPatch, tasksNS+"/a", merge, `{"spec":{"nodeName":"n1"}}`)
		wantEvent(t, w2.next(t), "ADDED", "a", rvOf(t, r.obj(t)))
	})
}

func TestWatchBookmarksTimeoutDropAndStall(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := stubtest.Start(t, stubtest.WithBookmarkInterval(100*time.Millisecond))
		rv := mustCreate(t, srv, "a")

		// Periodic bookmarks at the current revision, in order with events.
		w, _ := startWatch(t, srv, tr, tasksNS, "watch=true&allowWatchBookmarks=true&resourceVersion="+rvq(rv))
		for i := 0; i < 2; i++ {
			wantEvent(t, w.next(t), "BOOKMARK", "", rv)
		}
		rv2 := mustCreate(t, srv, "b")
		e := w.next(t)
		for e.Type == "BOOKMARK" && e.rv(t) == rv {
			e = w.next(t)
		}
		wantEvent(t, e, "ADDED", "b", rv2)
		wantEvent(t, w.next(t), "BOOKMARK", "", rv2)

		// Stalled: nothing at all, not even bookmarks; then catch up in order.
		srv.StallWatches(true)
		time.Sleep(150 * time.Millisecond) // let an in-flight bookmark land
		for len(w.events) > 0 {
			<-w.events
		}
		rv3 := mustCreate(t, srv, "c")
		w.quiet(t, 300*time.Millisecond)
		srv.StallWatches(false)
		e = w.next(t)
		for e.Type == "BOOKMARK" {
			if e.rv(t) > rv3 {
				t.Fatalf("bookmark %d before event %d", e.rv(t), rv3)
			}
			e = w.next(t)
		}
		wantEvent(t, e, "ADDED", "c", rv3)

		// SetBookmarkInterval applies to open watches.
		srv.SetBookmarkInterval(time.Hour)
		time.Sleep(150 * time.Millisecond)
		for len(w.events) > 0 {
			<-w.events
		}
		w.quiet(t, 300*time.Millisecond)

		// DropWatches: clean end of stream.
		srv.DropWatches()
		w.expectEnd(t)

		// timeoutSeconds: one bookmark ~2 s before the deadline, then a clean end.
		start := time.Now()
		w, _ = startWatch(t, srv, tr, tasksNS, "watch=true&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion="+rvq(rv3))
		wantEvent(t, w.next(t), "BOOKMARK", "", rv3)
		w.expectEnd(t)
		if d := time.Since(start); d < 2*time.Second {
			t.Fatalf("timeoutSeconds=3 ended after %v", d)
		}
	})
}

func TestWatchAfterRestartIsCut(t *testing.T) {
	srv := stubtest.Start(t)
	rv := mustCreate(t, srv, "a")
	w, _ := startWatch(t, srv, chunked, tasksNS, "watch=true&resourceVersion="+rvq(rv))
	srv.Restart()
	select {
	case _, ok := <-w.events:
		if ok {
			t.Fatal("event after restart")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch survived restart")
	}
	if err := <-w.done; err == nil {
		t.Fatal("restart looked like a clean end of stream")
	}
	// Same address, same data.
	if r := get(t, srv, tasksNS+"/a"); r.code != 200 {
		t.Fatalf("after restart: %d", r.code)
	}
}

// TestWatchClientGoneIsCleanedUp: when a client goes away (either
// transport, stalled or not), the server ends that watch and its
// registration.
func TestWatchClientGoneIsCleanedUp(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := stubtest.Start(t)
		for _, stall := range []bool{false, true} {
			srv.StallWatches(stall)
			w, _ := startWatch(t, srv, tr, tasksNS, "watch=true")
			waitMetric(t, srv, `apiserver_registered_watchers{resource="tasks"} 1`)
			w.close()
			waitMetric(t, srv, `apiserver_registered_watchers{resource="tasks"} 0`)
		}
		srv.StallWatches(false)
	})
}

func waitMetric(t *testing.T, srv *stubtest.Server, line string) {
	t.Helper()
	waitFor(t, func() bool { return strings.Contains(string(get(t, srv, "/metrics").body), line) }, line)
}
