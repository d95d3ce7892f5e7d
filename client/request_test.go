package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

type observed struct {
	verb, resource string
	code           int
}

type recordingHook struct {
	mu  sync.Mutex
	obs []observed
}

func (h *recordingHook) ObserveRequest(verb, resource string, code int, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.obs = append(h.obs, observed{verb, resource, code})
}

func (h *recordingHook) get() []observed {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]observed(nil), h.obs...)
}

// TestErrorMapping: every non-2xx becomes an API error the apierrors
// predicates recognise, from a Status body or from the code alone.
func TestErrorMapping(t *testing.T) {
	cases := []struct {
		name   string
		method string
		code   int
		ctype  string
		body   string
		check  func(error) bool
		msg    string
	}{
		{"status 404", "GET", 404, "application/json",
			`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"tasks.kunos.io \"a\" not found"}`,
			apierrors.IsNotFound, `tasks.kunos.io "a" not found`},
		{"plain 404", "GET", 404, "text/plain", "404 page not found", apierrors.IsNotFound, "could not find the requested resource"},
		{"plain 409 on POST is AlreadyExists", "POST", 409, "", "exists", apierrors.IsAlreadyExists, ""},
		{"plain 409 on PUT is Conflict", "PUT", 409, "", "conflict", apierrors.IsConflict, ""},
		{"status 410 Expired", "GET", 410, "application/json",
			`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410,"message":"too old"}`,
			apierrors.IsResourceExpired, "too old"},
		{"plain 410 is Gone", "GET", 410, "", "", apierrors.IsGone, ""},
		{"status without code keeps HTTP code", "GET", 422, "application/json",
			`{"kind":"Status","apiVersion":"v1","reason":"Invalid","message":"bad"}`,
			func(err error) bool { return apierrors.IsInvalid(err) && apierrors.ReasonForError(err) == "Invalid" }, "bad"},
		{"plain 504 is Timeout", "GET", 504, "", "", apierrors.IsTimeout, ""},
		{"plain 429", "GET", 429, "", "", apierrors.IsTooManyRequests, ""},
		{"plain 401", "GET", 401, "", "", apierrors.IsUnauthorized, ""},
		{"plain 403", "GET", 403, "", "", apierrors.IsForbidden, ""},
		{"plain 500", "GET", 500, "", "boom", apierrors.IsInternalError, "boom"},
		{"json but not a Status", "GET", 400, "application/json", `{"kind":"Task"}`, apierrors.IsBadRequest, ""},
		{"garbage json", "GET", 404, "application/json", `{{{`, apierrors.IsNotFound, ""},
		{"huge body", "GET", 500, "text/plain", strings.Repeat("x", 2<<20), apierrors.IsInternalError, "..."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.body)
			h := http.Header{}
			if tc.ctype != "" {
				h.Set("Content-Type", tc.ctype)
			}
			r := &request{verb: "get", method: tc.method, gvr: kunosv1.Tasks.GVR, name: "a"}
			err := responseError(r, tc.code, h, strings.NewReader(string(data)))
			if !tc.check(err) {
				t.Fatalf("err = %v (reason %q)", err, apierrors.ReasonForError(err))
			}
			var se *apierrors.StatusError
			if !errors.As(err, &se) || int(se.Status().Code) != tc.code {
				t.Fatalf("status code = %v, want %d", err, tc.code)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("message %q does not contain %q", err.Error(), tc.msg)
			}
		})
	}
}

// TestRetryAfter: 429 and 5xx carrying Retry-After are retried (bounded),
// others are not; every attempt is observed.
func TestRetryAfter(t *testing.T) {
	var calls atomic.Int32
	var mode atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch mode.Load().(string) {
		case "429-then-ok":
			if n <= 2 {
				w.Header().Set("Retry-After", "0")
				writeErr(w, apierrors.NewTooManyRequests("slow down", 0))
				return
			}
			writeJSON(w, 200, newTaskWithKind("a"))
		case "503-forever":
			w.Header().Set("Retry-After", "0")
			http.Error(w, "unavailable", 503)
		case "500-no-header":
			http.Error(w, "boom", 500)
		case "501-with-header":
			w.Header().Set("Retry-After", "0")
			http.Error(w, "nope", 501)
		case "429-long":
			w.Header().Set("Retry-After", "3600")
			http.Error(w, "later", 429)
		case "504-toolarge":
			if n == 1 {
				w.Header().Set("Retry-After", "0")
				writeErr(w, apierrors.NewTimeoutError("Too large resource version", 0))
				return
			}
			writeJSON(w, 200, newTaskWithKind("b"))
		case "504-rv-too-large":
			w.Header().Set("Retry-After", "0")
			e := apierrors.NewTimeoutError("Too large resource version: 99, current: 5", 1)
			e.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
			writeErr(w, e)
		}
	}))
	defer srv.Close()
	hook := &recordingHook{}
	c := mustClient(t, &Config{Host: srv.URL, Metrics: hook, QPS: -1})
	tasks := For(c, kunosv1.Tasks).Namespace("ns")

	run := func(m string) error {
		mode.Store(m)
		calls.Store(0)
		_, err := tasks.Get(testCtx(t), "a", metav1.GetOptions{})
		return err
	}
	if err := run("429-then-ok"); err != nil || calls.Load() != 3 {
		t.Fatalf("429-then-ok: %v after %d calls", err, calls.Load())
	}
	if err := run("503-forever"); !apierrors.IsServiceUnavailable(err) || calls.Load() != 1+maxRetries {
		t.Fatalf("503-forever: %v after %d calls, want %d", err, calls.Load(), 1+maxRetries)
	}
	if err := run("500-no-header"); !apierrors.IsInternalError(err) || calls.Load() != 1 {
		t.Fatalf("500-no-header: %v after %d calls", err, calls.Load())
	}
	if err := run("501-with-header"); err == nil || calls.Load() != 1+maxRetries {
		t.Fatalf("501-with-header: %v after %d calls", err, calls.Load())
	}
	if err := run("504-toolarge"); err != nil || calls.Load() != 2 {
		t.Fatalf("504: %v after %d calls", err, calls.Load())
	}
	// ResourceVersionTooLarge is not retried: the caller must relist.
	if err := run("504-rv-too-large"); !apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) || calls.Load() != 1 {
		t.Fatalf("504 ResourceVersionTooLarge: %v after %d calls, want the error after 1", err, calls.Load())
	}
	// A long Retry-After is honoured until the context gives up.
	mode.Store("429-long")
	calls.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := tasks.Get(ctx, "a", metav1.GetOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || calls.Load() != 1 {
		t.Fatalf("429-long: %v after %d calls", err, calls.Load())
	}

	obs := hook.get()
	if len(obs) != 3+11+1+11+2+1+1 {
		t.Fatalf("observed %d attempts: %v", len(obs), obs)
	}
	if obs[0] != (observed{"get", "tasks", 429}) || obs[2] != (observed{"get", "tasks", 200}) {
		t.Fatalf("observations = %v", obs[:3])
	}
}

func newTaskWithKind(name string) *kunosv1.Task {
	t := newTask("ns", name)
	t.Kind, t.APIVersion = "Task", "kunos.io/v1"
	return t
}

func TestTransportErrorsAreWrapped(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	hook := &recordingHook{}
	c := mustClient(t, &Config{Host: url, Metrics: hook})
	_, _, err := For(c, kunosv1.Tasks).Namespace("ns1").List(testCtx(t), metav1.ListOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), `list tasks in "ns1": `) {
		t.Fatalf("err = %v", err)
	}
	if _, ok := err.(apierrors.APIStatus); ok {
		t.Fatalf("transport error became an API error: %v", err)
	}
	_, err = For(c, kunosv1.Tasks).Namespace("ns1").Get(testCtx(t), "x", metav1.GetOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), `get tasks "x" in "ns1": `) {
		t.Fatalf("err = %v", err)
	}
	if obs := hook.get(); len(obs) != 2 || obs[0].code != 0 || obs[0].verb != "list" {
		t.Fatalf("observed %v", obs)
	}
}

func TestRateLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, newTaskWithKind("a"))
	}))
	defer srv.Close()
	c := mustClient(t, &Config{Host: srv.URL, QPS: 0.001, Burst: 2})
	tasks := For(c, kunosv1.Tasks).Namespace("ns")
	for i := range 2 {
		if _, err := tasks.Get(testCtx(t), "a", metav1.GetOptions{}); err != nil {
			t.Fatalf("request %d within burst: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := tasks.Get(ctx, "a", metav1.GetOptions{})
	if err == nil || !strings.Contains(err.Error(), "rate limiter") {
		t.Fatalf("third request: %v, want a rate limiter error", err)
	}
	// Disabled limiter: no limit at all.
	c = mustClient(t, &Config{Host: srv.URL, QPS: -1})
	if c.limiter != nil {
		t.Fatal("QPS<0 must disable the limiter")
	}
}

// TestRequests checks paths, methods, query parameters, headers and bodies
// as the server sees them.
func TestRequests(t *testing.T) {
	type seen struct {
		method, path, rawPath, query, ctype, accept, auth, ua, body string
	}
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Content-Type"),
			r.Header.Get("Accept"), r.Header.Get("Authorization"), r.Header.Get("User-Agent"), string(b)})
		mu.Unlock()
		if r.URL.Query().Get("watch") == "true" {
			w.Header().Set("Content-Type", "application/json")
			return
		}
		if strings.Contains(r.URL.Path, "nodes") {
			writeJSON(w, 200, &kunosv1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "kunos.io/v1"}})
			return
		}
		if r.Method == http.MethodGet && !strings.Contains(r.URL.Path, "/tasks/") {
			writeJSON(w, 200, &kunosv1.TaskList{TypeMeta: metav1.TypeMeta{Kind: "TaskList", APIVersion: "kunos.io/v1"}})
			return
		}
		writeJSON(w, 200, newTaskWithKind("a"))
	}))
	defer srv.Close()
	c := mustClient(t, &Config{Host: srv.URL + "/prefix/", BearerToken: "tok", UserAgent: "ua/1", Timeout: 30 * time.Second})
	ctx := testCtx(t)
	tasks := For(c, kunosv1.Tasks).Namespace("ns 1")
	ten := int64(300)
	yes := true
	steps := []struct {
		do   func() error
		want seen
	}{
		{func() error {
			_, _, err := tasks.List(ctx, metav1.ListOptions{LabelSelector: "app=x,tier!=db", Limit: 500, ResourceVersion: "0", Watch: true})
			return err
		}, seen{method: "GET", path: "/prefix/apis/kunos.io/v1/namespaces/ns 1/tasks", rawPath: "/prefix/apis/kunos.io/v1/namespaces/ns%201/tasks",
			query: "labelSelector=app%3Dx%2Ctier%21%3Ddb&limit=500&resourceVersion=0&timeout=30s"}},
		{func() error {
			w, err := tasks.Watch(ctx, metav1.ListOptions{ResourceVersion: "42", AllowWatchBookmarks: true, TimeoutSeconds: &ten})
			if err == nil {
				collect(t, w)
			}
			return err
		}, seen{method: "GET", path: "/prefix/apis/kunos.io/v1/namespaces/ns 1/tasks",
			query: "allowWatchBookmarks=true&resourceVersion=42&timeoutSeconds=300&watch=true"}},
		{func() error {
			w, err := For(c, kunosv1.Tasks).Watch(ctx, metav1.ListOptions{
				SendInitialEvents: &yes, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, AllowWatchBookmarks: true,
				FieldSelector: "spec.nodeName=n1"})
			if err == nil {
				collect(t, w)
			}
			return err
		}, seen{method: "GET", path: "/prefix/apis/kunos.io/v1/tasks",
			query: "allowWatchBookmarks=true&fieldSelector=spec.nodeName%3Dn1&resourceVersionMatch=NotOlderThan&sendInitialEvents=true&watch=true"}},
		{func() error {
			_, err := tasks.Create(ctx, newTask("", "a"), metav1.CreateOptions{FieldManager: "me"})
			return err
		}, seen{method: "POST", path: "/prefix/apis/kunos.io/v1/namespaces/ns 1/tasks", query: "fieldManager=me&timeout=30s",
			ctype: "application/json", body: `{"kind":"Task","apiVersion":"kunos.io/v1","metadata":{"name":"a"},"spec":{"image":"busybox"},"status":{}}`}},
		{func() error {
			_, err := tasks.UpdateStatus(ctx, newTask("ns 1", "a"), metav1.UpdateOptions{})
			return err
		}, seen{method: "PUT", path: "/prefix/apis/kunos.io/v1/namespaces/ns 1/tasks/a/status", query: "timeout=30s", ctype: "application/json"}},
		{func() error {
			_, err := tasks.Patch(ctx, "a", types.MergePatchType, []byte(`{"spec":{}}`), metav1.PatchOptions{}, "status")
			return err
		}, seen{method: "PATCH", path: "/prefix/apis/kunos.io/v1/namespaces/ns 1/tasks/a/status", query: "timeout=30s",
			ctype: "application/merge-patch+json", body: `{"spec":{}}`}},
		{func() error {
			return tasks.Delete(ctx, "a", metav1.DeleteOptions{})
		}, seen{method: "DELETE", path: "/prefix/apis/kunos.io/v1/namespaces/ns 1/tasks/a", query: "timeout=30s",
			ctype: "application/json", body: `{"kind":"DeleteOptions","apiVersion":"v1"}`}},
		{func() error {
			_, _, err := For(c, kunosv1.Nodes).List(ctx, metav1.ListOptions{})
			return err
		}, seen{method: "GET", path: "/prefix/apis/kunos.io/v1/nodes", query: "timeout=30s"}},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		mu.Lock()
		g := got[len(got)-1]
		mu.Unlock()
		if g.accept != "application/json" || g.auth != "Bearer tok" || g.ua != "ua/1" {
			t.Fatalf("step %d headers: %+v", i, g)
		}
		if g.method != s.want.method || g.path != s.want.path || g.query != s.want.query ||
			(s.want.rawPath != "" && g.rawPath != s.want.rawPath) || g.ctype != s.want.ctype ||
			(s.want.body != "" && strings.TrimSpace(g.body) != s.want.body) {
			t.Fatalf("step %d:\n got %+v\nwant %+v", i, g, s.want)
		}
	}

	// Names that cannot be a path segment are refused before any request.
	for _, bad := range []string{"", "a/b", "..", "."} {
		if _, err := tasks.Get(ctx, bad, metav1.GetOptions{}); err == nil {
			t.Fatalf("Get(%q) succeeded", bad)
		}
	}
	// A namespace mismatch between the object and the scoped client fails.
	if _, err := tasks.Create(ctx, newTask("other", "a"), metav1.CreateOptions{}); err == nil {
		t.Fatal("Create with a mismatched namespace succeeded")
	}
}

func TestCoreGroupPath(t *testing.T) {
	r := &request{gvr: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, namespace: "kube-system", name: "p"}
	if got := r.path(""); got != "/api/v1/namespaces/kube-system/pods/p" {
		t.Fatal(got)
	}
}

func TestNewConfigErrors(t *testing.T) {
	for _, cfg := range []*Config{
		nil,
		{},
		{Host: "ftp://x"},
		{Host: "http://"},
		{Host: "http://x?y=1"},
		{Host: "https://x", WatchTransport: 7},
		{Host: "https://x", TLS: TLSConfig{CAData: []byte("not pem")}},
		{Host: "https://x", TLS: TLSConfig{CAFile: "/does/not/exist"}},
		{Host: "https://x", TLS: TLSConfig{CertData: []byte("x")}},
		{Host: "http://x", TLS: TLSConfig{Insecure: true}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	c, err := New(&Config{Host: "example.com:6443"})
	if err != nil || c.Host() != "https://example.com:6443" {
		t.Fatalf("bare host: %v %v", c, err)
	}
	_ = fmt.Sprint
}

// TestRetryDroppedConnection: a GET whose connection drops before the
// response is retried (after client-go's one-second pause); a POST is not.
func TestRetryDroppedConnection(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 || r.Method == http.MethodPost {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // no response at all
			}
			return
		}
		writeJSON(w, 200, newTaskWithKind("a"))
	}))
	defer srv.Close()
	c := mustClient(t, &Config{Host: srv.URL})
	tasks := For(c, kunosv1.Tasks).Namespace("ns")
	if _, err := tasks.Get(testCtx(t), "a", metav1.GetOptions{}); err != nil || calls.Load() != 2 {
		t.Fatalf("get: %v after %d calls", err, calls.Load())
	}
	calls.Store(10)
	if _, err := tasks.Create(testCtx(t), newTask("", "a"), metav1.CreateOptions{}); err == nil || calls.Load() != 11 {
		t.Fatalf("create: %v after %d calls", err, calls.Load()-10)
	}
}

// TestWebSocketHandshakeRetry: a 429 with Retry-After on the upgrade is
// retried like any request; other refusals become API errors.
func TestWebSocketHandshakeRetry(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := calls.Add(1); {
		case r.URL.Query().Get("resourceVersion") == "forbidden":
			writeErr(w, apierrors.NewForbidden(taskGR, "", fmt.Errorf("no")))
		case r.URL.Query().Get("resourceVersion") == "plain":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200) // a server that ignores the upgrade
		case n <= 2:
			w.Header().Set("Retry-After", "0")
			writeErr(w, apierrors.NewTooManyRequests("busy", 0))
		default:
			frameHandler([]string{taskAdded}, false).ServeHTTP(w, r)
		}
	}))
	defer srv.Close()
	hook := &recordingHook{}
	c := mustClient(t, &Config{Host: srv.URL, WatchTransport: TransportWebSocket, Metrics: hook})
	tasks := For(c, kunosv1.Tasks)
	w, err := tasks.Watch(testCtx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if evs := collect(t, w); len(evs) != 1 || calls.Load() != 3 {
		t.Fatalf("%d events after %d calls", len(evs), calls.Load())
	}
	if obs := hook.get(); fmt.Sprint(obs) != "[{watch tasks 429} {watch tasks 429} {watch tasks 101}]" {
		t.Fatalf("observed %v", obs)
	}
	if _, err := tasks.Watch(testCtx(t), metav1.ListOptions{ResourceVersion: "forbidden"}); !apierrors.IsForbidden(err) {
		t.Fatalf("forbidden: %v", err)
	}
	if _, err := tasks.Watch(testCtx(t), metav1.ListOptions{ResourceVersion: "plain"}); err == nil || !strings.Contains(err.Error(), "instead of upgrading") {
		t.Fatalf("plain: %v", err)
	}
}

// TestTimeout: Config.Timeout bounds a request, but not its first wait for
// the rate limiter (as in client-go), and never a watch.
func TestTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") == "true" || strings.HasSuffix(r.URL.Path, "/slow") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		writeJSON(w, 200, newTaskWithKind("a"))
	}))
	defer srv.Close()
	c := mustClient(t, &Config{Host: srv.URL, Timeout: 300 * time.Millisecond, QPS: 2, Burst: 1})
	tasks := For(c, kunosv1.Tasks).Namespace("ns")
	ctx := testCtx(t)
	// The second request waits ~500ms for a token, longer than Timeout.
	for i := range 2 {
		if _, err := tasks.Get(ctx, "a", metav1.GetOptions{}); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if _, err := tasks.Get(ctx, "slow", metav1.GetOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow request: %v, want DeadlineExceeded", err)
	}
	w, err := tasks.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev, ok := <-w.ResultChan():
		t.Fatalf("watch ended by the request timeout: %v %v", ev, ok)
	case <-time.After(600 * time.Millisecond):
	}
	w.Stop()
	collect(t, w)
}
