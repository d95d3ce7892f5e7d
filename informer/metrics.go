package informer

import "time"

// MetricsHook receives an informer's measurements. The metrics package
// implements it with Prometheus collectors; nil means no metrics. Handler
// names are the ones given with WithName (default "handler-N"), so label
// values stay bounded by the number of registrations a program makes.
//
// Methods are called from the informer's and the handlers' goroutines, often
// concurrently, sometimes with an informer lock held: they must be cheap,
// safe for concurrent use, and must not call back into the informer.
type MetricsHook interface {
	// SetStoreObjects reports the number of objects in the informer's cache.
	SetStoreObjects(n int)
	// SetSynced reports whether the informer finished its initial list.
	SetSynced(synced bool)
	// SetPending reports how many notifications wait in handler's buffer
	// (under Coalesce: how many keys).
	SetPending(handler string, n int)
	// ObserveHandler reports how long one call into handler took.
	ObserveHandler(handler string, d time.Duration)
	// Coalesced counts a notification merged into one already pending for
	// the same key (Coalesce policy only).
	Coalesced(handler string)
	// HandlerPanicked counts a handler call that panicked and was recovered.
	HandlerPanicked(handler string)
	// HandlerRemoved reports that handler was removed: its series may be
	// deleted. It is the last report for that registration (sent once a
	// call in progress has returned); a later report under the same name
	// comes from a new registration.
	HandlerRemoved(handler string)
	// Stopped reports that the informer stopped: all its series may be
	// deleted.
	Stopped()
}

// noMetrics is the MetricsHook used when none is configured.
type noMetrics struct{}

func (noMetrics) SetStoreObjects(int)                  {}
func (noMetrics) SetSynced(bool)                       {}
func (noMetrics) SetPending(string, int)               {}
func (noMetrics) ObserveHandler(string, time.Duration) {}
func (noMetrics) Coalesced(string)                     {}
func (noMetrics) HandlerPanicked(string)               {}
func (noMetrics) HandlerRemoved(string)                {}
func (noMetrics) Stopped()                             {}
