package informer

import (
	"time"

	"github.com/kunos-io/listwatch/cache"
)

// Handler receives an informer's notifications for one registration. Calls
// come from one goroutine per registration, one at a time, and never while
// the informer holds a lock, so a handler may call back into the informer.
//
// Objects are shared with the cache and other handlers: treat them as
// read-only and deep-copy before changing one.
type Handler[T cache.Object] interface {
	// OnAdd is called for an object the handler has not seen.
	// isInInitialList is true when it comes from the informer's initial list
	// or, for a handler added later, from the cache's contents at that time.
	OnAdd(obj T, isInInitialList bool)
	// OnUpdate is called when an object changed; oldObj is the state this
	// handler last saw. During a resync oldObj and newObj are the same object.
	OnUpdate(oldObj, newObj T)
	// OnDelete is called when an object is gone. obj is its last known state
	// and never nil. finalStateUnknown is true when the deletion was learnt
	// from a relist rather than a watch event, so obj may be older than the
	// object's real final state.
	OnDelete(obj T, finalStateUnknown bool)
}

// HandlerFuncs adapts functions to a Handler. A nil field ignores that kind
// of notification.
type HandlerFuncs[T cache.Object] struct {
	AddFunc    func(obj T, isInInitialList bool)
	UpdateFunc func(oldObj, newObj T)
	DeleteFunc func(obj T, finalStateUnknown bool)
}

// OnAdd calls AddFunc if set.
func (f HandlerFuncs[T]) OnAdd(obj T, isInInitialList bool) {
	if f.AddFunc != nil {
		f.AddFunc(obj, isInInitialList)
	}
}

// OnUpdate calls UpdateFunc if set.
func (f HandlerFuncs[T]) OnUpdate(oldObj, newObj T) {
	if f.UpdateFunc != nil {
		f.UpdateFunc(oldObj, newObj)
	}
}

// OnDelete calls DeleteFunc if set.
func (f HandlerFuncs[T]) OnDelete(obj T, finalStateUnknown bool) {
	if f.DeleteFunc != nil {
		f.DeleteFunc(obj, finalStateUnknown)
	}
}

// Registration is the handle AddEventHandler returns. Pass it to
// RemoveEventHandler to stop the delivery.
type Registration interface {
	// Name is the handler's name, as given with WithName.
	Name() string
	// HasSynced reports whether the informer has synced and every
	// notification of this handler's initial list (isInInitialList=true)
	// has been delivered to it.
	HasSynced() bool
	// Done is closed when the handler's goroutine has ended, after removal
	// or when the informer stopped.
	Done() <-chan struct{}
}

// HandlerOption configures one registration.
type HandlerOption func(*handlerConfig)

type handlerConfig struct {
	name     string
	resync   *time.Duration
	delivery *Delivery
}

// WithName names a registration for logs and metrics. Names must be unique
// among an informer's live registrations; the default is "handler-N".
func WithName(name string) HandlerOption {
	return func(c *handlerConfig) { c.name = name }
}

// WithResyncPeriod sets how often this handler gets an OnUpdate(obj, obj)
// for every cached object. The default is the informer's ResyncPeriod; 0
// turns resync off for this handler. Periods under MinResyncPeriod are
// raised to it.
func WithResyncPeriod(d time.Duration) HandlerOption {
	return func(c *handlerConfig) { c.resync = &d }
}

// WithDelivery overrides the informer's Delivery for this handler.
func WithDelivery(d Delivery) HandlerOption {
	return func(c *handlerConfig) { c.delivery = &d }
}
