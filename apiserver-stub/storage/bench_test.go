package storage_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"github.com/kunos-io/listwatch/internal/etcdrun"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
)

// drained starts n watchers of prefix, each drained by its own goroutine,
// and returns a wait function that blocks until every one has received an
// event at revision rev or later, and a stop function.
func drained(b *testing.B, s *storage.MemoryStore, n int, pred func(i int) storage.Predicate) (wait func(rev int64), stop func()) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	last := make([]atomic.Int64, n)
	var closed atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		opts := storage.WatchOptions{}
		if pred != nil {
			opts.Predicate = pred(i)
		}
		w, err := s.Watch(ctx, "/tasks/", opts)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			for ev := range w.ResultChan() {
				last[i].Store(ev.Revision)
			}
			closed.Add(1)
		})
	}
	wait = func(rev int64) {
		for i := range last {
			for last[i].Load() < rev {
				if closed.Load() > 0 {
					b.Fatalf("a drained watcher ended early (fell behind compaction?): %+v", s.Stats())
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	return wait, func() { cancel(); wg.Wait() }
}

// benchStore keeps history for every write of the run, so that drained
// watchers that fall behind catch up instead of expiring; it counts the
// times a watcher's buffer was full.
func benchStore(b *testing.B) (*storage.MemoryStore, *atomic.Int64) {
	var slow atomic.Int64
	s := storage.NewMemoryStore(storage.MemoryConfig{
		Codec:        testCodec{},
		HistoryLimit: b.N + 2000,
		Hooks:        storage.Hooks{OnSlowWatcher: func() { slow.Add(1) }},
	})
	return s, &slow
}

// BenchmarkWrite measures writes per second, end to end: the clock stops
// when every watcher has received the last write.
func BenchmarkWrite(b *testing.B) {
	for _, tc := range []struct {
		name     string
		watchers int
		indexed  bool // watchers select spec.nodeName=node-i: each write reaches one
	}{
		{"watchers=0", 0, false},
		{"watchers=100", 100, false},
		{"watchers=1000", 1000, false},
		{"watchers=1000/byNode", 1000, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, slow := benchStore(b)
			defer s.Close()
			ctx := context.Background()
			const keys = 1000
			for i := range keys {
				mustCreate(b, s, "bench", fmt.Sprintf("t%d", i), fmt.Sprintf("node-%d", i), nil)
			}
			var pred func(int) storage.Predicate
			if tc.indexed {
				pred = func(i int) storage.Predicate {
					return storage.Predicate{Field: fields.OneTermEqualSelector("spec.nodeName", fmt.Sprintf("node-%d", i))}
				}
			}
			wait, stop := drained(b, s, tc.watchers, pred)
			defer stop()
			objs := make([]*kunosv1.Task, keys)
			for i := range objs {
				objs[i] = task("bench", fmt.Sprintf("t%d", i), fmt.Sprintf("node-%d", i), nil)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var rec *storage.Record
			for i := 0; i < b.N; i++ {
				k := i % keys
				var err error
				rec, err = s.Update(ctx, taskKey("bench", objs[k].Name), 0, objs[k])
				if err != nil {
					b.Fatal(err)
				}
			}
			if !tc.indexed && rec != nil {
				wait(rec.Revision)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
			b.ReportMetric(float64(slow.Load())/float64(b.N), "slow/op")
		})
	}
}

// BenchmarkWriteWithStuckWatcher runs 100 drained watchers with and without
// one more that never reads: the stuck one must not change the figures.
func BenchmarkWriteWithStuckWatcher(b *testing.B) {
	for _, stuck := range []bool{false, true} {
		b.Run(fmt.Sprintf("watchers=100/stuck=%v", stuck), func(b *testing.B) {
			s, slow := benchStore(b)
			defer s.Close()
			ctx := context.Background()
			if stuck {
				w, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{})
				if err != nil {
					b.Fatal(err)
				}
				defer w.Stop()
			}
			wait, stop := drained(b, s, 100, nil)
			defer stop()
			obj := task("bench", "t", "", nil)
			mustCreate(b, s, "bench", "t", "", nil)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var rec *storage.Record
			for i := 0; i < b.N; i++ {
				var err error
				rec, err = s.Update(ctx, taskKey("bench", "t"), 0, obj)
				if err != nil {
					b.Fatal(err)
				}
			}
			wait(rec.Revision)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
			b.ReportMetric(float64(slow.Load())/float64(b.N), "slow/op")
		})
	}
}

// heapProfile, when set, names a file that BenchmarkHeapPerObject writes
// a heap profile to while its last store is still live and populated
// (a profile taken at the end of the run sees the stores already freed).
var heapProfile = flag.String("heapprofile", "", "BenchmarkHeapPerObject: write a heap profile of the last populated store to this file")

// heapTask is the i-th Task of the heap benchmarks: ~380 bytes of JSON, in
// 50 namespaces on 500 nodes, ten per Job, with two labels.
func heapTask(i int) *kunosv1.Task {
	t := task(fmt.Sprintf("ns-%d", i%50), fmt.Sprintf("job-%d-task-%d", i/10, i%10), fmt.Sprintf("node-%d", i%500),
		map[string]string{"kunos.io/job": fmt.Sprintf("job-%d", i/10), "tier": "batch"})
	t.UID = "00000000-0000-0000-0000-000000000000"
	t.CreationTimestamp = metav1.Unix(1700000000, 0)
	t.Spec.Command = []string{"/bin/sh", "-c", "sleep 1"}
	t.Status.Phase = kunosv1.TaskPending
	return t
}

// asServed adds to t what an object written through the API server
// carries besides its spec: the creating client's managedFields entry and
// annotations, about 1 KB of JSON in all.
func asServed(t *kunosv1.Task) {
	t.Annotations = map[string]string{
		"kunos.io/submitted-by": "ci-pipeline-" + t.Name,
		"kunos.io/trace-id":     "4bf92f3577b34da6a3ce929d0e0e4736",
		"kunos.io/retry-policy": "on-failure",
	}
	t.ManagedFields = []metav1.ManagedFieldsEntry{{
		Manager:    "job-controller",
		Operation:  metav1.ManagedFieldsOperationUpdate,
		APIVersion: "kunos.io/v1",
		Time:       &t.CreationTimestamp,
		FieldsType: "FieldsV1",
		FieldsV1:   &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:annotations":{".":{},"f:kunos.io/retry-policy":{},"f:kunos.io/submitted-by":{},"f:kunos.io/trace-id":{}},"f:labels":{".":{},"f:kunos.io/job":{},"f:tier":{}},"f:ownerReferences":{}},"f:spec":{".":{},"f:command":{},"f:nodeName":{}}}`)},
	}}
	t.OwnerReferences = []metav1.OwnerReference{{APIVersion: "kunos.io/v1", Kind: "Job", Name: t.Labels["kunos.io/job"],
		UID: "11111111-2222-3333-4444-555555555555", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
}

// liveHeap returns the live heap after a full collection.
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkHeapPerObject reports the live heap per stored Task, including
// its encoded JSON (reported separately), attributes, history and indexes.
// Each Task is built inside the measured window and dropped after its
// Create, as a server decodes a fresh object per request: whatever of it
// the store keeps (a label map, a node name) counts. Run with
// -benchtime=1x.
//
// The Tasks are small (about 380 bytes of JSON, so the store's fixed cost
// per object shows), and in the last case about 1 KB: the same Tasks as
// they come out of the API server, with the managedFields entry of the
// client that created them, and a few annotations.
func BenchmarkHeapPerObject(b *testing.B) {
	for _, tc := range []struct {
		n     int
		large bool
	}{{10000, false}, {100000, false}, {100000, true}} {
		n, name := tc.n, fmt.Sprintf("objects=%d", tc.n)
		if tc.large {
			name += ",object=1KB"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			var perObj, jsonPerObj float64
			for range b.N {
				before := liveHeap()
				s := storage.NewMemoryStore(storage.MemoryConfig{Codec: testCodec{}})
				var jsonBytes int
				for i := range n {
					o := heapTask(i)
					if tc.large {
						asServed(o)
					}
					r, err := s.Create(ctx, taskKey(o.Namespace, o.Name), o)
					if err != nil {
						b.Fatal(err)
					}
					jsonBytes += len(r.Data)
				}
				after := liveHeap()
				perObj += float64(int64(after)-int64(before)) / float64(n)
				jsonPerObj += float64(jsonBytes) / float64(n)
				if *heapProfile != "" {
					writeHeapProfile(b, *heapProfile)
				}
				runtime.KeepAlive(s)
				s.Close()
			}
			b.ReportMetric(perObj/float64(b.N), "heapB/object")
			b.ReportMetric(jsonPerObj/float64(b.N), "jsonB/object")
		})
	}
}

func writeHeapProfile(b *testing.B, name string) {
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkHeapPerObjectEtcd is the anchor for BenchmarkHeapPerObject: the
// same Tasks, as JSON under the same keys, written to an embedded etcd in
// this process. It reports etcd's heap growth per object (its index, raft
// log and caches, and the client's share), the size of its database file
// and of the part of it in use, and heap plus database in use: what
// keeping the objects costs etcd. Run with -benchtime=1x.
func BenchmarkHeapPerObjectEtcd(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			var heap, dbFile, dbInUse, jsonPerObj float64
			for range b.N {
				dir := b.TempDir()
				m, err := etcdrun.Start(etcdrun.Options{DataDir: dir, LogLevel: "fatal"})
				if err != nil {
					b.Fatal(err)
				}
				cli, err := etcdrun.NewClient(etcdrun.ClientOptions{Endpoints: []string{m.ClientURL}})
				if err != nil {
					m.Close()
					b.Fatal(err)
				}
				ctx := context.Background()
				if _, err := cli.Put(ctx, "/warmup", "x"); err != nil {
					b.Fatal(err)
				}
				st0, err := cli.Status(ctx, m.ClientURL)
				if err != nil {
					b.Fatal(err)
				}
				before := liveHeap()
				var jsonBytes atomic.Int64
				var next atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, 1)
				for range 64 { // concurrent writers share etcd's batched fsyncs
					wg.Go(func() {
						for {
							i := int(next.Add(1)) - 1
							if i >= n {
								return
							}
							o := heapTask(i)
							o.ResourceVersion = fmt.Sprint(st0.Header.Revision + 1 + int64(i)) // as long as the store's
							data, err := testCodec{}.Encode(o)
							if err == nil {
								_, err = cli.Put(ctx, taskKey(o.Namespace, o.Name), string(data))
							}
							if err != nil {
								select {
								case errs <- err:
								default:
								}
								return
							}
							jsonBytes.Add(int64(len(data)))
						}
					})
				}
				wg.Wait()
				select {
				case err := <-errs:
					b.Fatal(err)
				default:
				}
				after := liveHeap()
				st, err := cli.Status(ctx, m.ClientURL)
				if err != nil {
					b.Fatal(err)
				}
				heap += float64(int64(after)-int64(before)) / float64(n)
				dbFile += float64(st.DbSize-st0.DbSize) / float64(n)
				dbInUse += float64(st.DbSizeInUse-st0.DbSizeInUse) / float64(n)
				jsonPerObj += float64(jsonBytes.Load()) / float64(n)
				cli.Close()
				m.Close()
			}
			N := float64(b.N)
			b.ReportMetric(heap/N, "heapB/object")
			b.ReportMetric(dbFile/N, "dbFileB/object")
			b.ReportMetric(dbInUse/N, "dbB/object")
			b.ReportMetric((heap+dbInUse)/N, "heap+dbB/object")
			b.ReportMetric(jsonPerObj/N, "jsonB/object")
		})
	}
}

// BenchmarkList reads 10k Tasks: the whole list, and the first page of 500
// (which still counts the remaining items).
func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	s := storage.NewMemoryStore(storage.MemoryConfig{Codec: testCodec{}})
	defer s.Close()
	for i := range 10000 {
		mustCreate(b, s, fmt.Sprintf("ns-%d", i%10), fmt.Sprintf("t%05d", i), fmt.Sprintf("node-%d", i%100), nil)
	}
	for _, tc := range []struct {
		name string
		opts storage.ListOptions
	}{
		{"all", storage.ListOptions{}},
		{"page=500", storage.ListOptions{Limit: 500}},
		{"page=500/byNode", storage.ListOptions{Limit: 500, Predicate: storage.Predicate{Field: fields.OneTermEqualSelector("spec.nodeName", "node-7")}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.List(ctx, "/tasks/", tc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
