package reflector_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/reflector"
)

// hostileServer misbehaves in a different way on each of its first six
// list requests and its first six watch requests, then serves correctly:
//
//	500 with a Status body, 503 with a plain-text body, a body that is not
//	JSON (a list of garbage, a watch event that breaks off mid-object), the
//	wrong kind (a JobList, a Job event), a watch event of an unknown type,
//	502 with a Status that has no reason.
//
// Watch-list requests are always refused with 422, as by a server without
// the WatchList feature, so the reflector must fall back to paged lists.
type hostileServer struct {
	lists, watches atomic.Int32
}

const faultsPerKind = 6

const (
	taskA = `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"a","namespace":"ns","resourceVersion":"%d"}}`
	taskB = `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"b","namespace":"ns","resourceVersion":"9"}}`
)

func (h *hostileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	isWatch := q.Get("watch") == "true" || q.Get("watch") == "1"
	if q.Get("sendInitialEvents") == "true" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Invalid","code":422,"message":"sendInitialEvents is forbidden"}`)
		return
	}
	counter := &h.lists
	if isWatch {
		counter = &h.watches
	}
	n := counter.Add(1)
	stream := func(lines ...string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		w.(http.Flusher).Flush()
	}
	if n <= faultsPerKind {
		switch n {
		case 1:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"InternalError","code":500,"message":"etcd is on fire"}`)
		case 2:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "upstream connect error")
		case 3:
			if isWatch {
				stream(`{"type":"ADDED","object":{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"na`)
			} else {
				stream(`{"kind":"TaskList",` + "\x00garbage")
			}
		case 4:
			if isWatch {
				stream(`{"type":"ADDED","object":{"apiVersion":"kunos.io/v1","kind":"Job","metadata":{"name":"j","namespace":"ns","resourceVersion":"12"}}}`)
			} else {
				stream(`{"kind":"JobList","apiVersion":"kunos.io/v1","metadata":{"resourceVersion":"10"},"items":[{"apiVersion":"kunos.io/v1","kind":"Job","metadata":{"name":"j"}}]}`)
			}
		case 5:
			if isWatch {
				stream(`{"type":"EXPLODED","object":` + fmt.Sprintf(taskA, 12) + `}`)
			} else {
				stream(`not json at all`)
			}
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":502,"message":"bad gateway"}`)
		}
		return
	}
	if !isWatch {
		stream(`{"kind":"TaskList","apiVersion":"kunos.io/v1","metadata":{"resourceVersion":"10"},"items":[` +
			fmt.Sprintf(taskA, 8) + "," + taskB + `]}`)
		return
	}
	// A correct watch: one change, then silence until the client leaves.
	stream(`{"type":"MODIFIED","object":` + fmt.Sprintf(taskA, 11) + `}`)
	<-r.Context().Done()
}

// TestHostileServer: a storm of 5xx answers, malformed bodies, events of the
// wrong kind and type. Every failure reaches the error handler as a clear
// error, the reflector backs off and retries, never panics, and converges
// once the server behaves.
func TestHostileServer(t *testing.T) {
	h := &hostileServer{}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	c, err := client.New(&client.Config{Host: ts.URL, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	lw := client.For(c, kunosv1.Tasks).Namespace("ns").ListerWatcher(nil)

	var mu sync.Mutex
	var errs []string
	rn := runWith(t, lw, func(o *reflector.Options[*kunosv1.Task]) {
		o.InitialBackoff = 2 * time.Millisecond
		o.MaxBackoff = 20 * time.Millisecond
		o.WatchErrorHandler = func(err error) {
			mu.Lock()
			errs = append(errs, err.Error())
			mu.Unlock()
		}
	})

	deadline := time.Now().Add(20 * time.Second)
	for {
		v := rn.sink.versions()
		if v["ns/a"] == "11" && v["ns/b"] == "9" {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("no convergence after the faults; sink %v; errors %q", v, errs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p := rn.sink.problems(); len(p) > 0 {
		t.Fatalf("sink saw out-of-order states: %v", p)
	}
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(errs, "\n")
	t.Logf("errors reported:\n%s", all)
	for _, want := range []string{"etcd is on fire", "unable to handle the request", "invalid character",
		"JobList", "got kunos.io/v1 Job", "EXPLODED", "bad gateway"} {
		if !strings.Contains(all, want) {
			t.Errorf("no error mentioning %q reached the handler; got:\n%s", want, all)
		}
	}
	if len(errs) < 2*faultsPerKind {
		t.Errorf("only %d errors reported for %d faulty answers:\n%s", len(errs), 2*faultsPerKind, all)
	}
}
