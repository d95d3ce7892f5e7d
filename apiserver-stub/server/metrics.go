package server

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/watch"
)

// metrics are the server's Prometheus collectors. Every label is bounded:
// verbs, the served resources, HTTP codes, event types.
type metrics struct {
	requests    *prometheus.CounterVec   // verb, resource, code
	duration    *prometheus.HistogramVec // verb, resource
	watchers    *prometheus.GaugeVec     // resource
	watchEvents *prometheus.CounterVec   // resource, type
	slowWrites  *prometheus.CounterVec   // resource
	// writeTimeouts counts watches cut because their client did not read.
	writeTimeouts *prometheus.CounterVec // resource
	expired       *prometheus.CounterVec // verb
}

func newMetrics(reg prometheus.Registerer, store storage.Interface) (*metrics, http.Handler, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Counter of apiserver requests broken out by verb, resource and HTTP response code.",
		}, []string{"verb", "resource", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Response latency distribution in seconds for each verb and resource (watches excluded).",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"verb", "resource"}),
		watchers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_registered_watchers",
			Help: "Number of currently open watches for a given resource.",
		}, []string{"resource"}),
		watchEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_watch_events_total",
			Help: "Number of events sent in watch clients, by resource and event type.",
		}, []string{"resource", "type"}),
		slowWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_watch_slow_writes_total",
			Help: "Watch events whose write to the client blocked for more than one second (slow or stalled clients).",
		}, []string{"resource"}),
		writeTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_watch_write_timeouts_total",
			Help: "Watches cut because their client did not take an event within the watch write timeout.",
		}, []string{"resource"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_expired_responses_total",
			Help: "410 Expired answers (lists, continue tokens and watches older than the compacted revision), by verb.",
		}, []string{"verb"}),
	}
	collectors := []prometheus.Collector{m.requests, m.duration, m.watchers, m.watchEvents, m.slowWrites, m.writeTimeouts, m.expired,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "apiserver_storage_current_revision",
			Help: "The newest revision (resourceVersion) of the store.",
		}, func() float64 { return float64(store.CurrentRevision()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "apiserver_storage_compacted_revision",
			Help: "The revision history was last compacted to; older reads and watches get 410.",
		}, func() float64 { return float64(store.CompactedRevision()) }),
	}
	for _, r := range resources.all {
		if !r.Stored() {
			continue
		}
		prefix := "/" + r.GVR.Resource + "/"
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "apiserver_storage_objects",
			Help:        "Number of stored objects at the time of last check split by kind.",
			ConstLabels: prometheus.Labels{"resource": r.GVR.Resource},
		}, func() float64 { return float64(store.Count(prefix)) }))
	}
	if cs, ok := store.(cacheStater); ok {
		collectors = append(collectors, cacheCollector{cs})
	}
	if reg == nil {
		// A registry of our own: with the standard Go and process
		// collectors (go_goroutines, process_open_fds, ...), so that leaks
		// can be watched from outside. A registry passed in gets them from
		// its owner (embed and stubtest add them to the ones they make).
		private := prometheus.NewRegistry()
		collectors = append(collectors, StandardCollectors()...)
		reg = private
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, nil, fmt.Errorf("server: register metrics: %w", err)
		}
	}
	var h http.Handler
	if g, ok := reg.(prometheus.Gatherer); ok {
		h = promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	} else {
		h = promhttp.HandlerFor(prometheus.DefaultGatherer, promhttp.HandlerOpts{})
	}
	return m, h, nil
}

// StandardCollectors returns new Go runtime and process collectors
// (go_goroutines, go_memstats_*, process_open_fds, process_resident_memory_bytes,
// ...), for a registry that serves the server's metrics.
func StandardCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
}

// observe records a finished request; a zero start skips the duration
// (watches are long-running).
func (m *metrics) observe(verb, resource string, code int, start time.Time) {
	m.requests.WithLabelValues(verb, resource, strconv.Itoa(code)).Inc()
	if !start.IsZero() {
		m.duration.WithLabelValues(verb, resource).Observe(time.Since(start).Seconds())
	}
}

// StorageHooks returns storage.Hooks that export what only the store sees,
// registered in reg (a new private registry when nil): compactions, watchers
// that fell behind their buffer (slow watchers, caught up from the log),
// watchers ended by compaction, and open store watchers. Pass them in
// storage.MemoryConfig.Hooks and the same registry in Config.Registry.
func StorageHooks(reg prometheus.Registerer) (storage.Hooks, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	compactions := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "apiserver_storage_compactions_total",
		Help: "Number of history compactions (on demand, by count or by age).",
	})
	slow := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "apiserver_watch_slow_watchers_total",
		Help: "Times a watcher's buffer was full and it was moved out of the synced group to catch up from the event log.",
	})
	expired := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "apiserver_watch_expired_watchers_total",
		Help: "Watchers ended with 410 Expired because they fell behind compaction.",
	})
	watchers := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "apiserver_storage_watchers",
		Help: "Number of open watchers in the store.",
	})
	for _, c := range []prometheus.Collector{compactions, slow, expired, watchers} {
		if err := reg.Register(c); err != nil {
			return storage.Hooks{}, fmt.Errorf("server: register storage metrics: %w", err)
		}
	}
	return storage.Hooks{
		OnCompact:        func(int64) { compactions.Inc() },
		OnSlowWatcher:    slow.Inc,
		OnWatcherExpired: expired.Inc,
		OnWatcherCount:   func(n int) { watchers.Set(float64(n)) },
	}, nil
}

// EtcdHooks returns storage.EtcdHooks that export, in reg, the etcd
// backend's request latencies (etcd_request_duration_seconds, by operation
// and resource, as kube-apiserver names it) and the events its watch
// caches received (apiserver_watch_cache_events_received_total). Pass them
// in storage.EtcdConfig.EtcdHooks; the cache gauges come from the store
// itself (see Config.Store).
func EtcdHooks(reg prometheus.Registerer) (storage.EtcdHooks, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "etcd_request_duration_seconds",
		Help:    "Etcd request latency in seconds for each operation and object type.",
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"operation", "type"})
	received := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "apiserver_watch_cache_events_received_total",
		Help: "Counter of events received in watch cache broken by resource type.",
	}, []string{"resource"})
	for _, c := range []prometheus.Collector{dur, received} {
		if err := reg.Register(c); err != nil {
			return storage.EtcdHooks{}, fmt.Errorf("server: register etcd metrics: %w", err)
		}
	}
	return storage.EtcdHooks{
		OnRequest:    func(op, typ string, d time.Duration) { dur.WithLabelValues(op, typ).Observe(d.Seconds()) },
		OnCacheEvent: func(resource string) { received.WithLabelValues(resource).Inc() },
	}, nil
}

// cacheStater is a store with watch caches (the etcd backend).
type cacheStater interface{ CacheStats() []storage.CacheStat }

// cacheCollector exports the watch caches' figures with kube-apiserver's
// names, read from the store at each scrape.
type cacheCollector struct{ store cacheStater }

var (
	cacheRVDesc = prometheus.NewDesc("apiserver_watch_cache_resource_version",
		"Current resource version of watch cache broken by resource type.", []string{"resource"}, nil)
	cacheCapDesc = prometheus.NewDesc("apiserver_watch_cache_capacity",
		"Total capacity of watch cache (events kept for watch replay) broken by resource type.", []string{"resource"}, nil)
	cacheEventsDesc = prometheus.NewDesc("apiserver_watch_cache_events",
		"Events currently held in the watch cache's window, by resource type.", []string{"resource"}, nil)
)

func (c cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cacheRVDesc
	ch <- cacheCapDesc
	ch <- cacheEventsDesc
}

func (c cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for _, cs := range c.store.CacheStats() {
		ch <- prometheus.MustNewConstMetric(cacheRVDesc, prometheus.GaugeValue, float64(cs.Revision), cs.Resource)
		ch <- prometheus.MustNewConstMetric(cacheCapDesc, prometheus.GaugeValue, float64(cs.Capacity), cs.Resource)
		ch <- prometheus.MustNewConstMetric(cacheEventsDesc, prometheus.GaugeValue, float64(cs.Events), cs.Resource)
	}
}

// eventCounters are one resource's apiserver_watch_events_total series,
// looked up once per watch rather than once per event.
type eventCounters struct {
	added, modified, deleted, bookmark prometheus.Counter
	vec                                *prometheus.CounterVec
	res                                string
}

func (m *metrics) watchEventCounters(res string) *eventCounters {
	v := m.watchEvents
	return &eventCounters{
		added:    v.WithLabelValues(res, string(watch.Added)),
		modified: v.WithLabelValues(res, string(watch.Modified)),
		deleted:  v.WithLabelValues(res, string(watch.Deleted)),
		bookmark: v.WithLabelValues(res, string(watch.Bookmark)),
		vec:      v,
		res:      res,
	}
}

func (c *eventCounters) inc(t watch.EventType) {
	switch t {
	case watch.Added:
		c.added.Inc()
	case watch.Modified:
		c.modified.Inc()
	case watch.Deleted:
		c.deleted.Inc()
	case watch.Bookmark:
		c.bookmark.Inc()
	default:
		c.vec.WithLabelValues(c.res, string(t)).Inc()
	}
}
