package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestWorkqueueProviderRecords(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	p := m.WorkqueueProvider()

	depth := p.NewDepthMetric("q")
	depth.Inc()
	depth.Inc()
	depth.Dec()
	adds := p.NewAddsMetric("q")
	adds.Inc()
	adds.Inc()
	p.NewLatencyMetric("q").Observe(0.5)
	p.NewWorkDurationMetric("q").Observe(2)
	p.NewUnfinishedWorkSecondsMetric("q").Set(3)
	p.NewLongestRunningProcessorSecondsMetric("q").Set(1.5)
	p.NewRetriesMetric("q").Inc()

	want := `
# HELP workqueue_adds_total Total number of adds handled by the workqueue.
# TYPE workqueue_adds_total counter
workqueue_adds_total{name="q"} 2
# HELP workqueue_depth Current depth of the workqueue: items added and not yet taken by a worker.
# TYPE workqueue_depth gauge
workqueue_depth{name="q"} 1
# HELP workqueue_longest_running_processor_seconds Age in seconds of the item that has been processed the longest.
# TYPE workqueue_longest_running_processor_seconds gauge
workqueue_longest_running_processor_seconds{name="q"} 1.5
# HELP workqueue_retries_total Total number of retries (AddAfter and AddRateLimited calls) handled by the workqueue.
# TYPE workqueue_retries_total counter
workqueue_retries_total{name="q"} 1
# HELP workqueue_unfinished_work_seconds Sum of the ages in seconds of the items being processed; large values indicate stuck workers.
# TYPE workqueue_unfinished_work_seconds gauge
workqueue_unfinished_work_seconds{name="q"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"workqueue_adds_total", "workqueue_depth", "workqueue_longest_running_processor_seconds",
		"workqueue_retries_total", "workqueue_unfinished_work_seconds"); err != nil {
		t.Fatal(err)
	}
	if got := testutil.CollectAndCount(m.wq.latency); got != 1 {
		t.Fatalf("latency series = %d, want 1", got)
	}
	// Kubernetes' buckets: 10 decades starting at 10 ns.
	if len(workqueueBuckets) != 10 || workqueueBuckets[0] != 1e-8 || workqueueBuckets[9] != 10 {
		t.Fatalf("buckets = %v", workqueueBuckets)
	}
}

func TestWorkqueueDeleteRemovesSeriesForGood(t *testing.T) {
	m := New(nil)
	p := m.WorkqueueProvider()
	mk := func(name string) (depth interface{ Inc() }, set interface{ Set(float64) }) {
		d := p.NewDepthMetric(name)
		p.NewAddsMetric(name).Inc()
		p.NewLatencyMetric(name).Observe(1)
		p.NewWorkDurationMetric(name).Observe(1)
		s := p.NewUnfinishedWorkSecondsMetric(name)
		p.NewLongestRunningProcessorSecondsMetric(name).Set(1)
		p.NewRetriesMetric(name).Inc()
		return d, s
	}
	d1, s1 := mk("a")
	mk("b")
	if n := testutil.CollectAndCount(m); n != 14 {
		t.Fatalf("series before delete = %d, want 14", n)
	}
	p.DeleteQueueMetrics("a")
	if n := testutil.CollectAndCount(m); n != 7 {
		t.Fatalf("series after delete = %d, want 7 (queue b only)", n)
	}
	// The unfinished-work loop of a stopping queue may still fire.
	d1.Inc()
	s1.Set(9)
	if n := testutil.CollectAndCount(m); n != 7 {
		t.Fatalf("late updates resurrected series: %d, want 7", n)
	}
	// A new queue with the old name starts from zero.
	p.NewAddsMetric("a").Inc()
	if got := testutil.ToFloat64(m.wq.adds.WithLabelValues("a")); got != 1 {
		t.Fatalf("adds of recreated queue = %v, want 1", got)
	}
	m.DeleteQueue("a")
	m.DeleteQueue("never-existed")
}

func TestWorkqueueUnnamedQueueRecordsNothing(t *testing.T) {
	m := New(nil)
	p := m.WorkqueueProvider()
	p.NewDepthMetric("").Inc()
	p.NewDepthMetric("").Dec()
	p.NewAddsMetric("").Inc()
	p.NewLatencyMetric("").Observe(1)
	p.NewWorkDurationMetric("").Observe(1)
	p.NewUnfinishedWorkSecondsMetric("").Set(1)
	p.NewLongestRunningProcessorSecondsMetric("").Set(1)
	p.NewRetriesMetric("").Inc()
	if n := testutil.CollectAndCount(m); n != 0 {
		t.Fatalf("unnamed queue produced %d series", n)
	}
}
