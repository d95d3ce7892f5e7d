package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kunos-io/listwatch/workqueue"
)

// workqueueBuckets are Kubernetes component-base's workqueue buckets:
// 10 ns to 10 s, ten decades, so dashboards built for client-go work as is.
var workqueueBuckets = prometheus.ExponentialBuckets(10e-9, 10, 10)

// workqueueVecs are the workqueue_* vectors, all labelled by queue name.
type workqueueVecs struct {
	depth      *prometheus.GaugeVec
	adds       *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	workDur    *prometheus.HistogramVec
	unfinished *prometheus.GaugeVec
	longest    *prometheus.GaugeVec
	retries    *prometheus.CounterVec
}

func newWorkqueueVecs() workqueueVecs {
	l := []string{"name"}
	return workqueueVecs{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_depth",
			Help: "Current depth of the workqueue: items added and not yet taken by a worker.",
		}, l),
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_adds_total",
			Help: "Total number of adds handled by the workqueue.",
		}, l),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "workqueue_queue_duration_seconds",
			Help:    "How long in seconds an item stays in the workqueue before being requested.",
			Buckets: workqueueBuckets,
		}, l),
		workDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "workqueue_work_duration_seconds",
			Help:    "How long in seconds processing an item from the workqueue takes.",
			Buckets: workqueueBuckets,
		}, l),
		unfinished: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_unfinished_work_seconds",
			Help: "Sum of the ages in seconds of the items being processed; large values indicate stuck workers.",
		}, l),
		longest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_longest_running_processor_seconds",
			Help: "Age in seconds of the item that has been processed the longest.",
		}, l),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_retries_total",
			Help: "Total number of retries (AddAfter and AddRateLimited calls) handled by the workqueue.",
		}, l),
	}
}

func (v *workqueueVecs) collectors() []prometheus.Collector {
	return []prometheus.Collector{v.depth, v.adds, v.latency, v.workDur, v.unfinished, v.longest, v.retries}
}

// delete removes every series of the queue called name.
func (v *workqueueVecs) delete(name string) {
	v.depth.DeleteLabelValues(name)
	v.adds.DeleteLabelValues(name)
	v.latency.DeleteLabelValues(name)
	v.workDur.DeleteLabelValues(name)
	v.unfinished.DeleteLabelValues(name)
	v.longest.DeleteLabelValues(name)
	v.retries.DeleteLabelValues(name)
}

// WorkqueueProvider is the workqueue.MetricsProvider backed by a Metrics.
// Pass it in the queue config (MetricsProvider field) together with a Name;
// as in client-go, a queue without a name gets no metrics, so an unnamed
// queue never adds a series with an empty label.
//
// It also implements workqueue.MetricsDeleter: the queue calls
// DeleteQueueMetrics on ShutDown and its series disappear. Two live queues
// with the same name share their series; give queues distinct names.
type WorkqueueProvider struct {
	v *workqueueVecs
}

// WorkqueueProvider returns the workqueue metrics provider.
func (m *Metrics) WorkqueueProvider() *WorkqueueProvider {
	return &WorkqueueProvider{v: &m.wq}
}

// DeleteQueue removes every workqueue_* series of the queue called name.
func (m *Metrics) DeleteQueue(name string) { m.wq.delete(name) }

// The queue holds on to the child metric returned here; after
// DeleteQueueMetrics the child is detached from its vector, so late updates
// from a stopping queue are dropped instead of resurrecting the series.

// NewDepthMetric implements workqueue.MetricsProvider.
func (p *WorkqueueProvider) NewDepthMetric(name string) workqueue.GaugeMetric {
	if name == "" {
		return noopMetric{}
	}
	return p.v.depth.WithLabelValues(name)
}

// NewAddsMetric implements workqueue.MetricsProvider.
func (p *WorkqueueProvider) NewAddsMetric(name string) workqueue.CounterMetric {
	if name == "" {
		return noopMetric{}
	}
	return p.v.adds.WithLabelValues(name)
}

// NewLatencyMetric implements workqueue.MetricsProvider.
func (p *WorkqueueProvider) NewLatencyMetric(name string) workqueue.HistogramMetric {
	if name == "" {
		return noopMetric{}
	}
	return p.v.latency.WithLabelValues(name)
}

// NewWorkDurationMetric implements workqueue.MetricsProvider.
func (p *WorkqueueProvider) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	if name == "" {
		return noopMetric{}
	}
	return p.v.workDur.WithLabelValues(name)
}

// NewUnfinishedWorkSecondsMetric implements workqueue.MetricsProvider.
func (p *WorkqueueProvider) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	if name == "" {
		return noopMetric{}
	}
	return p.v.unfinished.WithLabelValues(name)
}

// NewLongestRunningProcessorSecondsMetric implements workqueue.MetricsProvider.
func (p *WorkqueueProvider) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	if name == "" {
		return noopMetric{}
	}
	return p.v.longest.WithLabelValues(name)
}

// NewRetriesMetric implements workqueue.MetricsProvider.
func (p *WorkqueueProvider) NewRetriesMetric(name string) workqueue.CounterMetric {
	if name == "" {
		return noopMetric{}
	}
	return p.v.retries.WithLabelValues(name)
}

// DeleteQueueMetrics implements workqueue.MetricsDeleter: it removes every
// series of the queue called name.
func (p *WorkqueueProvider) DeleteQueueMetrics(name string) { p.v.delete(name) }

var (
	_ workqueue.MetricsProvider = (*WorkqueueProvider)(nil)
	_ workqueue.MetricsDeleter  = (*WorkqueueProvider)(nil)
)

// noopMetric stands in for every metric kind of an unnamed queue.
type noopMetric struct{}

func (noopMetric) Inc()            {}
func (noopMetric) Dec()            {}
func (noopMetric) Set(float64)     {}
func (noopMetric) Observe(float64) {}
