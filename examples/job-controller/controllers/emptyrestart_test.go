package controllers_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/examples/job-controller/controllers"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestServerRestartedEmpty restarts the server under the running
// controllers with an empty store (its revisions start over, behind every
// cache): the caches must see that at once (their watches are answered
// 504 ResourceVersionTooLarge) and relist, not wait out retries and
// backoffs; the Manager reports not ready until they have, then ready; the
// node agents register their Nodes again; and a Job created on the new
// server completes with exactly its completions. The lists of the new
// server are delayed by 300 ms, so that the not-ready window is long
// enough to be seen by polling.
func TestServerRestartedEmpty(t *testing.T) {
	opts := []stubtest.Option{stubtest.WithBookmarkInterval(time.Second), stubtest.WithNamespaces("er")}
	srv := stubtest.Start(t, opts...)
	c, err := client.New(&client.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	var slowLists atomic.Bool
	front := inFront(t, srv.URL, func(w http.ResponseWriter, r *http.Request, proxy http.Handler) {
		q := r.URL.Query()
		if slowLists.Load() && r.Method == http.MethodGet && (q.Get("watch") != "true" || q.Get("sendInitialEvents") == "true") {
			time.Sleep(300 * time.Millisecond)
		}
		proxy.ServeHTTP(w, r)
	})

	cl := startCluster(t, front, 2)
	jobs := client.For(c, kunosv1.Jobs).Namespace("er")
	if _, err := jobs.Create(context.Background(), newJob("er", "before", 4, 2, 6, "sleep", "0.05"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, jobs, "before", complete, "Complete before the restart")
	eventually(t, "ready before the restart", cl.mgr.Ready)

	// Poll readiness from now on.
	var sawNotReady atomic.Bool
	var readyAgainAt atomic.Int64
	pollCtx, stopPoll := context.WithCancel(context.Background())
	defer stopPoll()
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for pollCtx.Err() == nil {
			if !cl.mgr.Ready() {
				sawNotReady.Store(true)
			} else if sawNotReady.Load() && readyAgainAt.Load() == 0 {
				readyAgainAt.Store(time.Now().UnixNano())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()

	slowLists.Store(true)
	restarted := time.Now()
	srv.RestartEmpty(opts...)

	// The Job and its Tasks are gone from the caches, and the Nodes come
	// back, registered by their agents.
	nodes := client.For(c, kunosv1.Nodes)
	eventually(t, "both Nodes registered again and Ready on the new server", func() bool {
		for _, name := range []string{"node-1", "node-2"} {
			n, err := nodes.Get(context.Background(), name, metav1.GetOptions{})
			if err != nil || !controllers.NodeReady(n, time.Now()) {
				return false
			}
		}
		return true
	})
	eventually(t, "ready again", func() bool { return readyAgainAt.Load() != 0 })
	stopPoll()
	<-polled
	if !sawNotReady.Load() {
		t.Fatal("the Manager never reported not ready after the server lost its data")
	}
	readyAfter := time.Duration(readyAgainAt.Load() - restarted.UnixNano())
	t.Logf("not ready after the restart, ready again %v later", readyAfter.Round(time.Millisecond))

	slowLists.Store(false)
	tasks := watchTasks(t, c, "er")
	if _, err := jobs.Create(context.Background(), newJob("er", "after", 6, 3, 6, "sleep", "0.05"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, jobs, "after", complete, "Complete after the restart")
	if created, _, _ := tasks.counts(); j.Status.Succeeded != 6 || created != 6 {
		t.Fatalf("after the restart: succeeded=%d created=%d, want 6, 6", j.Status.Succeeded, created)
	}
}
