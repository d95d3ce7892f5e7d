package bench

// Side by side: events flowing from a watch through an informer to 1, 10
// and 100 handlers, in our informer (Unbounded, the default and client-go's policy, and Coalesce)
// and in client-go v0.37's SharedIndexInformer, fed by
// the same in-memory watch in one process run. Run:
//
//	cd hack/bench && go test -run='^$' -bench=InformerEvents -benchmem
//
// One op is one MODIFIED event (1000 Tasks, two alternating versions each,
// so every event changes the resourceVersion) handled by every handler; the
// clock stops when every handler saw an ADDED end marker sent after the
// last event. Under Coalesce handlers may skip intermediate states
// (calls/op/handler below 1).
//
// client-go's own BenchmarkListener (one processorListener, unexported) runs
// from this module too, beside ours of the same shape:
//
//	cd hack/bench && go test -run='^$' -bench='^BenchmarkListener$' -benchmem k8s.io/client-go/tools/cache
//	go test -run='^$' -bench='^BenchmarkListener$' -benchmem ./informer

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/reflector"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// infWatch is a watch.Interface over a channel the benchmark fills.
type infWatch struct {
	ch   chan watch.Event
	stop chan struct{}
	once sync.Once
}

func (w *infWatch) ResultChan() <-chan watch.Event { return w.ch }
func (w *infWatch) Stop()                          { w.once.Do(func() { close(w.stop) }) }

// infSource is one benchmark's event source: a fixed list, then one watch
// whose events the benchmark sends.
type infSource struct {
	items   []*kunosv1.Task
	watches chan *infWatch
}

func newInfSource(items []*kunosv1.Task) *infSource {
	return &infSource{items: items, watches: make(chan *infWatch, 1)}
}

func (s *infSource) watch() *infWatch {
	w := &infWatch{ch: make(chan watch.Event, 1024), stop: make(chan struct{})}
	s.watches <- w
	return w
}

// ours implements reflector.ListerWatcher.
func (s *infSource) List(ctx context.Context, _ metav1.ListOptions) ([]*kunosv1.Task, metav1.ListMeta, error) {
	return slices.Clone(s.items), metav1.ListMeta{ResourceVersion: "1"}, nil // the reflector owns the slice
}
func (s *infSource) Watch(ctx context.Context, _ metav1.ListOptions) (watch.Interface, error) {
	return s.watch(), nil
}

// theirs returns a client-go ListerWatcher over the same source that opts
// out of watch-list (the fake does not send the initial-events bookmark).
func (s *infSource) theirs() cache.ListerWatcher {
	return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, _ metav1.ListOptions) (runtime.Object, error) {
			l := &kunosv1.TaskList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}}
			for _, t := range s.items {
				l.Items = append(l.Items, *t)
			}
			return l, nil
		},
		WatchFuncWithContext: func(ctx context.Context, _ metav1.ListOptions) (watch.Interface, error) {
			return s.watch(), nil
		},
	}, noWatchList{})
}

type noWatchList struct{}

func (noWatchList) IsWatchListSemanticsUnSupported() bool { return true }

// infCounter counts handler calls and closes done on the end marker.
type infCounter struct {
	n    atomic.Int64
	done chan struct{}
}

func (c *infCounter) add(obj metav1.Object) {
	c.n.Add(1)
	if obj.GetName() == "zz-end" {
		close(c.done)
	}
}

func infTask(name string, rv int) *kunosv1.Task {
	return &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name, ResourceVersion: strconv.Itoa(rv)}}
}

type infImpl struct {
	name string
	// start runs an informer over src with handlers counters until ctx
	// ends; it returns once all handlers are synced.
	start func(ctx context.Context, b *testing.B, src *infSource, counters []*infCounter, wg *sync.WaitGroup)
}

func oursImpl(p informer.Policy) infImpl {
	return infImpl{name: "listwatch-" + p.String(), start: func(ctx context.Context, b *testing.B, src *infSource, counters []*infCounter, wg *sync.WaitGroup) {
		off := false
		inf := informer.New[*kunosv1.Task](src, informer.Options[*kunosv1.Task]{
			Options:  reflector.Options[*kunosv1.Task]{WatchList: &off, WatchErrorHandler: func(err error) { b.Logf("watch error: %v", err) }},
			Delivery: informer.Delivery{Policy: p},
		})
		var synced []func() bool
		for _, c := range counters {
			reg, err := inf.AddEventHandler(informer.HandlerFuncs[*kunosv1.Task]{
				AddFunc:    func(obj *kunosv1.Task, _ bool) { c.add(obj) },
				UpdateFunc: func(_, obj *kunosv1.Task) { c.add(obj) },
			})
			if err != nil {
				b.Fatal(err)
			}
			synced = append(synced, reg.HasSynced)
		}
		wg.Add(1)
		go func() { defer wg.Done(); inf.Run(ctx) }()
		if !informer.WaitForCacheSync(ctx, synced...) {
			b.Fatal("not synced")
		}
	}}
}

func clientGoImpl() infImpl {
	return infImpl{name: "client-go", start: func(ctx context.Context, b *testing.B, src *infSource, counters []*infCounter, wg *sync.WaitGroup) {
		inf := cache.NewSharedIndexInformer(src.theirs(), &kunosv1.Task{}, 0,
			cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		var synced []cache.InformerSynced
		for _, c := range counters {
			reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
				AddFunc:    func(obj any) { c.add(obj.(metav1.Object)) },
				UpdateFunc: func(_, obj any) { c.add(obj.(metav1.Object)) },
			})
			if err != nil {
				b.Fatal(err)
			}
			synced = append(synced, reg.HasSynced)
		}
		wg.Add(1)
		go func() { defer wg.Done(); inf.RunWithContext(ctx) }()
		if !cache.WaitForCacheSync(ctx.Done(), synced...) {
			b.Fatal("not synced")
		}
	}}
}

func BenchmarkInformerEvents(b *testing.B) {
	const keys = 1000
	items := make([]*kunosv1.Task, keys)
	versions := make([][2]*kunosv1.Task, keys)
	for i := range keys {
		name := fmt.Sprintf("t%04d", i)
		items[i] = infTask(name, 1)
		versions[i] = [2]*kunosv1.Task{infTask(name, 2), infTask(name, 3)}
	}
	impls := []infImpl{oursImpl(informer.Coalesce), oursImpl(informer.Unbounded), clientGoImpl()}
	for _, handlers := range []int{1, 10, 100} {
		for _, impl := range impls {
			b.Run(fmt.Sprintf("handlers=%d/%s", handlers, impl.name), func(b *testing.B) {
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				defer func() { cancel(); wg.Wait() }()
				src := newInfSource(items)
				counters := make([]*infCounter, handlers)
				for i := range counters {
					counters[i] = &infCounter{done: make(chan struct{})}
				}
				impl.start(ctx, b, src, counters, &wg)
				w := <-src.watches
				for _, c := range counters {
					c.n.Store(0)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					w.ch <- watch.Event{Type: watch.Modified, Object: versions[i%keys][(i/keys)%2]}
				}
				w.ch <- watch.Event{Type: watch.Added, Object: infTask("zz-end", 4)}
				for _, c := range counters {
					<-c.done
				}
				b.StopTimer()
				var calls int64
				for _, c := range counters {
					calls += c.n.Load() - 1
				}
				b.ReportMetric(float64(calls)/float64(b.N)/float64(handlers), "calls/op/handler")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
