package embed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"github.com/kunos-io/listwatch/internal/controlplane"
	"github.com/kunos-io/listwatch/internal/etcdrun"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure an embedded server. Zero values take the defaults noted.
//
// The API server's own settings are server.Config, embedded once (bookmark
// interval, body and list limits, timeouts, logger, metrics registry);
// Options adds only what embedding decides: where to listen and which store
// to build.
type Options struct {
	// Config configures the API server (see server.Config). Its Store, if
	// set, is served as it is and the store fields below are ignored;
	// otherwise Start builds the store they describe. Registry defaults to
	// a new registry with the standard Go and process collectors; Logger
	// to slog.Default().
	server.Config
	// Listen is the TCP address; default 127.0.0.1:8080, port 0 picks one.
	Listen string
	// History is the number of events kept for watch replay; default 10000.
	History int
	// CompactInterval is how often history older than MaxHistoryAge is
	// compacted; default 1m. MaxHistoryAge defaults to 5m.
	CompactInterval time.Duration
	MaxHistoryAge   time.Duration
	// NoControllers leaves out the garbage collector and the namespace
	// controller, which otherwise run in the process over the store, as
	// kube-controller-manager's do beside kube-apiserver. Without them
	// dependents outlive their owners and a deleted Namespace stays
	// Terminating.
	NoControllers bool
	// Etcd, when it names servers or a data dir, keeps the objects in
	// etcd instead of memory: durable, and shared by every server process
	// over the same etcd and prefix.
	Etcd EtcdOptions
	// Secure configures TLS, authentication, authorization and audit;
	// the zero value is plain HTTP, everything allowed (loopback only).
	Secure SecureOptions
}

// EtcdOptions select the etcd backend.
type EtcdOptions struct {
	// Servers are the client URLs of an etcd cluster.
	Servers []string
	// DataDir, without Servers, runs a single-member etcd inside this
	// process with its data in DataDir: durability with no other process.
	DataDir string
	// Prefix is put before every key in etcd; default "/registry".
	Prefix string
	// CAFile, CertFile and KeyFile secure the connection to Servers.
	CAFile, CertFile, KeyFile string
	// RequestTimeout bounds each etcd request; default 10s.
	RequestTimeout time.Duration
}

// enabled reports whether the etcd backend is selected.
func (o EtcdOptions) enabled() bool { return len(o.Servers) > 0 || o.DataDir != "" }

// Server is a running embedded API server.
type Server struct {
	// URL is the base URL clients use, e.g. http://127.0.0.1:8080, or
	// https:// when serving TLS.
	URL string
	// CAData is the PEM CA that verifies the server, when it generated
	// its certificate (SecureOptions.CertDir).
	CAData []byte
	// Registry holds the server's metrics (Options.Registry, or the
	// registry Start made).
	Registry prometheus.Registerer

	api   *server.Server
	store storage.Interface
	http  *http.Server
	done  chan error
	// closers release the store and what it runs on, in order.
	closers   []func()
	closeOnce sync.Once
}

// Start listens and serves until ctx ends or Stop is called.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:8080"
	}
	if opts.History == 0 {
		opts.History = 10000
	}
	if opts.CompactInterval == 0 {
		opts.CompactInterval = time.Minute
	}
	if opts.MaxHistoryAge == 0 {
		opts.MaxHistoryAge = 5 * time.Minute
	}
	if opts.Registry == nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(server.StandardCollectors()...)
		opts.Registry = reg
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	sec, err := newSecurity(opts.Secure, opts.Listen, opts.Logger)
	if err != nil {
		return nil, err
	}
	closeAudit := func() {
		if sec.audit != nil {
			_ = sec.audit.Close()
		}
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		closeAudit()
		return nil, fmt.Errorf("embed: listen on %s: %w", opts.Listen, err)
	}
	store, closers := opts.Store, []func(){}
	if store == nil {
		if store, closers, err = newStore(opts); err != nil {
			ln.Close()
			closeAudit()
			return nil, err
		}
	}
	closers = append(closers, closeAudit)
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	authorizer, err := sec.authorizer(ctx, store)
	if err != nil {
		ln.Close()
		closeAll()
		return nil, err
	}
	cfg := opts.Config
	cfg.Store = store
	cfg.Authenticator = sec.authenticator
	cfg.Authorizer = authorizer
	cfg.Audit = sec.audit
	api, err := server.New(cfg)
	if err != nil {
		ln.Close()
		closeAll()
		return nil, fmt.Errorf("embed: %w", err)
	}
	scheme := "http"
	if sec.tls != nil {
		scheme = "https"
	}
	url := clientURL(scheme, ln.Addr())
	if opts.Secure.WriteKubeconfig != "" {
		if err := sec.writeKubeconfig(opts.Secure.WriteKubeconfig, url); err != nil {
			ln.Close()
			closeAll()
			return nil, err
		}
	}
	if sec.tls != nil {
		ln = tls.NewListener(ln, sec.tls)
	}
	if !opts.NoControllers {
		ctrl, err := controlplane.Start(store, opts.Logger)
		if err != nil {
			ln.Close()
			closeAll()
			return nil, fmt.Errorf("embed: %w", err)
		}
		closers = append([]func(){ctrl.Stop}, closers...)
	}
	s := &Server{
		URL:      url,
		CAData:   sec.caPEM,
		Registry: opts.Registry,
		api:      api,
		store:    store,
		http:     &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, ErrorLog: httpErrorLog(opts.Logger)},
		done:     make(chan error, 1),
		closers:  closers,
	}
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	// Stop when ctx ends; this goroutine ends with the server either way.
	stopWith := context.AfterFunc(ctx, func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Stop(stopCtx)
	})
	s.closers = append([]func(){func() { stopWith() }}, s.closers...)
	return s, nil
}

// API returns the HTTP handler, for fault injection (DropWatches, StallWatches).
func (s *Server) API() *server.Server { return s.api }

// Store returns the storage the server serves.
func (s *Server) Store() storage.Interface { return s.store }

// Stop ends open watches cleanly, stops serving and closes the store. It is
// safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	_ = s.api.Shutdown(ctx)
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
	}
	s.closeOnce.Do(func() {
		for _, c := range s.closers {
			c()
		}
	})
	return err
}

// newStore builds the backend opts select, with the functions that
// release it, in the order to call them.
func newStore(opts Options) (storage.Interface, []func(), error) {
	hooks, err := server.StorageHooks(opts.Registry)
	if err != nil {
		return nil, nil, fmt.Errorf("embed: storage metrics: %w", err)
	}
	mem := storage.MemoryConfig{
		Codec:           server.NewCodec(),
		HistoryLimit:    opts.History,
		CompactInterval: opts.CompactInterval,
		MaxHistoryAge:   opts.MaxHistoryAge,
		Logger:          opts.Logger,
		Hooks:           hooks,
	}
	if !opts.Etcd.enabled() {
		st := storage.NewMemoryStore(mem)
		return st, []func(){st.Close}, nil
	}
	var closers []func()
	fail := func(err error) (storage.Interface, []func(), error) {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		return nil, nil, err
	}
	eo := opts.Etcd
	servers := eo.Servers
	if len(servers) == 0 {
		m, err := etcdrun.Start(etcdrun.Options{DataDir: eo.DataDir})
		if err != nil {
			return fail(fmt.Errorf("embed: etcd in %s: %w", eo.DataDir, err))
		}
		closers = append(closers, m.Close)
		servers = []string{m.ClientURL}
	}
	cli, err := etcdrun.NewClient(etcdrun.ClientOptions{Endpoints: servers, CAFile: eo.CAFile, CertFile: eo.CertFile, KeyFile: eo.KeyFile})
	if err != nil {
		return fail(fmt.Errorf("embed: %w", err))
	}
	closers = append(closers, func() { cli.Close() })
	etcdHooks, err := server.EtcdHooks(opts.Registry)
	if err != nil {
		return fail(fmt.Errorf("embed: etcd metrics: %w", err))
	}
	served := server.Resources()
	resources := make([]string, 0, len(served))
	for _, r := range served {
		resources = append(resources, r.GVR.Resource)
	}
	// The caches' windows age out like the memory store's history (mem);
	// etcd's own history is compacted every CompactInterval.
	st, err := storage.NewEtcdStore(storage.EtcdConfig{
		MemoryConfig:        mem,
		Client:              cli,
		Prefix:              eo.Prefix,
		EtcdCompactInterval: opts.CompactInterval,
		RequestTimeout:      eo.RequestTimeout,
		Resources:           resources,
		EtcdHooks:           etcdHooks,
	})
	if err != nil {
		return fail(fmt.Errorf("embed: %w", err))
	}
	// Release in reverse: the store, then its client, then the member.
	closers = append(closers, st.Close)
	for i, j := 0, len(closers)-1; i < j; i, j = i+1, j-1 {
		closers[i], closers[j] = closers[j], closers[i]
	}
	return st, closers, nil
}

// Done delivers the HTTP server's result once, when it stops serving: nil
// after Stop, or the error that ended it.
func (s *Server) Done() <-chan error { return s.done }

// httpErrorLog sends net/http's own errors (TLS handshake failures among
// them) to l at debug level.
func httpErrorLog(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
}
