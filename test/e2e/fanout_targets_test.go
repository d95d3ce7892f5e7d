package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/embed"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/internal/etcdrun"
)

// fanoutTarget is one API that the fan-out benchmark writes to and
// watches: a single server, or several replicas serving the same API.
type fanoutTarget struct {
	// urls are the replicas' base URLs. Writes go to urls[0]; watcher w
	// watches urls[w%len(urls)].
	urls      []string
	namespace string
	// token is sent as a bearer token; tls is nil for plain http.
	token string
	tls   *tls.Config
	// etcdMetrics is the /metrics URL of the etcd member under the
	// replicas ("" when there is none); etcdWatchesBefore and
	// etcdStreamsBefore are its gauges before the replicas started.
	etcdMetrics                          string
	etcdWatchesBefore, etcdStreamsBefore float64
}

// fanoutBackend starts targets of one kind. start registers the target's
// shutdown with tb.Cleanup; n is the number of events the run will write.
type fanoutBackend struct {
	name string
	// slow runs the "+slow" variants (a never-reading raw TCP watcher).
	slow bool
	// skip, when set, is why this backend does not run.
	skip  string
	start func(tb testing.TB, n int) *fanoutTarget
}

// fanoutBackends are the targets of BenchmarkWatchFanoutHTTP, in order.
func fanoutBackends() []fanoutBackend {
	ext := fanoutBackend{name: "external", start: startExternalTarget}
	if os.Getenv("LISTWATCH_FANOUT_URL") == "" {
		ext.skip = "LISTWATCH_FANOUT_URL is not set"
	}
	return []fanoutBackend{
		{name: "memory", slow: true, start: startMemoryTarget},
		{name: "etcd-1", start: func(tb testing.TB, n int) *fanoutTarget { return startEtcdTarget(tb, n, 1) }},
		{name: "etcd-2", start: func(tb testing.TB, n int) *fanoutTarget { return startEtcdTarget(tb, n, 2) }},
		ext,
	}
}

// startMemoryTarget is an in-process server on the in-memory store.
func startMemoryTarget(tb testing.TB, n int) *fanoutTarget {
	srv := stubtest.Start(tb, stubtest.WithHistory(n+1000), stubtest.WithNamespaces("bench"))
	return &fanoutTarget{urls: []string{srv.URL}, namespace: "bench"}
}

// startEtcdTarget starts an embedded etcd member in a temporary directory
// and `replicas` in-process API servers over it, all with the same prefix:
// one API, served by each of them.
func startEtcdTarget(tb testing.TB, n, replicas int) *fanoutTarget {
	tb.Helper()
	dir := tb.TempDir()
	// LISTWATCH_FANOUT_ETCD_LOG=warn shows etcd's own warnings (slow
	// fdatasync, applies that took too long) when a run goes wrong.
	logLevel := os.Getenv("LISTWATCH_FANOUT_ETCD_LOG")
	if logLevel == "" {
		logLevel = "fatal"
	}
	// Benchmarks run etcd's default timings, as --data-dir does (its
	// election alone takes a second); the short test runs elect at once.
	_, bench := tb.(*testing.B)
	m, err := etcdrun.Start(etcdrun.Options{DataDir: dir, FastElection: !bench, LogLevel: logLevel})
	if err != nil {
		tb.Fatalf("embedded etcd: %v", err)
	}
	// Cleanups run last-in first-out: the servers stop before the member,
	// and the member before its directory goes.
	tb.Cleanup(m.Close)
	t := &fanoutTarget{namespace: "bench", etcdMetrics: m.ClientURL + "/metrics"}
	if t.etcdWatchesBefore, err = etcdGauge(t.etcdMetrics, etcdWatcherGauge); err != nil {
		tb.Fatal(err)
	}
	if t.etcdStreamsBefore, err = etcdGauge(t.etcdMetrics, etcdStreamGauge); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	for i := 0; i < replicas; i++ {
		s, err := embed.Start(ctx, embed.Options{
			Config:  server.Config{Logger: slog.New(slog.DiscardHandler)},
			Listen:  "127.0.0.1:0",
			History: n + 1000,
			// The fan-out is measured alone, without the garbage
			// collector's and namespace controller's watches and reads.
			NoControllers: true,
			Etcd:          embed.EtcdOptions{Servers: []string{m.ClientURL}, Prefix: "/listwatch-bench"},
		})
		if err != nil {
			tb.Fatalf("replica %d: %v", i, err)
		}
		tb.Cleanup(func() {
			stopCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
			defer stop()
			_ = s.Stop(stopCtx)
			<-s.Done()
		})
		t.urls = append(t.urls, s.URL)
		if i == 0 {
			if err := server.EnsureNamespaces(ctx, s.Store(), "bench"); err != nil {
				tb.Fatalf("namespace: %v", err)
			}
		}
	}
	// The replicas' watch caches open their etcd watches in the
	// background: let them, so that the count read under load is not
	// short of one that was merely late.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		v, err := etcdGauge(t.etcdMetrics, etcdWatcherGauge)
		if err != nil {
			tb.Fatal(err)
		}
		if v-t.etcdWatchesBefore >= float64(t.maxEtcdWatches()) {
			break
		}
	}
	return t
}

// startExternalTarget uses a server that is already running:
//
//	LISTWATCH_FANOUT_URL       base URL; several, comma-separated, are replicas
//	                           of one API (writes go to the first)
//	LISTWATCH_FANOUT_TOKEN     bearer token (optional)
//	LISTWATCH_FANOUT_INSECURE  1: skip verifying the server's certificate
//	LISTWATCH_FANOUT_CA        PEM file of the CA that signed it (optional)
//
// A kube-apiserver needs the kunos.io CRDs installed. Each run writes into
// a namespace of its own, created first (where the server has namespaces)
// and deleted afterwards.
func startExternalTarget(tb testing.TB, _ int) *fanoutTarget {
	tb.Helper()
	t := &fanoutTarget{
		namespace: fmt.Sprintf("lw-bench-%d", time.Now().UnixNano()),
		token:     os.Getenv("LISTWATCH_FANOUT_TOKEN"),
	}
	for _, u := range strings.Split(os.Getenv("LISTWATCH_FANOUT_URL"), ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			t.urls = append(t.urls, u)
		}
	}
	if strings.HasPrefix(t.urls[0], "https://") {
		t.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		if os.Getenv("LISTWATCH_FANOUT_INSECURE") == "1" {
			t.tls.InsecureSkipVerify = true //nolint:gosec // asked for, for a test cluster
		}
		if ca := os.Getenv("LISTWATCH_FANOUT_CA"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				tb.Fatal(err)
			}
			t.tls.RootCAs = x509.NewCertPool()
			if !t.tls.RootCAs.AppendCertsFromPEM(pem) {
				tb.Fatalf("%s: no PEM certificate", ca)
			}
		}
	}
	hc := &http.Client{Transport: t.transport(true), Timeout: 30 * time.Second}
	body := fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, t.namespace)
	code, msg, err := t.do(hc, http.MethodPost, "/api/v1/namespaces", body)
	switch {
	case err != nil:
		tb.Fatalf("create namespace %s: %v", t.namespace, err)
	case code == http.StatusCreated || code == http.StatusNotFound:
		// Created, or a server without namespaces (apiserver-stub).
	default:
		tb.Fatalf("create namespace %s: %d %s", t.namespace, code, msg)
	}
	tb.Cleanup(func() {
		if code == http.StatusCreated {
			_, _, _ = t.do(hc, http.MethodDelete, "/api/v1/namespaces/"+t.namespace, "")
		}
		hc.CloseIdleConnections()
	})
	return t
}

// transport is a fresh HTTP/1.1 transport for the target, without
// compression; keepAlive false gives each request its own connection (one
// per watcher).
func (t *fanoutTarget) transport(keepAlive bool) *http.Transport {
	tr := &http.Transport{DisableCompression: true, TLSClientConfig: t.tls, MaxIdleConnsPerHost: 16}
	if !keepAlive {
		tr.MaxIdleConnsPerHost = -1
	}
	return tr
}

// do sends one request to urls[0] with the target's credentials and
// returns the status code and the body.
func (t *fanoutTarget) do(hc *http.Client, method, path, body string) (int, string, error) {
	req, err := http.NewRequest(method, t.urls[0]+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	t.authorize(req)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg), err
}

func (t *fanoutTarget) authorize(req *http.Request) {
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
}

// etcdWatcherGauge counts the watchers registered in etcd's MVCC store
// (every Watch of every client, whatever stream carries it);
// etcdStreamGauge counts the gRPC watch streams that carry them. Both are
// process-wide (Prometheus' default registry), hence the baseline taken
// before the replicas start.
const (
	etcdWatcherGauge = "etcd_debugging_mvcc_watcher_total"
	etcdStreamGauge  = "etcd_debugging_mvcc_watch_stream_total"
)

// etcdGauge reads one unlabelled gauge from an etcd member's /metrics.
func etcdGauge(metricsURL, name string) (float64, error) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(metricsURL)
	if err != nil {
		return 0, fmt.Errorf("etcd metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("etcd metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("etcd metrics: %w", err)
	}
	return 0, fmt.Errorf("etcd metrics: no %s in %s", name, metricsURL)
}

// maxEtcdWatches is what the replicas of a target may cost etcd: one watch
// per resource and replica, however many clients watch them.
func (t *fanoutTarget) maxEtcdWatches() int { return len(server.Resources()) * len(t.urls) }
