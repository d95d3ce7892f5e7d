package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// slowWrites is a backend whose writes take a round trip, as etcd's do:
// concurrent read-modify-writes of one object then conflict often.
type slowWrites struct{ storage.Interface }

func (s slowWrites) Update(ctx context.Context, key string, rev int64, obj runtime.Object) (*storage.Record, error) {
	time.Sleep(time.Millisecond)
	return s.Interface.Update(ctx, key, rev, obj)
}

func (s slowWrites) Delete(ctx context.Context, key string, rev int64) (*storage.Record, error) {
	time.Sleep(time.Millisecond)
	return s.Interface.Delete(ctx, key, rev)
}

// TestUnconditionalWritesAllApply: writes without a resourceVersion are
// retried until they apply, as kube-apiserver's GuaranteedUpdate retries
// them, never answered 409 because others won the race. Sixteen clients
// merge-patch one object at once, each its own label, and every patch
// lands; then sixteen delete it at once with the patchers still going:
// one deletes, the others find it gone (404), none gets a 409.
func TestUnconditionalWritesAllApply(t *testing.T) {
	mem := storage.NewMemoryStore(storage.MemoryConfig{Codec: NewCodec()})
	t.Cleanup(mem.Close)
	s, err := New(Config{Store: slowWrites{mem}})
	if err != nil {
		t.Fatal(err)
	}
	url := newHTTPServer(t, s) + "/apis/kunos.io/v1/namespaces/d/tasks/hot"
	hot := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "hot", Namespace: "d", Generation: 1}}
	if _, err := mem.Create(context.Background(), "/tasks/d/hot", hot); err != nil {
		t.Fatal(err)
	}
	const clients, rounds = 16, 20
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	t.Cleanup(client.CloseIdleConnections)
	patch := func(i, n int) (int, string) {
		body := fmt.Sprintf(`{"metadata":{"labels":{"c%d":"%d"}},"spec":{"image":"c%d-%d"}}`, i, n, i, n)
		req, _ := http.NewRequest(http.MethodPatch, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/merge-patch+json")
		res, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		var st struct{ Message string }
		_ = json.NewDecoder(res.Body).Decode(&st)
		return res.StatusCode, st.Message
	}
	var wg sync.WaitGroup
	errs := make(chan string, clients*rounds)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := 0; n < rounds; n++ {
				if code, msg := patch(i, n); code != 200 {
					errs <- fmt.Sprintf("client %d patch %d: %d %s", i, n, code, msg)
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	rec, err := mem.Get(context.Background(), "/tasks/d/hot", 0)
	if err != nil {
		t.Fatal(err)
	}
	var obj kunosv1.Task
	if err := json.Unmarshal(rec.Data, &obj); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < clients; i++ {
		if got := obj.Labels[fmt.Sprintf("c%d", i)]; got != fmt.Sprint(rounds-1) {
			t.Errorf("label c%d = %q, want %d: a patch was lost", i, got, rounds-1)
		}
	}
	if obj.Generation != int64(1+clients*rounds) {
		t.Errorf("generation %d, want %d: one per spec change", obj.Generation, 1+clients*rounds)
	}

	// Deletes racing with patches.
	stop := make(chan struct{})
	var pw sync.WaitGroup
	for i := 0; i < 4; i++ {
		pw.Add(1)
		go func(i int) {
			defer pw.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if code, _ := patch(i, n); code == 404 {
					return
				}
			}
		}(i)
	}
	codes := make(chan int, clients)
	var dw sync.WaitGroup
	for i := 0; i < clients; i++ {
		dw.Add(1)
		go func() {
			defer dw.Done()
			req, _ := http.NewRequest(http.MethodDelete, url, nil)
			res, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			codes <- res.StatusCode
		}()
	}
	dw.Wait()
	close(stop)
	pw.Wait()
	close(codes)
	deleted := 0
	for c := range codes {
		switch c {
		case 200:
			deleted++
		case 404:
		default:
			t.Errorf("delete answered %d", c)
		}
	}
	if deleted != 1 {
		t.Errorf("%d deletes succeeded, want 1", deleted)
	}
	if _, err := mem.Get(context.Background(), "/tasks/d/hot", 0); !storage.IsNotFound(err) {
		t.Errorf("after the deletes: %v", err)
	}
}
