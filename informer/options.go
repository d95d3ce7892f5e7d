package informer

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/reflector"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
)

// MinResyncPeriod is the shortest resync period honoured; shorter ones are
// raised to it, as in client-go.
const MinResyncPeriod = time.Second

// Options configure an informer. The zero value of every field selects its
// default.
//
// The reflector's options are embedded once, not copied: Name, Logger and
// Clock serve the informer and its reflector alike, and Transform,
// WatchErrorHandler, watch-list, paging, timeouts, backoff and the
// reflector's Metrics are the reflector's (see reflector.Options).
type Options[T cache.Object] struct {
	// Options are the reflector's options. Name identifies the informer in
	// logs and metrics too (default: the Go type of T); Logger receives the
	// informer's logs too (default slog.Default()); Clock drives resyncs
	// too (default: the real clock).
	reflector.Options[T]

	// Resource names the collection in the Lister's NotFound errors.
	Resource schema.GroupResource

	// ResyncPeriod is each handler's default resync period (see
	// WithResyncPeriod); 0, the default, means no resync.
	ResyncPeriod time.Duration

	// Indexers are the cache's indices. cache.NamespaceIndex is always
	// added, so that listers can list one namespace without a scan.
	Indexers cache.Indexers[T]

	// Delivery is the default delivery of every handler (see WithDelivery).
	// Default: Unbounded (nothing is lost).
	Delivery Delivery

	// InformerMetrics, if set, is told what the informer does (the
	// reflector's hook is Options.Metrics).
	InformerMetrics MetricsHook
}

func (o Options[T]) withDefaults() (Options[T], error) {
	if o.Name == "" {
		var zero T
		o.Name = fmt.Sprintf("%T", zero)
	}
	if o.ResyncPeriod < 0 {
		return o, fmt.Errorf("informer %s: negative resync period %s", o.Name, o.ResyncPeriod)
	}
	if o.ResyncPeriod > 0 && o.ResyncPeriod < MinResyncPeriod {
		o.ResyncPeriod = MinResyncPeriod
	}
	if err := o.Delivery.validate(); err != nil {
		return o, fmt.Errorf("informer %s: %w", o.Name, err)
	}
	idx := cache.Indexers[T]{}
	for name, f := range o.Indexers {
		if f == nil {
			return o, fmt.Errorf("informer %s: index %q has a nil function", o.Name, name)
		}
		idx[name] = f
	}
	if _, ok := idx[cache.NamespaceIndex]; !ok {
		idx[cache.NamespaceIndex] = cache.MetaNamespaceIndexFunc[T]
	}
	o.Indexers = idx
	if o.InformerMetrics == nil {
		o.InformerMetrics = noMetrics{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return o, nil
}
