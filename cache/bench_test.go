package cache

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// benchTasks returns n tasks in one namespace; task i runs on node i%nodes.
func benchTasks(n, nodes int) []*kunosv1.Task {
	out := make([]*kunosv1.Task, n)
	for i := range out {
		out[i] = task("default", fmt.Sprintf("object-number-%d", i), fmt.Sprintf("node-%d", i%nodes), nil)
	}
	return out
}

func nameIndex(t *kunosv1.Task) ([]string, error) { return []string{t.Name}, nil }

// BenchmarkIndexer has client-go's BenchmarkIndexer shape: 5000 objects,
// one index whose value never changes, Update in a loop (the first 5000
// iterations insert).
func BenchmarkIndexer(b *testing.B) {
	x := NewIndexer(MetaNamespaceKeyFunc, Indexers[*kunosv1.Task]{"testIndexer": nameIndex})
	objs := benchTasks(5000, 1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = x.Update(objs[i%len(objs)])
		i++
	}
}

// BenchmarkIndexerAdd inserts new keys into a store of up to 10k objects
// with a namespace and a node index.
func BenchmarkIndexerAdd(b *testing.B) {
	objs := benchTasks(10000, 50)
	x := newTaskIndexer()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(objs) {
			b.StopTimer()
			x = newTaskIndexer()
			i = 0
			b.StartTimer()
		}
		_ = x.Add(objs[i])
		i++
	}
}

// BenchmarkIndexerUpdate updates 5000 stored objects, each time moving the
// object to another node: the index entry moves with it.
func BenchmarkIndexerUpdate(b *testing.B) {
	objs := benchTasks(5000, 50)
	moved := make([]*kunosv1.Task, len(objs))
	for i, o := range objs {
		moved[i] = task(o.Namespace, o.Name, fmt.Sprintf("node-%d", (i+1)%50), nil)
	}
	x := newTaskIndexer()
	mustNil(b, x.Replace(objs, "1"))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		o := objs[i%len(objs)]
		if (i/len(objs))%2 == 0 {
			o = moved[i%len(objs)]
		}
		_ = x.Update(o)
		i++
	}
}

// BenchmarkIndexerByIndex queries a node index of 5000 objects over 50
// nodes (100 objects per value).
func BenchmarkIndexerByIndex(b *testing.B) {
	x := newTaskIndexer()
	mustNil(b, x.Replace(benchTasks(5000, 50), "1"))
	values := make([]string, 50)
	for i := range values {
		values[i] = fmt.Sprintf("node-%d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		objs, _ := x.ByIndex(byNode, values[i%len(values)])
		if len(objs) != 100 {
			b.Fatal(len(objs))
		}
		i++
	}
}

// BenchmarkIndexerList lists 10k objects.
func BenchmarkIndexerList(b *testing.B) {
	x := newTaskIndexer()
	mustNil(b, x.Replace(benchTasks(10000, 50), "1"))
	b.ReportAllocs()
	for b.Loop() {
		if len(x.List()) != 10000 {
			b.Fatal("short list")
		}
	}
}

// BenchmarkIndexerReplace replaces 10k objects with two indices.
func BenchmarkIndexerReplace(b *testing.B) {
	x := newTaskIndexer()
	objs := benchTasks(10000, 50)
	b.ReportAllocs()
	for b.Loop() {
		_ = x.Replace(objs, "1")
	}
}

// BenchmarkThroughput: one writer updates random objects among 10k (with a
// namespace and a node index) while 0, 1 or 10 goroutines List() all 10k
// objects in a loop. Readers never block the writer, so writes/s should
// drop only by the CPU the readers take.
func BenchmarkThroughput(b *testing.B) {
	for _, readers := range []int{0, 1, 10} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			objs := benchTasks(10000, 50)
			x := newTaskIndexer()
			mustNil(b, x.Replace(objs, "1"))
			RunThroughput(b, readers, func(i int) { _ = x.Update(objs[(i*7919)%len(objs)]) }, func() int { return len(x.List()) })
		})
	}
}

// RunThroughput runs write in the benchmark loop while readers goroutines
// call list, and reports writes/s and lists/s.
func RunThroughput(b *testing.B, readers int, write func(i int), list func() int) {
	var lists atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if list() == 0 {
					panic("empty list")
				}
				lists.Add(1)
			}
		}()
	}
	lists.Store(0)
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

// BenchmarkListerNamespace lists one namespace holding all 10k objects
// through the lister (namespace index present).
func BenchmarkListerNamespace(b *testing.B) {
	x := newTaskIndexer()
	mustNil(b, x.Replace(benchTasks(10000, 50), "1"))
	l := NewLister(x, kunosv1.Tasks.GVR.GroupResource())
	b.ReportAllocs()
	for b.Loop() {
		objs, _ := l.Namespace("default").List(labels.Everything())
		if len(objs) != 10000 {
			b.Fatal("short list")
		}
	}
}

var sink uint64

// BenchmarkThroughputControl is BenchmarkThroughput with a writer that does
// pure CPU work (no store access, no allocation). Its writes/s drop with 10
// readers is what CPU sharing alone costs on this machine; the indexer's
// drop should be about the same.
func BenchmarkThroughputControl(b *testing.B) {
	for _, readers := range []int{0, 10} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			x := newTaskIndexer()
			mustNil(b, x.Replace(benchTasks(10000, 50), "1"))
			RunThroughput(b, readers, func(i int) {
				for j := 0; j < 40; j++ {
					sink += hashKey("default/object-number-1234")
				}
			}, func() int { return len(x.List()) })
		})
	}
}
