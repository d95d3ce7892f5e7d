package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func benchServer(b *testing.B, n int) *Server {
	store := storage.NewMemoryStore(storage.MemoryConfig{Codec: NewCodec()})
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
