package client

import (
	"log/slog"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
)

// Transport selects how watches are carried.
type Transport int

const (
	// TransportHTTP streams a watch as a chunked HTTP/1.1 (or HTTP/2)
	// response body, one JSON event after another. It is what client-go
	// and kubectl use, and the default.
	TransportHTTP Transport = iota
	// TransportWebSocket upgrades the watch request to a WebSocket and
	// reads one event per message.
	TransportWebSocket
)

// String returns "http" or "websocket".
func (t Transport) String() string {
	switch t {
	case TransportHTTP:
		return "http"
	case TransportWebSocket:
		return "websocket"
	}
	return "Transport(" + strconv.Itoa(int(t)) + ")"
}

// Defaults applied by New to zero fields of Config.
const (
	// DefaultQPS is the steady request rate when Config.QPS is 0.
	DefaultQPS float32 = 50
	// DefaultBurst is the burst when Config.Burst is 0.
	DefaultBurst = 100
	// DefaultUserAgent is sent when Config.UserAgent is empty.
	DefaultUserAgent = "listwatch-client/v1"
	// maxRetries bounds retries of 429 and 5xx responses carrying
	// Retry-After, like client-go.
	maxRetries = 10
)

// Config says how to reach and authenticate to an API server.
type Config struct {
	// Host is the server's base URL, e.g. "https://127.0.0.1:6443" or
	// "http://localhost:8080". A host without a scheme is taken as https,
	// like client-go. A path prefix (e.g. behind a proxy) is kept.
	Host string
	// BearerToken is sent as "Authorization: Bearer <token>" when set.
	BearerToken string
	// TLS configures server verification and client certificates.
	TLS TLSConfig
	// QPS is the steady request rate allowed (default DefaultQPS); a
	// negative value disables rate limiting. A watch counts once, when it
	// starts.
	QPS float32
	// Burst is the number of requests allowed at once above QPS (default
	// DefaultBurst).
	Burst int
	// Timeout bounds each non-watch request from the end of its first
	// rate-limiter wait to the end of its body, retries included, and is
	// sent as the timeout query parameter, like client-go; zero means no
	// bound beyond the caller's context. Watches are bounded only by their
	// context and ListOptions.TimeoutSeconds.
	Timeout time.Duration
	// UserAgent is sent with every request (default DefaultUserAgent).
	UserAgent string
	// WatchTransport selects chunked HTTP (default) or WebSocket watches.
	WatchTransport Transport
	// Scheme maps Go types to kinds, used to check decoded objects and to
	// set apiVersion/kind on request bodies (default kunosv1.Scheme).
	Scheme *runtime.Scheme
	// Metrics, if set, observes every request attempt.
	Metrics MetricsHook
	// Logger receives debug logs about retries and watch ends (default:
	// discard).
	Logger *slog.Logger
}

// TLSConfig holds the TLS material of a Config. Data fields take
// precedence over the matching File fields.
type TLSConfig struct {
	// CAFile and CAData hold PEM certificates that verify the server;
	// without either the system roots are used.
	CAFile string
	CAData []byte
	// CertFile/CertData and KeyFile/KeyData hold the PEM client
	// certificate and key, for mutual TLS.
	CertFile string
	CertData []byte
	KeyFile  string
	KeyData  []byte
	// Insecure skips verification of the server certificate.
	Insecure bool
	// ServerName overrides the name the server certificate is checked
	// against (default: the host of Config.Host).
	ServerName string
}

// MetricsHook observes requests. The metrics package implements it with
// rest_client_* collectors.
type MetricsHook interface {
	// ObserveRequest is called once per HTTP attempt (retries count
	// separately; a watch once, when its response headers arrive). verb is
	// the Kubernetes verb (get, list, watch, create, update, patch,
	// delete), resource the plural resource name, code the HTTP status
	// code (101 for a WebSocket watch that upgraded) or 0 for a transport
	// error.
	ObserveRequest(verb, resource string, code int, d time.Duration)
}
