package informer

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// countHandler counts calls and closes done when it sees the end marker.
type countHandler struct {
	n    atomic.Int64
	done chan struct{}
}

func (h *countHandler) OnAdd(obj *kunosv1.Task, _ bool) {
	h.n.Add(1)
	if obj.Name == "zz-end" {
		close(h.done)
	}
}
func (h *countHandler) OnUpdate(_, _ *kunosv1.Task)  { h.n.Add(1) }
func (h *countHandler) OnDelete(*kunosv1.Task, bool) { h.n.Add(1) }

// BenchmarkSinkToHandlers measures events going through the informer's sink
// (cache write plus fan-out) to 1, 10 and 100 handlers that only count; one
// op is one update event, handled by every handler (the clock stops once
// every handler saw an end marker queued after the last event). Under
// Coalesce an event for a key still pending is merged, so handlers make
// fewer calls than events: see calls/op.
func BenchmarkSinkToHandlers(b *testing.B) {
	const keys = 1000
	objs := make([]*kunosv1.Task, keys)
	for i := range objs {
		objs[i] = task(fmt.Sprintf("k%d", i), i+1)
	}
	for _, p := range []Policy{Coalesce, Block, Unbounded} {
		for _, handlers := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/handlers=%d", p, handlers), func(b *testing.B) {
				s := newInformer[*kunosv1.Task](nopLW{}, Options[*kunosv1.Task]{Delivery: Delivery{Policy: p}})
				s.start()
				defer s.stop()
				must(b, s.Replace(objs, "1"))
				hs := make([]*countHandler, handlers)
				var regs []func() bool
				for i := range hs {
					hs[i] = &countHandler{done: make(chan struct{})}
					reg, err := s.AddEventHandler(hs[i])
					must(b, err)
					regs = append(regs, reg.HasSynced)
				}
				WaitForCacheSync(b.Context(), regs...)
				for _, h := range hs {
					h.n.Store(0)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if err := s.Update(objs[i%keys]); err != nil {
						b.Fatal(err)
					}
				}
				must(b, s.Add(task("zz-end", 1)))
				for _, h := range hs {
					<-h.done
				}
				b.StopTimer()
				var calls int64
				for _, h := range hs {
					calls += h.n.Load() - 1
				}
				b.ReportMetric(float64(calls)/float64(b.N)/float64(handlers), "calls/op/handler")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkListener has the shape of client-go's BenchmarkListener
// (tools/cache/processor_listener_test.go): 5 goroutines per CPU push add
// notifications into one handler's buffer in parallel while its goroutine
// delivers them to a handler that counts down a WaitGroup; an op is one
// notification pushed and delivered. Unbounded and Block deliver every
// notification, as client-go does; Coalesce uses a distinct key per push
// (with one key everything would merge).
func BenchmarkListener(b *testing.B) {
	obj := task("a", 1)
	for _, p := range []Policy{Unbounded, Block, Coalesce} {
		b.Run(p.String(), func(b *testing.B) {
			var swg sync.WaitGroup
			swg.Add(b.N)
			h := HandlerFuncs[*kunosv1.Task]{AddFunc: func(*kunosv1.Task, bool) { swg.Done() }}
			l := newListener[*kunosv1.Task]("bench", h, Delivery{Policy: p, BufferSize: 1024 * 1024}, noMetrics{}, nil, func() bool { return true })
			done := make(chan struct{})
			go func() { defer close(done); l.run() }()
			defer func() { l.close(); <-done }()
			var keys []string
			if p == Coalesce {
				keys = make([]string, b.N)
				for i := range keys {
					keys[i] = fmt.Sprint(i)
				}
			}
			var next atomic.Int64
			b.SetParallelism(5)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := notification[*kunosv1.Task]{kind: kindAdd, obj: obj}
					if keys != nil {
						n.key = keys[next.Add(1)-1]
					}
					l.push(n, false, nil)
				}
			})
			swg.Wait()
			b.StopTimer()
		})
	}
}
