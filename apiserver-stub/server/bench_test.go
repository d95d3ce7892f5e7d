package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func benchServer(b *testing.B, n int) *Server {
	// History large enough that no watcher of a benchmark falls behind it.
	store := storage.NewMemoryStore(storage.MemoryConfig{Codec: NewCodec(), HistoryLimit: 1 << 21})
	b.Cleanup(store.Close)
	s, err := New(Config{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%05d", i), Namespace: "d",
			Labels: map[string]string{"app": "bench"}}, Spec: kunosv1.TaskSpec{Image: "busybox", Command: []string{"sleep", "1"}}}
		if _, err := store.Create(context.Background(), "/tasks/d/"+task.Name, task); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkList1000 measures serving a list of 1000 Tasks (bytes copied
// from the store, never re-encoded), handler only.
func BenchmarkList1000(b *testing.B) {
	s := benchServer(b, 1000)
	req := httptest.NewRequest(http.MethodGet, "/apis/kunos.io/v1/namespaces/d/tasks", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkCreate measures a create: decode, validate, store, respond.
func BenchmarkCreate(b *testing.B) {
	s := benchServer(b, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := fmt.Sprintf(`{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"t%d","labels":{"a":"b"}},"spec":{"image":"x"}}`, i)
		req := httptest.NewRequest(http.MethodPost, "/apis/kunos.io/v1/namespaces/d/tasks", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 201 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}

// BenchmarkWatchFanout10 measures end to end delivery of writes to 10
// watchers over chunked HTTP on loopback: each op is one create seen by
// all 10 watchers.
func BenchmarkWatchFanout10(b *testing.B) {
	s := benchServer(b, 0)
	hs := httptest.NewServer(s)
	defer hs.Close()
	const watchers = 10
	n := b.N
	reached := make(chan int, watchers) // events seen, when n or at the end
	ended := make(chan struct{}, watchers)
	var bodies []io.Closer
	for i := 0; i < watchers; i++ {
		res, err := http.Get(hs.URL + "/apis/kunos.io/v1/namespaces/d/tasks?watch=true&resourceVersion=" +
			strconv.FormatInt(s.store.CurrentRevision(), 10))
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, res.Body)
		go func() {
			seen := 0
			defer func() {
				if seen < n {
					reached <- seen
				}
				ended <- struct{}{}
			}()
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				if seen++; seen == n {
					reached <- seen
				}
			}
		}()
	}
	task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: "d"}, Spec: kunosv1.TaskSpec{Image: "busybox"}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < n; i++ {
		t := task.DeepCopy()
		t.Name = fmt.Sprintf("w%d", i)
		if _, err := s.store.Create(context.Background(), "/tasks/d/"+t.Name, t); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < watchers; i++ {
		if got := <-reached; got != n {
			b.Fatalf("a watcher saw %d events, want %d", got, n)
		}
	}
	b.StopTimer()
	s.DropWatches()
	for i := 0; i < watchers; i++ {
		<-ended
	}
	for _, c := range bodies {
		c.Close()
	}
	b.ReportMetric(float64(b.N*watchers)/b.Elapsed().Seconds(), "events/s")
}
