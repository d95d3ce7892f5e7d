package bench

// Side by side: the initial sync of 10k Tasks into a store, by our
// reflector (with our client) and by client-go v0.37's reflector (with a
// typed client-go REST client on the same scheme), against one stubtest
// server in one process, with watch-list on and off. Run:
//
//	cd hack/bench && go test -run='^$' -bench=ReflectorInitialSync -benchmem
//
// peak-MB is the highest HeapInuse sampled every 2ms during the sync above
// the heap before it (the filled store included); retained-B/object is the
// live heap the synced store and what it holds on to add, after a GC, per
// object (the least over the runs: the server shares the process, and the
// first sync also fills its caches).

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	lwcache "github.com/kunos-io/listwatch/cache"
	lwclient "github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/reflector"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

const reflectorBenchNS = "bench"

func seedTasks(b *testing.B, srv *stubtest.Server, n int) {
	b.Helper()
	timeout := int64(600)
	for i := range n {
		name := fmt.Sprintf("task-%06d", i)
		t := &kunosv1.Task{
			TypeMeta: metav1.TypeMeta{Kind: "Task", APIVersion: "kunos.io/v1"},
			ObjectMeta: metav1.ObjectMeta{Namespace: reflectorBenchNS, Name: name,
				UID:    types.UID(fmt.Sprintf("0b6f1a8e-3c5d-4e7f-9a1b-%012d", i)),
				Labels: map[string]string{"app": "bench", "shard": fmt.Sprint(i % 16)}},
			Spec: kunosv1.TaskSpec{Command: []string{"/bin/run", "--input", "/data/" + name, "--verbose"},
				Image: "registry.example/bench:1.0", NodeName: fmt.Sprintf("node-%03d", i%100), TimeoutSeconds: &timeout},
			Status: kunosv1.TaskStatus{Phase: "Running", Message: "started by the benchmark"},
		}
		if _, err := srv.Store().Create(context.Background(), "/tasks/"+reflectorBenchNS+"/"+name, t); err != nil {
			b.Fatal(err)
		}
	}
}

// liveHeap is the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// peakHeap samples HeapInuse until stop is called and returns the peak
// above the starting heap.
func peakHeap() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
					peak.Store(ms.HeapInuse - base)
				}
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

type oursSink struct {
	reflector.Sink[*kunosv1.Task]
	once   sync.Once
	synced chan struct{}
}

func (s *oursSink) Replace(items []*kunosv1.Task, rv string) error {
	err := s.Sink.Replace(items, rv)
	s.once.Do(func() { close(s.synced) })
	return err
}

type theirStore struct {
	cache.Store
	once   sync.Once
	synced chan struct{}
}

func (s *theirStore) Replace(items []any, rv string) error {
	err := s.Store.Replace(items, rv)
	s.once.Do(func() { close(s.synced) })
	return err
}

func BenchmarkReflectorInitialSync(b *testing.B) {
	const n = 10_000
	srv := stubtest.Start(b, stubtest.WithNamespaces(reflectorBenchNS))
	seedTasks(b, srv, n)

	ours, err := lwclient.New(&lwclient.Config{Host: srv.URL, QPS: -1})
	if err != nil {
		b.Fatal(err)
	}
	ourLW := lwclient.For(ours, kunosv1.Tasks).Namespace(reflectorBenchNS).ListerWatcher(nil)

	rc, err := rest.RESTClientFor(&rest.Config{
		Host:    srv.URL,
		APIPath: "/apis",
		QPS:     -1,
		ContentConfig: rest.ContentConfig{
			GroupVersion:         &kunosv1.SchemeGroupVersion,
			NegotiatedSerializer: serializer.NewCodecFactory(kunosv1.Scheme).WithoutConversion(),
			ContentType:          "application/json",
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	theirLW := cache.NewListWatchFromClient(rc, "tasks", reflectorBenchNS, fields.Everything())

	for _, watchList := range []bool{true, false} {
		mode := map[bool]string{true: "watch-list", false: "paged-list"}[watchList]
		b.Run("listwatch/"+mode, func(b *testing.B) {
			var peak, retained uint64
			for b.Loop() {
				b.StopTimer()
				before := liveHeap()
				stop := peakHeap()
				store := lwcache.NewIndexer[*kunosv1.Task](lwcache.MetaNamespaceKeyFunc, nil)
				sink := &oursSink{Sink: reflector.NewStoreSink(store), synced: make(chan struct{})}
				wl := watchList
				r := reflector.New(ourLW, sink, reflector.Options[*kunosv1.Task]{WatchList: &wl})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				b.StartTimer()
				go func() { defer close(done); r.Run(ctx) }()
				<-sink.synced
				b.StopTimer()
				cancel()
				<-done
				peak = max(peak, stop())
				if after := liveHeap(); after > before && (retained == 0 || after-before < retained) {
					retained = after - before // the least: the first sync also fills the server's caches
				}
				if store.Len() != n {
					b.Fatalf("store has %d", store.Len())
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
			b.ReportMetric(float64(retained)/n, "retained-B/object")
		})
		b.Run("client-go/"+mode, func(b *testing.B) {
			clientfeaturestesting.SetFeatureDuringTest(b, clientfeatures.WatchListClient, watchList)
			var peak, retained uint64
			for b.Loop() {
				b.StopTimer()
				before := liveHeap()
				stop := peakHeap()
				store := &theirStore{Store: cache.NewStore(cache.MetaNamespaceKeyFunc), synced: make(chan struct{})}
				r := cache.NewReflectorWithOptions(theirLW, &kunosv1.Task{}, store, cache.ReflectorOptions{})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				b.StartTimer()
				go func() { defer close(done); r.RunWithContext(ctx) }()
				<-store.synced
				b.StopTimer()
				cancel()
				<-done
				peak = max(peak, stop())
				if after := liveHeap(); after > before && (retained == 0 || after-before < retained) {
					retained = after - before // the least: the first sync also fills the server's caches
				}
				if len(store.ListKeys()) != n {
					b.Fatalf("store has %d", len(store.ListKeys()))
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
			b.ReportMetric(float64(retained)/n, "retained-B/object")
		})
	}
}
