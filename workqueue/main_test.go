package workqueue

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunos-io/listwatch/internal/poll"
)

// Every test must leave no goroutine behind: queues own their goroutines
// and ShutDown must end them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// eventually polls cond (real time) until it holds or fails the test. Used
// only to wait for the queues' own goroutines to act, never to measure.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, what, cond)
}

// fakeMetric records the value of a gauge/counter/histogram.
type fakeMetric struct {
	mu    sync.Mutex
	value float64
	obs   []float64
}

func (m *fakeMetric) Inc() { m.add(1) }
func (m *fakeMetric) Dec() { m.add(-1) }
func (m *fakeMetric) add(d float64) {
	m.mu.Lock()
	m.value += d
	m.mu.Unlock()
}
func (m *fakeMetric) Set(v float64) {
	m.mu.Lock()
	m.value = v
	m.mu.Unlock()
}
func (m *fakeMetric) Observe(v float64) {
	m.mu.Lock()
	m.obs = append(m.obs, v)
	m.mu.Unlock()
}
func (m *fakeMetric) get() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.value
}
func (m *fakeMetric) observations() []float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]float64(nil), m.obs...)
}

// fakeProvider implements MetricsProvider and MetricsDeleter.
type fakeProvider struct {
	depth, adds, latency, work, unfinished, longest, retries fakeMetric

	mu      sync.Mutex
	deleted []string
}

func (p *fakeProvider) NewDepthMetric(string) GaugeMetric            { return &p.depth }
func (p *fakeProvider) NewAddsMetric(string) CounterMetric           { return &p.adds }
func (p *fakeProvider) NewLatencyMetric(string) HistogramMetric      { return &p.latency }
func (p *fakeProvider) NewWorkDurationMetric(string) HistogramMetric { return &p.work }
func (p *fakeProvider) NewRetriesMetric(string) CounterMetric        { return &p.retries }
func (p *fakeProvider) NewUnfinishedWorkSecondsMetric(string) SettableGaugeMetric {
	return &p.unfinished
}
func (p *fakeProvider) NewLongestRunningProcessorSecondsMetric(string) SettableGaugeMetric {
	return &p.longest
}
func (p *fakeProvider) DeleteQueueMetrics(name string) {
	p.mu.Lock()
	p.deleted = append(p.deleted, name)
	p.mu.Unlock()
}
func (p *fakeProvider) deletedNames() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.deleted...)
}
