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
type Options[T cache.Object] struct {
	// Name identifies the informer in logs and metrics, e.g. "tasks".
	// Default: the Go type of T.
	Name string

	// Resource names the collection in the Lister's NotFound errors.
	Resource schema.GroupResource

	// ResyncPeriod is each handler's default resync period (see
	// WithResyncPeriod); 0, the default, means no resync.
	ResyncPeriod time.Duration

	// Indexers are the cache's indices. cache.NamespaceIndex is always
	// added, so that listers can list one namespace without a scan.
	Indexers cache.Indexers[T]

	// Transform, if set, is applied to every object as it arrives, before
	// it is cached (see reflector.Options.Transform), e.g. to drop fields
	// the program never reads.
	Transform func(T) (T, error)

	// WatchErrorHandler, if set, sees every list and watch error. It must
	// not block.
	WatchErrorHandler func(err error)

	// Delivery is the default delivery of every handler (see WithDelivery).
	// Default: Unbounded (nothing is lost).
	Delivery Delivery

	// Metrics, if set, is told what the informer does.
	Metrics MetricsHook

	// Logger receives the informer's logs. Default slog.Default().
	Logger *slog.Logger

	// Clock drives resyncs, and the reflector unless Reflector.Clock is set.
	// Default: the real clock.
	Clock clock.WithTicker

	// Reflector holds further reflector options (watch-list, page size,
	// timeouts, backoff, metrics). Its Name, Transform, WatchErrorHandler,
	// Logger and Clock default to the fields above.
	Reflector reflector.Options[T]
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
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("informer", o.Name)
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	r := &o.Reflector
	if r.Name == "" {
		r.Name = o.Name
	}
	if r.Transform == nil {
		r.Transform = o.Transform
	}
	if r.WatchErrorHandler == nil {
		r.WatchErrorHandler = o.WatchErrorHandler
	}
	if r.Logger == nil {
		r.Logger = o.Logger
	}
	if r.Clock == nil {
		r.Clock = o.Clock
	}
	return o, nil
}
