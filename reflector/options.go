package reflector

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/kunos-io/listwatch/cache"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/clock"
)

// Defaults for Options; they follow client-go v0.37 where it has one.
const (
	DefaultPageSize          int64 = 500
	DefaultMinWatchTimeout         = 5 * time.Minute
	DefaultBookmarkInterval        = time.Minute
	DefaultInitialBackoff          = 800 * time.Millisecond
	DefaultMaxBackoff              = 30 * time.Second
	DefaultBackoffResetAfter       = 2 * time.Minute
)

// Options configure a Reflector. The zero value of every field selects its
// default.
type Options[T cache.Object] struct {
	// Name identifies the reflector in logs and metrics. Default: the Go
	// type of T, e.g. "*v1.Task".
	Name string

	// Transform, if set, is applied to every object as it arrives from the
	// server, before it is buffered or handed to the Sink: during a
	// watch-list, during every page of a list and for every watch event. It
	// may return its argument modified in place (the reflector owns it) or a
	// new object. An error makes the reflector treat the batch or stream as
	// failed and start over (see Reflector).
	Transform func(T) (T, error)

	// WatchList selects the initial sync and every relist method. Default
	// true: a watch with sendInitialEvents=true (KEP-3157), falling back to
	// a paged list for the cycle when the server answers it with an error
	// other than 410 or 429, and for good when the server never sends the
	// initial-events-end bookmark (see InitialEventsTimeout).
	WatchList *bool

	// PageSize is the limit of every page of a list. Default 500.
	PageSize int64

	// MinWatchTimeout bounds the timeoutSeconds of every watch, which is
	// chosen at random in [MinWatchTimeout, 2*MinWatchTimeout) so that many
	// clients do not re-watch at once. Default 5m.
	MinWatchTimeout time.Duration

	// BookmarkInterval is how often the server sends bookmarks (the
	// apiserver-stub's --bookmark-interval, kube-apiserver's 1m). It sets the
	// defaults of WatchdogTimeout and InitialEventsTimeout. Default 1m.
	BookmarkInterval time.Duration

	// WatchdogTimeout is how long a watch may stay silent (no event and no
	// bookmark) before it is presumed dead (a half-open connection) and
	// restarted from the last resourceVersion. Default
	// 2*BookmarkInterval + 15s.
	WatchdogTimeout time.Duration

	// InitialEventsTimeout bounds a watch-list: if the bookmark annotated
	// k8s.io/initial-events-end does not arrive within it, the server is
	// taken not to support watch-list and the reflector lists instead, now
	// and in later relists. Raise it for very large collections on slow
	// links. Default 2*BookmarkInterval.
	InitialEventsTimeout time.Duration

	// InitialBackoff, MaxBackoff and BackoffResetAfter shape the jittered
	// exponential backoff between failed attempts: the delay starts in
	// [InitialBackoff, 2*InitialBackoff), doubles up to MaxBackoff, and
	// starts over once no backoff was needed for BackoffResetAfter.
	// Defaults 800ms, 30s, 2m.
	InitialBackoff, MaxBackoff, BackoffResetAfter time.Duration

	// WatchErrorHandler, if set, sees every list and watch error, including
	// the 410s that the reflector recovers from. It must not block.
	WatchErrorHandler func(err error)

	// Metrics, if set, is told what the reflector does.
	Metrics MetricsHook

	// Clock drives backoff, watch timeouts and the watchdog. Default: the
	// real clock.
	Clock clock.WithTicker

	// Logger receives the reflector's logs. Default slog.Default().
	Logger *slog.Logger
}

// RelistReason says why the reflector fetched the whole state again, or, for
// RelistWatchdog, restarted a silent watch.
type RelistReason string

// Reasons passed to MetricsHook.Relisted.
const (
	// RelistExpired: the server no longer has the history after the last
	// resourceVersion (410 Gone / Expired).
	RelistExpired RelistReason = "expired"
	// RelistTooLarge: the server has not reached the last resourceVersion
	// (504 with cause ResourceVersionTooLarge), e.g. it lost its store.
	RelistTooLarge RelistReason = "too-large"
	// RelistError: the stream failed in a way that may have lost an event
	// (an ERROR event, an object of the wrong type, a failed transform).
	RelistError RelistReason = "error"
	// RelistWatchdog: the watch was silent for longer than WatchdogTimeout
	// and was restarted from the last resourceVersion (no list needed).
	RelistWatchdog RelistReason = "watchdog"
)

// MetricsHook receives the reflector's measurements. The metrics package
// implements it with Prometheus collectors. Calls come from the reflector's
// goroutine and must not block.
type MetricsHook interface {
	// ObserveList reports a full sync (a paged list or a watch-list) that
	// took d and ended with err.
	ObserveList(d time.Duration, err error)
	// WatchStarted reports that the server accepted a watch.
	WatchStarted()
	// ObserveEvent reports every event received, BOOKMARK and ERROR
	// included; it drives "seconds since the last event".
	ObserveEvent(t watch.EventType)
	// Relisted reports a relist or a watchdog restart.
	Relisted(reason RelistReason)
	// SetResourceVersion reports the last resourceVersion synced.
	SetResourceVersion(rv string)
}

// MetricsStopper is an optional extension of MetricsHook. When the hook
// implements it, Run calls Stopped once, as it returns, so the reflector's
// series can be deleted (client-go's reflector metrics leaked for lack of
// this).
type MetricsStopper interface {
	Stopped()
}

type noMetrics struct{}

func (noMetrics) ObserveList(time.Duration, error) {}
func (noMetrics) WatchStarted()                    {}
func (noMetrics) ObserveEvent(watch.EventType)     {}
func (noMetrics) Relisted(RelistReason)            {}
func (noMetrics) SetResourceVersion(string)        {}

// withDefaults returns o with every unset field given its default.
func (o Options[T]) withDefaults() Options[T] {
	if o.Name == "" {
		var zero T
		o.Name = fmt.Sprintf("%T", zero)
	}
	if o.WatchList == nil {
		on := true
		o.WatchList = &on
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.MinWatchTimeout <= 0 {
		o.MinWatchTimeout = DefaultMinWatchTimeout
	}
	if o.BookmarkInterval <= 0 {
		o.BookmarkInterval = DefaultBookmarkInterval
	}
	if o.WatchdogTimeout <= 0 {
		o.WatchdogTimeout = 2*o.BookmarkInterval + 15*time.Second
	}
	if o.InitialEventsTimeout <= 0 {
		o.InitialEventsTimeout = 2 * o.BookmarkInterval
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = DefaultInitialBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.InitialBackoff {
		o.MaxBackoff = o.InitialBackoff
	}
	if o.BackoffResetAfter <= 0 {
		o.BackoffResetAfter = DefaultBackoffResetAfter
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("reflector", o.Name)
	return o
}
