package client

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// Client talks to one API server, or to several replicas of one (see
// Config.Hosts). It is safe for concurrent use; bind it to a resource with
// For (a resource.Descriptor says the resource, its kind and its scope) or
// Dynamic. A Client knows no API group of its own.
type Client struct {
	eps       *endpoints
	http      *http.Client // no overall timeout: watches stream for minutes
	dialer    *websocket.Dialer
	token     string
	exec      *execTokens // nil without an exec plugin
	userAgent string
	limiter   *rate.Limiter // nil: unlimited
	timeout   time.Duration
	transport Transport
	protobuf  bool // ask for protobuf for kinds that have it (Config.ContentType)
	metrics   MetricsHook
	log       *slog.Logger
}

// New returns a Client for cfg. It fails on an unparsable Host or Hosts
// entry, unreadable TLS files or an unknown WatchTransport; it does not
// contact any server.
func New(cfg *Config) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("client: nil Config")
	}
	bases, err := parseHosts(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.WatchTransport != TransportHTTP && cfg.WatchTransport != TransportWebSocket {
		return nil, fmt.Errorf("client: unknown WatchTransport %v", cfg.WatchTransport)
	}
	switch cfg.ContentType {
	case "", ContentTypeProtobuf, ContentTypeJSON:
	default:
		return nil, fmt.Errorf("client: unsupported Config.ContentType %q, want %q or %q", cfg.ContentType, ContentTypeProtobuf, ContentTypeJSON)
	}
	tlsCfg, err := buildTLS(&cfg.TLS, bases)
	if err != nil {
		return nil, err
	}

	var exec *execTokens
	if cfg.ExecProvider != nil {
		if exec, err = newExecTokens(cfg.ExecProvider); err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.ForceAttemptHTTP2 = true // a custom TLS config disables HTTP/2 unless asked
	// Over HTTP/2 every watch shares one connection, which must not die
	// unnoticed: with no frame for SendPingTimeout the transport pings,
	// and closes the connection (failing its streams, which the reflector
	// re-opens) when no answer comes within PingTimeout. client-go's
	// values.
	tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second}
	tr.MaxIdleConnsPerHost = 25 // client-go's value: informers open many connections to one host

	c := &Client{
		eps:       newEndpoints(bases),
		http:      &http.Client{Transport: tr},
		token:     cfg.BearerToken,
		exec:      exec,
		userAgent: cfg.UserAgent,
		timeout:   cfg.Timeout,
		transport: cfg.WatchTransport,
		protobuf:  cfg.ContentType != ContentTypeJSON,
		metrics:   cfg.Metrics,
		log:       cfg.Logger,
		dialer: &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			NetDialContext:   (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:  tlsCfg.Clone(), // own copy: net/http adds "h2" to its NextProtos
			HandshakeTimeout: 30 * time.Second,
			ReadBufferSize:   32 << 10,
		},
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	qps, burst := cfg.QPS, cfg.Burst
	if qps == 0 {
		qps = DefaultQPS
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	if qps > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(qps), burst)
	}
	return c, nil
}

// Host returns the base URL the client currently sends requests to: with
// several servers, the one it sticks to (see Config.Hosts).
func (c *Client) Host() string { return c.eps.current().host }

// Hosts returns the base URLs of all the client's servers, in the order
// they are tried.
func (c *Client) Hosts() []string { return c.eps.hosts() }

// parseHosts returns the URLs of cfg.Host then cfg.Hosts, duplicates
// removed. At least one is required.
func parseHosts(cfg *Config) ([]*url.URL, error) {
	var out []*url.URL
	seen := make(map[string]bool, 1+len(cfg.Hosts))
	add := func(field, host string) error {
		u, err := parseHost(field, host)
		if err != nil {
			return err
		}
		if k := u.String(); !seen[k] {
			seen[k] = true
			out = append(out, u)
		}
		return nil
	}
	if cfg.Host != "" {
		if err := add("Config.Host", cfg.Host); err != nil {
			return nil, err
		}
	}
	for i, h := range cfg.Hosts {
		if err := add(fmt.Sprintf("Config.Hosts[%d]", i), h); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, errors.New("client: Config.Host is empty")
	}
	return out, nil
}

// parseHost accepts "https://h:p[/prefix]", "http://..." or a bare
// "h:p", which is taken as https like client-go does. field names the
// Config field in errors.
func parseHost(field, host string) (*url.URL, error) {
	if host == "" {
		return nil, fmt.Errorf("client: %s is empty", field)
	}
	if strings.Count(host, "://") > 1 {
		return nil, fmt.Errorf("client: %s %q holds more than one URL: list several servers in Config.Hosts", field, host)
	}
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("client: parse %s: %w", field, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: %s %q: scheme must be http or https", field, host)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: %s %q has no host", field, host)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: %s %q must not have a query or fragment", field, host)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}
