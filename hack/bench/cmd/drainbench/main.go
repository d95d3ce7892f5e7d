// Command drainbench measures, end to end, how fast a client consumes a
// watch: each party drains the same backlog of -events MODIFIED events of
// Tasks from an apiserver-stub (memory store) in a process of its own, the
// server in another, and the driver (which writes the objects) in this one.
//
//	go run ./cmd/drainbench [-objects 2000] [-events 50000] [-rounds 3] [-impl listwatch,client-go,raw]
//
// Design. A drain rate is what the client can consume, not what a writer
// produces, so nothing is written while a party is measured: the driver
// creates -objects Tasks (about 1.3 KB of JSON each), notes the collection's
// resourceVersion R, then makes -events updates of them; the server keeps
// them all in its watch history (Options.History ≥ objects+events). Each
// party then, in a child of its own:
//
//  1. lists the Tasks at exactly R (resourceVersion=R,
//     resourceVersionMatch=Exact, one page) and syncs them into its
//     informer: not measured. Its watch call blocks on a gate, so that no
//     event arrives before the measurement starts; it prints READY.
//  2. On GO from the driver it takes its CPU (getrusage) and the time, and
//     opens the gate: the watch starts from R, as any informer's does after
//     its list, and the whole backlog is on the server already.
//  3. When its handler has seen -events updates it prints the wall time and
//     the CPU since GO.
//
// Parties (rotated between rounds):
//
//	listwatch  our informer (lossless delivery, Unbounded, the default)
//	           on our client, one handler counting updates
//	client-go  client-go v0.37's SharedIndexInformer on a rest.RESTClient
//	           over kunosv1.Scheme (JSON), one handler counting updates
//	raw        the limit: one HTTP watch read line by line, each event
//	           decoded by encoding/json into a fresh
//	           struct{Type; Object kunosv1.Task}; no cache, no handler
//
// Each party and round prints one line in `go test -bench` format for
// cmd/benchtable:
//
//	BenchmarkDrainTasks/impl=listwatch  1  31234 events/s  34.5 us/event
//
// events/s is -events over the wall time from GO to the last event;
// us/event is the party's process CPU (user+system) over the same span per
// event. The server's CPU is not counted. It measures; it never asserts,
// but a party that does not see exactly the events it should fails.
//
// -baseline names another build of this command (say of the commit before
// a client change): its listwatch party then runs beside the others, in
// the same rounds against the same server, as listwatch-baseline.
//
// DRAIN_CPUPROFILE=prefix writes a CPU profile of each party's measured
// span to prefix.<impl> (the last round's).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	goruntime "runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/embed"
	lwclient "github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/hack/bench/internal/proc"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/reflector"
)

const namespace = "default"

type config struct {
	role, impl, addr, rv string
	objects, events      int
	rounds               int
	history              int
	baseline             string
}

func main() {
	var c config
	flag.StringVar(&c.role, "role", "driver", "driver, or (internal) server or party")
	flag.StringVar(&c.impl, "impl", "listwatch,client-go,raw", "parties, comma-separated: listwatch, client-go, raw")
	flag.StringVar(&c.addr, "addr", "", "(internal) the server's URL")
	flag.StringVar(&c.rv, "rv", "", "(internal) the resourceVersion the party lists at and watches from")
	flag.IntVar(&c.objects, "objects", 2000, "Tasks created before the backlog")
	flag.IntVar(&c.events, "events", 50000, "updates in the backlog each party drains (a multiple of -objects)")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds; each runs every party once, in rotated order")
	flag.IntVar(&c.history, "history", 0, "(internal) the server's watch history")
	flag.StringVar(&c.baseline, "baseline", "", "another build of this command: its listwatch party runs too, as impl listwatch-baseline (A/B of a client change in one run)")
	flag.Parse()
	var err error
	switch c.role {
	case "driver":
		err = drive(c)
	case "server":
		err = serve(c.history)
	case "party":
		err = party(c)
	default:
		err = fmt.Errorf("unknown -role %q", c.role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "drainbench:", err)
		os.Exit(1)
	}
}

// --- driver ---------------------------------------------------------------

func drive(c config) error {
	if c.objects <= 0 || c.events <= 0 || c.events%c.objects != 0 {
		return fmt.Errorf("-events %d must be a positive multiple of -objects %d", c.events, c.objects)
	}
	srv, err := proc.Start("", "-role", "server", "-history", strconv.Itoa(c.objects+c.events+1000))
	if err != nil {
		return err
	}
	defer srv.Stop()
	addr, err := srv.Expect("ADDR", time.Minute)
	if err != nil {
		return err
	}
	rv, err := fill(addr, c.objects, c.events)
	if err != nil {
		return err
	}
	impls := strings.Split(c.impl, ",")
	if c.baseline != "" {
		impls = append(impls, "listwatch-baseline")
	}
	for round := 0; round < c.rounds; round++ {
		for i := range impls {
			impl := impls[(i+round)%len(impls)]
			line, err := runParty(c, impl, addr, rv)
			if err != nil {
				return fmt.Errorf("%s: %w", impl, err)
			}
			fmt.Println(line)
		}
	}
	return nil
}

// fill creates the objects, then updates them in turn until there are
// events updates; it returns the resourceVersion between the two.
func fill(addr string, objects, events int) (string, error) {
	c, err := lwclient.New(&lwclient.Config{Host: addr, QPS: -1})
	if err != nil {
		return "", err
	}
	tasks := lwclient.For(c, kunosv1.Tasks).Namespace(namespace)
	ctx := context.Background()
	start := time.Now()
	latest := make([]*kunosv1.Task, objects)
	if err := proc.Parallel(objects, 8, func(i int) error {
		t, err := tasks.Create(ctx, benchTask(i), metav1.CreateOptions{})
		latest[i] = t
		return err
	}); err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	_, meta, err := tasks.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return "", err
	}
	rv := meta.ResourceVersion
	for gen := 1; gen <= events/objects; gen++ {
		if err := proc.Parallel(objects, 8, func(i int) error {
			t := latest[i].DeepCopy()
			t.Annotations["kunos.io/generation"] = strconv.Itoa(gen)
			u, err := tasks.Update(ctx, t, metav1.UpdateOptions{})
			latest[i] = u
			return err
		}); err != nil {
			return "", fmt.Errorf("update: %w", err)
		}
	}
	b, _ := json.Marshal(latest[0])
	fmt.Fprintf(os.Stderr, "drainbench: %d Tasks (%d B of JSON each) and %d updates written in %v; watches start at resourceVersion %s\n",
		objects, len(b), events, time.Since(start).Round(time.Millisecond), rv)
	return rv, nil
}

// benchTask is Task i as a batch system would have it: with its labels,
// annotations, command and the server's managedFields about 1.3 KB of JSON.
// Updates change one annotation (status is a subresource).
func benchTask(i int) *kunosv1.Task {
	timeout := int64(3600)
	job := fmt.Sprintf("nightly-etl-%04d", i/20)
	return &kunosv1.Task{
		TypeMeta: metav1.TypeMeta{APIVersion: "kunos.io/v1", Kind: "Task"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s-task-%05d", job, i),
			Namespace: namespace,
			Labels: map[string]string{
				"kunos.io/job": job, "app.kubernetes.io/name": "etl", "app.kubernetes.io/part-of": "warehouse",
				"team": "data-platform", "tier": "batch", "shard": strconv.Itoa(i % 16),
			},
			Annotations: map[string]string{
				"kunos.io/generation":   "0",
				"kunos.io/submitted-by": "scheduler@data-platform.example.com",
				"kunos.io/trace-id":     fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e%04x", i%65536),
			},
		},
		Spec: kunosv1.TaskSpec{
			Command: []string{"/usr/local/bin/etl", "run", "--input=s3://warehouse-raw/events/2024/" + strconv.Itoa(i%365),
				"--output=s3://warehouse-curated/events/", "--format=parquet", "--partitions=64", "--verbose"},
			Image:          "registry.example.com/data-platform/etl:3.14.2",
			NodeName:       fmt.Sprintf("worker-%03d.pool-a.cluster.example", i%100),
			TimeoutSeconds: &timeout,
		},
	}
}

func runParty(c config, impl, addr, rv string) (string, error) {
	bin, role := "", impl
	if impl == "listwatch-baseline" {
		bin, role = c.baseline, "listwatch"
	}
	p, err := proc.Start(bin, "-role", "party", "-impl", role, "-addr", addr, "-rv", rv,
		"-objects", strconv.Itoa(c.objects), "-events", strconv.Itoa(c.events))
	if err != nil {
		return "", err
	}
	defer p.Stop()
	ready, err := p.Expect("READY", 6*time.Minute)
	if err != nil {
		return "", err
	}
	var syncLine string
	if r := strings.Fields(ready); len(r) == 4 && impl != "raw" {
		secs, err1 := strconv.ParseFloat(r[0], 64)
		cpuMS, err2 := strconv.ParseFloat(r[1], 64)
		peak, err3 := strconv.ParseFloat(r[2], 64)
		retained, err4 := strconv.ParseFloat(r[3], 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return "", fmt.Errorf("party said READY %q: %w", ready, err)
		}
		syncLine = fmt.Sprintf("BenchmarkInitialSync/objects=%d/impl=%s\t1\t%.1f ms\t%.1f cpu-ms\t%.2f peak-MB\t%.0f retained-B/object\n",
			c.objects, impl, secs*1000, cpuMS, peak/(1<<20), retained/float64(c.objects))
	}
	if _, err := io.WriteString(p.In, "GO\n"); err != nil {
		return "", err
	}
	done, err := p.Expect("DONE", 10*time.Minute)
	if err != nil {
		return "", err
	}
	f := strings.Fields(done)
	if len(f) != 2 {
		return "", fmt.Errorf("party said DONE %q", done)
	}
	secs, err1 := strconv.ParseFloat(f[0], 64)
	cpuMS, err2 := strconv.ParseFloat(f[1], 64)
	if err := errors.Join(err1, err2); err != nil {
		return "", err
	}
	return syncLine + fmt.Sprintf("BenchmarkDrainTasks/impl=%s\t1\t%.0f events/s\t%.3f us/event",
		impl, float64(c.events)/secs, cpuMS*1000/float64(c.events)), nil
}

// --- server ---------------------------------------------------------------

// serve runs the API server until stdin closes, after printing
// "ADDR <url>". Its history holds every event of the backlog, and nothing
// is compacted while the benchmark runs.
func serve(history int) error {
	opts := embed.Options{Listen: "127.0.0.1:0", NoControllers: true, History: history,
		CompactInterval: time.Hour, MaxHistoryAge: 24 * time.Hour}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := embed.Start(context.Background(), opts)
	if err != nil {
		return err
	}
	defer func() { _ = s.Stop(context.Background()) }()
	fmt.Println("ADDR", s.URL)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// --- party ----------------------------------------------------------------

// liveHeap is the live heap after a full collection.
func liveHeap() uint64 {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// peakHeap samples the heap in use every 5 ms until its stop is called,
// and returns the highest sample above base.
func peakHeap(base uint64) (stop func() uint64) {
	var peak uint64
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms goruntime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
				goruntime.ReadMemStats(&ms)
				if ms.HeapInuse > base {
					peak = max(peak, ms.HeapInuse-base)
				}
			}
		}
	}()
	return func() uint64 { close(done); <-ended; return peak }
}

// gate holds a party's watch until the measurement starts.
type gate chan struct{}

func (g gate) wait(ctx context.Context) error {
	select {
	case <-g:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// party syncs (listwatch, client-go), prints READY, and on GO drains the
// backlog; it prints "DONE <seconds> <cpu-ms>", then waits for stdin to
// close.
func party(c config) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := make(gate)
	// The handlers close allUpdated when the count is reached, so that no
	// polling adds CPU to what is measured.
	var adds, updates atomic.Int64
	allAdded, allUpdated := make(chan struct{}), make(chan struct{})
	onAdd := func() {
		if adds.Add(1) == int64(c.objects) {
			close(allAdded)
		}
	}
	onUpdate := func() {
		if updates.Add(1) == int64(c.events) {
			close(allUpdated)
		}
	}
	// listAtR makes a list the first page of the collection at exactly R,
	// whole (a continue token may not come with resourceVersionMatch).
	listAtR := func(o *metav1.ListOptions) {
		o.ResourceVersion, o.ResourceVersionMatch, o.Limit, o.Continue = c.rv, metav1.ResourceVersionMatchExact, 0, ""
	}
	var drainErr atomic.Pointer[error]
	// The initial sync is measured too: its time and CPU, the heap's peak
	// above where it started, and the heap the synced cache keeps.
	base := liveHeap()
	stopPeak := peakHeap(base)
	syncCPU, syncStart := proc.SelfCPUMillis(), time.Now()
	switch c.impl {
	case "listwatch":
		cl, err := lwclient.New(&lwclient.Config{Host: c.addr, QPS: -1})
		if err != nil {
			return err
		}
		lw := &gatedLW{ListerWatcher: lwclient.For(cl, kunosv1.Tasks).Namespace(namespace).ListerWatcher(nil), open: open, list: listAtR}
		off := false
		inf := informer.New[*kunosv1.Task](lw, informer.Options[*kunosv1.Task]{
			Options: reflector.Options[*kunosv1.Task]{WatchList: &off, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))},
		})
		if _, err := inf.AddEventHandler(informer.HandlerFuncs[*kunosv1.Task]{
			AddFunc:    func(*kunosv1.Task, bool) { onAdd() },
			UpdateFunc: func(_, _ *kunosv1.Task) { onUpdate() },
		}); err != nil {
			return err
		}
		go inf.Run(ctx)
	case "client-go":
		rc, err := rest.RESTClientFor(&rest.Config{
			Host:    c.addr,
			APIPath: "/apis",
			QPS:     -1,
			ContentConfig: rest.ContentConfig{
				GroupVersion:         &kunosv1.SchemeGroupVersion,
				NegotiatedSerializer: serializer.NewCodecFactory(kunosv1.Scheme).WithoutConversion(),
				ContentType:          "application/json",
			},
		})
		if err != nil {
			return err
		}
		base := toolscache.NewListWatchFromClient(rc, "tasks", namespace, fields.Everything())
		lw := toolscache.ToListWatcherWithWatchListSemantics(&toolscache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				listAtR(&o)
				return base.ListWithContext(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				if err := open.wait(ctx); err != nil {
					return nil, err
				}
				return base.WatchWithContext(ctx, o)
			},
		}, noWatchList{})
		inf := toolscache.NewSharedIndexInformer(lw, &kunosv1.Task{}, 0,
			toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { onAdd() },
			UpdateFunc: func(_, _ any) { onUpdate() },
		}); err != nil {
			return err
		}
		go inf.RunWithContext(ctx)
	case "raw":
		close(allAdded) // nothing to sync
		go func() {
			if err := rawDrain(ctx, c, open, onUpdate); err != nil {
				drainErr.Store(&err)
				cancel()
			}
		}()
	default:
		return fmt.Errorf("unknown -impl %q", c.impl)
	}
	select {
	case <-allAdded:
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("sync: %d of %d objects added in 5m", adds.Load(), c.objects)
	}
	syncSecs, syncCPU := time.Since(syncStart).Seconds(), proc.SelfCPUMillis()-syncCPU
	peak := stopPeak()
	retained := int64(liveHeap()) - int64(base)
	fmt.Printf("READY %.6f %.3f %d %d\n", syncSecs, syncCPU, peak, retained)
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "GO" {
		return errors.New("no GO from the driver")
	}
	if path := os.Getenv("DRAIN_CPUPROFILE"); path != "" {
		f, err := os.Create(path + "." + c.impl)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	t0, start := proc.SelfCPUMillis(), time.Now()
	close(open)
	select {
	case <-allUpdated:
	case <-ctx.Done():
	case <-time.After(10 * time.Minute):
	}
	secs, cpu := time.Since(start).Seconds(), proc.SelfCPUMillis()-t0
	pprof.StopCPUProfile()
	if p := drainErr.Load(); p != nil {
		return *p
	}
	if n := updates.Load(); n != int64(c.events) {
		return fmt.Errorf("drain: %d of %d updates seen", n, c.events)
	}
	fmt.Printf("DONE %.6f %.3f\n", secs, cpu)
	for in.Scan() {
	}
	return nil
}

// gatedLW lists at R and holds its watches until the gate opens.
type gatedLW struct {
	*lwclient.ListerWatcher[*kunosv1.Task]
	open gate
	list func(*metav1.ListOptions)
}

func (g *gatedLW) List(ctx context.Context, o metav1.ListOptions) ([]*kunosv1.Task, metav1.ListMeta, error) {
	g.list(&o)
	return g.ListerWatcher.List(ctx, o)
}

func (g *gatedLW) Watch(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	if err := g.open.wait(ctx); err != nil {
		return nil, err
	}
	return g.ListerWatcher.Watch(ctx, o)
}

// noWatchList makes client-go's reflector list, as ours is told to: the
// start point R is a list's.
type noWatchList struct{}

func (noWatchList) IsWatchListSemanticsUnSupported() bool { return true }

// rawEvent is what the raw party decodes each line into.
type rawEvent struct {
	Type   watch.EventType `json:"type"`
	Object kunosv1.Task    `json:"object"`
}

// rawDrain is the limit a client could reach: one watch from R, each
// newline-terminated event decoded with encoding/json into a new object,
// checked for order, and dropped.
func rawDrain(ctx context.Context, c config, open gate, onUpdate func()) error {
	if err := open.wait(ctx); err != nil {
		return err
	}
	url := c.addr + "/apis/kunos.io/v1/namespaces/" + namespace + "/tasks?watch=true&resourceVersion=" + c.rv
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("watch: %s", resp.Status)
	}
	r := bufio.NewReaderSize(resp.Body, 1<<20)
	last := int64(0)
	for got := 0; got < c.events; got++ {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("after %d events: %w", got, err)
		}
		ev := new(rawEvent)
		if err := json.Unmarshal(line, ev); err != nil {
			return fmt.Errorf("event %d: %w", got, err)
		}
		rv, err := strconv.ParseInt(ev.Object.ResourceVersion, 10, 64)
		if err != nil || ev.Type != watch.Modified || rv <= last {
			return fmt.Errorf("event %d: %s at resourceVersion %q after %d", got, ev.Type, ev.Object.ResourceVersion, last)
		}
		last = rv
		onUpdate()
	}
	return nil
}
