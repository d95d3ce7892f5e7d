package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// requestBuckets are Kubernetes' rest_client_request_duration_seconds
// buckets: 5 ms to 60 s.
var requestBuckets = []float64{0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60}

// errorCode is the code label of a request that got no HTTP response, as in
// Kubernetes' rest_client_requests_total.
const errorCode = "<error>"

// clientVecs are the rest_client_* vectors.
type clientVecs struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newClientVecs() clientVecs {
	return clientVecs{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rest_client_requests_total",
			Help: `Number of HTTP requests to the API server, by verb, resource and status code ("<error>" when no response arrived).`,
		}, []string{"verb", "resource", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rest_client_request_duration_seconds",
			Help:    "Request latency in seconds, by verb and resource; for a watch, the time until the response headers arrived.",
			Buckets: requestBuckets,
		}, []string{"verb", "resource"}),
	}
}

func (v *clientVecs) collectors() []prometheus.Collector {
	return []prometheus.Collector{v.requests, v.duration}
}

// ClientHook is the client.MetricsHook backed by a Metrics. Client series
// are never deleted: verbs, resources and codes form a small fixed set.
type ClientHook struct {
	v *clientVecs
}

// Client returns the REST client metrics hook.
func (m *Metrics) Client() *ClientHook { return &ClientHook{v: &m.rest} }

// ObserveRequest records one request: its verb (get, list, watch, create,
// update, delete, ...), resource (e.g. "tasks"; never an object name), HTTP
// status code (0 or less when no response arrived) and duration.
func (c *ClientHook) ObserveRequest(verb, resource string, code int, d time.Duration) {
	cs := errorCode
	if code > 0 {
		cs = strconv.Itoa(code)
	}
	c.v.requests.WithLabelValues(verb, resource, cs).Inc()
	c.v.duration.WithLabelValues(verb, resource).Observe(d.Seconds())
}
