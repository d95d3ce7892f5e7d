package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	tasksNS  = "/apis/kunos.io/v1/namespaces/default/tasks"
	tasksAll = "/apis/kunos.io/v1/tasks"
	nodes    = "/apis/kunos.io/v1/nodes"
	jobsNS   = "/apis/kunos.io/v1/namespaces/default/jobs"
)

// resp is a finished HTTP exchange.
type resp struct {
	code   int
	header http.Header
	body   []byte
}

func (r resp) status(t testing.TB) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatalf("body is not a Status: %v: %s", err, r.body)
	}
	return st
}

// obj decodes the body into a generic map.
func (r resp) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.body)
	}
	return m
}

func do(t testing.TB, srv *stubtest.Server, method, path, contentType, body string, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{code: res.StatusCode, header: res.Header, body: b}
}

func get(t testing.TB, srv *stubtest.Server, path string) resp {
	t.Helper()
	return do(t, srv, http.MethodGet, path, "", "")
}

func post(t testing.TB, srv *stubtest.Server, path, body string) resp {
	t.Helper()
	return do(t, srv, http.MethodPost, path, "application/json", body)
}

// wantStatus checks a Status answer: HTTP code, Status.code and reason.
func wantStatus(t testing.TB, r resp, code int, reason metav1.StatusReason) metav1.Status {
	t.Helper()
	if r.code != code {
		t.Fatalf("code %d, want %d: %s", r.code, code, r.body)
	}
	st := r.status(t)
	if st.Kind != "Status" || st.APIVersion != "v1" || int(st.Code) != code || st.Reason != reason {
		t.Fatalf("Status kind=%q apiVersion=%q code=%d reason=%q, want Status v1 %d %q: %s",
			st.Kind, st.APIVersion, st.Code, st.Reason, code, reason, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	return st
}

func taskJSON(name string, labels map[string]string) string {
	m := map[string]any{
		"apiVersion": "kunos.io/v1", "kind": "Task",
		"metadata": map[string]any{"name": name, "labels": labels},
		"spec":     map[string]any{"image": "busybox"},
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// mustCreate creates a task and returns its resourceVersion.
func mustCreate(t testing.TB, srv *stubtest.Server, name string) int64 {
	t.Helper()
	r := post(t, srv, tasksNS, taskJSON(name, map[string]string{"app": "x"}))
	if r.code != http.StatusCreated {
		t.Fatalf("create %s: %d %s", name, r.code, r.body)
	}
	return rvOf(t, r.obj(t))
}

func rvOf(t testing.TB, m map[string]any) int64 {
	t.Helper()
	md, _ := m["metadata"].(map[string]any)
	s, _ := md["resourceVersion"].(string)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", s, err)
	}
	return v
}

func nameOf(m map[string]any) string {
	md, _ := m["metadata"].(map[string]any)
	s, _ := md["name"].(string)
	return s
}

// event is one watch event as received.
type event struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (e event) rv(t testing.TB) int64 {
	var m map[string]any
	if err := json.Unmarshal(e.Object, &m); err != nil {
		t.Fatalf("event object: %v", err)
	}
	return rvOf(t, m)
}

func (e event) meta(t testing.TB) metav1.ObjectMeta {
	var m struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(e.Object, &m); err != nil {
		t.Fatalf("event object: %v", err)
	}
	return m.Metadata
}

// watcher is an open watch over either transport.
type watcher struct {
	events chan event
	done   chan error // receives the end of stream: nil for a clean end
	close  func()
}

type transport string

const (
	chunked     transport = "http"
	wsTransport transport = "websocket"
)

var transports = []transport{chunked, wsTransport}

// startWatch opens a watch at path?query and returns once the server has
// answered (headers for HTTP, the handshake for WebSocket). A non-200
// answer is returned as resp with a nil watcher.
//
// hdr are header name, value pairs sent with the request.
func startWatch(t testing.TB, srv *stubtest.Server, tr transport, path, query string, hdr ...string) (*watcher, *resp) {
	t.Helper()
	w := &watcher{events: make(chan event, 1024), done: make(chan error, 1)}
	url := srv.URL + path + "?" + query
	header := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		header.Set(hdr[i], hdr[i+1])
	}
	switch tr {
	case chunked:
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header = header
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			return nil, &resp{code: res.StatusCode, header: res.Header, body: b}
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("watch Content-Type %q", ct)
		}
		w.close = func() { res.Body.Close() }
		go func() {
			defer close(w.events)
			br := bufio.NewReader(res.Body)
			for {
				line, err := br.ReadBytes('\n')
				if len(bytes.TrimSpace(line)) > 0 {
					var e event
					if jerr := json.Unmarshal(line, &e); jerr != nil {
						w.done <- jerr
						return
					}
					w.events <- e
				}
				if err != nil {
					if err == io.EOF {
						err = nil
					}
					w.done <- err
					return
				}
			}
		}()
	case wsTransport:
		conn, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http"), header)
		if err != nil {
			if res != nil {
				b, _ := io.ReadAll(res.Body)
				return nil, &resp{code: res.StatusCode, header: res.Header, body: b}
			}
			t.Fatalf("websocket dial: %v", err)
		}
		w.close = func() { conn.Close() }
		go func() {
			defer close(w.events)
			for {
				typ, msg, err := conn.ReadMessage()
				if err != nil {
					if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
						err = nil
					}
					w.done <- err
					return
				}
				if typ != websocket.TextMessage {
					w.done <- io.ErrUnexpectedEOF
					return
				}
				var e event
				if jerr := json.Unmarshal(msg, &e); jerr != nil {
					w.done <- jerr
					return
				}
				w.events <- e
			}
		}()
	}
	t.Cleanup(w.close)
	return w, nil
}

// next returns the next event or fails after a timeout.
func (w *watcher) next(t testing.TB) event {
	t.Helper()
	select {
	case e, ok := <-w.events:
		if !ok {
			t.Fatalf("watch ended early: %v", <-w.done)
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10s")
	}
	return event{}
}

// expectEnd waits for a clean end of stream after draining nothing more.
func (w *watcher) expectEnd(t testing.TB) {
	t.Helper()
	select {
	case e, ok := <-w.events:
		if ok {
			t.Fatalf("unexpected event %s %s", e.Type, e.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end within 10s")
	}
	if err := <-w.done; err != nil {
		t.Fatalf("unclean end of stream: %v", err)
	}
}

// quiet checks that nothing arrives for d.
func (w *watcher) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case e, ok := <-w.events:
		if ok {
			t.Fatalf("unexpected event %s %s", e.Type, e.Object)
		}
		t.Fatalf("watch ended: %v", <-w.done)
	case <-time.After(d):
	}
}
