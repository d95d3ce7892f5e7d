package client_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/internal/poll"
	"github.com/kunos-io/listwatch/reflector"
)

// These tests run several API server replicas over one store, as several
// apiserver-stub processes over one etcd: the replicas share
// resourceVersions, so a client may resume anything on any of them.

// sharedStore returns a store for replicas, closed after them.
func sharedStore(t *testing.T) storage.Interface {
	t.Helper()
	st := storage.NewMemoryStore(storage.MemoryConfig{Codec: server.NewCodec(), Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(st.Close) // registered first: runs after the replicas' cleanups
	if err := server.EnsureNamespaces(context.Background(), st, "ns"); err != nil {
		t.Fatal(err)
	}
	return st
}

// replica is one server.Server over a shared store, on a real socket. It
// counts the requests it serves, and kill drops it like a crashed process:
// listener and every connection (hijacked WebSocket ones included) closed
// at once, no clean end of stream.
type replica struct {
	URL  string
	addr string
	api  *server.Server
	hs   *http.Server
	done chan struct{}

	requests, watches, watchLists atomic.Int32

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	killed bool
}

// startReplica serves store on addr ("127.0.0.1:0" for a free port; the
// address of a killed replica to bring it back).
func startReplica(t *testing.T, store storage.Interface, addr string) *replica {
	t.Helper()
	api, err := server.New(server.Config{Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for range 50 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{URL: "http://" + ln.Addr().String(), addr: ln.Addr().String(), api: api,
		conns: make(map[net.Conn]struct{}), done: make(chan struct{})}
	r.hs = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r.requests.Add(1)
			if q := req.URL.Query(); q.Get("watch") == "true" {
				r.watches.Add(1)
				if q.Get("sendInitialEvents") == "true" {
					r.watchLists.Add(1)
				}
			}
			api.ServeHTTP(w, req)
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			r.mu.Lock()
			defer r.mu.Unlock()
			switch s {
			case http.StateNew:
				if r.killed {
					c.Close()
					return
				}
				r.conns[c] = struct{}{}
			case http.StateClosed:
				delete(r.conns, c)
			}
			// Hijacked (WebSocket) connections stay tracked until kill.
		},
	}
	go func() {
		defer close(r.done)
		_ = r.hs.Serve(ln)
	}()
	t.Cleanup(r.kill)
	return r
}

// kill stops r abruptly and waits until its handlers have returned.
func (r *replica) kill() {
	r.mu.Lock()
	if r.killed {
		r.mu.Unlock()
		return
	}
	r.killed = true
	conns := make([]net.Conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	clear(r.conns)
	r.mu.Unlock()
	_ = r.hs.Close() // the listener, and the connections net/http still owns
	for _, c := range conns {
		_ = c.Close()
	}
	<-r.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.api.Shutdown(ctx) // waits for the watch handlers
}

// tcpProxy is a layer-4 load balancer with one backend at a time: the
// client sees one URL while the servers behind it change.
type tcpProxy struct {
	URL     string
	ln      net.Listener
	backend atomic.Value // string
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

func startProxy(t *testing.T, backend string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{URL: "http://" + ln.Addr().String(), ln: ln, conns: make(map[net.Conn]struct{})}
	p.backend.Store(backend)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		p.ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.backend.Load().(string))
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(out, in)
		go pipe(in, out)
	}
}

// cut closes every proxied connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// switchTo sends new connections to backend and cuts the open ones, as a
// load balancer does when its backend dies.
func (p *tcpProxy) switchTo(backend string) {
	p.backend.Store(backend)
	p.cut()
}

// reflectorCounts implements reflector.MetricsHook: it counts full syncs
// (lists and watch-lists) and relists.
type reflectorCounts struct {
	lists, relists, watches atomic.Int32
}

func (h *reflectorCounts) ObserveList(time.Duration, error) { h.lists.Add(1) }
func (h *reflectorCounts) WatchStarted()                    { h.watches.Add(1) }
func (h *reflectorCounts) ObserveEvent(watch.EventType)     {}
func (h *reflectorCounts) Relisted(reflector.RelistReason)  { h.relists.Add(1) }
func (h *reflectorCounts) SetResourceVersion(string)        {}

func checkNoRelist(t *testing.T, h *reflectorCounts, when string) {
	t.Helper()
	if lists, relists := h.lists.Load(), h.relists.Load(); lists != 1 || relists != 0 {
		t.Fatalf("%s: %d full syncs and %d relists, want 1 and 0", when, lists, relists)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, what, cond)
}

// TestReplicasFailover: with two replicas configured, requests go to the
// first; when it dies they continue on the second, which stays in use
// after the first comes back; when the second dies too, they go back.
func TestReplicasFailover(t *testing.T) {
	ctx := ctxFor(t)
	store := sharedStore(t)
	a := startReplica(t, store, "127.0.0.1:0")
	b := startReplica(t, store, "127.0.0.1:0")
	c, err := client.New(&client.Config{Hosts: []string{a.URL, b.URL}, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	tasks := client.For(c, kunosv1.Tasks).Namespace("ns")

	first, err := tasks.Create(ctx, task("a"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.requests.Load() != 1 || b.requests.Load() != 0 {
		t.Fatalf("requests before the failure: a %d, b %d", a.requests.Load(), b.requests.Load())
	}

	a.kill()
	got, err := tasks.Get(ctx, "a", metav1.GetOptions{})
	if err != nil || got.ResourceVersion != first.ResourceVersion {
		t.Fatalf("get after a died: %v %v", got, err)
	}
	upd := got.DeepCopy()
	upd.Spec.Image = "alpine"
	if _, err := tasks.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update after a died: %v", err)
	}
	if _, err := tasks.Create(ctx, task("b"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create after a died: %v", err)
	}
	items, _, err := tasks.List(ctx, metav1.ListOptions{})
	if err != nil || len(items) != 2 {
		t.Fatalf("list after a died: %d items, %v", len(items), err)
	}
	if c.Host() != b.URL || b.requests.Load() != 4 {
		t.Fatalf("Host() = %s, b served %d requests, want %s and 4", c.Host(), b.requests.Load(), b.URL)
	}

	// a comes back: the client stays with b (sticky).
	a = startReplica(t, store, a.addr)
	for range 5 {
		if _, err := tasks.Get(ctx, "b", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if a.requests.Load() != 0 {
		t.Fatalf("a served %d requests after it came back, while b was fine", a.requests.Load())
	}

	// b dies: back to a.
	b.kill()
	if err := tasks.Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete after b died: %v", err)
	}
	if a.requests.Load() != 1 || c.Host() != a.URL {
		t.Fatalf("after b died: a served %d requests, Host() = %s", a.requests.Load(), c.Host())
	}
}

// TestReplicasCreateRefusedRetriedOnce: a create refused by the first
// server (nothing listens) is done on the second, exactly once.
func TestReplicasCreateRefusedRetriedOnce(t *testing.T) {
	ctx := ctxFor(t)
	store := sharedStore(t)
	a := startReplica(t, store, "127.0.0.1:0")
	b := startReplica(t, store, "127.0.0.1:0")
	a.kill()
	c, err := client.New(&client.Config{Hosts: []string{a.URL, b.URL}, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	tasks := client.For(c, kunosv1.Tasks).Namespace("ns")
	created, err := tasks.Create(ctx, &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	items, _, err := tasks.List(ctx, metav1.ListOptions{})
	if err != nil || len(items) != 1 || items[0].Name != created.Name {
		t.Fatalf("list: %v, %v: want exactly the one created", items, err)
	}
	if b.requests.Load() != 2 { // the create and the list
		t.Fatalf("b served %d requests, want 2", b.requests.Load())
	}
}

// TestReplicasInformerResumes: an informer watching through a client with
// two replicas keeps its cache in sync when the replica it watches dies:
// its reflector re-watches from its last resourceVersion on the other
// replica, with no relist, over both watch transports.
func TestReplicasInformerResumes(t *testing.T) {
	for _, tr := range []client.Transport{client.TransportHTTP, client.TransportWebSocket} {
		t.Run(tr.String(), func(t *testing.T) {
			store := sharedStore(t)
			a := startReplica(t, store, "127.0.0.1:0")
			b := startReplica(t, store, "127.0.0.1:0")
			c, err := client.New(&client.Config{Hosts: []string{a.URL, b.URL}, QPS: -1, WatchTransport: tr})
			if err != nil {
				t.Fatal(err)
			}
			checkInformerResumes(t, c, func() {
				if a.watches.Load() != 1 || b.watches.Load() != 0 {
					t.Fatalf("before: %d watches on a, %d on b, want 1 and 0", a.watches.Load(), b.watches.Load())
				}
				a.kill()
			}, func() {
				if b.watches.Load() < 1 || b.watchLists.Load() != 0 {
					t.Fatalf("after: %d watches on b, %d of them watch-lists: want a plain re-watch", b.watches.Load(), b.watchLists.Load())
				}
			})
		})
	}
}

// TestLoadBalancerInformerResumes: the same through one URL whose backend
// changes (a load balancer): nothing is tied to the URL but connections.
func TestLoadBalancerInformerResumes(t *testing.T) {
	for _, tr := range []client.Transport{client.TransportHTTP, client.TransportWebSocket} {
		t.Run(tr.String(), func(t *testing.T) {
			store := sharedStore(t)
			a := startReplica(t, store, "127.0.0.1:0")
			b := startReplica(t, store, "127.0.0.1:0")
			lb := startProxy(t, a.addr)
			c, err := client.New(&client.Config{Host: lb.URL, QPS: -1, WatchTransport: tr})
			if err != nil {
				t.Fatal(err)
			}
			checkInformerResumes(t, c, func() {
				lb.switchTo(b.addr)
				a.kill()
			}, func() {
				if b.watches.Load() < 1 || b.watchLists.Load() != 0 {
					t.Fatalf("after: %d watches on b, %d of them watch-lists: want a plain re-watch", b.watches.Load(), b.watchLists.Load())
				}
			})
		})
	}
}

// checkInformerResumes syncs an informer of tasks through c, calls fail,
// writes through c, and checks that the informer's cache catches up with
// one full sync and no relist; then calls after.
func checkInformerResumes(t *testing.T, c *client.Client, fail, after func()) {
	t.Helper()
	ctx := ctxFor(t)
	tasks := client.For(c, kunosv1.Tasks).Namespace("ns")
	for i := range 3 {
		if _, err := tasks.Create(ctx, task(fmt.Sprintf("t%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	counts := &reflectorCounts{}
	inf := informer.New(tasks.ListerWatcher(nil), informer.Options[*kunosv1.Task]{
		Options: reflector.Options[*kunosv1.Task]{Name: "tasks", Logger: slog.New(slog.DiscardHandler), Metrics: counts},
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); inf.Run(runCtx) }()
	defer func() { stop(); <-done }()
	if !informer.WaitForCacheSync(ctx, inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	eventually(t, "the initial sync to be counted", func() bool { return counts.lists.Load() >= 1 && counts.watches.Load() >= 1 })
	checkNoRelist(t, counts, "after the initial sync")

	fail()

	t0, err := tasks.Get(ctx, "t0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t0.Spec.Image = "alpine"
	if _, err := tasks.Update(ctx, t0, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := tasks.Delete(ctx, "t1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	last, err := tasks.Create(ctx, task("t3"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the informer to see the writes made after the failure", func() bool {
		keys := inf.Indexer().ListKeys()
		slices.Sort(keys)
		obj, ok, _ := inf.Indexer().GetByKey("ns/t0")
		return slices.Equal(keys, []string{"ns/t0", "ns/t2", "ns/t3"}) && ok && obj.Spec.Image == "alpine" &&
			inf.LastSyncResourceVersion() == last.ResourceVersion
	})
	checkNoRelist(t, counts, "after the failure")
	if counts.watches.Load() < 2 {
		t.Fatalf("%d watches started, want a re-watch", counts.watches.Load())
	}
	after()
}
