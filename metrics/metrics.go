package metrics

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
)

// Metrics owns every listwatch collector and hands out the hook adapters
// that the workqueue, reflector, informer and client packages call.
//
// A Metrics is itself a prometheus.Collector: New registers it when given a
// Registerer, and it can also be passed to prometheus/testutil directly.
// All methods are safe for concurrent use.
type Metrics struct {
	clock clock.PassiveClock

	wq   workqueueVecs
	refl reflectorVecs
	inf  informerVecs
	rest clientVecs

	// sinceLastEvent computes reflector_seconds_since_last_event at scrape
	// time from the live reflector hooks.
	sinceLastEvent *prometheus.Desc

	// mu guards the maps of live hooks. Hooks are looked up by name so two
	// components asking for the same name share one set of series, and a
	// stop removes exactly that set.
	mu         sync.Mutex
	reflectors map[string]*ReflectorHook
	informers  map[string]*InformerHook
}

// Option configures New.
type Option func(*Metrics)

// WithClock sets the clock used for timestamps and for
// reflector_seconds_since_last_event. Tests use a fake clock; the default is
// the real one.
func WithClock(c clock.PassiveClock) Option {
	return func(m *Metrics) { m.clock = c }
}

// New builds the collectors and, when reg is not nil, registers them with
// reg. It panics if registration fails, which only happens when reg already
// holds a collector with one of the same metric names (for example a second
// Metrics, or Kubernetes' component-base workqueue metrics): a wiring bug,
// treated like prometheus.MustRegister treats it. Use Register to get the
// error instead.
func New(reg prometheus.Registerer, opts ...Option) *Metrics {
	m, err := Register(reg, opts...)
	if err != nil {
		panic(err)
	}
	return m
}

// Register is New without the panic: it returns the registration error,
// wrapped, and no Metrics when reg refuses the collectors.
func Register(reg prometheus.Registerer, opts ...Option) (*Metrics, error) {
	m := &Metrics{
		clock:      clock.RealClock{},
		wq:         newWorkqueueVecs(),
		refl:       newReflectorVecs(),
		inf:        newInformerVecs(),
		rest:       newClientVecs(),
		reflectors: make(map[string]*ReflectorHook),
		informers:  make(map[string]*InformerHook),
		sinceLastEvent: prometheus.NewDesc(
			"reflector_seconds_since_last_event",
			"Seconds since the reflector last heard from the server: a successful list, a watch event or a bookmark. Absent until the first one.",
			[]string{"name"}, nil),
	}
	for _, o := range opts {
		o(m)
	}
	if reg != nil {
		if err := reg.Register(m); err != nil {
			return nil, fmt.Errorf("metrics: register listwatch collectors: %w", err)
		}
	}
	return m, nil
}

// collectors lists every vector this Metrics owns, in a fixed order.
func (m *Metrics) collectors() []prometheus.Collector {
	var cs []prometheus.Collector
	cs = append(cs, m.wq.collectors()...)
	cs = append(cs, m.refl.collectors()...)
	cs = append(cs, m.inf.collectors()...)
	cs = append(cs, m.rest.collectors()...)
	return cs
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
	ch <- m.sinceLastEvent
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
	m.collectSinceLastEvent(ch)
}
