package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kunos-io/listwatch/workqueue"
)

// The hooks sit on hot paths (every watch event, every handler call, every
// request, every queue operation); these measure their cost.

func BenchmarkReflectorObserveEvent(b *testing.B) {
	h := New(nil).Reflector("r")
	b.ReportAllocs()
	for b.Loop() {
		h.ObserveEvent(watch.Modified)
	}
}

func BenchmarkReflectorSetResourceVersion(b *testing.B) {
	h := New(nil).Reflector("r")
	b.ReportAllocs()
	for b.Loop() {
		h.SetResourceVersion("123456789")
	}
}

func BenchmarkInformerObserveHandlerParallel(b *testing.B) {
	h := New(nil).Informer("i")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.ObserveHandler("h", time.Millisecond)
			h.SetPending("h", 3)
		}
	})
}

func BenchmarkClientObserveRequest(b *testing.B) {
	c := New(nil).Client()
	b.ReportAllocs()
	for b.Loop() {
		c.ObserveRequest("list", "tasks", 200, time.Millisecond)
	}
}

// BenchmarkWorkqueueAddGetDone compares a queue with and without the
// Prometheus provider.
func BenchmarkWorkqueueAddGetDone(b *testing.B) {
	for _, withMetrics := range []bool{false, true} {
		b.Run(fmt.Sprint("metrics=", withMetrics), func(b *testing.B) {
			cfg := workqueue.TypedQueueConfig[int]{Name: "bench"}
			if withMetrics {
				cfg.MetricsProvider = New(nil).WorkqueueProvider()
			}
			q := workqueue.NewTypedWithConfig(cfg)
			defer q.ShutDown()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				q.Add(i % 64)
				item, _ := q.Get()
				q.Done(item)
				i++
			}
		})
	}
}

// BenchmarkScrape gathers a registry holding 100 informers with 3 handlers
// each, their reflectors and queues, and a few client series.
func BenchmarkScrape(b *testing.B) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	for i := range 100 {
		name := fmt.Sprint("inf-", i)
		populateNamed(m, name)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

func populateNamed(m *Metrics, name string) {
	r := m.Reflector(name)
	r.ObserveList(time.Second, nil)
	r.ObserveEvent(watch.Added)
	r.SetResourceVersion("42")
	inf := m.Informer(name)
	inf.SetStoreObjects(10)
	inf.SetSynced(true)
	for _, h := range []string{"a", "b", "c"} {
		inf.ObserveHandler(h, time.Millisecond)
	}
	m.WorkqueueProvider().NewAddsMetric(name).Inc()
	m.Client().ObserveRequest("list", "tasks", 200, time.Millisecond)
}
