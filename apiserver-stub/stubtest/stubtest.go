package stubtest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/audit"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"github.com/kunos-io/listwatch/internal/controlplane"
	"github.com/prometheus/client_golang/prometheus"
)

// Option configures Start.
type Option func(*config)

type config struct {
	history           int
	bookmarkInterval  time.Duration
	maxBodyBytes      int64
	maxListLimit      int64
	maxWatchers       int
	requestTimeout    time.Duration
	bodyReadTimeout   time.Duration
	watchWriteTimeout time.Duration
	logger            *slog.Logger
	authenticator     server.Authenticator
	rbac              bool
	audit             *audit.Log
	namespaces        []string
	controllers       bool
}

// WithControllers runs the garbage collector and the namespace controller
// beside the server, as kube-controller-manager runs them beside
// kube-apiserver: dependents whose owners are gone are deleted (with the
// Foreground and Orphan policies honoured) and a deleted namespace is
// emptied, then removed. Without it, as against a kube-apiserver alone,
// dependents stay and a deleted namespace stays Terminating. The
// controllers hold one watch per resource on the store (they count
// against WithMaxWatchers).
func WithControllers() Option { return func(c *config) { c.controllers = true } }

// WithNamespaces creates these namespaces at start (and again after
// RestartEmpty), beside default, kube-system and kube-public, which the
// server always has. As on a real cluster, creating an object in a
// namespace that does not exist is 404: a test names the namespaces it
// uses here, or creates them (CreateNamespaces, or a POST to
// /api/v1/namespaces).
func WithNamespaces(names ...string) Option {
	return func(c *config) { c.namespaces = append(c.namespaces, names...) }
}

// WithHistory keeps n events for watch replay (the store's HistoryLimit);
// older history is compacted automatically.
func WithHistory(n int) Option { return func(c *config) { c.history = n } }

// WithBookmarkInterval sets the period of BOOKMARK events (default 1m).
func WithBookmarkInterval(d time.Duration) Option {
	return func(c *config) { c.bookmarkInterval = d }
}

// WithLogger sends the server's logs to l (default: discarded).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithMaxBodyBytes caps request bodies (default 3 MiB).
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBodyBytes = n } }

// WithMaxListLimit caps the page size of lists that ask for a limit, so
// clients must follow continue tokens (default: no cap).
func WithMaxListLimit(n int64) Option { return func(c *config) { c.maxListLimit = n } }

// WithMaxWatchers caps open watches; past it a watch is 429 TooManyRequests
// (default: no cap).
func WithMaxWatchers(n int) Option { return func(c *config) { c.maxWatchers = n } }

// WithRequestTimeout sets the server's request timeout: a request that is
// not a watch is answered 504 Timeout after it (default 60s, as
// kube-apiserver's --request-timeout).
func WithRequestTimeout(d time.Duration) Option { return func(c *config) { c.requestTimeout = d } }

// WithBodyReadTimeout bounds the time a request body may take to arrive;
// past it the answer is 504 Timeout and the connection is closed (default:
// the request timeout).
func WithBodyReadTimeout(d time.Duration) Option { return func(c *config) { c.bodyReadTimeout = d } }

// WithWatchWriteTimeout bounds how long one watch event may wait for a
// client that does not read before the watch's connection is cut (default
// 60s).
func WithWatchWriteTimeout(d time.Duration) Option {
	return func(c *config) { c.watchWriteTimeout = d }
}

// Server is a running test API server.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234. It stays the same
	// across Restart.
	URL string

	tb       testing.TB
	addr     string
	store    *storage.MemoryStore
	ctrl     *controlplane.Controllers
	api      *server.Server
	registry *prometheus.Registry

	mu      sync.Mutex
	http    *http.Server
	conns   map[net.Conn]struct{} // open connections, hijacked (WebSocket) included
	serveWG sync.WaitGroup
	closed  bool
}

// Start starts a server on 127.0.0.1 (a free port) and registers its
// shutdown with t.Cleanup. It fails the test if the server cannot start.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	cfg := config{logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	store, api, reg := newBackend(tb, cfg)
	var err error
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		tb.Fatalf("stubtest: listen: %v", err)
	}
	s := &Server{
		URL:      "http://" + ln.Addr().String(),
		tb:       tb,
		addr:     ln.Addr().String(),
		store:    store,
		api:      api,
		registry: reg,
		conns:    make(map[net.Conn]struct{}),
	}
	if cfg.controllers {
		if s.ctrl, err = controlplane.Start(store, cfg.logger); err != nil {
			store.Close()
			tb.Fatalf("stubtest: %v", err)
		}
	}
	s.serve(ln)
	tb.Cleanup(s.Close)
	return s
}

// serve starts an http.Server on ln whose connections are tracked.
func (s *Server) serve(ln net.Listener) {
	hs := &http.Server{Handler: s.api, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.http = hs
	s.mu.Unlock()
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		if err := hs.Serve(&trackingListener{Listener: ln, s: s}); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.tb.Logf("stubtest: serve: %v", err)
		}
	}()
}

// trackingListener records every accepted connection until it is closed,
// so that Restart can cut them all, hijacked (WebSocket) ones included,
// which http.Server.Close does not reach.
type trackingListener struct {
	net.Listener
	s *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	l.s.conns[tc] = struct{}{}
	l.s.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	s *Server
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// closeConns stops the http.Server and closes every connection, hijacked
// ones included, then waits for Serve to return.
func (s *Server) closeConns() {
	s.mu.Lock()
	hs := s.http
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	clear(s.conns)
	s.mu.Unlock()
	_ = hs.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	s.serveWG.Wait()
}

// Store returns the store the server serves, for seeding and inspecting
// data without HTTP.
func (s *Server) Store() storage.Interface { return s.store }

// CreateNamespaces creates the named namespaces that do not exist yet
// (Active, as a create through the API would).
func (s *Server) CreateNamespaces(names ...string) {
	s.tb.Helper()
	if err := server.EnsureNamespaces(context.Background(), s.Store(), names...); err != nil {
		s.tb.Fatalf("stubtest: %v", err)
	}
}

// API returns the HTTP handler, for fault injection beyond the helpers here.
func (s *Server) API() *server.Server { return s.api }

// Registry returns the registry holding the server's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Compact drops all history older than the current revision: lists at an
// older exact resourceVersion, old continue tokens and watches from an older
// resourceVersion get 410 Expired afterwards.
func (s *Server) Compact() {
	s.tb.Helper()
	if err := s.store.Compact(context.Background(), s.store.CurrentRevision()); err != nil {
		s.tb.Fatalf("stubtest: compact: %v", err)
	}
}

// DropWatches ends every open watch with a clean end of stream.
func (s *Server) DropWatches() { s.api.DropWatches() }

// StallWatches(true) keeps watch connections open but sends nothing on
// them, bookmarks included, until StallWatches(false).
func (s *Server) StallWatches(stall bool) { s.api.StallWatches(stall) }

// SetBookmarkInterval changes the BOOKMARK period of open and new watches.
func (s *Server) SetBookmarkInterval(d time.Duration) { s.api.SetBookmarkInterval(d) }

// Restart cuts every connection (open watches see a broken stream, not a
// clean end) and serves again on the same address with the same store.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.tb.Fatalf("stubtest: Restart after Close")
	}
	s.closeConns()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.tb.Fatalf("stubtest: restart: listen on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// Close stops the server: open watches end cleanly, every connection is
// closed, then the store. Start registers it with t.Cleanup; call it
// earlier to test a server that is gone. It is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.api.Shutdown(ctx)
	s.closeConns()
	if s.ctrl != nil {
		s.ctrl.Stop()
	}
	s.store.Close()
}

// GCIdle reports that the garbage collector (WithControllers) has its
// initial state and nothing to do: a test may compare the store then.
func (s *Server) GCIdle() bool {
	s.mu.Lock()
	ctrl := s.ctrl
	s.mu.Unlock()
	return ctrl != nil && ctrl.GC.Idle()
}

// newBackend makes what Start and RestartEmpty serve: a new empty store
// with its metrics, the API server over it, and the namespaces cfg names.
func newBackend(tb testing.TB, cfg config) (*storage.MemoryStore, *server.Server, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(server.StandardCollectors()...)
	hooks, err := server.StorageHooks(reg)
	if err != nil {
		tb.Fatalf("stubtest: %v", err)
	}
	store := storage.NewMemoryStore(storage.MemoryConfig{
		Codec:        server.NewCodec(),
		HistoryLimit: cfg.history,
		Logger:       cfg.logger,
		Hooks:        hooks,
		MaxWatchers:  cfg.maxWatchers,
	})
	authorizer, err := cfg.authorizer(store)
	if err != nil {
		store.Close()
		tb.Fatalf("stubtest: %v", err)
	}
	api, err := server.New(server.Config{
		Store:             store,
		BookmarkInterval:  cfg.bookmarkInterval,
		MaxBodyBytes:      cfg.maxBodyBytes,
		MaxListLimit:      cfg.maxListLimit,
		Logger:            cfg.logger,
		Registry:          reg,
		RequestTimeout:    cfg.requestTimeout,
		BodyReadTimeout:   cfg.bodyReadTimeout,
		WatchWriteTimeout: cfg.watchWriteTimeout,
		Authenticator:     cfg.authenticator,
		Authorizer:        authorizer,
		Audit:             cfg.audit,
	})
	if err != nil {
		store.Close()
		tb.Fatalf("stubtest: %v", err)
	}
	if err := server.EnsureNamespaces(context.Background(), store, cfg.namespaces...); err != nil {
		store.Close()
		tb.Fatalf("stubtest: %v", err)
	}
	return store, api, reg
}
