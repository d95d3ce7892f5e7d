// Command fanout measures an API server's watch fan-out side by side with
// etcd's, each party in its own processes: the server in one, its
// watchers in another, the writers in this one. CPU is read from
// /proc/<pid>/stat of each child, so the server's figure is the server's
// alone and the watchers' the watchers' alone.
//
//	go run ./cmd/fanout [-watchers 1000] [-writes 2000] [-rounds 3] [-mode broadcast,selective,paced] [-rate 300]
//
// Parties (-impl, comma-separated, rotated between rounds):
//
//	listwatch       apiserver-stub (memory store) over loopback HTTP/1.1:
//	                every watcher its own connection, chunked JSON frames
//	listwatch-etcd  the same server over an etcd member in its process
//	etcd            an etcd member; every watch multiplexed on one client's
//	                gRPC stream, as a watch cache or an etcd user has them
//
// Modes:
//
//	broadcast  every watcher receives every write (one collection)
//	selective  watcher i receives only the writes for node-i (a
//	           spec.nodeName field selector; an etcd prefix per node)
//	paced      broadcast, the writers held to -rate writes/s in all: how
//	           late a delivery is when the server is not saturated
//
// Each case prints one line in `go test -bench` format for
// hack/bench/cmd/benchtable:
//
//	writes/s          creates per second while the watchers are served
//	events/s          deliveries per second, from the first write to the
//	                  last delivery
//	server-us/event   the server process's CPU per delivery
//	watcher-us/event  the watcher process's CPU per delivery
//	p50-ms, p99-ms    (paced) from a write's start to a watcher reading
//	                  it, over every delivery; the write's start travels
//	                  in the object (an annotation), and all processes
//	                  share the machine's clock
//
// It measures; it never asserts. A watcher that does not receive exactly
// the events it should fails the case (no line is printed, exit 1).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/embed"
	"github.com/kunos-io/listwatch/hack/bench/internal/proc"
	"github.com/kunos-io/listwatch/internal/etcdrun"
	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type config struct {
	role, impl, mode, addr string
	watchers, writes       int
	rounds                 int
	writers, rate          int
}

func main() {
	var c config
	flag.StringVar(&c.role, "role", "driver", "driver, or (internal) server or watchers")
	flag.StringVar(&c.impl, "impl", "listwatch,etcd", "parties, comma-separated: listwatch, listwatch-etcd, etcd")
	flag.StringVar(&c.mode, "mode", "broadcast,selective,paced", "modes, comma-separated: broadcast, selective, paced")
	flag.StringVar(&c.addr, "addr", "", "(internal) the server the watchers use")
	flag.IntVar(&c.watchers, "watchers", 1000, "watchers per case")
	flag.IntVar(&c.writes, "writes", 2000, "writes per case")
	flag.IntVar(&c.rounds, "rounds", 1, "rounds; each runs every party and mode, in rotated order")
	flag.IntVar(&c.writers, "writers", 4, "concurrent writers")
	flag.IntVar(&c.rate, "rate", 300, "paced mode: writes per second in all")
	flag.StringVar(&flagRev, "rev", "0", "(internal) the revision the watches start after")
	flag.Parse()
	var err error
	switch c.role {
	case "driver":
		err = drive(c)
	case "server":
		err = serve(c.impl)
	case "watchers":
		err = watch(c)
	default:
		err = fmt.Errorf("unknown -role %q", c.role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fanout:", err)
		os.Exit(1)
	}
}

// flagRev is the revision the watchers start after.
var flagRev string

const (
	namespace = "default"
	etcdRoot  = "/bench/tasks/"
)

// --- driver ---------------------------------------------------------------

func drive(c config) error {
	impls, modes := strings.Split(c.impl, ","), strings.Split(c.mode, ",")
	for round := 0; round < c.rounds; round++ {
		for _, mode := range modes {
			for i := range impls {
				impl := impls[(i+round)%len(impls)]
				line, err := runCase(c, impl, mode)
				if err != nil {
					return fmt.Errorf("%s %s: %w", impl, mode, err)
				}
				fmt.Println(line)
			}
		}
	}
	return nil
}

func runCase(c config, impl, mode string) (string, error) {
	srv, err := proc.Start("", "-role", "server", "-impl", impl)
	if err != nil {
		return "", err
	}
	defer srv.Stop()
	addr, err := srv.Expect("ADDR", time.Minute)
	if err != nil {
		return "", err
	}
	w, err := newWriter(impl, addr)
	if err != nil {
		return "", err
	}
	defer w.close()
	expect := c.writes // per watcher
	deliveries := c.writes * c.watchers
	if mode == "selective" {
		if c.writes%c.watchers != 0 {
			return "", fmt.Errorf("selective: -writes %d is not a multiple of -watchers %d", c.writes, c.watchers)
		}
		expect, deliveries = c.writes/c.watchers, c.writes
	}
	rev, err := w.revision()
	if err != nil {
		return "", err
	}
	wat, err := proc.Start("", "-role", "watchers", "-impl", impl, "-addr", addr, "-mode", mode,
		"-watchers", strconv.Itoa(c.watchers), "-writes", strconv.Itoa(expect), "-rev", rev)
	if err != nil {
		return "", err
	}
	defer wat.Stop()
	if _, err := wat.Expect("READY", 2*time.Minute); err != nil {
		return "", err
	}
	// Every watch is open at the server; let it settle.
	time.Sleep(500 * time.Millisecond)
	srv0, err1 := srv.CPU()
	wat0, err2 := wat.CPU()
	if err := errors.Join(err1, err2); err != nil {
		return "", err
	}
	write := func(i int) error { return w.create(i, i%c.watchers, 0) }
	if mode == "paced" {
		tick := time.NewTicker(time.Second / time.Duration(c.rate))
		defer tick.Stop()
		write = func(i int) error {
			<-tick.C
			return w.create(i, i%c.watchers, time.Now().UnixNano())
		}
	}
	start := time.Now()
	if err := proc.Parallel(c.writes, c.writers, write); err != nil {
		return "", err
	}
	writeTime := time.Since(start)
	latency, err := wat.Expect("LATENCY", 60*time.Second+2*writeTime)
	if err != nil {
		return "", err
	}
	done, err := wat.Expect("DONE", time.Minute)
	if err != nil {
		return "", err
	}
	elapsed := time.Since(start)
	srv1, err1 := srv.CPU()
	wat1, err2 := wat.CPU()
	if err := errors.Join(err1, err2); err != nil {
		return "", err
	}
	if done != "" {
		return "", fmt.Errorf("watchers: %s", done)
	}
	perEvent := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(deliveries) }
	line := fmt.Sprintf("BenchmarkServerFanout/mode=%s/watchers=%d/impl=%s\t1\t%.1f writes/s\t%.0f events/s\t%.3f server-us/event\t%.3f watcher-us/event",
		mode, c.watchers, impl,
		float64(c.writes)/writeTime.Seconds(),
		float64(deliveries)/elapsed.Seconds(),
		perEvent(srv1-srv0), perEvent(wat1-wat0))
	if mode == "paced" {
		var p50, p99 float64
		if _, err := fmt.Sscan(latency, &p50, &p99); err != nil {
			return "", fmt.Errorf("watchers said LATENCY %q: %w", latency, err)
		}
		line += fmt.Sprintf("\t%.2f p50-ms\t%.2f p99-ms", p50, p99)
	}
	return line, nil
}

// sentAnnotation carries a paced write's start, in Unix nanoseconds.
const sentAnnotation = "bench.kunos.io/sent"

// taskJSON is the object written: a Task of about the size the store
// benchmarks use, on node-<node>, with its write's start when sent != 0.
func taskJSON(i, node int, sent int64) []byte {
	t := &kunosv1.Task{
		TypeMeta:   metav1.TypeMeta{APIVersion: "kunos.io/v1", Kind: "Task"},
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t-%d", i), Namespace: namespace, Labels: map[string]string{"kunos.io/job": fmt.Sprintf("job-%d", i/10), "tier": "batch"}},
		Spec:       kunosv1.TaskSpec{Command: []string{"/bin/sh", "-c", "sleep 1"}, NodeName: fmt.Sprintf("node-%d", node)},
	}
	if sent != 0 {
		t.Annotations = map[string]string{sentAnnotation: strconv.FormatInt(sent, 10)}
	}
	b, _ := json.Marshal(t)
	return b
}

// writer creates objects on one party.
type writer interface {
	// revision is where the watches start: the store's current revision.
	revision() (string, error)
	create(i, node int, sent int64) error
	close()
}

func newWriter(impl, addr string) (writer, error) {
	if impl == "etcd" {
		cli, err := etcdrun.NewClient(etcdrun.ClientOptions{Endpoints: []string{addr}})
		if err != nil {
			return nil, err
		}
		return &etcdWriter{cli: cli}, nil
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	return &httpWriter{base: addr, hc: &http.Client{Transport: tr, Timeout: time.Minute}, tr: tr}, nil
}

type httpWriter struct {
	base string
	hc   *http.Client
	tr   *http.Transport
}

func (w *httpWriter) collection() string {
	return w.base + "/apis/kunos.io/v1/namespaces/" + namespace + "/tasks"
}

func (w *httpWriter) revision() (string, error) {
	resp, err := w.hc.Get(w.collection() + "?limit=1")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var l struct {
		Metadata metav1.ListMeta `json:"metadata"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("list: %s %v", resp.Status, err)
	}
	return l.Metadata.ResourceVersion, nil
}

func (w *httpWriter) create(i, node int, sent int64) error {
	resp, err := w.hc.Post(w.collection(), "application/json", bytes.NewReader(taskJSON(i, node, sent)))
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create t-%d: %s %.200s", i, resp.Status, body)
	}
	return nil
}

func (w *httpWriter) close() { w.tr.CloseIdleConnections() }

type etcdWriter struct{ cli *clientv3.Client }

func etcdKey(i, node int) string { return fmt.Sprintf("%snode-%d/t-%d", etcdRoot, node, i) }

func (w *etcdWriter) revision() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := w.cli.Get(ctx, etcdRoot, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(resp.Header.Revision, 10), nil
}

func (w *etcdWriter) create(i, node int, sent int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A create, as kube-apiserver's: only if the key does not exist.
	key := etcdKey(i, node)
	resp, err := w.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(taskJSON(i, node, sent)))).
		Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return fmt.Errorf("create %s: exists", key)
	}
	return nil
}

func (w *etcdWriter) close() { _ = w.cli.Close() }

// --- server ---------------------------------------------------------------

// serve runs one party's server until stdin closes, after printing
// "ADDR <url>".
func serve(impl string) error {
	dir, err := os.MkdirTemp("", "fanout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// FANOUT_SERVER_CPUPROFILE=file profiles the server process.
	if path := os.Getenv("FANOUT_SERVER_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	switch impl {
	case "etcd":
		m, err := etcdrun.Start(etcdrun.Options{DataDir: dir, LogLevel: "fatal"})
		if err != nil {
			return err
		}
		defer m.Close()
		fmt.Println("ADDR", m.ClientURL)
	case "listwatch", "listwatch-etcd":
		opts := embed.Options{Listen: "127.0.0.1:0", NoControllers: true}
		opts.Logger = quiet
		if impl == "listwatch-etcd" {
			opts.Etcd.DataDir = dir
		}
		s, err := embed.Start(context.Background(), opts)
		if err != nil {
			return err
		}
		defer func() { _ = s.Stop(context.Background()) }()
		fmt.Println("ADDR", s.URL)
	default:
		return fmt.Errorf("unknown -impl %q", impl)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// --- watchers -------------------------------------------------------------

// watch opens the watchers, prints READY, and prints DONE once each has
// received its events (DONE <problem> if one did not), then waits for
// stdin to close.
func watch(c config) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var problem atomic.Pointer[string]
	fail := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		problem.CompareAndSwap(nil, &s)
	}
	var opened, done sync.WaitGroup
	// Paced writes carry their start: each watcher keeps how late each
	// event came, and they are pooled when it is done.
	var latMu sync.Mutex
	var lat []time.Duration
	pool := func(l []time.Duration) { latMu.Lock(); lat = append(lat, l...); latMu.Unlock() }
	if c.impl == "etcd" {
		cli, err := etcdrun.NewClient(etcdrun.ClientOptions{Endpoints: []string{c.addr}})
		if err != nil {
			return err
		}
		defer cli.Close()
		rev, _ := strconv.ParseInt(flagRev, 10, 64)
		for i := 0; i < c.watchers; i++ {
			prefix := etcdRoot
			if c.mode == "selective" {
				prefix = fmt.Sprintf("%snode-%d/", etcdRoot, i)
			}
			wch := cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
			done.Add(1)
			go func() {
				defer done.Done()
				var mine []time.Duration
				defer func() { pool(mine) }()
				got, last := 0, int64(0)
				for resp := range wch {
					if err := resp.Err(); err != nil {
						fail("watcher %d: %v", i, err)
						return
					}
					for _, ev := range resp.Events {
						if ev.Kv.ModRevision <= last {
							fail("watcher %d: revision %d after %d", i, ev.Kv.ModRevision, last)
						}
						last = ev.Kv.ModRevision
						got++
						if sent := sentOf(ev.Kv.Value); sent > 0 {
							mine = append(mine, time.Since(time.Unix(0, sent)))
						}
					}
					if got >= c.writes {
						if got > c.writes {
							fail("watcher %d: %d events, want %d", i, got, c.writes)
						}
						return
					}
				}
				fail("watcher %d: channel closed after %d events", i, got)
			}()
		}
		// clientv3 opens watches lazily; one round trip on the stream
		// makes sure the server has them all.
		if err := cli.RequestProgress(ctx); err != nil {
			return err
		}
	} else {
		tr := &http.Transport{MaxIdleConnsPerHost: c.watchers, DisableCompression: true}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr}
		base := c.addr + "/apis/kunos.io/v1/namespaces/" + namespace + "/tasks?watch=true&resourceVersion=" + flagRev
		for i := 0; i < c.watchers; i++ {
			url := base
			if c.mode == "selective" {
				url += "&fieldSelector=spec.nodeName%3Dnode-" + strconv.Itoa(i)
			}
			opened.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := hc.Do(req)
				opened.Done()
				if err != nil {
					fail("watcher %d: %v", i, err)
					return
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					fail("watcher %d: %s", i, resp.Status)
					return
				}
				r := bufio.NewReaderSize(resp.Body, 64<<10)
				var mine []time.Duration
				defer func() { pool(mine) }()
				last := int64(0)
				for got := 0; got < c.writes; got++ {
					line, err := r.ReadSlice('\n')
					if err != nil {
						fail("watcher %d: after %d events: %v", i, got, err)
						return
					}
					rv := resourceVersionOf(line)
					if rv <= last {
						fail("watcher %d: resourceVersion %d after %d", i, rv, last)
					}
					last = rv
					if sent := sentOf(line); sent > 0 {
						mine = append(mine, time.Since(time.Unix(0, sent)))
					}
				}
			}()
		}
		opened.Wait()
	}
	fmt.Println("READY")
	done.Wait()
	slices.Sort(lat)
	var p50, p99 time.Duration
	if len(lat) > 0 {
		p50, p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	fmt.Printf("LATENCY %.3f %.3f\n", float64(p50.Microseconds())/1000, float64(p99.Microseconds())/1000)
	if p := problem.Load(); p != nil {
		fmt.Println("DONE", *p)
	} else {
		fmt.Println("DONE")
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

var (
	rvKey   = []byte(`"resourceVersion":"`)
	sentKey = []byte(`"` + sentAnnotation + `":"`)
)

// sentOf finds a paced write's start in an object's JSON, or 0.
func sentOf(b []byte) int64 { return quotedIntAfter(b, sentKey) }

// resourceVersionOf finds metadata.resourceVersion in a watch frame
// without decoding it, as etcd's watchers do not decode their values.
func resourceVersionOf(frame []byte) int64 { return quotedIntAfter(frame, rvKey) }

// quotedIntAfter parses the quoted integer that follows key in b; -1 when
// there is none.
func quotedIntAfter(frame, key []byte) int64 {
	i := bytes.Index(frame, key)
	if i < 0 {
		return -1
	}
	rest := frame[i+len(key):]
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
