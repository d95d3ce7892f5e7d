package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/cache"
)

var fuzzSeeds = []string{
	taskAdded, taskModified, taskBookmark, expiredEvent,
	`{"type":"DELETED","object":{"kind":"Task","apiVersion":"kunos.io/v1","metadata":{"name":"a","deletionTimestamp":"2026-01-01T00:00:00Z"}}}`,
	`{"type":"ADDED","object":{"kind":"Job","apiVersion":"kunos.io/v1"}}`,
	`{"type":"ADDED","object":{"apiVersion":"kunos.io/v1"}}`,
	`{"type":"ERROR","object":{"kind":"Task"}}`,
	`{"type":"ERROR","object":{"kind":"Status","code":"x"}}`,
	`{"type":"WAT","object":{}}`,
	`{"type":"ADDED","object":null}`,
	`{"type":"ADDED","object":{"kind":"Task","apiVersion":"kunos.io/v1","spec":{"timeoutSeconds":1e400}}}`,
	`{"type":"ADDED","object":{"kind":"Task","apiVersion":"kunos.io/v1","metadata":{"creationTimestamp":"yesterday"}}}`,
	`[]`, `"x"`, `{`, ``, `{"type":1}`,
}

func mustCodec[T cache.Object](gvk schema.GroupVersionKind) *codec[T] {
	return newCodec[T](gvk)
}

// checkEvent asserts what every decoded event must satisfy.
func checkEvent[T any](t *testing.T, ev watch.Event) {
	switch ev.Type {
	case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark:
		if _, ok := ev.Object.(T); !ok {
			t.Fatalf("%s carries %T", ev.Type, ev.Object)
		}
	case watch.Error:
		if _, ok := ev.Object.(*metav1.Status); !ok {
			t.Fatalf("ERROR carries %T", ev.Object)
		}
	default:
		t.Fatalf("event type %q", ev.Type)
	}
}

// FuzzDecodeEvent feeds one framed event (a chunked-HTTP frame or a
// WebSocket message) to the event decoder, typed and unstructured: it
// must return an error or a well-formed event, never panic.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	typed := mustCodec[*kunosv1.Task](kunosv1.Tasks.GVK())
	dyn := mustCodec[*unstructured.Unstructured](kunosv1.Tasks.GVK())
	f.Fuzz(func(t *testing.T, data []byte) {
		var raw rawEvent
		if err := parseMessage(data, &raw); err != nil {
			return
		}
		if ev, err := typed.decodeEvent(&raw); err == nil {
			checkEvent[*kunosv1.Task](t, ev)
			if ev.Type != watch.Error && ev.Object.(*kunosv1.Task).Kind != "Task" {
				t.Fatalf("kind %q accepted", ev.Object.(*kunosv1.Task).Kind)
			}
		}
		if ev, err := dyn.decodeEvent(&raw); err == nil {
			checkEvent[*unstructured.Unstructured](t, ev)
			if ev.Type != watch.Error {
				u := ev.Object.(*unstructured.Unstructured)
				if u.GetAPIVersion() != "kunos.io/v1" || u.GetKind() == "" {
					t.Fatalf("accepted %s %s", u.GetAPIVersion(), u.GetKind())
				}
			}
		}
	})
}

// FuzzHTTPWatchStream feeds a whole chunked watch body through the stream
// watcher: events must be well-formed, a synthesised error (code 500) can
// only be the last event, and the result channel must close.
func FuzzHTTPWatchStream(f *testing.F) {
	f.Add([]byte(taskAdded + "\n" + taskModified + "\n" + taskBookmark))
	f.Add([]byte(taskAdded + taskModified + expiredEvent))
	// Newlines inside frames, where the line path cuts them wrongly.
	f.Add([]byte(taskAdded[:40] + "\n" + taskAdded[40:] + "\n" + taskModified + "\n"))
	f.Add([]byte(taskAdded + "\n" + `{"type":"ADDED","object":{"kind"` + "\n" + `:}}` + "\n" + taskModified + "\n"))
	f.Add([]byte(taskModified + taskModified + "\n" + taskBookmark + "\n"))
	for _, s := range fuzzSeeds {
		f.Add([]byte(taskAdded + "\n" + s + "\n" + taskModified))
	}
	typed := mustCodec[*kunosv1.Task](kunosv1.Tasks.GVK())
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Vary how the bytes arrive, so frames straddle reads.
		frames := newHTTPFrames(io.NopCloser(&chunkReader{data: data, size: 1 + len(data)%13}), cancel)
		w := newStreamWatcher[*kunosv1.Task](ctx, frames, typed.decodeEvent, log, "watch tasks")
		var evs []watch.Event
		for ev := range w.ResultChan() {
			evs = append(evs, ev)
		}
		// Model: decode the same bytes step by step.
		var want []watch.EventType
		malformed := false
		dec := json.NewDecoder(bytes.NewReader(data))
		for {
			// Our framer reports a value that does not start with '{' at
			// once, even if the stream is cut before its end.
			if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 && rest[0] != '{' {
				malformed = true
				break
			}
			var raw rawEvent
			err := dec.Decode(&raw)
			var se *json.SyntaxError
			var te *json.UnmarshalTypeError
			if errors.As(err, &se) || errors.As(err, &te) {
				malformed = true
				break
			}
			if err != nil {
				break
			}
			ev, err := typed.decodeEvent(&raw)
			if err != nil {
				malformed = true
				break
			}
			want = append(want, ev.Type)
		}
		if malformed {
			want = append(want, watch.Error)
		}
		if len(evs) != len(want) {
			t.Fatalf("got %d events, model says %v", len(evs), want)
		}
		for i, ev := range evs {
			checkEvent[*kunosv1.Task](t, ev)
			if ev.Type != want[i] {
				t.Fatalf("event %d is %s, model says %s", i, ev.Type, want[i])
			}
		}
		if malformed {
			st := evs[len(evs)-1].Object.(*metav1.Status)
			if st.Code != 500 || !strings.Contains(st.Message, "malformed watch stream") {
				t.Fatalf("final error = %d %q", st.Code, st.Message)
			}
		}
	})
}

// chunkReader returns at most size bytes per Read.
type chunkReader struct {
	data []byte
	size int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.size, len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// FuzzParseKubeconfig: any bytes give a Config or an error, never a panic;
// a Config always has a Host.
func FuzzParseKubeconfig(f *testing.F) {
	f.Add([]byte("current-context: x\nclusters: [{name: k, cluster: {server: \"https://h:6443\", certificate-authority-data: \"Zm9v\"}}]\n" +
		"users: [{name: u, user: {token: t, client-certificate-data: \"YQ==\", client-key-data: \"Yg==\"}}]\n" +
		"contexts: [{name: x, context: {cluster: k, user: u}}]\n"))
	f.Add([]byte("current-context: x\nclusters: [{name: k, cluster: {server: s, insecure-skip-tls-verify: true}}]\ncontexts: [{name: x, context: {cluster: k}}]"))
	f.Add([]byte(`{"current-context":"x","clusters":[{"name":"k","cluster":{"server":"s"}}],"contexts":[{"name":"x","context":{"cluster":"k","user":"nobody"}}]}`))
	f.Add([]byte("clusters: 7"))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseKubeconfig(data, t.TempDir(), "")
		if err == nil && cfg.Host == "" {
			t.Fatal("config without host")
		}
	})
}

// FuzzDecodeList: a list body decodes to items of the right kind or an
// error, typed and unstructured.
func FuzzDecodeList(f *testing.F) {
	f.Add([]byte(`{"kind":"TaskList","apiVersion":"kunos.io/v1","metadata":{"resourceVersion":"3","continue":"x"},"items":[{"metadata":{"name":"a"}},{"kind":"Task","apiVersion":"kunos.io/v1"}]}`))
	f.Add([]byte(`{"kind":"TaskList","apiVersion":"kunos.io/v1","items":[null]}`))
	f.Add([]byte(`{"kind":"JobList","apiVersion":"kunos.io/v1","items":[]}`))
	f.Add([]byte(`{"kind":"TaskList","apiVersion":"kunos.io/v1","items":[{"kind":"Job","apiVersion":"kunos.io/v1"}]}`))
	f.Add([]byte(`{"kind":"TaskList","apiVersion":"kunos.io/v1","items":{}}`))
	f.Add([]byte(`[]`))
	c, err := New(&Config{Host: "http://127.0.0.1:1"})
	if err != nil {
		f.Fatal(err)
	}
	typed := For(c, kunosv1.Tasks)
	dyn := Dynamic(c, kunosv1.Tasks.Info)
	f.Fuzz(func(t *testing.T, data []byte) {
		if items, _, err := typed.decodeList(data); err == nil {
			for _, it := range items {
				if it == nil || it.Kind != "Task" || it.APIVersion != "kunos.io/v1" {
					t.Fatalf("item %v", it)
				}
			}
		}
		if items, _, err := dyn.decodeList(data); err == nil {
			for _, it := range items {
				if it == nil || it.GetKind() == "" || it.GetAPIVersion() != "kunos.io/v1" {
					t.Fatalf("item %v", it)
				}
			}
		}
	})
}

// FuzzResponseError: any error body maps to an API error with the
// response's code (or the Status's own code) and never panics.
func FuzzResponseError(f *testing.F) {
	f.Add(404, "application/json", []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
	f.Add(410, "", []byte(`{"kind":"Status","reason":"Expired","code":410,"details":{"causes":[{"reason":"x"}],"retryAfterSeconds":3}}`))
	f.Add(500, "text/plain", []byte("boom"))
	f.Add(429, "application/json; charset=utf-8", []byte(`{"kind":"Status","code":"x"}`))
	f.Add(999, "application/json", []byte(`{`))
	f.Fuzz(func(t *testing.T, code int, ctype string, body []byte) {
		if code < 100 || code > 999 {
			return
		}
		h := http.Header{}
		h.Set("Content-Type", ctype)
		h.Set("Retry-After", string(body[:min(len(body), 3)]))
		r := &request{verb: "get", method: http.MethodGet, gvr: kunosv1.Tasks.GVR, name: "a"}
		err := responseError(r, code, h, bytes.NewReader(body))
		var se *apierrors.StatusError
		if !errors.As(err, &se) || se.Status().Code == 0 {
			t.Fatalf("err = %#v", err)
		}
	})
}
