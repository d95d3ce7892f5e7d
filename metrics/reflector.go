package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kunos-io/listwatch/reflector"
)

// listBuckets cover a list from a few milliseconds (a small cache-served
// list) to minutes (a large paged list from etcd).
var listBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// knownEventTypes are the watch event types the protocol defines. Anything
// else is counted as "unknown": event types come off the wire, and a label
// fed from the wire must not grow without bound.
var knownEventTypes = []watch.EventType{watch.Added, watch.Modified, watch.Deleted, watch.Bookmark, watch.Error}

// unknownEventType is the type label of events outside knownEventTypes.
const unknownEventType = "unknown"

// knownRelistReasons are the reasons the reflector relists for; their series
// exist (at zero) from the moment a reflector is created so rate() works
// from the first scrape.
var knownRelistReasons = []reflector.RelistReason{
	reflector.RelistExpired, reflector.RelistTooLarge, reflector.RelistError, reflector.RelistWatchdog,
}

// reflectorVecs are the reflector_* vectors, all labelled by reflector name.
type reflectorVecs struct {
	lists     *prometheus.CounterVec
	listDur   *prometheus.HistogramVec
	watches   *prometheus.CounterVec
	events    *prometheus.CounterVec
	relists   *prometheus.CounterVec
	rv        *prometheus.GaugeVec
	lastEvent *prometheus.GaugeVec
}

func newReflectorVecs() reflectorVecs {
	return reflectorVecs{
		lists: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reflector_lists_total",
			Help: "Total number of lists (or watch-list initial syncs) the reflector performed, failed ones included.",
		}, []string{"name"}),
		listDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reflector_list_duration_seconds",
			Help:    "How long in seconds a list (or watch-list initial sync) took, failed ones included.",
			Buckets: listBuckets,
		}, []string{"name"}),
		watches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reflector_watches_total",
			Help: "Total number of watches the reflector started.",
		}, []string{"name"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reflector_watch_events_total",
			Help: "Total number of watch events the reflector received, by event type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR, unknown).",
		}, []string{"name", "type"}),
		relists: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reflector_relists_total",
			Help: "Total number of times the reflector dropped its watch and listed again, by reason (expired, too-large, error, watchdog).",
		}, []string{"name", "reason"}),
		rv: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reflector_last_resource_version",
			Help: "Last resourceVersion the reflector synced to, as a number (its 15 least significant digits, as Kubernetes does). Absent until a numeric resourceVersion is seen.",
		}, []string{"name"}),
		lastEvent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reflector_last_event_timestamp_seconds",
			Help: "Unix time in seconds at which the reflector last heard from the server: a successful list, a watch event or a bookmark. Absent until the first one.",
		}, []string{"name"}),
	}
}

func (v *reflectorVecs) collectors() []prometheus.Collector {
	return []prometheus.Collector{v.lists, v.listDur, v.watches, v.events, v.relists, v.rv, v.lastEvent}
}

// ReflectorHook is the reflector.MetricsHook of one named reflector. Get one
// with Metrics.Reflector; all methods are safe for concurrent use and cheap
// on the hot path (pre-resolved series, atomic updates).
//
// The reflector's series appear with its first report, all at once (counters
// at zero), so a reflector that is built but never run leaves no trace.
// After Stopped, every method is a no-op and the reflector's series are gone.
type ReflectorHook struct {
	m    *Metrics
	name string

	// s holds the pre-resolved series once the first report created them.
	s atomic.Pointer[reflectorSeries]

	// mu serialises the creation of series against Stopped, so a late
	// report can never recreate a deleted series. Once created, series are
	// updated without the lock.
	mu      sync.Mutex
	stopped atomic.Bool
	// rv and lastSeen are created on their first value, so they are absent
	// rather than a misleading 0.
	rv       lazyGauge
	lastSeen lazyGauge

	// lastProgress is the UnixNano of the last list, event or bookmark; 0
	// means never. Read at scrape time for reflector_seconds_since_last_event.
	lastProgress atomic.Int64
}

// reflectorSeries are one reflector's series for its fixed label values.
type reflectorSeries struct {
	lists   prometheus.Counter
	listDur prometheus.Observer
	watches prometheus.Counter
	events  map[watch.EventType]prometheus.Counter // read-only
	unknown prometheus.Counter
	relists map[reflector.RelistReason]prometheus.Counter // guarded by ReflectorHook.mu
}

// Reflector returns the hook for the reflector called name. Asking again
// for a live name returns the same hook, so components that share a name
// share series; after the hook is stopped a new call starts afresh. An
// empty name yields a hook that records nothing.
func (m *Metrics) Reflector(name string) *ReflectorHook {
	if name == "" {
		h := &ReflectorHook{}
		h.stopped.Store(true)
		return h
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.reflectors[name]; ok {
		return h
	}
	h := &ReflectorHook{m: m, name: name}
	m.reflectors[name] = h
	return h
}

// series returns the reflector's series, creating them on first use, or nil
// once the hook is stopped.
func (h *ReflectorHook) series() *reflectorSeries {
	if h.stopped.Load() {
		return nil
	}
	if s := h.s.Load(); s != nil {
		return s
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped.Load() {
		return nil
	}
	if s := h.s.Load(); s != nil {
		return s
	}
	v, name := &h.m.refl, h.name
	s := &reflectorSeries{
		lists:   v.lists.WithLabelValues(name),
		listDur: v.listDur.WithLabelValues(name),
		watches: v.watches.WithLabelValues(name),
		events:  make(map[watch.EventType]prometheus.Counter, len(knownEventTypes)),
		unknown: v.events.WithLabelValues(name, unknownEventType),
		relists: make(map[reflector.RelistReason]prometheus.Counter, len(knownRelistReasons)),
	}
	for _, t := range knownEventTypes {
		s.events[t] = v.events.WithLabelValues(name, string(t))
	}
	for _, r := range knownRelistReasons {
		s.relists[r] = v.relists.WithLabelValues(name, string(r))
	}
	h.s.Store(s)
	return s
}

// DeleteReflector removes every reflector_* series of the reflector called
// name and stops its hook.
func (m *Metrics) DeleteReflector(name string) {
	m.mu.Lock()
	h := m.reflectors[name]
	m.mu.Unlock()
	if h != nil {
		h.Stopped()
	}
}

// ObserveList records one list (or watch-list initial sync) and how long it
// took. A successful list counts as hearing from the server.
func (h *ReflectorHook) ObserveList(d time.Duration, err error) {
	s := h.series()
	if s == nil {
		return
	}
	s.lists.Inc()
	s.listDur.Observe(d.Seconds())
	if err == nil {
		h.progress()
	}
}

// WatchStarted records that a watch was opened.
func (h *ReflectorHook) WatchStarted() {
	if s := h.series(); s != nil {
		s.watches.Inc()
	}
}

// ObserveEvent records one watch event of type t; every event, bookmarks
// and errors included, counts as hearing from the server.
func (h *ReflectorHook) ObserveEvent(t watch.EventType) {
	s := h.series()
	if s == nil {
		return
	}
	c, ok := s.events[t]
	if !ok {
		c = s.unknown
	}
	c.Inc()
	h.progress()
}

// Relisted records that the reflector abandoned its watch and will list
// again, for reason (expired, too-large, error or watchdog).
func (h *ReflectorHook) Relisted(reason reflector.RelistReason) {
	s := h.series()
	if s == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped.Load() {
		return
	}
	c, ok := s.relists[reason]
	if !ok {
		// Reasons are constants of the reflector package, so the set is
		// bounded by code, not by input.
		c = h.m.refl.relists.WithLabelValues(h.name, string(reason))
		s.relists[reason] = c
	}
	c.Inc()
}

// SetResourceVersion records the last resourceVersion synced to. Versions
// are opaque strings; a non-numeric one leaves the gauge unchanged.
func (h *ReflectorHook) SetResourceVersion(rv string) {
	if h.stopped.Load() {
		return
	}
	f, ok := parseResourceVersion(rv)
	if !ok || h.series() == nil {
		return
	}
	h.rv.set(&h.mu, &h.stopped, h.m.refl.rv, h.name, f)
}

// Stopped removes every series of this reflector and turns the hook into a
// no-op. It is idempotent. It implements reflector.MetricsStopper: the
// reflector calls it as its Run returns (and an informer's Stopped calls
// it for the reflector of the same name).
func (h *ReflectorHook) Stopped() {
	if h.m == nil {
		return
	}
	h.mu.Lock()
	already := h.stopped.Swap(true)
	h.mu.Unlock()
	if already {
		return
	}
	// Forget the hook and delete its series in one step under m.mu: a new
	// hook for the same name can only be made afterwards, so this cannot
	// delete the new hook's series.
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if h.m.reflectors[h.name] == h {
		delete(h.m.reflectors, h.name)
	}
	h.m.refl.delete(h.name)
}

// progress records that the reflector heard from the server now.
func (h *ReflectorHook) progress() {
	now := h.m.clock.Now()
	h.lastProgress.Store(now.UnixNano())
	h.lastSeen.set(&h.mu, &h.stopped, h.m.refl.lastEvent, h.name, float64(now.UnixNano())/1e9)
}

// lazyGauge is a gauge series created on its first Set.
type lazyGauge struct {
	p atomic.Pointer[prometheus.Gauge]
}

// set sets the series name of vec to f, creating it first if need be. The
// creation happens under mu and not once stopped is set; a gauge already
// handed out keeps working but, once deleted from vec, is no longer
// exported.
func (g *lazyGauge) set(mu sync.Locker, stopped *atomic.Bool, vec *prometheus.GaugeVec, name string, f float64) {
	if p := g.p.Load(); p != nil {
		(*p).Set(f)
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if stopped.Load() {
		return
	}
	p := g.p.Load()
	if p == nil {
		c := vec.WithLabelValues(name)
		p = &c
		g.p.Store(p)
	}
	(*p).Set(f)
}

// delete removes every series labelled with reflector name.
func (v *reflectorVecs) delete(name string) {
	l := prometheus.Labels{"name": name}
	for _, c := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		v.lists, v.listDur, v.watches, v.events, v.relists, v.rv, v.lastEvent,
	} {
		c.DeletePartialMatch(l)
	}
}

// collectSinceLastEvent emits reflector_seconds_since_last_event for every
// live reflector that has heard from the server at least once.
func (m *Metrics) collectSinceLastEvent(ch chan<- prometheus.Metric) {
	now := m.clock.Now().UnixNano()
	m.mu.Lock()
	type sample struct {
		name string
		last int64
	}
	samples := make([]sample, 0, len(m.reflectors))
	for name, h := range m.reflectors {
		if last := h.lastProgress.Load(); last != 0 {
			samples = append(samples, sample{name, last})
		}
	}
	m.mu.Unlock()
	for _, s := range samples {
		age := max(float64(now-s.last)/1e9, 0)
		ch <- prometheus.MustNewConstMetric(m.sinceLastEvent, prometheus.GaugeValue, age, s.name)
	}
}

// parseResourceVersion turns a numeric resourceVersion into a gauge value.
// Like Kubernetes' informer_store_resource_version it keeps the 15 least
// significant digits, which a float64 holds exactly.
func parseResourceVersion(rv string) (float64, bool) {
	if rv == "" || len(rv) > 20 {
		return 0, false
	}
	for i := 0; i < len(rv); i++ {
		if rv[i] < '0' || rv[i] > '9' {
			return 0, false
		}
	}
	if len(rv) > 15 {
		rv = rv[len(rv)-15:]
	}
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return 0, false
	}
	return float64(n), true
}
