package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/audit"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authz"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Defaults for Config fields left zero.
const (
	DefaultBookmarkInterval = time.Minute
	DefaultMaxBodyBytes     = 3 << 20
	// DefaultRequestTimeout is kube-apiserver's --request-timeout: a
	// request that is not a watch is answered 504 Timeout after it.
	DefaultRequestTimeout = 60 * time.Second
	// DefaultWatchWriteTimeout bounds how long one watch event may wait
	// for a client that does not read before its connection is cut.
	DefaultWatchWriteTimeout = 60 * time.Second
	// defaultMinRequestTimeout is kube-apiserver's --min-request-timeout: a
	// watch without timeoutSeconds lasts between one and two of these.
	defaultMinRequestTimeout = 1800 * time.Second
)

// Config configures a Server. Store is required; zero values of the other
// fields take the defaults noted.
type Config struct {
	// Store holds the objects. The server never reaches around it.
	Store storage.Interface
	// BookmarkInterval is the period of BOOKMARK events on watches that
	// allow them; default 1m.
	BookmarkInterval time.Duration
	// MaxBodyBytes caps request bodies (413 beyond); default 3 MiB.
	MaxBodyBytes int64
	// MaxListLimit caps the page size a list request may ask for with a
	// positive limit (a larger limit is lowered, the client follows the
	// continue token). 0 means no cap. A list without limit is never paged.
	MaxListLimit int64
	// Logger receives request errors and watch lifecycle at debug level;
	// default slog.Default().
	Logger *slog.Logger
	// Registry receives the server metrics. Optional: without it the metrics
	// are still served on /metrics from a private registry, with the
	// standard Go and process collectors.
	Registry prometheus.Registerer
	// RequestTimeout bounds every request but watches, as kube-apiserver's
	// --request-timeout does: past it the answer is 504 Timeout (or, if the
	// answer had begun, the connection is cut). A request's ?timeout= may
	// lower it. Default 60s.
	RequestTimeout time.Duration
	// BodyReadTimeout bounds the time a request body may take to arrive (a
	// body that trickles, or stops short of its Content-Length): past it
	// the answer is 504 Timeout and the connection is closed. Default
	// RequestTimeout.
	BodyReadTimeout time.Duration
	// WatchWriteTimeout bounds how long one watch event may wait for a
	// client that does not read: past it the watch's connection is cut and
	// its goroutine ends. Default 60s.
	WatchWriteTimeout time.Duration
	// WatchFlushConcurrency is how many watch connections may be written
	// at once. A watch whose turn has not come waits without reading its
	// events, which gather and go out together in its next write. With
	// many watches on a busy server this is the difference between one
	// write(2) per event per watch, which takes every CPU from the writers,
	// and a few large writes; an idle server has a slot free, so an event
	// waits for nothing. A slot is held for a few milliseconds at most, so
	// a client that does not read does not hold up the others. Default one
	// per two CPUs (at least one); negative is no limit.
	WatchFlushConcurrency int
	// Authenticator finds who sent each request (401 when it fails).
	// Nil: no authentication, every request is system:anonymous.
	Authenticator Authenticator
	// Authorizer decides on every request (403 unless it allows); nil
	// allows everything (authz.AlwaysAllow).
	Authorizer authz.Authorizer
	// Audit, when set, receives one event per answered request.
	Audit *audit.Log
}

// Server serves the resources of Resources (kunos.io/v1, Leases, Events)
// over a storage.Interface with the Kubernetes REST and watch protocol. It
// is an http.Handler.
type Server struct {
	store        storage.Interface
	codec        storage.Codec
	log          *slog.Logger
	maxBody      int64
	maxListLimit int64
	metrics      *metrics
	metricsH     http.Handler
	fields       fieldManagers

	authenticator Authenticator
	authorizer    authz.Authorizer
	audit         *audit.Log
	secured       bool // any of the three is set: requests go through filter

	reqTimeout        time.Duration
	bodyTimeout       time.Duration
	watchWriteTimeout time.Duration
	flushes           *flushGate

	bookmarkInterval atomic.Int64 // time.Duration

	// stallCh is closed when watches may send; a stall replaces it with an
	// open one. settingsCh is closed and replaced when the bookmark
	// interval changes. Both are read on every event, without a lock.
	stallCh    atomic.Pointer[chan struct{}]
	settingsCh atomic.Pointer[chan struct{}]

	mu           sync.Mutex // guards the fields below and the swaps above
	watches      map[*watchConn]struct{}
	shuttingDown bool
	stalled      bool
	wg           sync.WaitGroup
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Config.Store is required")
	}
	if cfg.BookmarkInterval < 0 || cfg.MaxBodyBytes < 0 || cfg.MaxListLimit < 0 ||
		cfg.RequestTimeout < 0 || cfg.BodyReadTimeout < 0 || cfg.WatchWriteTimeout < 0 {
		return nil, errors.New("server: negative BookmarkInterval, MaxBodyBytes, MaxListLimit or timeout")
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.BodyReadTimeout == 0 {
		cfg.BodyReadTimeout = cfg.RequestTimeout
	}
	if cfg.WatchWriteTimeout == 0 {
		cfg.WatchWriteTimeout = DefaultWatchWriteTimeout
	}
	if cfg.BookmarkInterval == 0 {
		cfg.BookmarkInterval = DefaultBookmarkInterval
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	secured := cfg.Authenticator != nil || cfg.Authorizer != nil || cfg.Audit != nil
	if cfg.Authorizer == nil {
		cfg.Authorizer = authz.AlwaysAllow{}
	}
	s := &Server{
		authenticator: cfg.Authenticator,
		authorizer:    cfg.Authorizer,
		audit:         cfg.Audit,
		secured:       secured,

		store:        cfg.Store,
		codec:        NewCodec(),
		log:          cfg.Logger,
		maxBody:      cfg.MaxBodyBytes,
		maxListLimit: cfg.MaxListLimit,
		watches:      make(map[*watchConn]struct{}),

		reqTimeout:        cfg.RequestTimeout,
		bodyTimeout:       cfg.BodyReadTimeout,
		watchWriteTimeout: cfg.WatchWriteTimeout,
		flushes:           newFlushGate(cfg.WatchFlushConcurrency),
	}
	open, settings := make(chan struct{}), make(chan struct{})
	close(open)
	s.stallCh.Store(&open)
	s.settingsCh.Store(&settings)
	s.bookmarkInterval.Store(int64(cfg.BookmarkInterval))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := EnsureSystemNamespaces(ctx, cfg.Store)
	cancel()
	if err != nil {
		return nil, err
	}
	fm, err := newFieldManagers(resources)
	if err != nil {
		return nil, err
	}
	m, h, err := newMetrics(cfg.Registry, cfg.Store)
	if err != nil {
		return nil, err
	}
	s.metrics, s.metricsH, s.fields = m, h, fm
	return s, nil
}

// ServeHTTP serves a request: it authenticates, authorizes and audits it
// when the Config asks for it (see filter), then routes it. Watches run
// until their own end; every other request is bounded by the request
// timeout (see serveWithTimeout).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.secured {
		s.filter(w, r)
		return
	}
	s.route(w, r)
}

// route serves an authorized request.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if s.isLongRunning(r) {
		s.serve(w, r)
		return
	}
	s.serveWithTimeout(w, r)
}

// isLongRunning reports a watch, which kube-apiserver exempts from its
// request timeout (its LongRunningRequestCheck: verb watch).
func (s *Server) isLongRunning(r *http.Request) bool {
	kind, gv, rest := parseAPIPath(r.URL.Path)
	if kind != pathResource {
		return false
	}
	ri, err := parseResourcePath(gv, rest)
	return err == nil && verbOf(r, ri) == "WATCH"
}

// serve routes a request: health, version, discovery, metrics, OpenAPI
// and the resources of the registry.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// Like kube-apiserver's panic filter: a 500 Status, never a dead
		// process. Aborted handlers keep their meaning for net/http.
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "url", r.URL.String(), "panic", p)
			writeError(w, fmt.Errorf("panic: %v", p))
		}
	}()
	p := r.URL.Path
	switch {
	case p == "/healthz" || p == "/readyz" || p == "/livez" ||
		strings.HasPrefix(p, "/healthz/") || strings.HasPrefix(p, "/readyz/") || strings.HasPrefix(p, "/livez/"):
		s.serveHealth(w, r)
	case p == "/version" || p == "/version/":
		writeJSON(w, http.StatusOK, versionInfo())
	case p == "/metrics":
		s.metricsH.ServeHTTP(w, r)
	case p == "/api" || p == "/api/" || p == "/apis" || p == "/apis/":
		s.serveDiscovery(w, r, pathNone, schema.GroupVersion{})
	case strings.HasPrefix(p, "/openapi/"):
		s.serveOpenAPI(w, r)
	default:
		switch kind, gv, rest := parseAPIPath(p); kind {
		case pathGroup, pathGroupVersion:
			s.serveDiscovery(w, r, kind, gv)
		case pathResource:
			s.serveResource(w, r, gv, rest)
		default:
			writeError(w, notFoundPath())
		}
	}
}

func notFoundPath() error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "", groupResourceNone, "",
		"the server could not find the requested resource", 0, false)
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.shuttingDown
	s.mu.Unlock()
	if down && !strings.HasPrefix(r.URL.Path, "/livez") {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("shutting down\n"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
}

// Shutdown ends every open watch with a clean end of stream, refuses new
// ones, and waits until their handlers have returned or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shuttingDown = true
	s.mu.Unlock()
	s.DropWatches()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DropWatches ends every open watch now with a clean end of stream (for
// chunked HTTP the terminating chunk, for WebSocket a normal close). Clients
// re-watch from their last resourceVersion.
func (s *Server) DropWatches() {
	s.mu.Lock()
	conns := make([]*watchConn, 0, len(s.watches))
	for c := range s.watches {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.drop()
	}
}

// StallWatches(true) keeps every watch connection open but sends nothing on
// any of them, bookmarks included, until StallWatches(false). Watches opened
// while stalled stall too (after their headers). Events are not lost: the
// store keeps them for the watcher, which catches up when unstalled.
func (s *Server) StallWatches(stall bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stall == s.stalled {
		return
	}
	s.stalled = stall
	if stall {
		ch := make(chan struct{})
		s.stallCh.Store(&ch)
	} else {
		close(*s.stallCh.Load())
	}
}

// sendGate returns a channel that is closed when watches may send.
func (s *Server) sendGate() <-chan struct{} { return *s.stallCh.Load() }

// SetBookmarkInterval changes the period of BOOKMARK events; open watches
// adopt it at once. d <= 0 restores the default.
func (s *Server) SetBookmarkInterval(d time.Duration) {
	if d <= 0 {
		d = DefaultBookmarkInterval
	}
	s.bookmarkInterval.Store(int64(d))
	s.mu.Lock()
	ch := make(chan struct{})
	close(*s.settingsCh.Swap(&ch))
	s.mu.Unlock()
}

func (s *Server) settingsChanged() <-chan struct{} { return *s.settingsCh.Load() }

// registerWatch tracks c so that DropWatches and Shutdown reach it. It
// fails when the server is shutting down.
func (s *Server) registerWatch(c *watchConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown {
		return false
	}
	s.watches[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) unregisterWatch(c *watchConn) {
	s.mu.Lock()
	delete(s.watches, c)
	s.mu.Unlock()
	s.wg.Done()
}
