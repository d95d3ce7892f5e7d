package controller

// This file holds the Manager. Invariants: a Manager starts once; Start
// returns only after everything it started ended (informers, controllers'
// workers and handlers, the HTTP server); controllers reconcile only while
// Start runs and, with an Elector, only inside a leadership term; caches
// run from Start to the end, leading or not; the informer factory stops
// only after every reconcile in progress finished, so a draining Reconciler
// still reads live caches.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/metrics"
)

// DefaultGracefulShutdownTimeout is how long a stopping Manager lets
// reconciles in progress run before it cancels their context, as
// controller-runtime's default.
const DefaultGracefulShutdownTimeout = 30 * time.Second

// ManagerOptions configure a Manager. The zero value is a working manager
// with its own metrics registry, no HTTP listener and no leader election.
type ManagerOptions struct {
	// Registerer receives every metric: controller_runtime_*, and the
	// listwatch metrics of the manager's client, informers and workqueues
	// (rest_client_*, reflector_*, informer_*, workqueue_*). Managers may
	// share one; their controllers then need distinct names. Default: a
	// new registry.
	Registerer prometheus.Registerer
	// Gatherer is what /metrics serves. Default: Registerer, if it is a
	// Gatherer, as a *prometheus.Registry is.
	Gatherer prometheus.Gatherer
	// MetricsAddr, if set, is the TCP address where Start serves /metrics,
	// /healthz and /readyz (port 0 picks a free port; Addr tells which).
	// Handler serves the same to a server of your own.
	MetricsAddr string
	// Factory configures the manager's informer factory. Its
	// MetricsProvider and Logger default to the manager's.
	Factory informer.FactoryOptions
	// LeaderElection, if set, decides when the controllers run (see
	// Elector). Default: they run from Start on.
	LeaderElection Elector
	// GracefulShutdownTimeout is how long reconciles in progress may run
	// once Start's context is done before their own context is cancelled.
	// Default DefaultGracefulShutdownTimeout; negative: no grace.
	GracefulShutdownTimeout time.Duration
	// Logger receives the manager's and its controllers' logs. Default
	// slog.Default().
	Logger *slog.Logger
}

// Manager runs a program's controllers with what they share: one client,
// one informer factory, the metrics and health endpoints, and leader
// election. Build controllers on it with New, then call Start.
type Manager struct {
	opts     ManagerOptions
	client   *client.Client
	factory  *informer.Factory
	lw       *metrics.Metrics
	rm       *reconcileMetrics
	events   *eventWriter
	gatherer prometheus.Gatherer
	log      *slog.Logger

	mu          sync.Mutex
	controllers []*ctrl
	started     bool

	running     atomic.Bool
	addr        atomic.Pointer[string]
	elected     chan struct{}
	electedOnce sync.Once
}

// NewManager returns a Manager whose client talks to the server cfg
// describes. cfg is copied; its Metrics hook defaults to the manager's
// rest_client_* metrics. It fails if cfg is invalid or the metrics cannot
// be registered; it does not contact the server.
func NewManager(cfg *client.Config, opts ManagerOptions) (*Manager, error) {
	if cfg == nil {
		return nil, errors.New("controller: NewManager: nil client config")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.GracefulShutdownTimeout == 0 {
		opts.GracefulShutdownTimeout = DefaultGracefulShutdownTimeout
	} else if opts.GracefulShutdownTimeout < 0 {
		opts.GracefulShutdownTimeout = 0
	}
	if opts.Registerer == nil {
		reg := prometheus.NewRegistry()
		opts.Registerer = reg
		if opts.Gatherer == nil {
			opts.Gatherer = reg
		}
	}
	if opts.Gatherer == nil {
		opts.Gatherer, _ = opts.Registerer.(prometheus.Gatherer)
	}
	if opts.MetricsAddr != "" && opts.Gatherer == nil {
		return nil, errors.New("controller: NewManager: MetricsAddr is set but the Registerer is not a Gatherer and no Gatherer was given")
	}
	lw, err := listwatchMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	rm, err := newReconcileMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	if me, ok := opts.LeaderElection.(managedElector); ok {
		me.setLogger(opts.Logger)
		if err := me.registerMetrics(opts.Registerer); err != nil {
			return nil, fmt.Errorf("controller: NewManager: %w", err)
		}
	}
	ccfg := *cfg
	if ccfg.Metrics == nil {
		ccfg.Metrics = lw.Client()
	}
	c, err := client.New(&ccfg)
	if err != nil {
		return nil, fmt.Errorf("controller: NewManager: %w", err)
	}
	fopts := opts.Factory
	if fopts.MetricsProvider == nil {
		fopts.MetricsProvider = lw
	}
	if fopts.Logger == nil {
		fopts.Logger = opts.Logger
	}
	factory := informer.NewFactory(c, fopts)
	events, err := newEventWriter(ccfg, factory.KindFor, opts.Registerer, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("controller: NewManager: %w", err)
	}
	return &Manager{
		opts:     opts,
		client:   c,
		factory:  factory,
		lw:       lw,
		rm:       rm,
		events:   events,
		gatherer: opts.Gatherer,
		log:      opts.Logger,
		elected:  make(chan struct{}),
	}, nil
}

// listwatchMetrics registers the listwatch collectors with reg, or returns
// those reg already holds.
func listwatchMetrics(reg prometheus.Registerer) (*metrics.Metrics, error) {
	m, err := metrics.Register(reg)
	if err == nil {
		return m, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*metrics.Metrics); ok {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("controller: NewManager: %w", err)
}

// Client returns the manager's client.
func (m *Manager) Client() *client.Client { return m.client }

// Factory returns the manager's informer factory. Informers built from it
// start with Start (at once if Start was called) and stop when Start
// returns. Controllers may also use informers from elsewhere; whoever built
// them runs them.
func (m *Manager) Factory() *informer.Factory { return m.factory }

// Metrics returns the listwatch metrics the manager registered, for
// components of your own (e.g. a workqueue's MetricsProvider).
func (m *Manager) Metrics() *metrics.Metrics { return m.lw }

// Addr returns the address the HTTP endpoints listen on, once Start is
// listening ("" before, or without MetricsAddr).
func (m *Manager) Addr() string {
	if a := m.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// Elected is closed when the controllers first start: at Start without an
// Elector, else when this replica first leads.
func (m *Manager) Elected() <-chan struct{} { return m.elected }

// add registers a controller built by a Builder.
func (m *Manager) add(c *ctrl) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return fmt.Errorf("controller %s: the manager has started; build controllers before Start", c.name)
	}
	for _, o := range m.controllers {
		if o.name == c.name {
			return fmt.Errorf("controller %s: the manager has a controller of that name already (names label metrics and queues)", c.name)
		}
	}
	m.controllers = append(m.controllers, c)
	m.rm.init(c.name, c.workers)
	return nil
}

// Start runs the informers, the HTTP endpoints (with MetricsAddr), the
// event writer (see EventRecorder) and, when this replica leads (always,
// without an Elector), the controllers, until ctx is done; then it stops
// taking Requests, waits for the reconciles in progress (see
// GracefulShutdownTimeout), writes the events they recorded (for up to
// 5s), stops the informers and the endpoints and returns. It returns an error if it could not
// listen, if a controller could not start (its informer had stopped: then
// everything stops), or if called twice.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("controller: Manager.Start called twice")
	}
	m.started = true
	ctrls := slices.Clone(m.controllers)
	m.mu.Unlock()

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var bg sync.WaitGroup
	var srv *http.Server
	if m.opts.MetricsAddr != "" {
		ln, err := net.Listen("tcp", m.opts.MetricsAddr)
		if err != nil {
			return fmt.Errorf("controller: manager endpoints: %w", err)
		}
		addr := ln.Addr().String()
		m.addr.Store(&addr)
		m.log.Info("serving /metrics, /healthz and /readyz", "url", "http://"+addr)
		srv = &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
		bg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.log.Error("manager endpoints stopped", "err", err)
			}
		})
	}
	m.running.Store(true)
	m.factory.Start(runCtx)
	// The event writer outlives the controllers: reconciles draining
	// still record events.
	evCtx, evCancel := context.WithCancel(context.WithoutCancel(ctx))
	evDone := make(chan struct{})
	go func() { defer close(evDone); m.events.run(evCtx) }()

	var errMu sync.Mutex
	var errs []error
	// Reconciles drain gracefully when the manager stops, not when a term
	// ends while the manager runs on (leadership lost).
	graceful := func() bool { return runCtx.Err() != nil }
	lead := func(termCtx context.Context) {
		m.electedOnce.Do(func() { close(m.elected) })
		var wg sync.WaitGroup
		for _, c := range ctrls {
			wg.Go(func() {
				if err := c.run(termCtx, graceful); err != nil {
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
					m.log.Error("controller failed: stopping the manager", "controller", c.name, "err", err)
					cancel(err)
				}
			})
		}
		wg.Wait()
	}
	if e := m.opts.LeaderElection; e != nil {
		e.Run(runCtx, func(termCtx context.Context) {
			m.log.Info("leading: starting controllers")
			lead(termCtx)
		}, func() { m.log.Info("no longer leading: controllers stopped") })
	} else {
		lead(runCtx)
	}
	<-runCtx.Done()
	evCancel()
	<-evDone

	m.running.Store(false)
	m.factory.Shutdown()
	if srv != nil {
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = srv.Shutdown(sctx)
		scancel()
	}
	bg.Wait()
	errMu.Lock()
	defer errMu.Unlock()
	return errors.Join(errs...)
}
