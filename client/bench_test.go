package client

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// benchFrame is a realistic MODIFIED event for a Task (~700 bytes).
func benchFrame(b *testing.B) []byte {
	b.Helper()
	timeout := int64(600)
	obj := &kunosv1.Task{
		TypeMeta: metav1.TypeMeta{Kind: "Task", APIVersion: "kunos.io/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "build-7f9c2-x8k2q", Namespace: "team-a", UID: "5b1a2c8e-8d3f-4f4e-9a51-0c9d8e7f6a5b",
			ResourceVersion: "123456", Generation: 3, CreationTimestamp: metav1.Unix(1763700000, 0),
			Labels:          map[string]string{"app": "builder", "job": "build-7f9c2", "tier": "batch"},
			Annotations:     map[string]string{"kunos.io/attempt": "2"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "kunos.io/v1", Kind: "Job", Name: "build-7f9c2", UID: "9f8e7d6c-5b4a-3c2d-1e0f-a1b2c3d4e5f6"}},
		},
		Spec:   kunosv1.TaskSpec{Command: []string{"make", "-j4", "all"}, Image: "golang:1.26", NodeName: "node-17", TimeoutSeconds: &timeout},
		Status: kunosv1.TaskStatus{Phase: kunosv1.TaskRunning},
	}
	// Field order as servers write it (metav1.WatchEvent): type first.
	data, err := json.Marshal(struct {
		Type   string        `json:"type"`
		Object *kunosv1.Task `json:"object"`
	}{"MODIFIED", obj})
	if err != nil {
		b.Fatal(err)
	}
	return append(data, '\n')
}

// repeatReader yields frame n times, then io.EOF.
type repeatReader struct {
	frame []byte
	n     int // frames not yet started
	off   int // position in the current frame
}

func newRepeatReader(frame []byte, n int) *repeatReader {
	return &repeatReader{frame: frame, n: n, off: len(frame)}
}

func (r *repeatReader) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if r.off == len(r.frame) {
			if r.n == 0 {
				break
			}
			r.n--
			r.off = 0
		}
		c := copy(p, r.frame[r.off:])
		r.off += c
		p = p[c:]
		total += c
	}
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}

func consume(b *testing.B, w watch.Interface) {
	n := 0
	for ev := range w.ResultChan() {
		if ev.Type != watch.Modified {
			b.Fatalf("event %d: %s %v", n, ev.Type, ev.Object)
		}
		n++
	}
	if n != b.N {
		b.Fatalf("got %d events, want %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkWatchDecodeHTTP measures the chunked-HTTP decoder alone
// (framing, event and object decoding, channel hand-off), from memory.
// One op is one event.
func BenchmarkWatchDecodeHTTP(b *testing.B) {
	frame := benchFrame(b)
	log := slog.New(slog.DiscardHandler)
	b.Run("typed", func(b *testing.B) {
		cd := mustCodec[*kunosv1.Task](kunosv1.Tasks.GVK())
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := newStreamWatcher[*kunosv1.Task](ctx, newHTTPFrames(io.NopCloser(newRepeatReader(frame, b.N)), cancel), cd.decodeEvent, log, "bench")
		consume(b, w)
	})
	b.Run("unstructured", func(b *testing.B) {
		cd := mustCodec[*unstructured.Unstructured](kunosv1.Tasks.GVK())
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := newStreamWatcher[*unstructured.Unstructured](ctx, newHTTPFrames(io.NopCloser(newRepeatReader(frame, b.N)), cancel), cd.decodeEvent, log, "bench")
		consume(b, w)
	})
}

// BenchmarkWatchLoopback measures a whole watch over a loopback socket
// for both transports: the server writes b.N pre-encoded events as fast
// as it can; the client decodes them into *kunosv1.Task.
func BenchmarkWatchLoopback(b *testing.B) {
	frame := benchFrame(b)
	for _, tr := range []Transport{TransportHTTP, TransportWebSocket} {
		b.Run(tr.String(), func(b *testing.B) {
			n := b.N
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if websocket.IsWebSocketUpgrade(r) {
					conn, err := (&websocket.Upgrader{WriteBufferSize: 64 << 10}).Upgrade(w, r, nil)
					if err != nil {
						return
					}
					defer conn.Close()
					for range n {
						if conn.WriteMessage(websocket.TextMessage, frame) != nil {
							return
						}
					}
					_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.Copy(w, newRepeatReader(frame, n))
			}))
			defer srv.Close()
			c, err := New(&Config{Host: srv.URL, WatchTransport: tr})
			if err != nil {
				b.Fatal(err)
			}
			defer c.http.CloseIdleConnections()
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			b.ResetTimer()
			w, err := For(c, kunosv1.Tasks).Watch(context.Background(), metav1.ListOptions{})
			if err != nil {
				b.Fatal(err)
			}
			consume(b, w)
		})
	}
}

// BenchmarkWatchFraming measures the chunked-HTTP framing alone: cutting
// the stream into events and matching their envelopes, without decoding
// the objects. One op is one event.
func BenchmarkWatchFraming(b *testing.B) {
	frame := benchFrame(b)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	f := newHTTPFrames(io.NopCloser(newRepeatReader(frame, b.N)), func() {})
	var raw rawEvent
	for range b.N {
		raw.reset()
		if err := f.next(&raw); err != nil {
			b.Fatal(err)
		}
	}
}
