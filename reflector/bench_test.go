package reflector_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/reflector"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

var benchLarge = flag.Bool("reflector.large", false, "also benchmark the initial sync of 100k objects")

// seed stores n tasks of about 500 bytes of JSON each directly in the
// server's store.
func seed(b *testing.B, srv *stubtest.Server, n int) {
	b.Helper()
	ctx := context.Background()
	timeout := int64(600)
	for i := range n {
		name := fmt.Sprintf("task-%06d", i)
		t := &kunosv1.Task{
			TypeMeta: metav1.TypeMeta{Kind: "Task", APIVersion: "kunos.io/v1"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(fmt.Sprintf("0b6f1a8e-3c5d-4e7f-9a1b-%012d", i)),
				Labels: map[string]string{"app": "bench", "shard": fmt.Sprint(i % 16)}},
			Spec: kunosv1.TaskSpec{Command: []string{"/bin/run", "--input", "/data/" + name, "--verbose"},
				Image: "registry.example/bench:1.0", NodeName: fmt.Sprintf("node-%03d", i%100), TimeoutSeconds: &timeout},
			Status: kunosv1.TaskStatus{Phase: "Running", Message: "started by the benchmark"},
		}
		if _, err := srv.Store().Create(ctx, "/tasks/"+ns+"/"+name, t); err != nil {
			b.Fatal(err)
		}
	}
}

// signalSink closes synced at its first Replace.
type signalSink struct {
	reflector.Sink[*kunosv1.Task]
	once   sync.Once
	synced chan struct{}
}

func (s *signalSink) Replace(items []*kunosv1.Task, rv string) error {
	err := s.Sink.Replace(items, rv)
	s.once.Do(func() { close(s.synced) })
	return err
}

// BenchmarkInitialSync measures the time and peak heap of a reflector's
// first sync into a cache.Indexer, by watch-list and by paged list, against
// stubtest over HTTP. peak-MB is the highest HeapInuse seen (sampled every
// 2ms) above the heap before the sync; it includes the filled store.
func BenchmarkInitialSync(b *testing.B) {
	sizes := []int{10_000}
	if *benchLarge {
		sizes = append(sizes, 100_000)
	}
	for _, n := range sizes {
		srv := stubtest.Start(b)
		seed(b, srv, n)
		c, err := client.New(&client.Config{Host: srv.URL, QPS: -1})
		if err != nil {
			b.Fatal(err)
		}
		lw := client.For(c, kunosv1.Tasks).Namespace(ns).ListerWatcher(nil)
		for _, mode := range []string{"watch-list", "paged-list"} {
			b.Run(fmt.Sprintf("%s/n=%d", mode, n), func(b *testing.B) {
				var peak uint64
				for b.Loop() {
					p := syncOnce(b, lw, mode == "watch-list", n)
					peak = max(peak, p)
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
			})
		}
	}
}

func syncOnce(b *testing.B, lw reflector.ListerWatcher[*kunosv1.Task], watchList bool, n int) uint64 {
	b.StopTimer()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
					peak.Store(ms.HeapInuse - base)
				}
			}
		}
	}()
	store := cache.NewIndexer[*kunosv1.Task](cache.MetaNamespaceKeyFunc, nil)
	sink := &signalSink{Sink: reflector.NewStoreSink(store), synced: make(chan struct{})}
	on := watchList
	r := reflector.New(lw, sink, reflector.Options[*kunosv1.Task]{WatchList: &on, Logger: discardLogger()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.StartTimer()
	go func() { defer close(done); r.Run(ctx) }()
	<-sink.synced
	b.StopTimer()
	cancel()
	<-done
	close(stopSampling)
	sampling.Wait()
	if store.Len() != n {
		b.Fatalf("store has %d objects, want %d", store.Len(), n)
	}
	b.StartTimer()
	return peak.Load()
}

// nopSink counts what it is given and signals when it has seen n events.
type nopSink struct {
	n      int
	seen   int
	synced chan struct{}
	done   chan struct{}
}

func (s *nopSink) Replace([]*kunosv1.Task, string) error { close(s.synced); return nil }
func (s *nopSink) Add(*kunosv1.Task) error               { return s.event() }
func (s *nopSink) Update(*kunosv1.Task) error            { return s.event() }
func (s *nopSink) Delete(*kunosv1.Task) error            { return s.event() }
func (s *nopSink) Bookmark(string)                       {}
func (s *nopSink) event() error {
	if s.seen++; s.seen == s.n {
		close(s.done)
	}
	return nil
}

// streamLW serves a watch-list whose stream then carries the given events.
type streamLW struct{ events []watch.Event }

func (l streamLW) List(context.Context, metav1.ListOptions) ([]*kunosv1.Task, metav1.ListMeta, error) {
	return nil, metav1.ListMeta{ResourceVersion: "1"}, nil
}

func (l streamLW) Watch(context.Context, metav1.ListOptions) (watch.Interface, error) {
	w := watch.NewFakeWithChanSize(len(l.events)+1, false)
	w.Action(watch.Bookmark, bookmark("1", true))
	for _, ev := range l.events {
		w.Action(ev.Type, ev.Object)
	}
	return w, nil
}

// BenchmarkStreamEvent measures the reflector's own cost per watch event
// (no network, no decoding): type check, Transform, resourceVersion
// tracking, watchdog bookkeeping and the Sink call.
func BenchmarkStreamEvent(b *testing.B) {
	events := make([]watch.Event, b.N)
	for i := range events {
		events[i] = watch.Event{Type: watch.Modified, Object: task(fmt.Sprintf("t%d", i%1000), fmt.Sprint(i+2))}
	}
	sink := &nopSink{n: b.N, synced: make(chan struct{}), done: make(chan struct{})}
	r := reflector.New[*kunosv1.Task](streamLW{events}, sink, reflector.Options[*kunosv1.Task]{
		Logger:    discardLogger(),
		Transform: func(t *kunosv1.Task) (*kunosv1.Task, error) { return t, nil },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	go func() { defer close(done); r.Run(ctx) }()
	<-sink.done
	b.StopTimer()
	cancel()
	<-done
}
