package client

import (
	"log/slog"
	"strconv"
	"time"
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
	// like client-go. A path prefix (e.g. behind a proxy) is kept. One URL:
	// list several servers in Hosts.
	Host string
	// Hosts lists further URLs of the same API (replicas of one server
	// over one store, whose resourceVersions they share), in the form of
	// Host. The client uses Host and Hosts in that order, duplicates
	// removed, so Host alone, Hosts alone or both work.
	//
	// The client sends every request to one server and stays with it while
	// it answers. A transport error (refused, reset, EOF before a
	// response, TLS handshake failure) or a 503 marks that server down for
	// a cooldown (1s doubling to 30s) and the request moves to the next
	// server at once where that is safe: always for get, list, watch and
	// delete (a delete retried after its first attempt went through may
	// report NotFound); for create, update and patch only when the request
	// never left the client (no connection could be made), so a create is
	// never sent twice. The server that answers becomes the one used until
	// it fails in turn. A watch whose stream breaks marks its server down
	// too, so the reflector's re-watch from its last resourceVersion goes
	// to another replica and the informer resumes without a relist.
	//
	// A slice rather than a comma-separated Host because Host keeps the
	// meaning it has in client-go and in kubeconfig files (one URL, which
	// may itself contain a comma), and because code that copies Host
	// elsewhere keeps working. Command-line tools may accept a comma-
	// separated flag and split it into Hosts, as job-controller's --server
	// does. Behind a load balancer, give its one URL: the client keeps no
	// state about the servers behind it, only per connection.
	Hosts []string
	// BearerToken is sent as "Authorization: Bearer <token>" when set.
	BearerToken string
	// ExecProvider, when set, runs a kubeconfig exec credential plugin
	// for the bearer token (instead of BearerToken): cached until its
	// expirationTimestamp, run again when the server answers 401.
	ExecProvider *ExecConfig
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
	// ContentType is the encoding asked of the server for kinds whose Go
	// type has protobuf encoding (the k8s.io/api kinds, such as
	// *corev1.ConfigMap): "" (the default) or ContentTypeProtobuf asks for
	// protobuf with JSON as a fallback the server may pick (apiserver-stub
	// does); ContentTypeJSON asks for JSON only. The default is client-go's
	// for built-in kinds, because protobuf costs kube-apiserver and the
	// client far less CPU per object than JSON. Other kinds (custom
	// resources, unstructured objects) are always JSON, and so are request
	// bodies and WebSocket watches; the client decodes whichever of the two
	// the server answers with.
	ContentType string
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
	// against (default: the host of the URL each request goes to).
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
