package informer

import (
	"context"
	"fmt"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/reflector"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestInformerAgainstServerFaults runs an informer against the stub server
// through a dropped watch, and a restart after which the informer's
// resourceVersion is compacted away, so it must relist (410): a Task
// deleted meanwhile is deleted exactly once for each handler (by watch
// event or, if the relist learns it, with finalStateUnknown), every
// handler's view stays consistent and ends equal to the server, and an
// unchanged object is not notified again by the relist.
func TestInformerAgainstServerFaults(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithBookmarkInterval(time.Second))
	c, err := client.New(&client.Config{Host: srv.URL, QPS: -1})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tasks := client.For(c, kunosv1.Tasks).Namespace("default")
	create := func(name string) {
		_, err := tasks.Create(ctx, newTask("default", name, "n1"), metav1.CreateOptions{})
		must(t, err)
	}
	for i := range 5 {
		create(fmt.Sprintf("t%d", i))
	}

	inf := New[*kunosv1.Task](tasks.ListerWatcher(nil), Options[*kunosv1.Task]{
		Options: reflector.Options[*kunosv1.Task]{Name: "tasks", WatchErrorHandler: func(err error) { t.Logf("watch error: %v", err) }, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
	})
	recs := []*recorder{newRecorder(t), newRecorder(t)}
	_, err = inf.AddEventHandler(recs[0], WithDelivery(Delivery{Policy: Unbounded}))
	must(t, err)
	_, err = inf.AddEventHandler(recs[1])
	must(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); inf.Run(runCtx) }()
	defer func() { stop(); <-done }()
	if !WaitForCacheSync(ctx, inf.HasSynced) {
		t.Fatal("not synced")
	}

	serverKeys := func() map[string]string {
		items, _, err := tasks.List(ctx, metav1.ListOptions{})
		must(t, err)
		out := map[string]string{}
		for _, it := range items {
			out["default/"+it.Name] = it.ResourceVersion
		}
		return out
	}
	inStep := func() bool {
		want := serverKeys()
		if inf.Indexer().Len() != len(want) {
			return false
		}
		for key, rv := range want {
			obj, ok, _ := inf.Indexer().GetByKey(key)
			if !ok || obj.ResourceVersion != rv {
				return false
			}
		}
		for _, r := range recs {
			if !r.converged(inf.Indexer()) {
				return false
			}
		}
		return true
	}

	srv.DropWatches()
	create("t5")
	eventually(t, "in step after a dropped watch", inStep)

	srv.StallWatches(true)
	must(t, tasks.Delete(ctx, "t0", metav1.DeleteOptions{}))
	create("t6")
	srv.Compact()
	srv.Restart() // the stalled watch breaks before sending the delete
	srv.StallWatches(false)
	eventually(t, "in step after a relist", inStep)
	for i, r := range recs {
		r.check()
		deletes := 0
		for _, e := range r.snapshot() {
			if e.kind == kindUpdate && e.oldRV == e.rv {
				t.Errorf("handler %d: unchanged object notified: %v", i, e)
			}
			if e.kind == kindDelete && e.key == "default/t0" {
				deletes++
			}
		}
		if deletes != 1 {
			t.Errorf("handler %d: %d deletes of t0, want 1", i, deletes)
		}
	}
}
