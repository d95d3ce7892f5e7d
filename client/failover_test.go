package client

import (
	"bufio"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// refusedURL returns the URL of a port nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// countRequests wraps h, counting requests by method.
type countRequests struct {
	h                  http.Handler
	gets, posts, other atomic.Int32
}

func (c *countRequests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		c.gets.Add(1)
	case http.MethodPost:
		c.posts.Add(1)
	default:
		c.other.Add(1)
	}
	c.h.ServeHTTP(w, r)
}

func (c *countRequests) total() int32 { return c.gets.Load() + c.posts.Load() + c.other.Load() }

// sinkServer accepts connections, reads one whole request from each, then
// closes the connection without answering: the request was sent, and its
// fate is unknown to the client.
type sinkServer struct {
	URL      string
	requests atomic.Int32
	ln       net.Listener
	done     chan struct{}
}

func startSinkServer(t *testing.T) *sinkServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sinkServer{URL: "http://" + ln.Addr().String(), ln: ln, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(conn))
			if err == nil {
				_, err = io.Copy(io.Discard, req.Body)
				if err == nil {
					s.requests.Add(1)
				}
			}
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-s.done })
	return s
}

func TestFailoverConfig(t *testing.T) {
	c := mustClient(t, &Config{Host: "http://a:1", Hosts: []string{"http://b:2/", "http://a:1", "c:3"}})
	if got := fmt.Sprint(c.Hosts()); got != "[http://a:1 http://b:2 https://c:3]" {
		t.Fatalf("Hosts() = %s", got)
	}
	if c.Host() != "http://a:1" {
		t.Fatalf("Host() = %s", c.Host())
	}
	c = mustClient(t, &Config{Hosts: []string{"http://b:2"}})
	if c.Host() != "http://b:2" || len(c.Hosts()) != 1 {
		t.Fatalf("Hosts only: %s %v", c.Host(), c.Hosts())
	}
	for _, cfg := range []*Config{
		{Host: "http://a:1,http://b:2"},
		{Hosts: []string{"http://a:1", ""}},
		{Hosts: []string{"ftp://a"}},
		{Hosts: []string{}},
		{Hosts: []string{"https://a:1", "http://b:2"}, TLS: TLSConfig{Insecure: true}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		} else if cfg.Host != "" && !strings.Contains(err.Error(), "Config.Hosts") {
			t.Errorf("comma-separated Host: error %q does not point to Hosts", err)
		}
	}
}

// TestFailoverRefusedCreate: a create whose first server refuses the
// connection is sent to the second, exactly once, and the second stays in
// use (sticky) for the requests that follow.
func TestFailoverRefusedCreate(t *testing.T) {
	api, _ := newFakeAPI(t)
	second := &countRequests{h: api}
	srv := httptest.NewServer(second)
	defer srv.Close()
	hook := &recordingHook{}
	c := mustClient(t, &Config{Hosts: []string{refusedURL(t), srv.URL}, Metrics: hook, QPS: -1})
	tasks := For(c, kunosv1.Tasks).Namespace("ns")
	if _, err := tasks.Create(testCtx(t), newTask("ns", "a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := second.posts.Load(); n != 1 {
		t.Fatalf("second server saw %d POSTs, want 1", n)
	}
	if got := fmt.Sprint(hook.get()); got != "[{create tasks 0} {create tasks 201}]" {
		t.Fatalf("observed %s", got)
	}
	if c.Host() != srv.URL {
		t.Fatalf("Host() = %s after failover, want %s", c.Host(), srv.URL)
	}
	// Sticky: later requests go straight to the server that answered.
	for range 3 {
		if _, err := tasks.Get(testCtx(t), "a", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if obs := hook.get(); len(obs) != 5 {
		t.Fatalf("observed %v: later requests did not stick to the second server", obs)
	}
}

// TestFailoverSentWriteNotRetried: a create, update or patch whose
// connection dies after the request was sent is not retried anywhere (it
// may have been done); a get is, on the next server.
func TestFailoverSentWriteNotRetried(t *testing.T) {
	api, _ := newFakeAPI(t)
	second := &countRequests{h: api}
	srv := httptest.NewServer(second)
	defer srv.Close()
	sink := startSinkServer(t)

	writes := []struct {
		name string
		do   func(*Resource[*kunosv1.Task]) error
	}{
		{"create", func(r *Resource[*kunosv1.Task]) error {
			_, err := r.Create(testCtx(t), newTask("ns", "a"), metav1.CreateOptions{})
			return err
		}},
		{"update", func(r *Resource[*kunosv1.Task]) error {
			tk := newTask("ns", "a")
			tk.ResourceVersion = "1"
			_, err := r.Update(testCtx(t), tk, metav1.UpdateOptions{})
			return err
		}},
		{"patch", func(r *Resource[*kunosv1.Task]) error {
			_, err := r.Patch(testCtx(t), "a", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})
			return err
		}},
	}
	for i, w := range writes {
		c := mustClient(t, &Config{Hosts: []string{sink.URL, srv.URL}, QPS: -1})
		err := w.do(For(c, kunosv1.Tasks).Namespace("ns"))
		if err == nil || apierrors.ReasonForError(err) != metav1.StatusReasonUnknown {
			t.Fatalf("%s: err = %v, want a transport error", w.name, err)
		}
		if n := sink.requests.Load(); n != int32(i+1) {
			t.Fatalf("%s: first server received %d requests, want %d", w.name, n, i+1)
		}
		if n := second.total(); n != 0 {
			t.Fatalf("%s: retried on the second server (%d requests)", w.name, n)
		}
	}

	c := mustClient(t, &Config{Hosts: []string{sink.URL, srv.URL}, QPS: -1})
	tasks := For(c, kunosv1.Tasks).Namespace("ns")
	if _, err := tasks.Get(testCtx(t), "a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get: %v, want NotFound from the second server", err)
	}
	if sink.requests.Load() != 4 || second.gets.Load() != 1 {
		t.Fatalf("get: first saw %d requests in all, second %d GETs", sink.requests.Load(), second.gets.Load())
	}
}

// TestFailoverTLSHandshake: a server whose TLS handshake fails is skipped,
// even for a create: nothing was sent to it.
func TestFailoverTLSHandshake(t *testing.T) {
	plain := httptest.NewServer(http.NotFoundHandler()) // speaks HTTP to a TLS client
	defer plain.Close()
	api, _ := newFakeAPI(t)
	good := httptest.NewTLSServer(api)
	defer good.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good.Certificate().Raw})
	c := mustClient(t, &Config{
		Hosts: []string{strings.Replace(plain.URL, "http://", "https://", 1), good.URL},
		TLS:   TLSConfig{CAData: ca}, QPS: -1,
	})
	if _, err := For(c, kunosv1.Tasks).Namespace("ns").
		Create(testCtx(t), newTask("ns", "a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if c.Host() != good.URL {
		t.Fatalf("Host() = %s", c.Host())
	}
}

// TestFailover503: a 503 moves reads to the next server; a create is moved
// only when the 503 carries Retry-After (the server did nothing), else the
// error is returned and the next request goes to the other server.
func TestFailover503(t *testing.T) {
	var withRetryAfter atomic.Bool
	unavailable := &countRequests{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if withRetryAfter.Load() {
			w.Header().Set("Retry-After", "1")
		}
		writeErr(w, apierrors.NewServiceUnavailable("going away"))
	})}
	down := httptest.NewServer(unavailable)
	defer down.Close()
	api, _ := newFakeAPI(t)
	second := &countRequests{h: api}
	srv := httptest.NewServer(second)
	defer srv.Close()
	newTasks := func() *Resource[*kunosv1.Task] {
		c := mustClient(t, &Config{Hosts: []string{down.URL, srv.URL}, QPS: -1})
		return For(c, kunosv1.Tasks).Namespace("ns")
	}

	if _, _, err := newTasks().List(testCtx(t), metav1.ListOptions{}); err != nil {
		t.Fatalf("list: %v", err)
	}
	tasks := newTasks()
	if _, err := tasks.Create(testCtx(t), newTask("ns", "a"), metav1.CreateOptions{}); !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("create on 503: %v, want the 503", err)
	}
	if second.posts.Load() != 0 {
		t.Fatal("create retried after a 503 without Retry-After")
	}
	if _, err := tasks.Create(testCtx(t), newTask("ns", "a"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("next create: %v", err)
	}
	withRetryAfter.Store(true)
	if _, err := newTasks().Create(testCtx(t), newTask("ns", "b"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create on 503 with Retry-After: %v", err)
	}
	if got, want := fmt.Sprint(unavailable.gets.Load(), unavailable.posts.Load(), second.gets.Load(), second.posts.Load()), "1 2 1 2"; got != want {
		t.Fatalf("requests (gets/posts on the 503 server, gets/posts on the second) = %s, want %s", got, want)
	}
}

// TestFailoverBrokenWatch: a watch whose stream breaks (no clean end)
// marks its server down, so the next watch goes to the other server
// without trying it; a clean end does not.
func TestFailoverBrokenWatch(t *testing.T) {
	for _, tr := range []Transport{TransportHTTP, TransportWebSocket} {
		t.Run(tr.String(), func(t *testing.T) {
			var breakNext atomic.Bool
			breaking := &countRequests{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !breakNext.Load() {
					frameHandler([]string{taskAdded}, false).ServeHTTP(w, r) // clean end
					return
				}
				if websocket.IsWebSocketUpgrade(r) {
					conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
					if err != nil {
						return
					}
					_ = conn.WriteMessage(websocket.TextMessage, []byte(taskAdded))
					conn.NetConn().Close() // no close frame
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(200)
				_, _ = w.Write([]byte(taskAdded))
				w.(http.Flusher).Flush()
				conn, _, err := w.(http.Hijacker).Hijack() // no final chunk
				if err == nil {
					conn.Close()
				}
			})}
			first := httptest.NewServer(breaking)
			defer first.Close()
			other := &countRequests{h: frameHandler([]string{taskModified}, false)}
			second := httptest.NewServer(other)
			defer second.Close()
			c := mustClient(t, &Config{Hosts: []string{first.URL, second.URL}, QPS: -1, WatchTransport: tr})
			tasks := For(c, kunosv1.Tasks)

			watchOnce := func() []string {
				w, err := tasks.Watch(testCtx(t), metav1.ListOptions{ResourceVersion: "4"})
				if err != nil {
					t.Fatal(err)
				}
				return eventTypes(collect(t, w))
			}
			if evs := watchOnce(); len(evs) != 1 || breaking.gets.Load() != 1 {
				t.Fatalf("clean watch: %v, %d watches on first", evs, breaking.gets.Load())
			}
			if evs := watchOnce(); len(evs) != 1 || breaking.gets.Load() != 2 {
				t.Fatalf("after a clean end the first server stays: %v, %d watches on first", evs, breaking.gets.Load())
			}
			breakNext.Store(true)
			if evs := watchOnce(); len(evs) != 1 || breaking.gets.Load() != 3 {
				t.Fatalf("breaking watch: %v, %d watches on first", evs, breaking.gets.Load())
			}
			if evs := watchOnce(); len(evs) != 1 || evs[0] != "MODIFIED" || breaking.gets.Load() != 3 || other.gets.Load() != 1 {
				t.Fatalf("re-watch: %v; watches on first %d, on second %d", evs, breaking.gets.Load(), other.gets.Load())
			}
		})
	}
}

func eventTypes(evs []watch.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = string(ev.Type)
	}
	return out
}
