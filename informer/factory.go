package informer

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/reflector"
	"github.com/kunos-io/listwatch/resource"
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
	// Options are every informer's options, embedded once: resync period,
	// delivery, and the reflector's (watch-list, bookmark interval, watch
	// error handler, timeouts, logger, clock...). Transform and Indexers,
	// typed on cache.Object, apply to every informer, whatever its type (a
	// Transform must return an object of the type it was given). Name,
	// Resource and the metrics hooks are set per informer.
	Options[cache.Object]
	// MetricsProvider, if set, provides every informer's and reflector's
	// hooks.
	MetricsProvider MetricsProvider
}

// Factory shares one informer per resource, Go type, namespace and
// selectors among all the parts of a program, starts them together and
// stops them together or one at a time.
type Factory struct {
	client *client.Client
	opts   FactoryOptions

	mu        sync.Mutex
	informers map[informerKey]*factoryEntry
	order     []informerKey // creation order, for stable reports
	kinds     map[reflect.Type]schema.GroupVersionKind
	startCtx  context.Context
	shutdown  bool
	wg        sync.WaitGroup
}

type informerKey struct {
	gvr                       schema.GroupVersionResource
	typ                       reflect.Type // a typed and a Dynamic informer of one resource are two informers
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
	return &Factory{client: c, opts: opts, informers: map[informerKey]*factoryEntry{}, kinds: map[reflect.Type]schema.GroupVersionKind{}}
}

// ResourceOption selects or configures one of a Factory's informers.
type ResourceOption func(*resourceConfig)

type resourceConfig struct {
	namespace, labels, fields string
	name                      string
}

// InNamespace restricts the informer to one namespace (default: all
// namespaces). A cluster-scoped resource takes none. It is part of the
// informer's identity.
func InNamespace(namespace string) ResourceOption {
	return func(c *resourceConfig) { c.namespace = namespace }
}

// WithLabelSelector restricts the informer to objects matching selector
// (Kubernetes label selector syntax). It is part of the informer's identity.
func WithLabelSelector(selector string) ResourceOption {
	return func(c *resourceConfig) { c.labels = selector }
}

// WithFieldSelector restricts the informer to objects matching selector,
// e.g. "spec.nodeName=node-1"; its fields must be among the descriptor's
// SelectableFields, metadata.name or metadata.namespace. It is part of the
// informer's identity.
func WithFieldSelector(selector string) ResourceOption {
	return func(c *resourceConfig) { c.fields = selector }
}

// WithInformerName names a new informer in logs and metrics. The default is
// built from the resource, namespace and selectors, e.g.
// "tasks.kunos.io ns=default fields=spec.nodeName=node-1".
func WithInformerName(name string) ResourceOption {
	return func(c *resourceConfig) { c.name = name }
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

// key checks opts against d and returns the informer's identity. Every
// mistake that would make each list and watch fail (a namespace on a
// cluster-scoped resource, a selector that does not parse, a field the
// resource cannot select on) is reported here, once, instead of by a
// reflector retrying with backoff.
func key[T cache.Object](d resource.Descriptor[T], opts []ResourceOption) (informerKey, resourceConfig, error) {
	var cfg resourceConfig
	for _, o := range opts {
		o(&cfg)
	}
	if err := d.Validate(); err != nil {
		return informerKey{}, cfg, err
	}
	if err := d.CheckNamespace(cfg.namespace); err != nil {
		return informerKey{}, cfg, err
	}
	if _, err := labels.Parse(cfg.labels); err != nil {
		return informerKey{}, cfg, fmt.Errorf("%s: label selector: %w", d.Info, err)
	}
	sel, err := fields.ParseSelector(cfg.fields)
	if err != nil {
		return informerKey{}, cfg, fmt.Errorf("%s: field selector: %w", d.Info, err)
	}
	for _, r := range sel.Requirements() {
		if r.Field != "metadata.name" && r.Field != "metadata.namespace" && !slices.Contains(d.SelectableFields, r.Field) {
			return informerKey{}, cfg, fmt.Errorf("%s: field selector: %q is not a selectable field (have metadata.name, metadata.namespace%s)",
				d.Info, r.Field, strings.Join(append([]string{""}, d.SelectableFields...), ", "))
		}
	}
	return informerKey{gvr: d.GVR, typ: reflect.TypeFor[T](), namespace: cfg.namespace, labels: cfg.labels, fields: cfg.fields}, cfg, nil
}

// For returns f's informer for the resource d describes, with the
// namespace and selectors of opts, creating it on first use; its objects
// have d's Go type T. If f was started, a new informer starts at once.
//
// It fails, without creating anything, on what could never list: an
// invalid descriptor, a namespace on a cluster-scoped resource, a selector
// that does not parse or selects on a field d does not have.
func For[T cache.Object](f *Factory, d resource.Descriptor[T], opts ...ResourceOption) (SharedIndexInformer[T], error) {
	key, cfg, err := key(d, opts)
	if err != nil {
		return nil, fmt.Errorf("informer: %w", err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.informers[key]; ok {
		return e.inf.(SharedIndexInformer[T]), nil // the key holds T's type
	}

	name := cfg.name
	if name == "" {
		name = key.String()
	}
	tweak := func(o *metav1.ListOptions) {
		o.LabelSelector, o.FieldSelector = key.labels, key.fields
	}
	lw := client.For(f.client, d).Namespace(key.namespace).ListerWatcher(tweak)
	o, err := optionsFor[T](f.opts.Options)
	if err != nil {
		return nil, fmt.Errorf("informer %s: %w", name, err)
	}
	o.Name, o.Resource = name, d.GVR.GroupResource()
	if f.opts.MetricsProvider != nil {
		o.InformerMetrics = f.opts.MetricsProvider.InformerMetrics(name)
		o.Metrics = f.opts.MetricsProvider.ReflectorMetrics(name)
	}
	inf, err := newInformerChecked(lw, o)
	if err != nil {
		return nil, err
	}
	e := &factoryEntry{name: name, inf: inf, done: make(chan struct{})}
	f.informers[key] = e
	f.order = append(f.order, key)
	f.kinds[key.typ] = d.GVK()
	if f.startCtx != nil && !f.shutdown {
		f.startLocked(f.startCtx, e)
	}
	return inf, nil
}

// optionsFor gives the factory-wide options the type T of one informer:
// the embedded structs are copied whole, and the Transform and Indexers
// typed on cache.Object are wrapped for T.
func optionsFor[T cache.Object](base Options[cache.Object]) (Options[T], error) {
	var o Options[T]
	copyExcept(&o.Options, base.Options, "Transform")
	copyExcept(&o, base, "Options", "Transform", "Indexers")
	if tr := base.Transform; tr != nil {
		o.Transform = func(obj T) (T, error) {
			out, err := tr(obj)
			if err != nil {
				return obj, err
			}
			t, ok := out.(T)
			if !ok {
				return obj, fmt.Errorf("informer: the factory's Transform returned %T for a %T", out, obj)
			}
			return t, nil
		}
	}
	if len(base.Indexers) > 0 {
		o.Indexers = cache.Indexers[T]{}
		for name, fn := range base.Indexers {
			if fn == nil {
				return o, fmt.Errorf("index %q has a nil function", name)
			}
			o.Indexers[name] = func(obj T) ([]string, error) { return fn(obj) }
		}
	}
	return o, nil
}

// copyExcept sets every field of *dst from the field of the same name in
// src, but the fields named in skip. dst and src are structs whose other
// fields have identical types (one generic struct at two type arguments),
// so a field added later is carried without touching this code.
func copyExcept[D, S any](dst *D, src S, skip ...string) {
	dv, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)
	for i := range sv.NumField() {
		name := sv.Type().Field(i).Name
		if slices.Contains(skip, name) {
			continue
		}
		dv.FieldByName(name).Set(sv.Field(i))
	}
}

// KindFor returns the kind of the objects of type t that f's informers
// decode, if f has built one for that type: how an event recorder names an
// object that carries no apiVersion and kind of its own.
func (f *Factory) KindFor(t reflect.Type) (schema.GroupVersionKind, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gvk, ok := f.kinds[t]
	return gvk, ok
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

// Remove stops the informer For(f, d, opts...) returned and forgets it,
// waiting until its goroutines (reflector and handlers) ended. It reports
// whether the factory held that informer. Registrations on it stop
// receiving; a later For builds a new informer.
func Remove[T cache.Object](f *Factory, d resource.Descriptor[T], opts ...ResourceOption) bool {
	key, _, err := key(d, opts)
	if err != nil {
		return false
	}
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
