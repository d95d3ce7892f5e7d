package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkWatchFanoutHTTP writes n Tasks while `watchers` chunked-HTTP
// watches over loopback receive every event, on each backend side by side:
//
//	memory    the in-memory store (stubtest)
//	etcd-1    one server over an embedded etcd member (its watch cache)
//	etcd-2    two servers over the same etcd and prefix: writes go to the
//	          first, watchers alternate between them
//	external  LISTWATCH_FANOUT_URL, e.g. a kube-apiserver with the kunos.io
//	          CRDs (see startExternalTarget); skipped when unset
//
// It reports:
//
//	writes/s        create throughput seen by the writers
//	events/s        frames delivered to all watchers per second
//	p50-ms, p99-ms  delay from the write's start to a watcher reading it
//	pNN-ms-rI       the same for the watchers of replica I (etcd-2)
//	etcd-watches    watchers open in etcd while the HTTP watchers are
//	                connected, from its /metrics: one per resource and
//	                replica, however many HTTP watchers there are
//	etcd-streams    the gRPC watch streams that carry them
//
// The "+slow" variants (memory) add one watcher that reads nothing (its TCP
// buffers fill): the others' figures must not change.
//
//	go test -run=^$ -bench=WatchFanout -benchtime=3000x ./test/e2e
func BenchmarkWatchFanoutHTTP(b *testing.B) {
	for _, be := range fanoutBackends() {
		b.Run(be.name, func(b *testing.B) {
			if be.skip != "" {
				b.Skip(be.skip)
			}
			type fanoutCase struct {
				watchers int
				slow     bool
			}
			cases := []fanoutCase{{0, false}, {100, false}, {1000, false}}
			if be.slow {
				cases = append(cases, fanoutCase{100, true}, fanoutCase{1000, true})
			}
			for _, tc := range cases {
				name := fmt.Sprintf("watchers=%d", tc.watchers)
				if tc.slow {
					name += "+slow"
				}
				b.Run(name, func(b *testing.B) {
					target := be.start(b, b.N)
					b.ResetTimer()
					r := runFanout(b, target, b.N, tc.watchers, tc.slow)
					b.StopTimer()
					r.report(b)
				})
			}
		})
	}
}

type fanoutResult struct {
	writesPerSec, eventsPerSec float64
	p50, p99                   time.Duration
	// perReplica holds p50 and p99 per replica when there are several.
	perReplica [][2]time.Duration
	// etcdWatches and etcdStreams are -1 without etcd or watchers.
	etcdWatches, etcdStreams float64
}

func (r fanoutResult) report(b *testing.B) {
	b.ReportMetric(r.writesPerSec, "writes/s")
	if r.eventsPerSec == 0 {
		return
	}
	b.ReportMetric(r.eventsPerSec, "events/s")
	b.ReportMetric(ms(r.p50), "p50-ms")
	b.ReportMetric(ms(r.p99), "p99-ms")
	for i, p := range r.perReplica {
		b.ReportMetric(ms(p[0]), fmt.Sprintf("p50-ms-r%d", i))
		b.ReportMetric(ms(p[1]), fmt.Sprintf("p99-ms-r%d", i))
	}
	if r.etcdWatches >= 0 {
		b.ReportMetric(r.etcdWatches, "etcd-watches")
		b.ReportMetric(r.etcdStreams, "etcd-streams")
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type received struct {
	rv int64
	at time.Time
}

// watcherResult is what one watcher read.
type watcherResult struct {
	replica int
	got     []received
	err     error  // why it stopped reading early, if it did
	status  string // the response status, when not 200
	bad     []byte // the first frame without a resourceVersion, if any
}

// runFanout writes n Tasks to target with 4 writers while `watchers` HTTP
// watches (plus a never-reading one if slow) receive them; every watcher
// must receive every written event, once, in order, and nothing else.
func runFanout(tb testing.TB, target *fanoutTarget, n, watchers int, slow bool) fanoutResult {
	// Writers and the initial list share a keep-alive transport of their
	// own, closed at the end: the typed client has no way to close its
	// connections, which an external server would keep open past the
	// test (goleak).
	wtr := target.transport(true)
	defer wtr.CloseIdleConnections()
	whc := &http.Client{Transport: wtr, Timeout: time.Minute}
	tasksPath := "/apis/kunos.io/v1/namespaces/" + target.namespace + "/tasks"
	code, body, err := target.do(whc, http.MethodGet, tasksPath, "")
	if err != nil || code != http.StatusOK {
		tb.Fatalf("list tasks: %d %s %v", code, body, err)
	}
	var list struct {
		Metadata metav1.ListMeta `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		tb.Fatalf("list tasks: %v", err)
	}
	startRV := list.Metadata.ResourceVersion
	path := tasksPath + "?watch=true&resourceVersion=" + startRV

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	transport := target.transport(false)
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport}

	// A slow watcher: a raw connection that sends the request, then never reads.
	if slow {
		addr := strings.TrimPrefix(target.urls[0], "http://")
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			tb.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", path)
	}

	results := make([]watcherResult, watchers)
	var ready, done sync.WaitGroup
	for w := 0; w < watchers; w++ {
		ready.Add(1)
		done.Add(1)
		replica := w % len(target.urls)
		results[w].replica = replica
		go func() {
			defer done.Done()
			res := &results[w]
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target.urls[replica]+path, nil)
			target.authorize(req)
			resp, err := hc.Do(req)
			ready.Done()
			if err != nil {
				res.err = err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				res.status = resp.Status
				return
			}
			got := make([]received, 0, n)
			r := bufio.NewReaderSize(resp.Body, 64<<10)
			for len(got) < n {
				line, err := r.ReadSlice('\n')
				if err != nil {
					res.err = err
					break
				}
				rv := resourceVersionOf(line)
				if rv < 0 && res.bad == nil {
					res.bad = bytes.Clone(line)
				}
				got = append(got, received{rv: rv, at: time.Now()})
			}
			res.got = got
		}()
	}
	ready.Wait()

	res := fanoutResult{etcdWatches: -1, etcdStreams: -1}
	if target.etcdMetrics != "" && watchers > 0 {
		// Every HTTP watcher is registered with its server now.
		v, err := etcdGauge(target.etcdMetrics, etcdWatcherGauge)
		if err != nil {
			tb.Fatal(err)
		}
		res.etcdWatches = v - target.etcdWatchesBefore
		if v, err = etcdGauge(target.etcdMetrics, etcdStreamGauge); err != nil {
			tb.Fatal(err)
		}
		res.etcdStreams = v - target.etcdStreamsBefore
	}

	const writers = 4
	sent := make([]time.Time, n)
	rvIndex := make(map[int64]int, n)
	var mu sync.Mutex
	var writeErr error
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += writers {
				t := &kunosv1.Task{
					TypeMeta:   metav1.TypeMeta{APIVersion: "kunos.io/v1", Kind: "Task"},
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t-%d", i)},
					Spec:       kunosv1.TaskSpec{Command: []string{"sleep", "1"}, NodeName: "node-1"},
				}
				data, _ := json.Marshal(t)
				at := time.Now()
				code, body, err := target.do(whc, http.MethodPost, tasksPath, string(data))
				if err == nil && code != http.StatusCreated {
					err = fmt.Errorf("%d %.300s", code, body)
				}
				rv := resourceVersionOf([]byte(body))
				if err == nil && rv < 0 {
					err = fmt.Errorf("no resourceVersion in %.300s", body)
				}
				mu.Lock()
				if err != nil {
					if writeErr == nil {
						writeErr = fmt.Errorf("create %s: %w", t.Name, err)
					}
					mu.Unlock()
					return
				}
				sent[i] = at
				rvIndex[rv] = i
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	writeTime := time.Since(start)
	if writeErr != nil {
		cancel()
		done.Wait()
		tb.Fatal(writeErr)
	}
	// Give the watchers a generous bound to catch up, then end their
	// requests so that a missing event is reported rather than hung on.
	allDone := make(chan struct{})
	go func() { done.Wait(); close(allDone) }()
	timedOut := false
	select {
	case <-allDone:
	case <-time.After(30*time.Second + 2*writeTime):
		timedOut = true
		cancel()
		<-allDone
	}
	deliverTime := time.Since(start)

	res.writesPerSec = float64(n) / writeTime.Seconds()
	if watchers == 0 {
		return res
	}
	if len(rvIndex) != n {
		tb.Fatalf("%d writes returned %d distinct resourceVersions", n, len(rvIndex))
	}
	if problems := checkWatchers(target, results, rvIndex, n); len(problems) > 0 {
		for _, p := range problems[:min(len(problems), 10)] {
			tb.Error(p)
		}
		perReplica := make([]int, len(target.urls))
		for _, r := range results {
			if !complete(r, rvIndex, n) {
				perReplica[r.replica]++
			}
		}
		tb.Fatalf("%d of %d watchers did not receive exactly the %d written events (per replica %v; delivery timed out: %v)",
			len(problems), watchers, n, perReplica, timedOut)
	}
	var lat []time.Duration
	byReplica := make([][]time.Duration, len(target.urls))
	for _, r := range results {
		for _, ev := range r.got {
			d := ev.at.Sub(sent[rvIndex[ev.rv]])
			lat = append(lat, d)
			byReplica[r.replica] = append(byReplica[r.replica], d)
		}
	}
	res.eventsPerSec = float64(n*watchers) / deliverTime.Seconds()
	res.p50, res.p99 = percentiles(lat)
	if len(byReplica) > 1 {
		for _, l := range byReplica {
			p50, p99 := percentiles(l)
			res.perReplica = append(res.perReplica, [2]time.Duration{p50, p99})
		}
	}
	return res
}

func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

// complete reports whether a watcher received exactly the written events,
// in increasing resourceVersion order.
func complete(r watcherResult, rvIndex map[int64]int, n int) bool {
	if len(r.got) != n {
		return false
	}
	for k, ev := range r.got {
		if _, ok := rvIndex[ev.rv]; !ok || (k > 0 && ev.rv <= r.got[k-1].rv) {
			return false
		}
	}
	return true
}

// checkWatchers describes every watcher that did not receive exactly the
// written events in order: what it got, the first written event it lacks,
// and why it stopped.
func checkWatchers(target *fanoutTarget, results []watcherResult, rvIndex map[int64]int, n int) []string {
	written := make([]int64, 0, len(rvIndex))
	for rv := range rvIndex {
		written = append(written, rv)
	}
	slices.Sort(written)
	var problems []string
	for w, r := range results {
		if complete(r, rvIndex, n) {
			continue
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "watcher %d (replica %d, %s): received %d of %d events", w, r.replica, target.urls[r.replica], len(r.got), n)
		if r.status != "" {
			fmt.Fprintf(&sb, "; response %s", r.status)
		}
		have := make(map[int64]bool, len(r.got))
		for k, ev := range r.got {
			if k > 0 && ev.rv <= r.got[k-1].rv {
				fmt.Fprintf(&sb, "; event %d has RV %d after %d", k, ev.rv, r.got[k-1].rv)
				break
			}
			have[ev.rv] = true
		}
		for _, ev := range r.got {
			if _, ok := rvIndex[ev.rv]; !ok {
				fmt.Fprintf(&sb, "; unexpected event with RV %d", ev.rv)
				break
			}
		}
		missing := 0
		for _, rv := range written {
			if !have[rv] {
				if missing == 0 {
					fmt.Fprintf(&sb, "; first missing RV %d (write t-%d)", rv, rvIndex[rv])
				}
				missing++
			}
		}
		if missing > 0 {
			fmt.Fprintf(&sb, "; %d missing", missing)
		}
		if len(r.got) > 0 {
			fmt.Fprintf(&sb, "; last RV received %d", r.got[len(r.got)-1].rv)
		}
		if r.err != nil {
			fmt.Fprintf(&sb, "; read error: %v", r.err)
		}
		if r.bad != nil {
			fmt.Fprintf(&sb, "; frame without resourceVersion: %.300q", r.bad)
		}
		problems = append(problems, sb.String())
	}
	return problems
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
	rv, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		return -1
	}
	return rv
}

// TestFanoutBenchmarkRuns keeps the benchmark honest in `go test`: a tiny
// run on each in-process backend where every watcher must receive every
// event, and the etcd backends must not open an etcd watch per watcher.
func TestFanoutBenchmarkRuns(t *testing.T) {
	for _, tc := range []struct {
		backend     string
		n, watchers int
		slow        bool
	}{
		{backend: "memory", n: 50, watchers: 5, slow: true},
		{backend: "etcd-1", n: 30, watchers: 6},
		{backend: "etcd-2", n: 30, watchers: 6},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			i := slices.IndexFunc(fanoutBackends(), func(b fanoutBackend) bool { return b.name == tc.backend })
			target := fanoutBackends()[i].start(t, tc.n)
			r := runFanout(t, target, tc.n, tc.watchers, tc.slow)
			if r.eventsPerSec == 0 {
				t.Fatal("no events delivered")
			}
			if target.etcdMetrics == "" {
				return
			}
			t.Logf("etcd watches %v, streams %v", r.etcdWatches, r.etcdStreams)
			if r.etcdWatches < 1 || r.etcdWatches > float64(target.maxEtcdWatches()) {
				t.Fatalf("%d watchers over %d replicas: %v etcd watches, want 1..%d", tc.watchers, len(target.urls), r.etcdWatches, target.maxEtcdWatches())
			}
		})
	}
}
