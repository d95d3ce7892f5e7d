package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/examples/job-controller/controllers"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestAmbiguousCreationsAreSettled runs the controllers through a proxy
// that, for longer than createRetry lasts, answers every Task creation 503
// (no Retry-After: the outcome is unknown), half of the time after passing
// the request on (the Task was created), half of the time without (it was
// not). The Jobs must neither stall until the expectations time out (the
// creations nobody saw must be tried again under the same names until the
// server says) nor get a Task beyond their completions.
func TestAmbiguousCreationsAreSettled(t *testing.T) {
	t.Cleanup(controllers.SetCreateRetry(wait.Backoff{Steps: 3, Duration: 10 * time.Millisecond, Factor: 2}))

	srv, c := setup(t)
	log := watchTasks(t, c, "t9")
	var failing atomic.Bool
	var n, passed atomic.Int64
	var mu sync.Mutex
	kinds := map[string]bool{} // Task name → its creations pass
	unavailable := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"unavailable","reason":"ServiceUnavailable","code":503}`)
	}
	front := inFront(t, srv.URL, func(w http.ResponseWriter, r *http.Request, proxy http.Handler) {
		if !failing.Load() || r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/tasks") {
			proxy.ServeHTTP(w, r)
			return
		}
		n.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			unavailable(w)
			return
		}
		// Whether a Task's creations pass depends on its name only, so
		// that its retries within a run cannot settle it: the first name
		// seen passes, the second not, and so on.
		var task kunosv1.Task
		_ = json.Unmarshal(body, &task)
		mu.Lock()
		pass, seen := kinds[task.Name]
		if !seen {
			pass = len(kinds)%2 == 0
			kinds[task.Name] = pass
		}
		mu.Unlock()
		if pass {
			// Created (the first time), but the answer is lost.
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec := httptest.NewRecorder()
			proxy.ServeHTTP(rec, r)
			if rec.Code == http.StatusCreated {
				passed.Add(1)
			}
		}
		unavailable(w)
	})

	failing.Store(true)
	startCluster(t, front, 3)
	jobs := client.For(c, kunosv1.Jobs).Namespace("t9")
	for _, name := range []string{"ambiguous-1", "ambiguous-2"} {
		if _, err := jobs.Create(context.Background(), newJob("t9", name, 8, 4, 6, "sleep", "0.05"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Each Job's first creation fails (its run stops there), one created
	// and one not; both are tried again by later runs, still failing.
	eventually(t, "Task creations failing ambiguously, some of them created", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(kinds) >= 2 && n.Load() >= 4*int64(len(kinds))
	})
	failing.Store(false)
	start := time.Now()
	for _, name := range []string{"ambiguous-1", "ambiguous-2"} {
		waitJob(t, jobs, name, complete, "Complete")
	}
	t.Logf("%d creations answered 503 (%d of them created); the Jobs completed %v after the outage",
		n.Load(), passed.Load(), time.Since(start).Round(time.Millisecond))
	if created, _, _ := log.counts(); created != 16 {
		t.Fatalf("%d Tasks created, want 16 (8 per Job)", created)
	}
}
