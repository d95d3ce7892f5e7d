package bench

// Side by side: listwatch's cache.Indexer against client-go's
// tools/cache.NewIndexer, on the same objects in one process run.
//
//	cd hack/bench && go test -run '^$' -bench 'Cache' -benchmem .

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	lwcache "github.com/kunos-io/listwatch/cache"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	cgcache "k8s.io/client-go/tools/cache"
)

func benchTasks(n, nodes int) []*kunosv1.Task {
	out := make([]*kunosv1.Task, n)
	for i := range out {
		out[i] = &kunosv1.Task{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("object-number-%d", i)},
			Spec:       kunosv1.TaskSpec{NodeName: fmt.Sprintf("node-%d", i%nodes)},
		}
	}
	return out
}

// indexer is the subset both implementations are driven through.
type indexer struct {
	update  func(*kunosv1.Task) error
	replace func([]*kunosv1.Task)
	list    func() int
	byIndex func(index, value string) int
	// listNamespace lists one namespace through the lister helpers each
	// library offers, with labels.Everything().
	listNamespace func(ns string) int
}

const byNode = "byNode"

func lwIndexer(indexers lwcache.Indexers[*kunosv1.Task]) indexer {
	x := lwcache.NewIndexer(lwcache.MetaNamespaceKeyFunc, indexers)
	l := lwcache.NewLister(x, kunosv1.Tasks.GVR.GroupResource())
	return indexer{
		update:  x.Update,
		replace: func(objs []*kunosv1.Task) { _ = x.Replace(objs, "1") },
		list:    func() int { return len(x.List()) },
		byIndex: func(index, value string) int { objs, _ := x.ByIndex(index, value); return len(objs) },
		listNamespace: func(ns string) int {
			objs, _ := l.Namespace(ns).List(labels.Everything())
			return len(objs)
		},
	}
}

func cgIndexer(indexers cgcache.Indexers) indexer {
	x := cgcache.NewIndexer(cgcache.MetaNamespaceKeyFunc, indexers)
	return indexer{
		update: func(o *kunosv1.Task) error { return x.Update(o) },
		replace: func(objs []*kunosv1.Task) {
			items := make([]any, len(objs))
			for i, o := range objs {
				items[i] = o
			}
			_ = x.Replace(items, "1")
		},
		list:    func() int { return len(x.List()) },
		byIndex: func(index, value string) int { objs, _ := x.ByIndex(index, value); return len(objs) },
		listNamespace: func(ns string) int {
			n := 0
			_ = cgcache.ListAllByNamespace(x, ns, labels.Everything(), func(any) { n++ })
			return n
		},
	}
}

// impls builds both implementations with a namespace and a node index.
func impls() map[string]func() indexer {
	return map[string]func() indexer{
		"impl=listwatch": func() indexer {
			return lwIndexer(lwcache.Indexers[*kunosv1.Task]{
				lwcache.NamespaceIndex: lwcache.MetaNamespaceIndexFunc[*kunosv1.Task],
				byNode:                 func(t *kunosv1.Task) ([]string, error) { return []string{t.Spec.NodeName}, nil },
			})
		},
		"impl=client-go": func() indexer {
			return cgIndexer(cgcache.Indexers{
				cgcache.NamespaceIndex: cgcache.MetaNamespaceIndexFunc,
				byNode:                 func(o any) ([]string, error) { return []string{o.(*kunosv1.Task).Spec.NodeName}, nil },
			})
		},
	}
}

var implOrder = []string{"impl=listwatch", "impl=client-go"}

// BenchmarkCacheIndexer has the shape of client-go's BenchmarkIndexer: 5000
// objects, one index whose value never changes, Update in a loop.
func BenchmarkCacheIndexer(b *testing.B) {
	objs := benchTasks(5000, 1)
	mk := map[string]func() indexer{
		"impl=listwatch": func() indexer {
			return lwIndexer(lwcache.Indexers[*kunosv1.Task]{
				"testIndexer": func(t *kunosv1.Task) ([]string, error) { return []string{t.Name}, nil },
			})
		},
		"impl=client-go": func() indexer {
			return cgIndexer(cgcache.Indexers{
				"testIndexer": func(o any) ([]string, error) { return []string{o.(*kunosv1.Task).Name}, nil },
			})
		},
	}
	for _, name := range implOrder {
		b.Run(name, func(b *testing.B) {
			x := mk[name]()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_ = x.update(objs[i%len(objs)])
				i++
			}
		})
	}
}

// BenchmarkCacheUpdateMoving updates 5000 stored objects, moving each to
// another node index value every time.
func BenchmarkCacheUpdateMoving(b *testing.B) {
	objs := benchTasks(5000, 50)
	moved := make([]*kunosv1.Task, len(objs))
	for i, o := range objs {
		m := o.DeepCopy()
		m.Spec.NodeName = fmt.Sprintf("node-%d", (i+1)%50)
		moved[i] = m
	}
	for _, name := range implOrder {
		b.Run(name, func(b *testing.B) {
			x := impls()[name]()
			x.replace(objs)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				o := objs[i%len(objs)]
				if (i/len(objs))%2 == 0 {
					o = moved[i%len(objs)]
				}
				_ = x.update(o)
				i++
			}
		})
	}
}

// BenchmarkCacheByIndex: 5000 objects over 50 node values.
func BenchmarkCacheByIndex(b *testing.B) {
	for _, name := range implOrder {
		b.Run(name, func(b *testing.B) {
			x := impls()[name]()
			x.replace(benchTasks(5000, 50))
			values := make([]string, 50)
			for i := range values {
				values[i] = fmt.Sprintf("node-%d", i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if x.byIndex(byNode, values[i%len(values)]) != 100 {
					b.Fatal("wrong count")
				}
				i++
			}
		})
	}
}

// BenchmarkCacheList lists 10k objects.
func BenchmarkCacheList(b *testing.B) {
	for _, name := range implOrder {
		b.Run(name, func(b *testing.B) {
			x := impls()[name]()
			x.replace(benchTasks(10000, 50))
			b.ReportAllocs()
			for b.Loop() {
				if x.list() != 10000 {
					b.Fatal("short list")
				}
			}
		})
	}
}

// BenchmarkCacheThroughput: one writer updates random objects among 10k
// while 0, 1 or 10 goroutines list all of them in a loop, either with
// List() or through the namespace lister (ListAllByNamespace in client-go).
func BenchmarkCacheThroughput(b *testing.B) {
	for _, read := range []string{"List", "NamespaceLister"} {
		for _, readers := range []int{0, 1, 10} {
			if read == "NamespaceLister" && readers == 0 {
				continue
			}
			for _, name := range implOrder {
				b.Run(fmt.Sprintf("read=%s/readers=%d/%s", read, readers, name), func(b *testing.B) {
					objs := benchTasks(10000, 50)
					x := impls()[name]()
					x.replace(objs)
					list := x.list
					if read == "NamespaceLister" {
						list = func() int { return x.listNamespace("default") }
					}
					runThroughput(b, readers, func(i int) { _ = x.update(objs[(i*7919)%len(objs)]) }, list)
				})
			}
		}
	}
}

func runThroughput(b *testing.B, readers int, write func(i int), list func() int) {
	var lists atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if list() != 10000 {
					panic("wrong list length")
				}
				lists.Add(1)
			}
		}()
	}
	i := 0
	for b.Loop() {
		write(i)
		i++
	}
	elapsed := b.Elapsed().Seconds()
	b.ReportMetric(float64(i)/elapsed, "writes/s")
	b.ReportMetric(float64(lists.Load())/elapsed, "lists/s")
	stop.Store(true)
	wg.Wait()
}

// BenchmarkCacheRetained reports the heap each implementation retains per
// stored object (objects themselves excluded) after adding 10k objects one
// by one with a namespace and a node index.
func BenchmarkCacheRetained(b *testing.B) {
	objs := benchTasks(10000, 50)
	for _, name := range implOrder {
		b.Run(name, func(b *testing.B) {
			var perObj float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				x := impls()[name]()
				for _, o := range objs {
					_ = x.update(o)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perObj = float64(after.HeapAlloc-before.HeapAlloc) / float64(len(objs))
				runtime.KeepAlive(x)
			}
			b.ReportMetric(perObj, "B/object")
		})
	}
}
