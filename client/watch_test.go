package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// frameServer answers a watch with the given frames, as chunked HTTP
// (frames concatenated, each flushed) or as one WebSocket message per
// frame, then ends the stream (or holds it open if hold is set).
func frameServer(t *testing.T, frames []string, hold bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(frameHandler(frames, hold))
	t.Cleanup(srv.Close)
	return srv
}

func frameHandler(frames []string, hold bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			if r.Header.Get("Origin") == "" {
				http.Error(w, "no origin", http.StatusForbidden)
				return
			}
			conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			for _, f := range frames {
				if conn.WriteMessage(websocket.TextMessage, []byte(f)) != nil {
					return
				}
			}
			if hold {
				_, _, _ = conn.ReadMessage() // until the client closes
				return
			}
			_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for _, f := range frames {
			_, _ = w.Write([]byte(f))
			w.(http.Flusher).Flush()
		}
		if hold {
			<-r.Context().Done()
		}
	})
}

// collect drains a watch, failing if it does not close within 5s.
func collect(t *testing.T, w watch.Interface) []watch.Event {
	t.Helper()
	var evs []watch.Event
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-timeout:
			t.Fatalf("watch did not close; got %d events", len(evs))
		}
	}
}

const (
	taskAdded    = `{"type":"ADDED","object":{"kind":"Task","apiVersion":"kunos.io/v1","metadata":{"name":"a","namespace":"ns","resourceVersion":"5"}}}`
	taskModified = `{"type":"MODIFIED","object":{"kind":"Task","apiVersion":"kunos.io/v1","metadata":{"name":"a","namespace":"ns","resourceVersion":"6"},"spec":{"nodeName":"n1"}}}`
	taskBookmark = `{"type":"BOOKMARK","object":{"kind":"Task","apiVersion":"kunos.io/v1","metadata":{"resourceVersion":"9","annotations":{"k8s.io/initial-events-end":"true"}}}}`
	expiredEvent = `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}}`
)

func TestWatchStreams(t *testing.T) {
	type want struct {
		types   []watch.EventType
		errMsg  string // substring of the final synthesised ERROR's message
		errCode int32
	}
	cases := []struct {
		name   string
		frames []string
		want   want
	}{
		{"normal", []string{taskAdded + "\n", taskModified + "\n", taskBookmark + "\n"},
			want{types: []watch.EventType{watch.Added, watch.Modified, watch.Bookmark}}},
		{"no newlines", []string{taskAdded, taskModified},
			want{types: []watch.EventType{watch.Added, watch.Modified}}},
		{"server ERROR 410 passes through", []string{taskAdded + "\n", expiredEvent + "\n"},
			want{types: []watch.EventType{watch.Added, watch.Error}, errCode: 410}},
		{"bad json", []string{taskAdded + "\n", `{"type":"ADDED","object":{` + "x\n"},
			want{types: []watch.EventType{watch.Added, watch.Error}, errMsg: "invalid character", errCode: 500}},
		{"not an object", []string{`[1,2]`},
			want{types: []watch.EventType{watch.Error}, errMsg: "malformed watch stream", errCode: 500}},
		{"unknown type", []string{`{"type":"EXPLODED","object":{"kind":"Task","apiVersion":"kunos.io/v1"}}`},
			want{types: []watch.EventType{watch.Error}, errMsg: `unknown watch event type "EXPLODED"`, errCode: 500}},
		{"missing type", []string{`{"object":{"kind":"Task","apiVersion":"kunos.io/v1"}}`},
			want{types: []watch.EventType{watch.Error}, errMsg: "no type", errCode: 500}},
		{"missing object", []string{`{"type":"ADDED"}`},
			want{types: []watch.EventType{watch.Error}, errMsg: "ADDED watch event has no object", errCode: 500}},
		{"missing kind", []string{`{"type":"ADDED","object":{"apiVersion":"kunos.io/v1","metadata":{"name":"a"}}}`},
			want{types: []watch.EventType{watch.Error}, errMsg: "object has no kind", errCode: 500}},
		{"missing apiVersion", []string{`{"type":"ADDED","object":{"kind":"Task","metadata":{"name":"a"}}}`},
			want{types: []watch.EventType{watch.Error}, errMsg: "object has no apiVersion", errCode: 500}},
		{"wrong kind", []string{taskAdded, `{"type":"MODIFIED","object":{"kind":"Job","apiVersion":"kunos.io/v1","metadata":{"name":"a"}}}`},
			want{types: []watch.EventType{watch.Added, watch.Error}, errMsg: "got kunos.io/v1 Job, want kunos.io/v1 Task", errCode: 500}},
		{"wrong group", []string{`{"type":"ADDED","object":{"kind":"Task","apiVersion":"other.io/v1"}}`},
			want{types: []watch.EventType{watch.Error}, errMsg: "want kunos.io/v1 Task", errCode: 500}},
		{"wrong field type", []string{`{"type":"ADDED","object":{"kind":"Task","apiVersion":"kunos.io/v1","spec":{"nodeName":7}}}`},
			want{types: []watch.EventType{watch.Error}, errMsg: "decode ADDED watch event object", errCode: 500}},
		{"ERROR carrying a non-Status", []string{`{"type":"ERROR","object":{"kind":"Task","apiVersion":"kunos.io/v1"}}`},
			want{types: []watch.EventType{watch.Error}, errMsg: `want Status`, errCode: 500}},
		{"truncated stream ends cleanly", []string{taskAdded + "\n", `{"type":"MODIFIED","obj`},
			want{types: []watch.EventType{watch.Added}}},
		{"null object", []string{`{"type":"DELETED","object":null}`},
			want{types: []watch.EventType{watch.Error}, errMsg: "DELETED watch event has no object", errCode: 500}},
	}
	for _, tr := range []Transport{TransportHTTP, TransportWebSocket} {
		for _, tc := range cases {
			if tr == TransportWebSocket && tc.name == "truncated stream ends cleanly" {
				// One message per event: a truncated message is malformed.
				tc.want = want{types: []watch.EventType{watch.Added, watch.Error}, errMsg: "unexpected end of JSON", errCode: 500}
			}
			t.Run(tr.String()+"/"+tc.name, func(t *testing.T) {
				srv := frameServer(t, tc.frames, false)
				c := mustClient(t, &Config{Host: srv.URL, WatchTransport: tr})
				w, err := For(c, kunosv1.Tasks).Watch(testCtx(t), metav1.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				evs := collect(t, w)
				var got []watch.EventType
				for _, ev := range evs {
					got = append(got, ev.Type)
					switch ev.Type {
					case watch.Error:
						if _, ok := ev.Object.(*metav1.Status); !ok {
							t.Fatalf("ERROR object is %T", ev.Object)
						}
					default:
						if _, ok := ev.Object.(*kunosv1.Task); !ok {
							t.Fatalf("%s object is %T", ev.Type, ev.Object)
						}
					}
				}
				if strings.Join(typesStr(got), ",") != strings.Join(typesStr(tc.want.types), ",") {
					t.Fatalf("event types = %v, want %v", got, tc.want.types)
				}
				if tc.want.errCode != 0 {
					st := evs[len(evs)-1].Object.(*metav1.Status)
					if st.Code != tc.want.errCode || !strings.Contains(st.Message, tc.want.errMsg) {
						t.Fatalf("final status = %d %q, want %d containing %q", st.Code, st.Message, tc.want.errCode, tc.want.errMsg)
					}
					if st.Code == 500 && !strings.Contains(st.Message, "watch tasks") {
						t.Fatalf("message %q does not say which watch", st.Message)
					}
				}
			})
		}
	}
}

func typesStr(ts []watch.EventType) []string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return s
}

func TestWatchTypedObjects(t *testing.T) {
	srv := frameServer(t, []string{taskAdded, taskModified, taskBookmark}, false)
	c := mustClient(t, &Config{Host: srv.URL})
	w, err := For(c, kunosv1.Tasks).Watch(testCtx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, w)
	if got := evs[1].Object.(*kunosv1.Task).Spec.NodeName; got != "n1" {
		t.Fatalf("nodeName = %q", got)
	}
	bm := evs[2].Object.(*kunosv1.Task)
	if bm.ResourceVersion != "9" || bm.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
		t.Fatalf("bookmark = %+v", bm.ObjectMeta)
	}
}

func TestWatchUnstructured(t *testing.T) {
	for _, tr := range []Transport{TransportHTTP, TransportWebSocket} {
		t.Run(tr.String(), func(t *testing.T) {
			srv := frameServer(t, []string{taskAdded, taskModified,
				`{"type":"ADDED","object":{"kind":"Status","apiVersion":"kunos.io/v1"}}`}, false)
			c := mustClient(t, &Config{Host: srv.URL, WatchTransport: tr})
			w, err := Dynamic(c, kunosv1.Tasks.Info).Watch(testCtx(t), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			evs := collect(t, w)
			if len(evs) != 3 {
				t.Fatalf("got %d events", len(evs))
			}
			u := evs[1].Object.(*unstructured.Unstructured)
			if n, _, _ := unstructured.NestedString(u.Object, "spec", "nodeName"); n != "n1" || u.GetKind() != "Task" {
				t.Fatalf("object = %v", u.Object)
			}
			if st := evs[2].Object.(*metav1.Status); st.Code != 500 {
				t.Fatalf("final = %+v", st)
			}
		})
	}
}

// TestWatchStopAndCancel checks that Stop and ctx cancellation both close
// the result channel while the server holds the stream open, including
// when nobody is reading.
func TestWatchStopAndCancel(t *testing.T) {
	for _, tr := range []Transport{TransportHTTP, TransportWebSocket} {
		t.Run(tr.String()+"/stop", func(t *testing.T) {
			srv := frameServer(t, []string{taskAdded, taskModified}, true)
			c := mustClient(t, &Config{Host: srv.URL, WatchTransport: tr})
			w, err := For(c, kunosv1.Tasks).Watch(testCtx(t), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			nextEvent(t, w)
			w.Stop() // the MODIFIED event is pending: the sender must not block
			w.Stop()
			collect(t, w)
		})
		t.Run(tr.String()+"/cancel", func(t *testing.T) {
			srv := frameServer(t, []string{taskAdded}, true)
			c := mustClient(t, &Config{Host: srv.URL, WatchTransport: tr})
			ctx, cancel := context.WithCancel(context.Background())
			w, err := For(c, kunosv1.Tasks).Watch(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			nextEvent(t, w)
			cancel()
			if evs := collect(t, w); len(evs) != 0 {
				t.Fatalf("events after cancel: %v", evs)
			}
			w.Stop()
		})
	}
}

// TestWatchReturnsAfterHeaders: Watch returns as soon as the headers are
// there, before any event, and blocks while they are not.
func TestWatchReturnsAfterHeaders(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("resourceVersion") == "late" {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	defer close(release)
	c := mustClient(t, &Config{Host: srv.URL})
	tasks := For(c, kunosv1.Tasks)
	w, err := tasks.Watch(testCtx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	collect(t, w)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := tasks.Watch(ctx, metav1.ListOptions{ResourceVersion: "late"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("watch without headers: %v, want DeadlineExceeded", err)
	}
}

func TestWatchHTTPErrors(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Query().Get("sendInitialEvents") == "true" {
			writeErr(w, apierrors.NewInvalid(kunosv1.SchemeGroupVersion.WithKind("ListOptions").GroupKind(), "", nil))
			return
		}
		writeErr(w, apierrors.NewResourceExpired("too old resource version: 1 (5)"))
	}))
	defer srv.Close()
	for _, tr := range []Transport{TransportHTTP, TransportWebSocket} {
		c := mustClient(t, &Config{Host: srv.URL, WatchTransport: tr})
		tasks := For(c, kunosv1.Tasks).Namespace("ns")
		_, err := tasks.Watch(testCtx(t), metav1.ListOptions{ResourceVersion: "1"})
		if !apierrors.IsResourceExpired(err) {
			t.Fatalf("%v: %v, want Expired", tr, err)
		}
		yes := true
		_, err = tasks.Watch(testCtx(t), metav1.ListOptions{SendInitialEvents: &yes, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		if !apierrors.IsInvalid(err) {
			t.Fatalf("%v: %v, want Invalid", tr, err)
		}
	}
}
