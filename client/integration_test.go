package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/client"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func task(name string) *kunosv1.Task {
	return &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kunosv1.TaskSpec{Image: "busybox"}}
}

func recv(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return watch.Event{}
}

func drainClosed(t *testing.T, w watch.Interface) []watch.Event {
	t.Helper()
	var evs []watch.Event
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-deadline:
			t.Fatal("watch did not close within 5s")
		}
	}
}

func newClient(t *testing.T, url string, tr client.Transport) *client.Client {
	c, err := client.New(&client.Config{Host: url, WatchTransport: tr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStubCRUDAndWatch runs CRUD, errors and a watch from a resourceVersion
// against the real in-process server, over both watch transports.
func TestStubCRUDAndWatch(t *testing.T) {
	for _, tr := range []client.Transport{client.TransportHTTP, client.TransportWebSocket} {
		t.Run(tr.String(), func(t *testing.T) {
			ctx := ctxFor(t)
			srv := stubtest.Start(t, stubtest.WithNamespaces("p", "ns", "s"))
			c := newClient(t, srv.URL, tr)
			tasks := client.For(c, kunosv1.Tasks).Namespace("default")

			created, err := tasks.Create(ctx, task("a"), metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if created.UID == "" || created.ResourceVersion == "" || created.Generation != 1 || created.Kind != "Task" {
				t.Fatalf("created = %+v", created.ObjectMeta)
			}
			if _, err := tasks.Create(ctx, task("a"), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
				t.Fatalf("duplicate create: %v", err)
			}
			if _, err := tasks.Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("get missing: %v", err)
			}

			w, err := tasks.Watch(ctx, metav1.ListOptions{ResourceVersion: created.ResourceVersion, AllowWatchBookmarks: true})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()

			upd := created.DeepCopy()
			upd.Spec.Image = "alpine"
			updated, err := tasks.Update(ctx, upd, metav1.UpdateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if updated.Generation != 2 {
				t.Fatalf("generation = %d after a spec change", updated.Generation)
			}
			if _, err := tasks.Update(ctx, upd, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
				t.Fatalf("stale update: %v", err)
			}
			st := updated.DeepCopy()
			st.Status.Phase = kunosv1.TaskRunning
			st.Spec.Image = "ignored"
			afterStatus, err := tasks.UpdateStatus(ctx, st, metav1.UpdateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if afterStatus.Status.Phase != kunosv1.TaskRunning || afterStatus.Spec.Image != "alpine" {
				t.Fatalf("after status update: %+v %+v", afterStatus.Spec, afterStatus.Status)
			}
			patched, err := tasks.Patch(ctx, "a", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if patched.Labels["x"] != "y" {
				t.Fatalf("patch: labels %v", patched.Labels)
			}
			if err := tasks.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := tasks.Delete(ctx, "a", metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("second delete: %v", err)
			}

			var got []string
			for len(got) < 4 {
				ev := recv(t, w)
				if ev.Type == watch.Bookmark {
					continue
				}
				obj, ok := ev.Object.(*kunosv1.Task)
				if !ok {
					t.Fatalf("%s event carries %T: %v", ev.Type, ev.Object, ev.Object)
				}
				got = append(got, fmt.Sprintf("%s@%s", ev.Type, obj.ResourceVersion))
			}
			want := []string{
				"MODIFIED@" + updated.ResourceVersion, "MODIFIED@" + afterStatus.ResourceVersion,
				"MODIFIED@" + patched.ResourceVersion,
			}
			if fmt.Sprint(got[:3]) != fmt.Sprint(want) || got[3][:8] != "DELETED@" {
				t.Fatalf("events = %v, want %v then DELETED", got, want)
			}
			w.Stop()
			drainClosed(t, w)
		})
	}
}

// TestStubPagingAndExpiry lists in pages, and checks that a watch from a
// compacted resourceVersion ends with a 410 Expired ERROR event.
func TestStubPagingAndExpiry(t *testing.T) {
	ctx := ctxFor(t)
	srv := stubtest.Start(t, stubtest.WithNamespaces("p", "ns", "s"))
	c := newClient(t, srv.URL, client.TransportHTTP)
	tasks := client.For(c, kunosv1.Tasks).Namespace("p")
	var first string
	for i := range 25 {
		o, err := tasks.Create(ctx, task(fmt.Sprintf("t%02d", i)), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = o.ResourceVersion
		}
	}
	page, meta, err := tasks.List(ctx, metav1.ListOptions{Limit: 10})
	if err != nil || len(page) != 10 || meta.Continue == "" {
		t.Fatalf("page: %d %+v %v", len(page), meta, err)
	}
	all, meta2, err := tasks.ListAll(ctx, metav1.ListOptions{Limit: 10})
	if err != nil || len(all) != 25 || meta2.Continue != "" {
		t.Fatalf("all: %d %+v %v", len(all), meta2, err)
	}
	for i, o := range all {
		if o.Name != fmt.Sprintf("t%02d", i) {
			t.Fatalf("item %d is %s", i, o.Name)
		}
	}

	srv.Compact()
	// An exact list at a compacted revision is 410 Expired.
	if _, _, err := tasks.List(ctx, metav1.ListOptions{ResourceVersion: first, ResourceVersionMatch: metav1.ResourceVersionMatchExact}); !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Fatalf("exact list at compacted RV: %v", err)
	}
	for _, tr := range []client.Transport{client.TransportHTTP, client.TransportWebSocket} {
		c := newClient(t, srv.URL, tr)
		w, err := client.For(c, kunosv1.Tasks).Namespace("p").Watch(ctx, metav1.ListOptions{ResourceVersion: first})
		if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
			t.Logf("%v: HTTP-level 410: %v", tr, err)
			continue // an HTTP-level 410 is equally valid
		}
		if err != nil {
			t.Fatalf("%v: %v", tr, err)
		}
		evs := drainClosed(t, w)
		if len(evs) != 1 || evs[0].Type != watch.Error {
			t.Fatalf("%v: events = %v", tr, evs)
		}
		if err := apierrors.FromObject(evs[0].Object); !apierrors.IsResourceExpired(err) {
			t.Fatalf("%v: ERROR = %v", tr, err)
		}
	}
}

// TestStubWatchList checks the streaming-list handshake: ADDED for the
// snapshot, then a BOOKMARK annotated initial-events-end.
func TestStubWatchList(t *testing.T) {
	ctx := ctxFor(t)
	srv := stubtest.Start(t, stubtest.WithNamespaces("p", "ns", "s"))
	for _, tr := range []client.Transport{client.TransportHTTP, client.TransportWebSocket} {
		c := newClient(t, srv.URL, tr)
		nodes := client.Dynamic(c, kunosv1.Nodes.Info)
		name := "n-" + tr.String()
		if _, err := nodes.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "kunos.io/v1", "kind": "Node", "metadata": map[string]any{"name": name},
			"spec": map[string]any{"capacity": int64(4)},
		}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		yes := true
		w, err := nodes.Watch(ctx, metav1.ListOptions{SendInitialEvents: &yes, AllowWatchBookmarks: true,
			ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		if err != nil {
			t.Fatalf("%v: %v", tr, err)
		}
		added := 0
		for {
			ev := recv(t, w)
			u := ev.Object.(*unstructured.Unstructured)
			if ev.Type == watch.Added {
				added++
				if capacity, _, _ := unstructured.NestedInt64(u.Object, "spec", "capacity"); capacity != 4 {
					t.Fatalf("capacity = %v", u.Object["spec"])
				}
				continue
			}
			if ev.Type != watch.Bookmark || u.GetAnnotations()[metav1.InitialEventsAnnotationKey] != "true" {
				t.Fatalf("%v: got %s %v", tr, ev.Type, u.Object)
			}
			break
		}
		w.Stop()
		drainClosed(t, w)
		if want := map[client.Transport]int{client.TransportHTTP: 1, client.TransportWebSocket: 2}[tr]; added != want {
			t.Fatalf("%v: %d ADDED, want %d", tr, added, want)
		}
	}
}

// TestStubDropWatches: a server-side close ends the result channel without
// an error event (the caller re-watches from its last resourceVersion).
func TestStubDropWatches(t *testing.T) {
	ctx := ctxFor(t)
	srv := stubtest.Start(t, stubtest.WithNamespaces("p", "ns", "s"))
	for _, tr := range []client.Transport{client.TransportHTTP, client.TransportWebSocket} {
		c := newClient(t, srv.URL, tr)
		w, err := client.For(c, kunosv1.Jobs).Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // let the server register the watcher
		srv.DropWatches()
		for _, ev := range drainClosed(t, w) {
			if ev.Type == watch.Error {
				t.Fatalf("%v: dropped watch produced %v", tr, ev.Object)
			}
		}
	}
}

// TestStubWatchResumeReplays: after a dropped watch, a new watch from the
// last resourceVersion seen replays every change made in between, in order.
func TestStubWatchResumeReplays(t *testing.T) {
	for _, tr := range []client.Transport{client.TransportHTTP, client.TransportWebSocket} {
		t.Run(tr.String(), func(t *testing.T) {
			ctx := ctxFor(t)
			srv := stubtest.Start(t, stubtest.WithBookmarkInterval(100*time.Millisecond), stubtest.WithNamespaces("ns"))
			c := newClient(t, srv.URL, tr)
			tasks := client.For(c, kunosv1.Tasks).Namespace("ns")
			for i := range 3 {
				if _, err := tasks.Create(ctx, task(fmt.Sprintf("t%d", i)), metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			_, meta, err := tasks.List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			last := meta.ResourceVersion
			for round := range 3 {
				w, err := tasks.Watch(ctx, metav1.ListOptions{ResourceVersion: last, AllowWatchBookmarks: true})
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("r%d", round)
				created, err := tasks.Create(ctx, task(name), metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				// Read up to the create, then drop, then write more.
				for {
					ev := recv(t, w)
					last = ev.Object.(metav1.Object).GetResourceVersion()
					if ev.Type == watch.Added && last == created.ResourceVersion {
						break
					}
				}
				srv.DropWatches()
				drainClosed(t, w)
				if err := tasks.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
				w, err = tasks.Watch(ctx, metav1.ListOptions{ResourceVersion: last, AllowWatchBookmarks: true})
				if err != nil {
					t.Fatal(err)
				}
				for {
					ev := recv(t, w)
					if ev.Type == watch.Bookmark {
						t.Fatalf("round %d: bookmark %s before the replayed DELETE", round, ev.Object.(metav1.Object).GetResourceVersion())
					}
					if ev.Type != watch.Deleted || ev.Object.(metav1.Object).GetName() != name {
						t.Fatalf("round %d: got %s %s, want DELETED %s", round, ev.Type, ev.Object.(metav1.Object).GetName(), name)
					}
					last = ev.Object.(metav1.Object).GetResourceVersion()
					break
				}
				w.Stop()
				drainClosed(t, w)
			}
		})
	}
}

// TestStubStallAndRestart: Stop ends a watch the server stalls; a server
// restart ends watches without an ERROR event and the client keeps working.
func TestStubStallAndRestart(t *testing.T) {
	ctx := ctxFor(t)
	srv := stubtest.Start(t, stubtest.WithNamespaces("p", "ns", "s"))
	for _, tr := range []client.Transport{client.TransportHTTP, client.TransportWebSocket} {
		c := newClient(t, srv.URL, tr)
		tasks := client.For(c, kunosv1.Tasks).Namespace("s")
		srv.StallWatches(true)
		w, err := tasks.Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			t.Fatalf("%v: %v", tr, err)
		}
		if _, err := tasks.Create(ctx, task("stalled-"+tr.String()), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		w.Stop()
		drainClosed(t, w)
		srv.StallWatches(false)

		w, err = tasks.Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			t.Fatal(err)
		}
		recv(t, w) // the synthetic ADDED: the stream is live
		srv.Restart()
		for _, ev := range drainClosed(t, w) {
			if ev.Type == watch.Error {
				t.Fatalf("%v: restart produced %v", tr, ev.Object)
			}
		}
		if _, _, err := tasks.List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatalf("%v: list after restart: %v", tr, err)
		}
	}
}
