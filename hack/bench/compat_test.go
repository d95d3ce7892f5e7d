package bench

// Compatibility: the official, unmodified client-go v0.37 dynamic informer
// against our API server (in-process, over real loopback HTTP), with
// watch-list on (client-go's default) and off, recovering from 410 after
// compaction, and advancing its resourceVersion on bookmarks.

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

func newTask(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kunos.io/v1",
		"kind":       "Task",
		"metadata":   map[string]any{"name": name, "namespace": ns, "labels": map[string]any{"app": "compat"}},
		"spec":       map[string]any{"command": []any{"echo", name}},
	}}
}

type recorder struct {
	events chan string
}

func (r *recorder) handler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { r.events <- "add " + o.(*unstructured.Unstructured).GetName() },
		UpdateFunc: func(_, o any) { r.events <- "update " + o.(*unstructured.Unstructured).GetName() },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			r.events <- "delete " + o.(*unstructured.Unstructured).GetName()
		},
	}
}

func (r *recorder) expect(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case got := <-r.events:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("client-go informer never saw %q", want)
		}
	}
}

// startInformer runs a client-go dynamic informer over tasks in ns.
func startInformer(t *testing.T, url, ns string) (cache.SharedIndexInformer, *recorder, dynamic.Interface) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(&rest.Config{Host: url})
	if err != nil {
		t.Fatal(err)
	}
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, ns, nil)
	inf := f.ForResource(kunosv1.Tasks.GVR).Informer()
	rec := &recorder{events: make(chan string, 10000)}
	if _, err := inf.AddEventHandler(rec.handler()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); f.Shutdown() })
	f.Start(ctx.Done())
	syncCtx, syncCancel := context.WithTimeout(ctx, 20*time.Second)
	defer syncCancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		t.Fatal("client-go informer did not sync against the listwatch server")
	}
	return inf, rec, dyn
}

func TestClientGoInformer(t *testing.T) {
	for _, watchList := range []bool{true, false} {
		t.Run(fmt.Sprintf("watchList=%v", watchList), func(t *testing.T) {
			clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, watchList)
			srv := stubtest.Start(t, stubtest.WithNamespaces("compat"))
			ctx := context.Background()
			dyn, _ := dynamic.NewForConfig(&rest.Config{Host: srv.URL})
			tasks := dyn.Resource(kunosv1.Tasks.GVR).Namespace("compat")
			for i := 0; i < 5; i++ {
				if _, err := tasks.Create(ctx, newTask("compat", fmt.Sprintf("pre-%d", i)), metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			inf, rec, _ := startInformer(t, srv.URL, "compat")
			if n := len(inf.GetStore().List()); n != 5 {
				t.Fatalf("synced store has %d objects, want 5", n)
			}
			created, err := tasks.Create(ctx, newTask("compat", "live"), metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rec.expect(t, "add live")
			created.SetLabels(map[string]string{"app": "compat", "changed": "yes"})
			if _, err := tasks.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			rec.expect(t, "update live")
			if err := tasks.Delete(ctx, "live", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			rec.expect(t, "delete live")
		})
	}
}

// TestClientGoInformerRecoversFrom410: every watch is dropped while the
// history the informer would resume from is compacted away; client-go must
// relist and converge to the server's state.
func TestClientGoInformerRecoversFrom410(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithHistory(20), stubtest.WithNamespaces("compat"))
	ctx := context.Background()
	inf, _, dyn := startInformer(t, srv.URL, "compat")
	tasks := dyn.Resource(kunosv1.Tasks.GVR).Namespace("compat")
	srv.StallWatches(true) // the informer sees nothing of what follows
	for i := 0; i < 60; i++ {
		if _, err := tasks.Create(ctx, newTask("compat", fmt.Sprintf("t-%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 30; i += 3 {
		if err := tasks.Delete(ctx, fmt.Sprintf("t-%d", i), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Compact()
	srv.StallWatches(false)
	srv.DropWatches()
	want := serverState(t, tasks)
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return fmt.Sprint(storeState(inf)) == fmt.Sprint(want), nil
	})
	if err != nil {
		t.Fatalf("client-go cache did not converge after 410:\n got  %v\n want %v", storeState(inf), want)
	}
}

// TestClientGoInformerBookmarks: writes elsewhere advance the global
// revision; bookmarks carry it to an informer that sees no object change.
func TestClientGoInformerBookmarks(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithBookmarkInterval(200*time.Millisecond), stubtest.WithNamespaces("busy", "quiet"))
	ctx := context.Background()
	inf, _, dyn := startInformer(t, srv.URL, "quiet")
	before := inf.LastSyncResourceVersion()
	other := dyn.Resource(kunosv1.Tasks.GVR).Namespace("busy")
	var last string
	for i := 0; i < 5; i++ {
		o, err := other.Create(ctx, newTask("busy", fmt.Sprintf("b-%d", i)), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last = o.GetResourceVersion()
	}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		return inf.LastSyncResourceVersion() == last, nil
	})
	if err != nil {
		t.Fatalf("LastSyncResourceVersion stayed %q (was %q), want %q from a bookmark", inf.LastSyncResourceVersion(), before, last)
	}
}

func serverState(t *testing.T, r dynamic.ResourceInterface) []string {
	t.Helper()
	list, err := r.List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range list.Items {
		out = append(out, o.GetName()+"@"+o.GetResourceVersion())
	}
	sort.Strings(out)
	return out
}

func storeState(inf cache.SharedIndexInformer) []string {
	var out []string
	for _, o := range inf.GetStore().List() {
		u := o.(*unstructured.Unstructured)
		out = append(out, u.GetName()+"@"+u.GetResourceVersion())
	}
	sort.Strings(out)
	return out
}
