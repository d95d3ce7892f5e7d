package informer

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/reflector"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// MetricsProvider gives a Factory the metrics hooks of each informer it
// builds, by informer name. The metrics package provides one.
type MetricsProvider interface {
	InformerMetrics(name string) MetricsHook
	ReflectorMetrics(name string) reflector.MetricsHook
}

// FactoryOptions configure a Factory. The zero value of every field selects
// its default.
type FactoryOptions struct {
	// ResyncPeriod is every informer's ResyncPeriod (default 0: none).
	ResyncPeriod time.Duration
	// Delivery is every informer's default Delivery (default Unbounded).
	Delivery Delivery
	// Metrics, if set, provides every informer's and reflector's hooks.
	Metrics MetricsProvider
	// Logger receives the informers' logs. Default slog.Default().
	Logger *slog.Logger
	// WatchList, BookmarkInterval and WatchErrorHandler are passed to every
	// reflector (see reflector.Options).
	WatchList         *bool
	BookmarkInterval  time.Duration
	WatchErrorHandler func(err error)
}

// Factory shares one informer per resource, namespace and selectors among
// all the parts of a program, starts them together and stops them together
// or one at a time.
type Factory struct {
	client *client.Client
	opts   FactoryOptions

	mu        sync.Mutex
	informers map[informerKey]*factoryEntry
	order     []informerKey // creation order, for stable reports
	startCtx  context.Context
	shutdown  bool
	wg        sync.WaitGroup
}

type informerKey struct {
	gvr                       schema.GroupVersionResource
	namespace, labels, fields string
}

// runner is what the factory needs of a SharedIndexInformer[T], whatever T.
type runner interface {
	Run(ctx context.Context)
	HasSynced() bool
	Stale() bool
}

type factoryEntry struct {
	name   string
	inf    runner
	cancel context.CancelFunc // nil until started
	done   chan struct{}
}

// NewFactory returns a Factory whose informers use c.
func NewFactory(c *client.Client, opts FactoryOptions) *Factory {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Factory{client: c, opts: opts, informers: map[informerKey]*factoryEntry{}}
}

// ResourceOption selects or configures one of a Factory's informers.
type ResourceOption func(*resourceConfig)

type resourceConfig struct {
	labels, fields string
	name           string
	indexers       any // cache.Indexers[T]
}

// WithLabelSelector restricts the informer to objects matching selector
// (Kubernetes label selector syntax). It is part of the informer's identity.
func WithLabelSelector(selector string) ResourceOption {
	return func(c *resourceConfig) { c.labels = selector }
}

// WithFieldSelector restricts the informer to objects matching selector,
// e.g. "spec.nodeName=node-1". It is part of the informer's identity.
func WithFieldSelector(selector string) ResourceOption {
	return func(c *resourceConfig) { c.fields = selector }
}

// WithInformerName names a new informer in logs and metrics. The default is
// built from the resource, namespace and selectors, e.g.
// "tasks.kunos.io ns=default fields=spec.nodeName=node-1".
func WithInformerName(name string) ResourceOption {
	return func(c *resourceConfig) { c.name = name }
}

// WithIndexers adds indices to the informer's cache; indices whose name the
// cache already has are kept as they are.
func WithIndexers[T cache.Object](indexers cache.Indexers[T]) ResourceOption {
	return func(c *resourceConfig) { c.indexers = indexers }
}

func (k informerKey) String() string {
	parts := []string{k.gvr.GroupResource().String()}
	if k.namespace != "" {
		parts = append(parts, "ns="+k.namespace)
	}
	if k.labels != "" {
		parts = append(parts, "labels="+k.labels)
	}
	if k.fields != "" {
		parts = append(parts, "fields="+k.fields)
	}
	return strings.Join(parts, " ")
}

// ForResource returns f's informer for gvr in namespace ("" for all
// namespaces or a cluster-scoped resource) with the given selectors,
// creating it on first use. Objects are decoded as T. If f was started, a
// new informer starts at once. Asking for one informer with two different
// types T panics: that is a programming error.
func ForResource[T cache.Object](f *Factory, gvr schema.GroupVersionResource, namespace string, opts ...ResourceOption) SharedIndexInformer[T] {
	var cfg resourceConfig
	for _, o := range opts {
		o(&cfg)
	}
	var indexers cache.Indexers[T]
	if cfg.indexers != nil {
		idx, ok := cfg.indexers.(cache.Indexers[T])
		if !ok {
			panic(fmt.Sprintf("informer: ForResource[%s] with indexers of type %T", typeName[T](), cfg.indexers))
		}
		indexers = idx
	}
	key := informerKey{gvr: gvr, namespace: namespace, labels: cfg.labels, fields: cfg.fields}

	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.informers[key]; ok {
		inf, ok := e.inf.(SharedIndexInformer[T])
		if !ok {
			panic(fmt.Sprintf("informer: ForResource[%s] for %q, which the factory holds as %T", typeName[T](), key, e.inf))
		}
		if len(indexers) > 0 {
			have := inf.Indexer().GetIndexers()
			add := cache.Indexers[T]{}
			for name, fn := range indexers {
				if _, dup := have[name]; !dup {
					add[name] = fn
				}
			}
			if len(add) > 0 {
				if err := inf.Indexer().AddIndexers(add); err != nil {
					f.opts.Logger.Error("informer: cannot add indexers to a shared informer", "informer", e.name, "err", err)
				}
			}
		}
		return inf
	}

	name := cfg.name
	if name == "" {
		name = key.String()
	}
	tweak := func(o *metav1.ListOptions) {
		o.LabelSelector, o.FieldSelector = key.labels, key.fields
	}
	lw := client.For[T](f.client, gvr).Namespace(namespace).ListerWatcher(tweak)
	o := Options[T]{
		Name:              name,
		Resource:          gvr.GroupResource(),
		ResyncPeriod:      f.opts.ResyncPeriod,
		Indexers:          indexers,
		WatchErrorHandler: f.opts.WatchErrorHandler,
		Delivery:          f.opts.Delivery,
		Logger:            f.opts.Logger,
		Reflector: reflector.Options[T]{
			WatchList:        f.opts.WatchList,
			BookmarkInterval: f.opts.BookmarkInterval,
		},
	}
	if f.opts.Metrics != nil {
		o.Metrics = f.opts.Metrics.InformerMetrics(name)
		o.Reflector.Metrics = f.opts.Metrics.ReflectorMetrics(name)
	}
	inf := New(lw, o)
	e := &factoryEntry{name: name, inf: inf, done: make(chan struct{})}
	f.informers[key] = e
	f.order = append(f.order, key)
	if f.startCtx != nil && !f.shutdown {
		f.startLocked(f.startCtx, e)
	}
	return inf
}

func typeName[T any]() string {
	var zero T
	return fmt.Sprintf("%T", zero)
}

// Start starts every informer not started yet; informers created later
// start at once. They run until ctx ends, Shutdown, or their Remove.
func (f *Factory) Start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shutdown {
		return
	}
	f.startCtx = ctx
	for _, k := range f.order {
		if e := f.informers[k]; e.cancel == nil {
			f.startLocked(ctx, e)
		}
	}
}

func (f *Factory) startLocked(ctx context.Context, e *factoryEntry) {
	ctx, e.cancel = context.WithCancel(ctx)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer close(e.done)
		e.inf.Run(ctx)
	}()
}

// Remove stops the informer for gvr, namespace and the selectors in opts
// and forgets it, waiting until its goroutines (reflector and handlers)
// ended. It reports whether the factory held that informer. Registrations
// on it stop receiving; a later ForResource builds a new informer.
func (f *Factory) Remove(gvr schema.GroupVersionResource, namespace string, opts ...ResourceOption) bool {
	var cfg resourceConfig
	for _, o := range opts {
		o(&cfg)
	}
	key := informerKey{gvr: gvr, namespace: namespace, labels: cfg.labels, fields: cfg.fields}
	f.mu.Lock()
	e, ok := f.informers[key]
	if ok {
		delete(f.informers, key)
		f.order = slices.DeleteFunc(f.order, func(k informerKey) bool { return k == key })
	}
	f.mu.Unlock()
	if !ok {
		return false
	}
	if e.cancel != nil {
		e.cancel()
		<-e.done
	}
	return true
}

// Shutdown stops every informer and returns once all their goroutines
// ended. The factory starts nothing afterwards.
func (f *Factory) Shutdown() {
	f.mu.Lock()
	f.shutdown = true
	for _, e := range f.informers {
		if e.cancel != nil {
			e.cancel()
		}
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// started returns the started informers, in creation order.
func (f *Factory) started() []*factoryEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*factoryEntry
	for _, k := range f.order {
		if e := f.informers[k]; e.cancel != nil {
			out = append(out, e)
		}
	}
	return out
}

// WaitForCacheSync waits until every started informer has synced or ctx is
// done, and reports which happened.
func (f *Factory) WaitForCacheSync(ctx context.Context) bool {
	var synced []func() bool
	for _, e := range f.started() {
		synced = append(synced, e.inf.HasSynced)
	}
	return WaitForCacheSync(ctx, synced...)
}

// Synced reports whether every started informer has synced and none is
// known to be stale.
func (f *Factory) Synced() bool { return len(f.unsynced()) == 0 }

func (f *Factory) unsynced() []string {
	var names []string
	for _, e := range f.started() {
		switch {
		case !e.inf.HasSynced():
			names = append(names, e.name)
		case e.inf.Stale():
			names = append(names, e.name+" (stale: resyncing)")
		}
	}
	return names
}

// ReadyzHandler returns a readiness check: 200 "ok" once every started
// informer has synced and none is known to be stale, else 503 listing
// those that are not ready.
func (f *Factory) ReadyzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if names := f.unsynced(); len(names) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "informers not synced:\n")
			for _, n := range names {
				fmt.Fprintf(w, "  %s\n", n)
			}
			return
		}
		fmt.Fprintln(w, "ok")
	})
}
