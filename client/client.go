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
	"k8s.io/apimachinery/pkg/runtime"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// Client talks to one API server. It is safe for concurrent use; bind it to
// a resource with For or Dynamic.
type Client struct {
	base      *url.URL
	http      *http.Client // no overall timeout: watches stream for minutes
	dialer    *websocket.Dialer
	token     string
	userAgent string
	limiter   *rate.Limiter // nil: unlimited
	timeout   time.Duration
	transport Transport
	scheme    *runtime.Scheme
	metrics   MetricsHook
	log       *slog.Logger
}

// New returns a Client for cfg. It fails on an unparsable Host, unreadable
// TLS files or an unknown WatchTransport; it does not contact the server.
func New(cfg *Config) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("client: nil Config")
	}
	base, err := parseHost(cfg.Host)
	if err != nil {
		return nil, err
	}
	if cfg.WatchTransport != TransportHTTP && cfg.WatchTransport != TransportWebSocket {
		return nil, fmt.Errorf("client: unknown WatchTransport %v", cfg.WatchTransport)
	}
	tlsCfg, err := buildTLS(&cfg.TLS, base)
	if err != nil {
		return nil, err
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.ForceAttemptHTTP2 = true // a custom TLS config disables HTTP/2 unless asked
	tr.MaxIdleConnsPerHost = 25 // client-go's value: informers open many connections to one host

	c := &Client{
		base:      base,
		http:      &http.Client{Transport: tr},
		token:     cfg.BearerToken,
		userAgent: cfg.UserAgent,
		timeout:   cfg.Timeout,
		transport: cfg.WatchTransport,
		scheme:    cfg.Scheme,
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
	if c.scheme == nil {
		c.scheme = kunosv1.Scheme
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

// Host returns the base URL the client talks to.
func (c *Client) Host() string { return c.base.String() }

// parseHost accepts "https://h:p[/prefix]", "http://..." or a bare
// "h:p", which is taken as https like client-go does.
func parseHost(host string) (*url.URL, error) {
	if host == "" {
		return nil, errors.New("client: Config.Host is empty")
	}
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("client: parse Config.Host: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: Config.Host %q: scheme must be http or https", host)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: Config.Host %q has no host", host)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: Config.Host %q must not have a query or fragment", host)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}
