package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/internal/faultproxy"
	"github.com/kunos-io/listwatch/reflector"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The tests below reproduce defects the chaos work found in packages this
// directory does not own, end to end, so that they stay fixed.

// startTestInformer runs an informer of all Tasks over c until the test
// ends, and waits for its sync.
func startTestInformer(t *testing.T, c *client.Client, watchdog time.Duration, watchList bool) (informer.SharedIndexInformer[*kunosv1.Task], *relistCounter) {
	t.Helper()
	on := watchList
	rc := &relistCounter{reasons: map[reflector.RelistReason]int64{}}
	inf := informer.New[*kunosv1.Task](client.For(c, kunosv1.Tasks).ListerWatcher(nil), informer.Options[*kunosv1.Task]{
		Options: reflector.Options[*kunosv1.Task]{
			Name: "known-bug", Logger: slog.New(slog.DiscardHandler),
			WatchList: &on, MinWatchTimeout: time.Minute, BookmarkInterval: chaosBookmark,
			WatchdogTimeout: watchdog, MaxBackoff: time.Second, Metrics: rc,
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); inf.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	if !informer.WaitForCacheSync(sctx, inf.HasSynced) {
		t.Fatal("informer never synced")
	}
	return inf, rc
}

func createTasks(t *testing.T, res *client.Resource[*kunosv1.Task], from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t-%03d", i)}}
		if _, err := res.Namespace("default").Create(context.Background(), task, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWatchOnHalfOpenConnection: a silently dead (half-open) connection
// stalls a chunked-HTTP watch; the watchdog restarts it, and the new watch
// request goes out on an idle keep-alive connection of the same pool, just
// as dead. That request gets no response headers; the watchdog bounds the
// wait (it used to be unbounded: about 15 minutes on Linux, until TCP gave
// up on the unacknowledged request, with the cache stale and the informer
// looking healthy), and the client then drops the pool's idle connections,
// so the next attempt dials afresh. WebSocket watches dial a new
// connection each time.
func TestWatchOnHalfOpenConnection(t *testing.T) {
	for _, tr := range []client.Transport{client.TransportHTTP, client.TransportWebSocket} {
		t.Run(tr.String(), func(t *testing.T) {
			srv := stubtest.Start(t, stubtest.WithBookmarkInterval(chaosBookmark))
			p, err := faultproxy.New(strings.TrimPrefix(srv.URL, "http://"), faultproxy.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			c, err := client.New(&client.Config{Host: p.URL(), QPS: -1, WatchTransport: tr})
			if err != nil {
				t.Fatal(err)
			}
			direct, err := client.New(&client.Config{Host: srv.URL, QPS: -1})
			if err != nil {
				t.Fatal(err)
			}
			inf, rc := startTestInformer(t, c, time.Second, true)
			// A few idle keep-alive connections in the informer's pool.
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _, _ = client.For(c, kunosv1.Tasks).List(context.Background(), metav1.ListOptions{})
				}()
			}
			wg.Wait()
			// Every connection goes silent, the watch's and the idle ones,
			// as after a partition: no FIN, no RST. New connections work.
			for _, cn := range p.Conns() {
				cn.Stall(true)
			}
			createTasks(t, client.For(direct, kunosv1.Tasks), 0, 10)
			deadline := time.Now().Add(10 * time.Second)
			for len(inf.Indexer().List()) != 10 {
				if time.Now().After(deadline) {
					t.Fatalf("cache holds %d of 10 Tasks %s after its watch went silent (relists %v, stale %t)",
						len(inf.Indexer().List()), 10*time.Second, rc.snapshot(), inf.Stale())
				}
				time.Sleep(20 * time.Millisecond)
			}
			p.CutAll() // end the stalled connections before the server stops
		})
	}
}

// TestWatchFromEmptyList: the memory store used to start at revision 0,
// so a list of a fresh (or freshly emptied) store answered resourceVersion
// "0", which the reflector (with paged lists, not watch-list) then watched
// from; but "0" in a watch means "from any point, starting with synthetic
// ADDEDs of the current state". If the stream broke before a bookmark or a
// non-ADDED event moved it, the reflector watched from "0" again: objects
// deleted in the gap stayed in the cache, which claimed to be in sync at a
// revision that did not hold them. Kubernetes never answers "0" (etcd
// starts at revision 1), and neither does the memory store now.
func TestWatchFromEmptyList(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithBookmarkInterval(time.Minute))
	p, err := faultproxy.New(strings.TrimPrefix(srv.URL, "http://"), faultproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := client.New(&client.Config{Host: p.URL(), QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := client.New(&client.Config{Host: srv.URL, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	inf, _ := startTestInformer(t, c, time.Minute, false) // paged lists
	t.Logf("synced at resourceVersion %q", inf.LastSyncResourceVersion())
	tasks := client.For(direct, kunosv1.Tasks)
	createTasks(t, tasks, 0, 5)
	for len(inf.Indexer().List()) != 5 {
		time.Sleep(10 * time.Millisecond)
	}
	// The watch breaks; a Task is deleted before it is back.
	p.SetRefuse(true)
	p.CutAll()
	if err := tasks.Namespace("default").Delete(context.Background(), "t-001", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	p.SetRefuse(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok, _ := inf.Indexer().GetByKey("default/t-001"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache (resourceVersion %s) still holds default/t-001 %s after the server deleted it",
				inf.Indexer().LastStoreSyncResourceVersion(), 5*time.Second)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJobAfterAmbiguousCreates: the job-controller example keeps a Task
// creation whose outcome is unknown (a connection reset, a 5xx) in its
// expectations, counted down only when the Task shows up, and retries the
// creation under the same name to settle it. Its retry loop used to give
// up after ~0.75 s (it compared its attempt number with wait.Backoff.Steps,
// which Backoff.Step decrements), and nothing tried again: an outage a
// little longer (an etcd leader election, a replica restart, a cut) left a
// Job unreconciled until the expectations expired, 5 minutes later. The
// chaos test saw Jobs stuck this way after etcd compactions and leader
// kills. Now the retries last ~13 s, and the Job's later runs settle what
// is still unknown after that.
func TestJobAfterAmbiguousCreates(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithBookmarkInterval(chaosBookmark), stubtest.WithNamespaces(jobNamespace))
	// In front of the server, a proxy that answers Task creations 503 (an
	// unknown outcome: a 5xx without Retry-After) while failing is set,
	// and passes everything else, watches included.
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	var failing atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/tasks") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"unavailable","reason":"ServiceUnavailable","code":503}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done, err := startJobController(ctx, []string{front.URL}, t)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done })
	direct, err := client.New(&client.Config{Host: srv.URL, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	jobs := client.For(direct, kunosv1.Jobs).Namespace(jobNamespace)
	three := int32(chaosCompletions)
	newJob := func(name string) {
		t.Helper()
		job := &kunosv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: kunosv1.JobSpec{Completions: &three, Parallelism: &three,
				Template: kunosv1.TaskTemplateSpec{Spec: kunosv1.TaskSpec{Command: []string{"sleep", "0.05"}}}},
		}
		if _, err := jobs.Create(context.Background(), job, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitComplete := func(name string, within time.Duration) error {
		deadline := time.Now().Add(within)
		for {
			j, err := jobs.Get(context.Background(), name, metav1.GetOptions{})
			if err == nil && meta.IsStatusConditionTrue(j.Status.Conditions, kunosv1.JobComplete) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("Job %s not complete %s after it was created (status %+v, err %v)", name, within, j.Status, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	newJob("warm-up") // the controller is up and its caches synced
	if err := waitComplete("warm-up", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// Task creations fail for 1.5 s, with an unknown outcome, while a Job
	// arrives.
	failing.Store(true)
	newJob("during-outage")
	time.Sleep(1500 * time.Millisecond)
	failing.Store(false)
	if err := waitComplete("during-outage", 30*time.Second); err != nil {
		t.Fatal(err)
	}
}
