package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// handlerBuckets are Kubernetes' informer_processing_latency_seconds
// buckets: 1 ms to 10 s.
var handlerBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// informerVecs are the informer_* vectors. Every series has the informer's
// name; per-handler series also have the handler's name.
type informerVecs struct {
	objects   *prometheus.GaugeVec
	synced    *prometheus.GaugeVec
	pending   *prometheus.GaugeVec
	duration  *prometheus.HistogramVec
	coalesced *prometheus.CounterVec
	panics    *prometheus.CounterVec
}

func newInformerVecs() informerVecs {
	return informerVecs{
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "informer_store_objects",
			Help: "Number of objects in the informer's store.",
		}, []string{"name"}),
		synced: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "informer_synced",
			Help: "1 once the informer's store holds a complete initial list, 0 before.",
		}, []string{"name"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "informer_pending_notifications",
			Help: "Notifications buffered for a handler and not yet delivered.",
		}, []string{"name", "handler"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "informer_handler_duration_seconds",
			Help:    "How long in seconds a handler took to process one notification.",
			Buckets: handlerBuckets,
		}, []string{"name", "handler"}),
		coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "informer_coalesced_notifications_total",
			Help: "Total number of notifications merged into a later one for the same key because the handler's buffer was full.",
		}, []string{"name", "handler"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "informer_handler_panics_total",
			Help: "Total number of panics recovered from a handler.",
		}, []string{"name", "handler"}),
	}
}

func (v *informerVecs) collectors() []prometheus.Collector {
	return []prometheus.Collector{v.objects, v.synced, v.pending, v.duration, v.coalesced, v.panics}
}

// perHandler lists the vectors that carry a handler label.
func (v *informerVecs) perHandler() []interface{ DeletePartialMatch(prometheus.Labels) int } {
	return []interface{ DeletePartialMatch(prometheus.Labels) int }{v.pending, v.duration, v.coalesced, v.panics}
}

// InformerHook is the informer.MetricsHook of one named informer. Get one
// with Metrics.Informer; all methods are safe for concurrent use.
//
// Series are created by the first report that needs them, so an informer
// that is built but never run leaves no trace; a handler's series are
// removed by HandlerRemoved. Stopped removes every series of the informer
// (and of the reflector of the same name) and turns the hook into a no-op.
type InformerHook struct {
	m    *Metrics
	name string

	objects lazyGauge
	synced  lazyGauge

	// mu orders series creation against removal, so a late report after
	// Stopped cannot recreate a deleted series. Lookups of existing handler
	// series go through the sync.Map without it.
	mu       sync.Mutex
	stopped  atomic.Bool
	handlers sync.Map // handler name -> *handlerSeries
}

// handlerSeries are one handler's pre-resolved series.
type handlerSeries struct {
	pending   prometheus.Gauge
	duration  prometheus.Observer
	coalesced prometheus.Counter
	panics    prometheus.Counter
}

// Informer returns the hook for the informer called name, creating its
// series on first use. Asking again for a live name returns the same hook;
// after it is stopped a new call starts afresh. An empty name yields a hook
// that records nothing.
func (m *Metrics) Informer(name string) *InformerHook {
	if name == "" {
		h := &InformerHook{}
		h.stopped.Store(true)
		return h
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.informers[name]; ok {
		return h
	}
	h := &InformerHook{m: m, name: name}
	m.informers[name] = h
	return h
}

// DeleteInformer removes every informer_* series of the informer called
// name, as if it had reported Stopped.
func (m *Metrics) DeleteInformer(name string) {
	m.mu.Lock()
	h := m.informers[name]
	m.mu.Unlock()
	if h != nil {
		h.Stopped()
	} else {
		// No live hook, but a reflector of that name may still be around.
		m.DeleteReflector(name)
	}
}

// SetStoreObjects records the number of objects in the store.
func (h *InformerHook) SetStoreObjects(n int) {
	if h.stopped.Load() {
		return
	}
	h.objects.set(&h.mu, &h.stopped, h.m.inf.objects, h.name, float64(n))
}

// SetSynced records whether the store holds a complete initial list.
func (h *InformerHook) SetSynced(synced bool) {
	if h.stopped.Load() {
		return
	}
	v := 0.0
	if synced {
		v = 1
	}
	h.synced.set(&h.mu, &h.stopped, h.m.inf.synced, h.name, v)
}

// SetPending records how many notifications wait in handler's buffer.
func (h *InformerHook) SetPending(handler string, n int) {
	if s := h.handler(handler); s != nil {
		s.pending.Set(float64(n))
	}
}

// ObserveHandler records that handler took d to process one notification.
func (h *InformerHook) ObserveHandler(handler string, d time.Duration) {
	if s := h.handler(handler); s != nil {
		s.duration.Observe(d.Seconds())
	}
}

// Coalesced records that a notification for handler was merged into a
// later one for the same key.
func (h *InformerHook) Coalesced(handler string) {
	if s := h.handler(handler); s != nil {
		s.coalesced.Inc()
	}
}

// HandlerPanicked records a panic recovered from handler.
func (h *InformerHook) HandlerPanicked(handler string) {
	if s := h.handler(handler); s != nil {
		s.panics.Inc()
	}
}

// HandlerRemoved deletes handler's series. The informer calls it once the
// handler will get no more notifications; if the same handler name reports
// again later (a new registration), its series start from zero.
func (h *InformerHook) HandlerRemoved(handler string) {
	if h.m == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.handlers.LoadAndDelete(handler); !ok {
		return
	}
	l := prometheus.Labels{"name": h.name, "handler": handler}
	for _, v := range h.m.inf.perHandler() {
		v.DeletePartialMatch(l)
	}
}

// Stopped deletes every series of this informer, and of the reflector with
// the same name if there is one, and turns the hook into a no-op. It is
// idempotent.
func (h *InformerHook) Stopped() {
	if h.m == nil {
		return
	}
	h.mu.Lock()
	already := h.stopped.Swap(true)
	h.handlers.Clear()
	h.mu.Unlock()
	if already {
		return
	}
	h.forget()
	h.m.DeleteReflector(h.name)
}

// forget drops the hook and deletes its series in one step under m.mu: a
// new hook for the same name can only be made afterwards, so this cannot
// delete the new hook's series.
func (h *InformerHook) forget() {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if h.m.informers[h.name] == h {
		delete(h.m.informers, h.name)
	}
	l := prometheus.Labels{"name": h.name}
	h.m.inf.objects.DeletePartialMatch(l)
	h.m.inf.synced.DeletePartialMatch(l)
	for _, v := range h.m.inf.perHandler() {
		v.DeletePartialMatch(l)
	}
}

// handler returns the series of handler, creating them on first use, or nil
// once the informer has stopped.
func (h *InformerHook) handler(handler string) *handlerSeries {
	if h.stopped.Load() {
		return nil
	}
	if s, ok := h.handlers.Load(handler); ok {
		return s.(*handlerSeries)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped.Load() {
		return nil
	}
	if s, ok := h.handlers.Load(handler); ok {
		return s.(*handlerSeries)
	}
	v := &h.m.inf
	s := &handlerSeries{
		pending:   v.pending.WithLabelValues(h.name, handler),
		duration:  v.duration.WithLabelValues(h.name, handler),
		coalesced: v.coalesced.WithLabelValues(h.name, handler),
		panics:    v.panics.WithLabelValues(h.name, handler),
	}
	h.handlers.Store(handler, s)
	return s
}
