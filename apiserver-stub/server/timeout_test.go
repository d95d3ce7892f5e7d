package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// hungStore is a backend whose reads of one key hang, context or not,
// until released: the request timeout must answer for it.
type hungStore struct {
	storage.Interface
	key     string
	release chan struct{}
	once    sync.Once
}

func (h *hungStore) Get(ctx context.Context, key string, rev int64) (*storage.Record, error) {
	if key == h.key {
		<-h.release
	}
	return h.Interface.Get(ctx, key, rev)
}

func (h *hungStore) unhang() { h.once.Do(func() { close(h.release) }) }

func getStatus(t *testing.T, url string) (int, metav1.Status, time.Duration) {
	t.Helper()
	start := time.Now()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var st metav1.Status
	_ = json.Unmarshal(b, &st)
	return res.StatusCode, st, time.Since(start)
}

// TestRequestTimeout: a request that is not a watch is answered 504
// Timeout at the request timeout even when its backend never returns, as
// kube-apiserver's timeout filter answers; ?timeout= lowers it and a
// malformed one is 400; watches are not bounded by it.
func TestRequestTimeout(t *testing.T) {
	mem := storage.NewMemoryStore(storage.MemoryConfig{Codec: NewCodec()})
	t.Cleanup(mem.Close)
	hung := &hungStore{Interface: mem, key: "/tasks/d/hung", release: make(chan struct{})}
	t.Cleanup(hung.unhang) // before the store closes: the handler then ends
	s, err := New(Config{Store: hung, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hung", "ok"} {
		task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "d"}}
		if _, err := mem.Create(context.Background(), "/tasks/d/"+name, task); err != nil {
			t.Fatal(err)
		}
	}
	srv := newHTTPServer(t, s)
	base := srv + "/apis/kunos.io/v1/namespaces/d/tasks/"

	code, st, d := getStatus(t, base+"hung")
	if code != 504 || st.Reason != metav1.StatusReasonTimeout || st.Code != 504 ||
		st.Message != "Timeout: request did not complete within the allotted timeout" {
		t.Fatalf("hung read: %d %+v", code, st)
	}
	if d < time.Second || d > 10*time.Second {
		t.Fatalf("answered after %v, want the request timeout (1s)", d)
	}
	if code, _, d := getStatus(t, base+"hung?timeout=50ms"); code != 504 || d >= time.Second {
		t.Fatalf("?timeout=50ms: %d after %v", code, d)
	}
	if code, _, _ := getStatus(t, base+"ok?timeout=1h"); code != 200 {
		t.Fatalf("?timeout=1h: %d", code)
	}
	if code, st, _ := getStatus(t, base+"ok?timeout=soon"); code != 400 || !strings.HasPrefix(st.Message, "invalid timeout specified in the request URL") {
		t.Fatalf("?timeout=soon: %d %+v", code, st)
	}
	// Still serving, and the timed-out request counted as a 504.
	if code, _, _ := getStatus(t, base+"ok"); code != 200 {
		t.Fatalf("after timeouts: %d", code)
	}
	// Released, the timed-out handlers end, and count their requests as
	// the 504s their clients got.
	hung.unhang()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := http.Get(srv + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(b), `apiserver_request_total{code="504",resource="tasks",verb="GET"} 2`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("504s not counted: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A watch outlives the request timeout.
	res, err := http.Get(srv + "/apis/kunos.io/v1/namespaces/d/tasks?watch=true&resourceVersion=0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	time.Sleep(1500 * time.Millisecond)
	task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: "d"}}
	if _, err := mem.Create(context.Background(), "/tasks/d/late", task); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(res.Body)
	for {
		var e struct {
			Type   string
			Object metav1.PartialObjectMetadata
		}
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("watch ended at the request timeout: %v", err)
		}
		if e.Object.Name == "late" {
			break
		}
	}
}

// newHTTPServer serves s over a real socket until the test ends.
func newHTTPServer(t *testing.T, s *Server) string {
	t.Helper()
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		hs.Close()
	})
	return hs.URL
}
