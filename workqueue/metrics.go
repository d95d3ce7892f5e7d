package workqueue

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// GaugeMetric is a value that can go up and down (the queue depth).
type GaugeMetric interface {
	Inc()
	Dec()
}

// SettableGaugeMetric is a gauge that is set to an absolute value. It is
// separate from GaugeMetric for compatibility with client-go.
type SettableGaugeMetric interface {
	Set(float64)
}

// CounterMetric is a value that only goes up.
type CounterMetric interface {
	Inc()
}

// SummaryMetric records observations.
type SummaryMetric interface {
	Observe(float64)
}

// HistogramMetric records observations into buckets.
type HistogramMetric interface {
	Observe(float64)
}

// MetricsProvider creates the metrics of one named queue. It is the same
// interface as client-go's, so a provider written for client-go works here.
type MetricsProvider interface {
	NewDepthMetric(name string) GaugeMetric
	NewAddsMetric(name string) CounterMetric
	NewLatencyMetric(name string) HistogramMetric
	NewWorkDurationMetric(name string) HistogramMetric
	NewUnfinishedWorkSecondsMetric(name string) SettableGaugeMetric
	NewLongestRunningProcessorSecondsMetric(name string) SettableGaugeMetric
	NewRetriesMetric(name string) CounterMetric
}

// MetricsDeleter is an optional extension of MetricsProvider. When the
// provider implements it, a named queue calls DeleteQueueMetrics(name) once
// when it is shut down, so the series of a stopped queue do not linger
// (client-go keeps them forever).
type MetricsDeleter interface {
	DeleteQueueMetrics(name string)
}

type noopMetric struct{}

func (noopMetric) Inc()            {}
func (noopMetric) Dec()            {}
func (noopMetric) Set(float64)     {}
func (noopMetric) Observe(float64) {}

type noopMetricsProvider struct{}

func (noopMetricsProvider) NewDepthMetric(string) GaugeMetric            { return noopMetric{} }
func (noopMetricsProvider) NewAddsMetric(string) CounterMetric           { return noopMetric{} }
func (noopMetricsProvider) NewLatencyMetric(string) HistogramMetric      { return noopMetric{} }
func (noopMetricsProvider) NewWorkDurationMetric(string) HistogramMetric { return noopMetric{} }
func (noopMetricsProvider) NewRetriesMetric(string) CounterMetric        { return noopMetric{} }
func (noopMetricsProvider) NewUnfinishedWorkSecondsMetric(string) SettableGaugeMetric {
	return noopMetric{}
}
func (noopMetricsProvider) NewLongestRunningProcessorSecondsMetric(string) SettableGaugeMetric {
	return noopMetric{}
}

var (
	globalProviderMu   sync.Mutex
	globalProvider     MetricsProvider = noopMetricsProvider{}
	globalProviderOnce sync.Once
)

// SetProvider sets the metrics provider used by queues created afterwards
// without an explicit MetricsProvider. Only the first call has an effect,
// as in client-go.
func SetProvider(metricsProvider MetricsProvider) {
	globalProviderOnce.Do(func() {
		globalProviderMu.Lock()
		globalProvider = metricsProvider
		globalProviderMu.Unlock()
	})
}

// resolveProvider returns the provider a queue should use, or nil when the
// queue must not record metrics: unnamed queues and the no-op provider record
// nothing, as in client-go.
func resolveProvider(p MetricsProvider, name string) MetricsProvider {
	if p == nil {
		globalProviderMu.Lock()
		p = globalProvider
		globalProviderMu.Unlock()
	}
	if name == "" || p == nil {
		return nil
	}
	if _, noop := p.(noopMetricsProvider); noop {
		return nil
	}
	return p
}

// queueMetrics records the metrics of one queue. A nil *queueMetrics records
// nothing, so an unmetered queue pays one nil check per call. The caller
// holds the queue lock.
type queueMetrics[T comparable] struct {
	clock    clock.PassiveClock
	name     string
	provider MetricsProvider

	depth          GaugeMetric
	adds           CounterMetric
	latency        HistogramMetric
	workDuration   HistogramMetric
	unfinishedWork SettableGaugeMetric
	longestRunning SettableGaugeMetric

	addTimes   map[T]time.Time
	startTimes map[T]time.Time
}

func newQueueMetrics[T comparable](p MetricsProvider, name string, c clock.PassiveClock) *queueMetrics[T] {
	p = resolveProvider(p, name)
	if p == nil {
		return nil
	}
	return &queueMetrics[T]{
		clock:          c,
		name:           name,
		provider:       p,
		depth:          p.NewDepthMetric(name),
		adds:           p.NewAddsMetric(name),
		latency:        p.NewLatencyMetric(name),
		workDuration:   p.NewWorkDurationMetric(name),
		unfinishedWork: p.NewUnfinishedWorkSecondsMetric(name),
		longestRunning: p.NewLongestRunningProcessorSecondsMetric(name),
		addTimes:       map[T]time.Time{},
		startTimes:     map[T]time.Time{},
	}
}

// add records that item became queued (dirty).
func (m *queueMetrics[T]) add(item T) {
	if m == nil {
		return
	}
	m.adds.Inc()
	m.depth.Inc()
	if _, ok := m.addTimes[item]; !ok {
		m.addTimes[item] = m.clock.Now()
	}
}

// get records that a worker took item.
func (m *queueMetrics[T]) get(item T) {
	if m == nil {
		return
	}
	now := m.clock.Now()
	m.depth.Dec()
	m.startTimes[item] = now
	if t, ok := m.addTimes[item]; ok {
		m.latency.Observe(now.Sub(t).Seconds())
		delete(m.addTimes, item)
	}
}

// done records that a worker finished item.
func (m *queueMetrics[T]) done(item T) {
	if m == nil {
		return
	}
	if t, ok := m.startTimes[item]; ok {
		m.workDuration.Observe(m.clock.Since(t).Seconds())
		delete(m.startTimes, item)
	}
}

// updateUnfinishedWork sets the total and the longest time items have been
// in processing, so a stuck worker shows before it finishes.
func (m *queueMetrics[T]) updateUnfinishedWork() {
	if m == nil {
		return
	}
	now := m.clock.Now()
	var total, longest float64
	for _, t := range m.startTimes {
		age := now.Sub(t).Seconds()
		total += age
		if age > longest {
			longest = age
		}
	}
	m.unfinishedWork.Set(total)
	m.longestRunning.Set(longest)
}

// deleteSeries removes the queue's series if the provider supports it.
func (m *queueMetrics[T]) deleteSeries() {
	if m == nil {
		return
	}
	deleteQueueMetrics(m.provider, m.name)
}

func deleteQueueMetrics(p MetricsProvider, name string) {
	if d, ok := p.(MetricsDeleter); ok {
		d.DeleteQueueMetrics(name)
	}
}

// retryMetrics counts AddAfter calls. A nil *retryMetrics counts nothing.
type retryMetrics struct {
	retries CounterMetric
}

func newRetryMetrics(p MetricsProvider, name string) *retryMetrics {
	p = resolveProvider(p, name)
	if p == nil {
		return nil
	}
	return &retryMetrics{retries: p.NewRetriesMetric(name)}
}

func (m *retryMetrics) retry() {
	if m != nil {
		m.retries.Inc()
	}
}

// unfinishedWorkUpdatePeriod is how often the unfinished-work gauges are
// refreshed, as in client-go.
const unfinishedWorkUpdatePeriod = 500 * time.Millisecond
