package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/client"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkWatchFanoutHTTP writes n Tasks while `watchers` chunked-HTTP
// watches over loopback receive every event. It reports:
//
//	writes/s        create throughput seen by the writers
//	events/s        frames delivered to all watchers per second
//	p50-ms, p99-ms  delay from the write's start to a watcher reading it
//
// The "+slow" variants add one watcher that reads nothing (its TCP buffers
// fill): the others' figures must not change.
//
//	go test -run=^$ -bench=WatchFanoutHTTP -benchtime=2000x ./test/e2e
func BenchmarkWatchFanoutHTTP(b *testing.B) {
	for _, tc := range []struct {
		watchers int
		slow     bool
	}{{0, false}, {100, false}, {1000, false}, {100, true}, {1000, true}} {
		name := fmt.Sprintf("watchers=%d", tc.watchers)
		if tc.slow {
			name += "+slow"
		}
		b.Run(name, func(b *testing.B) {
			b.ResetTimer()
			r := runFanout(b, b.N, tc.watchers, tc.slow)
			b.StopTimer()
			b.ReportMetric(r.writesPerSec, "writes/s")
			if tc.watchers > 0 {
				b.ReportMetric(r.eventsPerSec, "events/s")
				b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
			}
		})
	}
}

type fanoutResult struct {
	writesPerSec, eventsPerSec float64
	p50, p99                   time.Duration
}

type received struct {
	rv int64
	at time.Time
}

// runFanout writes n Tasks with 4 writers while `watchers` HTTP watches
// (plus a never-reading one if slow) receive them; every watcher must
// receive all n events.
func runFanout(b testing.TB, n, watchers int, slow bool) fanoutResult {
	srv := stubtest.Start(b, stubtest.WithHistory(n+1000))
	c, err := client.New(&client.Config{Host: srv.URL, QPS: -1})
	if err != nil {
		b.Fatal(err)
	}
	tasks := client.For[*kunosv1.Task](c, kunosv1.TasksResource).Namespace("bench")
	_, lm, err := tasks.List(context.Background(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	startRV := lm.ResourceVersion
	url := srv.URL + "/apis/kunos.io/v1/namespaces/bench/tasks?watch=true&resourceVersion=" + startRV

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	transport := &http.Transport{MaxIdleConnsPerHost: -1, DisableCompression: true}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport}

	// A slow watcher: a raw connection that sends the request, then never reads.
	if slow {
		conn, err := net.Dial("tcp", srv.URL[len("http://"):])
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", url[len(srv.URL):])
	}

	results := make([][]received, watchers)
	var ready, done sync.WaitGroup
	for w := 0; w < watchers; w++ {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := hc.Do(req)
			ready.Done()
			if err != nil {
				return
			}
			defer resp.Body.Close()
			got := make([]received, 0, n)
			r := bufio.NewReaderSize(resp.Body, 64<<10)
			for len(got) < n {
				line, err := r.ReadSlice('\n')
				if err != nil {
					break
				}
				got = append(got, received{rv: resourceVersionOf(line), at: time.Now()})
			}
			results[w] = got
		}()
	}
	ready.Wait()

	const writers = 4
	sent := make([]time.Time, n)
	rvIndex := make(map[int64]int, n)
	var mu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += writers {
				t := &kunosv1.Task{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t-%d", i)},
					Spec:       kunosv1.TaskSpec{Command: []string{"sleep", "1"}, NodeName: "node-1"},
				}
				at := time.Now()
				created, err := tasks.Create(ctx, t, metav1.CreateOptions{})
				if err != nil {
					b.Error(err)
					return
				}
				rv, _ := strconv.ParseInt(created.ResourceVersion, 10, 64)
				mu.Lock()
				sent[i] = at
				rvIndex[rv] = i
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	writeTime := time.Since(start)
	done.Wait()
	deliverTime := time.Since(start)

	res := fanoutResult{writesPerSec: float64(n) / writeTime.Seconds()}
	if watchers == 0 {
		return res
	}
	var lat []time.Duration
	for w, got := range results {
		if len(got) != n {
			b.Fatalf("watcher %d received %d of %d events", w, len(got), n)
		}
		for k, ev := range got {
			if k > 0 && ev.rv <= got[k-1].rv {
				b.Fatalf("watcher %d: event %d has RV %d after %d", w, k, ev.rv, got[k-1].rv)
			}
			if i, ok := rvIndex[ev.rv]; ok {
				lat = append(lat, ev.at.Sub(sent[i]))
			}
		}
	}
	slices.Sort(lat)
	res.eventsPerSec = float64(n*watchers) / deliverTime.Seconds()
	res.p50, res.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	return res
}

var rvKey = []byte(`"resourceVersion":"`)

// resourceVersionOf finds metadata.resourceVersion in a watch frame without
// decoding it, so the readers cost little next to the server.
func resourceVersionOf(frame []byte) int64 {
	i := bytes.Index(frame, rvKey)
	if i < 0 {
		return -1
	}
	rest := frame[i+len(rvKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return -1
	}
	rv, _ := strconv.ParseInt(string(rest[:j]), 10, 64)
	return rv
}

// TestFanoutBenchmarkRuns keeps the benchmark honest in `go test`: a tiny run
// where every watcher must receive every event.
func TestFanoutBenchmarkRuns(t *testing.T) {
	r := runFanout(t, 50, 5, true)
	if r.eventsPerSec == 0 {
		t.Fatal("no events delivered")
	}
}
