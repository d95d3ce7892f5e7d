package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

func newTestServer(tb testing.TB, mc storage.MemoryConfig, cfg Config) (*Server, *httptest.Server) {
	tb.Helper()
	mc.Codec = NewCodec()
	store := storage.NewMemoryStore(mc)
	cfg.Store = store
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(s)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		hs.Close()
		store.Close()
	})
	return s, hs
}

// TestTooManyWatchers: past the store's watcher limit a watch is 429
// TooManyRequests with Retry-After, before any streaming.
func TestTooManyWatchers(t *testing.T) {
	_, hs := newTestServer(t, storage.MemoryConfig{MaxWatchers: 1}, Config{})
	res, err := http.Get(hs.URL + "/apis/kunos.io/v1/tasks?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("first watch: %d", res.StatusCode)
	}
	res2, err := http.Get(hs.URL + "/apis/kunos.io/v1/tasks?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res2.Body)
	res2.Body.Close()
	if res2.StatusCode != 429 || res2.Header.Get("Retry-After") == "" || !strings.Contains(string(b), `"reason":"TooManyRequests"`) {
		t.Fatalf("second watch: %d %q %s", res2.StatusCode, res2.Header.Get("Retry-After"), b)
	}
}

func TestMaxListLimitAndShutdown(t *testing.T) {
	s, hs := newTestServer(t, storage.MemoryConfig{}, Config{MaxListLimit: 2})
	for i := 0; i < 5; i++ {
		task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d", i), Namespace: "d"}}
		if _, err := s.store.Create(context.Background(), "/tasks/d/"+task.Name, task); err != nil {
			t.Fatal(err)
		}
	}
	get := func(q string) string {
		res, err := http.Get(hs.URL + "/apis/kunos.io/v1/tasks?" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	if b := get("limit=100"); strings.Count(b, `"kind":"Task"`) != 2 || !strings.Contains(b, `"continue"`) {
		t.Fatalf("limit above the cap: %s", b)
	}
	if b := get(""); strings.Count(b, `"kind":"Task"`) != 5 {
		t.Fatalf("no limit is never paged: %s", b)
	}
	// Shutdown ends an open watch cleanly and refuses new ones.
	res, err := http.Get(hs.URL + "/apis/kunos.io/v1/tasks?watch=true&resourceVersion=0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Fatalf("watch did not end cleanly: %v", err)
	}
	res2, err := http.Get(hs.URL + "/apis/kunos.io/v1/tasks?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("watch after shutdown: %d", res2.StatusCode)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("no store accepted")
	}
	store := storage.NewMemoryStore(storage.MemoryConfig{Codec: NewCodec()})
	defer store.Close()
	if _, err := New(Config{Store: store, MaxBodyBytes: -1}); err == nil {
		t.Fatal("negative limit accepted")
	}
}

func TestCodec(t *testing.T) {
	c := NewCodec()
	task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "n", Labels: map[string]string{"k": "v"}},
		Spec: kunosv1.TaskSpec{NodeName: "n1"}, Status: kunosv1.TaskStatus{Phase: kunosv1.TaskRunning}}
	b, err := c.Encode(task)
	if err != nil || !strings.Contains(string(b), `"apiVersion":"kunos.io/v1","kind":"Task"`) && !strings.Contains(string(b), `"kind":"Task","apiVersion":"kunos.io/v1"`) {
		t.Fatalf("encode: %v %s", err, b)
	}
	obj, err := c.Decode("/tasks/n/a", b)
	if err != nil || obj.(*kunosv1.Task).Spec.NodeName != "n1" {
		t.Fatalf("decode: %v", err)
	}
	if _, err := c.Decode("/pods/n/a", b); err == nil {
		t.Fatal("unknown resource decoded")
	}
	if _, err := c.Decode("/tasks/n/a", []byte("{")); err == nil {
		t.Fatal("bad JSON decoded")
	}
	l, f, err := c.Attributes(obj)
	if err != nil || l["k"] != "v" || f["spec.nodeName"] != "n1" || f["status.phase"] != "Running" || f["metadata.namespace"] != "n" {
		t.Fatalf("attributes: %v %v %v", l, f, err)
	}
	if _, _, err := c.Attributes(&metav1.Status{}); err == nil {
		t.Fatal("attributes of a foreign kind")
	}
}

// TestWatcherBehindCompactionGetsErrorEvent: a watcher that falls behind
// compaction while its client is stalled gets, in order, what the store
// still had for it, then one ERROR event with 410 Expired, then the end.
func TestWatcherBehindCompactionGetsErrorEvent(t *testing.T) {
	s, hs := newTestServer(t, storage.MemoryConfig{HistoryLimit: 5, WatcherBufferSize: 2}, Config{})
	res, err := http.Get(hs.URL + "/apis/kunos.io/v1/tasks?watch=true&resourceVersion=0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	s.StallWatches(true)
	for i := 0; i < 30; i++ {
		task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d", i), Namespace: "d"}}
		if _, err := s.store.Create(context.Background(), "/tasks/d/"+task.Name, task); err != nil {
			t.Fatal(err)
		}
	}
	s.StallWatches(false)
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("unclean end: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, `{"type":"ERROR"`) || !strings.Contains(last, `"code":410`) || !strings.Contains(last, `"reason":"Expired"`) {
		t.Fatalf("last frame %s (of %d)", last, len(lines))
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, `{"type":"ADDED"`) {
			t.Fatalf("frame before the error: %s", l)
		}
	}
}

// batchSink counts what a watch queues between flushes.
type batchSink struct{ queued, most, flushes int }

func (b *batchSink) write(frame []byte) error { b.add(len(frame)); return nil }
func (b *batchSink) writeRecord(_ watch.EventType, rec *storage.Record) error {
	b.add(len(rec.Data))
	return nil
}
func (b *batchSink) add(n int)     { b.queued += n; b.most = max(b.most, b.queued) }
func (b *batchSink) flush() error  { b.queued = 0; b.flushes++; return nil }
func (b *batchSink) buffered() int { return b.queued }
func (b *batchSink) close()        {}

// TestWatchBatchIsBounded: a long backlog of queued events (a watch-list's
// initial events) is taken in parts of about maxWatchBatch, never whole.
func TestWatchBatchIsBounded(t *testing.T) {
	store := storage.NewMemoryStore(storage.MemoryConfig{Codec: NewCodec()})
	defer store.Close()
	s, err := New(Config{Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	const events, size = 2000, 1000
	ch := make(chan storage.Event, events)
	for i := range events {
		ch <- storage.Event{Type: watch.Added, Object: &storage.Record{Revision: int64(i + 1), Data: make([]byte, size)}}
	}
	sink := &batchSink{}
	st := watchStream{s: s, sink: sink, p: &watchParams{}, res: "tasks", counters: s.metrics.watchEventCounters("tasks"), initialDone: true}
	ev := <-ch
	for more := true; more; {
		if !st.take(ev, true, ch) {
			t.Fatal("the watch ended")
		}
		st.flush()
		select {
		case ev = <-ch:
		default:
			more = false
		}
	}
	if sink.most > maxWatchBatch+size || sink.most >= events*size/2 {
		t.Fatalf("%d bytes of %d queued at once, want at most %d", sink.most, events*size, maxWatchBatch+size)
	}
	if want := events * size / maxWatchBatch; sink.flushes < want {
		t.Fatalf("%d flushes for %d bytes, want at least %d", sink.flushes, events*size, want)
	}
}
