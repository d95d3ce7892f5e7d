package client

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

func newTask(ns, name string) *kunosv1.Task {
	return &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: kunosv1.TaskSpec{Image: "busybox"}}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustClient(t *testing.T, cfg *Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.http.CloseIdleConnections)
	return c
}

// nextEvent reads one event or fails after a while.
func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return watch.Event{}
}

func TestCRUDAndWatch(t *testing.T) {
	for _, tr := range []Transport{TransportHTTP, TransportWebSocket} {
		t.Run(tr.String(), func(t *testing.T) {
			ctx := testCtx(t)
			_, srv := newFakeAPI(t)
			hook := &recordingHook{}
			c := mustClient(t, &Config{Host: srv.URL, WatchTransport: tr, Metrics: hook})
			tasks := For(c, kunosv1.Tasks).Namespace("ns1")

			in := newTask("", "a")
			created, err := tasks.Create(ctx, in, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if in.Kind != "" || in.ResourceVersion != "" {
				t.Fatalf("Create modified its argument: %+v", in.TypeMeta)
			}
			if created.Namespace != "ns1" || created.ResourceVersion == "" || created.Kind != "Task" {
				t.Fatalf("created = %+v", created)
			}
			if _, err := tasks.Create(ctx, newTask("", "a"), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
				t.Fatalf("second create: %v, want AlreadyExists", err)
			}

			items, meta, err := tasks.List(ctx, metav1.ListOptions{})
			if err != nil || len(items) != 1 || meta.ResourceVersion != created.ResourceVersion {
				t.Fatalf("list = %d items, %+v, %v", len(items), meta, err)
			}

			w, err := tasks.Watch(ctx, metav1.ListOptions{ResourceVersion: meta.ResourceVersion})
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
			if _, err := tasks.Update(ctx, upd, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
				t.Fatalf("stale update: %v, want Conflict", err)
			}
			if ev := nextEvent(t, w); ev.Type != watch.Modified || ev.Object.(*kunosv1.Task).ResourceVersion != updated.ResourceVersion {
				t.Fatalf("event = %v %+v", ev.Type, ev.Object)
			}
			if err := tasks.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if ev := nextEvent(t, w); ev.Type != watch.Deleted || ev.Object.(*kunosv1.Task).Name != "a" {
				t.Fatalf("event = %v %+v", ev.Type, ev.Object)
			}
			if _, err := tasks.Get(ctx, "a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("get after delete: %v, want NotFound", err)
			}
			w.Stop()
			for range w.ResultChan() {
			}
			watchCode := map[Transport]int{TransportHTTP: 200, TransportWebSocket: 101}[tr]
			want := []observed{
				{"create", "tasks", 201}, {"create", "tasks", 409}, {"list", "tasks", 200}, {"watch", "tasks", watchCode},
				{"update", "tasks", 200}, {"update", "tasks", 409}, {"delete", "tasks", 200}, {"get", "tasks", 404},
			}
			if got := hook.get(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("observed %v\nwant %v", got, want)
			}
		})
	}
}
