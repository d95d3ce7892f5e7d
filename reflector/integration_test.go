package reflector_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/reflector"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// These tests run the reflector against the real server (stubtest) through
// the real client.

const ns = "ns"

type env struct {
	t   *testing.T
	srv *stubtest.Server
	res *client.Resource[*kunosv1.Task]
	lw  *countingLW
}

func newEnv(t *testing.T, transport client.Transport, opts ...stubtest.Option) *env {
	t.Helper()
	srv := stubtest.Start(t, append(opts, stubtest.WithNamespaces(ns))...)
	c, err := client.New(&client.Config{Host: srv.URL, QPS: -1, WatchTransport: transport})
	if err != nil {
		t.Fatal(err)
	}
	res := client.For(c, kunosv1.Tasks).Namespace(ns)
	return &env{t: t, srv: srv, res: res, lw: &countingLW{inner: res.ListerWatcher(nil)}}
}

// countingLW counts calls and can hold Watch calls back.
type countingLW struct {
	inner                      reflector.ListerWatcher[*kunosv1.Task]
	lists, watchLists, watches atomic.Int32
	mu                         sync.Mutex
	gate                       chan struct{}
}

func (l *countingLW) List(ctx context.Context, o metav1.ListOptions) ([]*kunosv1.Task, metav1.ListMeta, error) {
	l.lists.Add(1)
	return l.inner.List(ctx, o)
}

func (l *countingLW) Watch(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	if o.SendInitialEvents != nil && *o.SendInitialEvents {
		l.watchLists.Add(1)
	} else {
		l.watches.Add(1)
	}
	l.mu.Lock()
	gate := l.gate
	l.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return l.inner.Watch(ctx, o)
}

// hold makes Watch calls wait until the returned function is called.
func (l *countingLW) hold() (release func()) {
	g := make(chan struct{})
	l.mu.Lock()
	l.gate = g
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		l.gate = nil
		l.mu.Unlock()
		close(g)
	}
}

func fastOpts(o *reflector.Options[*kunosv1.Task]) {
	o.InitialBackoff = 10 * time.Millisecond
	o.MaxBackoff = 200 * time.Millisecond
	o.BookmarkInterval = 200 * time.Millisecond
	o.Logger = discardLogger()
}

type running struct {
	r       *reflector.Reflector[*kunosv1.Task]
	sink    *checkSink
	metrics *recMetrics
}

func (e *env) run(tweak func(*reflector.Options[*kunosv1.Task])) *running {
	e.t.Helper()
	return runWith(e.t, e.lw, tweak)
}

func runWith(t *testing.T, lw reflector.ListerWatcher[*kunosv1.Task], tweak func(*reflector.Options[*kunosv1.Task])) *running {
	t.Helper()
	rn := &running{sink: newCheckSink(), metrics: &recMetrics{relists: map[reflector.RelistReason]int{}}}
	opts := reflector.Options[*kunosv1.Task]{Name: t.Name(), Metrics: rn.metrics}
	fastOpts(&opts)
	if tweak != nil {
		tweak(&opts)
	}
	rn.r = reflector.New(lw, rn.sink, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rn.r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return rn
}

func (e *env) create(name string) *kunosv1.Task {
	e.t.Helper()
	o, err := e.res.Create(context.Background(), &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
	return o
}

func (e *env) touch(name string) {
	e.t.Helper()
	ctx := context.Background()
	for {
		o, err := e.res.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			e.t.Fatalf("get %s: %v", name, err)
		}
		o = o.DeepCopy()
		if o.Labels == nil {
			o.Labels = map[string]string{}
		}
		o.Labels["n"] = fmt.Sprint(rand.Int())
		if _, err = e.res.Update(ctx, o, metav1.UpdateOptions{}); err == nil {
			return
		} else if !apierrors.IsConflict(err) {
			e.t.Fatalf("update %s: %v", name, err)
		}
	}
}

func (e *env) remove(name string) {
	e.t.Helper()
	if err := e.res.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatalf("delete %s: %v", name, err)
	}
}

// serverState lists the server consistently.
func serverState(t *testing.T, res *client.Resource[*kunosv1.Task]) (map[string]string, uint64) {
	t.Helper()
	items, meta, err := res.List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	out := make(map[string]string, len(items))
	for _, it := range items {
		out[key(it)] = it.ResourceVersion
	}
	return out, parseRV(meta.ResourceVersion)
}

// converge waits until the sink equals the server's list and the reflector
// is at or past that list's RV, then checks the per-key order.
func converge(t *testing.T, res *client.Resource[*kunosv1.Task], rn *running) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for {
		want, rv := serverState(t, res)
		got := rn.sink.versions()
		d := diff(got, want)
		at := parseRV(rn.r.LastSyncResourceVersion())
		if d == "" && at >= rv {
			break
		}
		last = fmt.Sprintf("diff %s; reflector at %d, server at %d", d, at, rv)
		if time.Now().After(deadline) {
			t.Fatalf("no convergence: %s", last)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p := rn.sink.problems(); len(p) > 0 {
		t.Fatalf("sink saw states out of order: %v", p)
	}
}

func waitSynced(t *testing.T, r *reflector.Reflector[*kunosv1.Task]) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !r.HasSynced() {
		if time.Now().After(deadline) {
			t.Fatal("never synced")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestIntegrationInitialSync(t *testing.T) {
	for _, mode := range []string{"watch-list", "paged-list"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, client.TransportHTTP)
			for i := range 25 {
				e.create(fmt.Sprintf("t%02d", i))
			}
			rn := e.run(func(o *reflector.Options[*kunosv1.Task]) {
				o.PageSize = 10
				if mode == "paged-list" {
					o.WatchList = off()
				}
			})
			waitSynced(t, rn.r)
			converge(t, e.res, rn)
			if mode == "watch-list" && (e.lw.lists.Load() != 0 || e.lw.watchLists.Load() != 1) {
				t.Fatalf("lists=%d watch-lists=%d", e.lw.lists.Load(), e.lw.watchLists.Load())
			}
			if mode == "paged-list" && e.lw.lists.Load() != 3 {
				t.Fatalf("want 3 pages, got %d lists", e.lw.lists.Load())
			}
			// Live events after the sync.
			e.create("late")
			e.touch("t03")
			e.remove("t04")
			converge(t, e.res, rn)
		})
	}
}

func TestIntegrationResumeAfterDroppedWatches(t *testing.T) {
	for _, tr := range []client.Transport{client.TransportHTTP, client.TransportWebSocket} {
		t.Run(tr.String(), func(t *testing.T) {
			e := newEnv(t, tr, stubtest.WithBookmarkInterval(100*time.Millisecond))
			for i := range 10 {
				e.create(fmt.Sprintf("t%d", i))
			}
			rn := e.run(nil)
			waitSynced(t, rn.r)
			for round := range 5 {
				e.create(fmt.Sprintf("r%d", round))
				e.touch(fmt.Sprintf("t%d", round))
				e.srv.DropWatches()
				e.remove(fmt.Sprintf("t%d", round+5))
				e.touch(fmt.Sprintf("r%d", round))
				converge(t, e.res, rn)
			}
			if n := e.lw.lists.Load() + e.lw.watchLists.Load(); n != 1 {
				t.Fatalf("%d syncs, want 1 (no relist)", n)
			}
			if e.lw.watches.Load() < 5 {
				t.Fatalf("only %d re-watches", e.lw.watches.Load())
			}
			if replaces, _ := rn.sink.counts(); replaces != 1 {
				t.Fatalf("%d replaces", replaces)
			}
		})
	}
}

func TestIntegrationExpiredAfterCompactionRelists(t *testing.T) {
	for _, mode := range []string{"watch-list", "paged-list"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, client.TransportHTTP)
			for i := range 10 {
				e.create(fmt.Sprintf("t%d", i))
			}
			rn := e.run(func(o *reflector.Options[*kunosv1.Task]) {
				if mode == "paged-list" {
					o.WatchList = off()
				}
			})
			waitSynced(t, rn.r)
			converge(t, e.res, rn)
			// Hold the reflector's next watch, drop the current one, write,
			// and compact the history it would resume from.
			release := e.lw.hold()
			e.srv.DropWatches()
			e.remove("t1")
			e.touch("t2")
			e.create("new")
			e.srv.Compact()
			release()
			converge(t, e.res, rn)
			if rn.metrics.relisted(reflector.RelistExpired) < 1 {
				t.Fatalf("no expired relist: %v", rn.metrics.snapshot())
			}
			if replaces, _ := rn.sink.counts(); replaces < 2 {
				t.Fatalf("%d replaces", replaces)
			}
		})
	}
}

func TestIntegrationServerRestartKeepsStore(t *testing.T) {
	e := newEnv(t, client.TransportHTTP)
	for i := range 5 {
		e.create(fmt.Sprintf("t%d", i))
	}
	rn := e.run(nil)
	waitSynced(t, rn.r)
	e.srv.Restart()
	e.touch("t1")
	e.create("after")
	converge(t, e.res, rn)
	// The store and its history survived: the reflector resumes its watch
	// from the last RV, without a relist.
	if n := e.lw.lists.Load() + e.lw.watchLists.Load(); n != 1 {
		t.Fatalf("%d syncs after a restart that kept the store, want 1; relists %v", n, rn.metrics.snapshot())
	}
}

func TestIntegrationWatchdogAgainstStalledWatches(t *testing.T) {
	e := newEnv(t, client.TransportHTTP, stubtest.WithBookmarkInterval(100*time.Millisecond))
	e.create("a")
	rn := e.run(func(o *reflector.Options[*kunosv1.Task]) {
		o.BookmarkInterval = 100 * time.Millisecond
		o.WatchdogTimeout = 400 * time.Millisecond
	})
	waitSynced(t, rn.r)
	e.srv.StallWatches(true)
	e.touch("a") // not delivered while stalled
	deadline := time.Now().Add(10 * time.Second)
	for rn.metrics.relisted(reflector.RelistWatchdog) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("watchdog never fired")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.srv.StallWatches(false)
	e.create("b")
	converge(t, e.res, rn)
	if n := e.lw.lists.Load() + e.lw.watchLists.Load(); n != 1 {
		t.Fatalf("watchdog restart relisted (%d syncs)", n)
	}
}

// TestIntegrationRandomConvergence runs writers, compactions and dropped
// watches at random against two reflectors (watch-list and paged list);
// at quiescence both caches equal the server and every key's states came in
// resourceVersion order.
func TestIntegrationRandomConvergence(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	e := newEnv(t, client.TransportHTTP, stubtest.WithHistory(64), stubtest.WithBookmarkInterval(100*time.Millisecond))
	slow := func(o *reflector.Options[*kunosv1.Task]) {
		o.MinWatchTimeout = time.Second // clean ends too
		o.WatchdogTimeout = 2 * time.Second
		o.PageSize = 7
	}
	// The second reflector watches over WebSocket.
	wsc, err := client.New(&client.Config{Host: e.srv.URL, QPS: -1, WatchTransport: client.TransportWebSocket})
	if err != nil {
		t.Fatal(err)
	}
	plw := &countingLW{inner: client.For(wsc, kunosv1.Tasks).Namespace(ns).ListerWatcher(nil)}
	lws := []*countingLW{e.lw, plw}
	rns := map[string]*running{
		"watch-list": runWith(t, e.lw, slow),
		"paged-list-websocket": runWith(t, plw, func(o *reflector.Options[*kunosv1.Task]) {
			slow(o)
			o.WatchList = off()
		}),
	}
	writers, ops := 4, 300
	if testing.Short() {
		ops = 50
	}
	ctx, stopChaos := context.WithCancel(context.Background())
	var chaos sync.WaitGroup
	chaos.Add(1)
	go func() {
		defer chaos.Done()
		rnd := rand.New(rand.NewPCG(seed, 1))
		for ctx.Err() == nil {
			time.Sleep(time.Duration(10+rnd.IntN(40)) * time.Millisecond)
			switch rnd.IntN(4) {
			case 0:
				e.srv.Compact()
			case 1:
				e.srv.DropWatches()
			case 2:
				// Keep one reflector away while the writers go on and the
				// history it would resume from is compacted: a 410.
				release := lws[rnd.IntN(len(lws))].hold()
				e.srv.DropWatches()
				time.Sleep(time.Duration(rnd.IntN(30)) * time.Millisecond)
				e.srv.Compact()
				release()
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(seed, uint64(w)+2))
			c := context.Background()
			for range ops {
				name := fmt.Sprintf("k%02d", rnd.IntN(20))
				switch rnd.IntN(3) {
				case 0:
					_, err := e.res.Create(c, &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
					if err != nil && !apierrors.IsAlreadyExists(err) {
						t.Errorf("create: %v", err)
						return
					}
				case 1:
					o, err := e.res.Get(c, name, metav1.GetOptions{})
					if apierrors.IsNotFound(err) {
						continue
					} else if err != nil {
						t.Errorf("get: %v", err)
						return
					}
					o = o.DeepCopy()
					o.Labels = map[string]string{"v": fmt.Sprint(rnd.Int())}
					if _, err := e.res.Update(c, o, metav1.UpdateOptions{}); err != nil &&
						!apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
						t.Errorf("update: %v", err)
						return
					}
				case 2:
					if err := e.res.Delete(c, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
						t.Errorf("delete: %v", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	stopChaos()
	chaos.Wait()
	for name, rn := range rns {
		t.Run(name, func(t *testing.T) {
			converge(t, e.res, rn)
			replaces, events := rn.sink.counts()
			t.Logf("%s: replaces=%d events=%d relists=%v", name, replaces, events, rn.metrics.snapshot())
		})
	}
}
