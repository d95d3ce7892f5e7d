package workqueue

import "k8s.io/utils/clock"

// TypedRateLimitingInterface is a delaying queue that asks a rate limiter
// how long to delay a retried item.
type TypedRateLimitingInterface[T comparable] interface {
	TypedDelayingInterface[T]
	// AddRateLimited adds item after the limiter's delay for it.
	AddRateLimited(item T)
	// Forget makes the limiter stop tracking item. It does not replace Done.
	Forget(item T)
	// NumRequeues returns how many times item was rate-limited since the
	// last Forget.
	NumRequeues(item T) int
}

// RateLimitingInterface is TypedRateLimitingInterface for any items.
//
// Deprecated: use TypedRateLimitingInterface.
type RateLimitingInterface TypedRateLimitingInterface[any]

// TypedRateLimitingQueueConfig holds the optional settings of a
// rate-limiting queue.
type TypedRateLimitingQueueConfig[T comparable] struct {
	// Name of the queue; metrics are recorded only for named queues.
	Name string
	// MetricsProvider for this queue; nil means the one set by SetProvider.
	MetricsProvider MetricsProvider
	// Clock drives delays and metrics; nil means the real clock.
	Clock clock.WithTicker
	// DelayingQueue to wrap; nil means a new one with the settings above.
	DelayingQueue TypedDelayingInterface[T]
}

// RateLimitingQueueConfig is TypedRateLimitingQueueConfig for any items.
//
// Deprecated: use TypedRateLimitingQueueConfig.
type RateLimitingQueueConfig = TypedRateLimitingQueueConfig[any]

// NewTypedRateLimitingQueue returns a rate-limiting queue without metrics.
// Call Forget when an item succeeds, or its failures are tracked forever.
func NewTypedRateLimitingQueue[T comparable](rateLimiter TypedRateLimiter[T]) TypedRateLimitingInterface[T] {
	return NewTypedRateLimitingQueueWithConfig(rateLimiter, TypedRateLimitingQueueConfig[T]{})
}

// NewTypedRateLimitingQueueWithConfig returns a rate-limiting queue with the
// given settings. Call Forget when an item succeeds.
func NewTypedRateLimitingQueueWithConfig[T comparable](rateLimiter TypedRateLimiter[T], config TypedRateLimitingQueueConfig[T]) TypedRateLimitingInterface[T] {
	if config.Clock == nil {
		config.Clock = clock.RealClock{}
	}
	if config.DelayingQueue == nil {
		config.DelayingQueue = NewTypedDelayingQueueWithConfig(TypedDelayingQueueConfig[T]{
			Name:            config.Name,
			MetricsProvider: config.MetricsProvider,
			Clock:           config.Clock,
		})
	}
	return &rateLimitingType[T]{TypedDelayingInterface: config.DelayingQueue, rateLimiter: rateLimiter}
}

// NewRateLimitingQueue is the untyped form.
//
// Deprecated: use NewTypedRateLimitingQueue.
func NewRateLimitingQueue(rateLimiter RateLimiter) RateLimitingInterface {
	return NewRateLimitingQueueWithConfig(rateLimiter, RateLimitingQueueConfig{})
}

// NewRateLimitingQueueWithConfig is the untyped form.
//
// Deprecated: use NewTypedRateLimitingQueueWithConfig.
func NewRateLimitingQueueWithConfig(rateLimiter RateLimiter, config RateLimitingQueueConfig) RateLimitingInterface {
	return NewTypedRateLimitingQueueWithConfig(rateLimiter, config)
}

// NewNamedRateLimitingQueue is the untyped form with a name.
//
// Deprecated: use NewRateLimitingQueueWithConfig.
func NewNamedRateLimitingQueue(rateLimiter RateLimiter, name string) RateLimitingInterface {
	return NewRateLimitingQueueWithConfig(rateLimiter, RateLimitingQueueConfig{Name: name})
}

// NewRateLimitingQueueWithDelayingInterface wraps di.
//
// Deprecated: use NewRateLimitingQueueWithConfig.
func NewRateLimitingQueueWithDelayingInterface(di DelayingInterface, rateLimiter RateLimiter) RateLimitingInterface {
	return NewRateLimitingQueueWithConfig(rateLimiter, RateLimitingQueueConfig{DelayingQueue: di})
}

// rateLimitingType adds a rate limiter to a delaying queue.
type rateLimitingType[T comparable] struct {
	TypedDelayingInterface[T]
	rateLimiter TypedRateLimiter[T]
}

// AddRateLimited implements TypedRateLimitingInterface.
func (q *rateLimitingType[T]) AddRateLimited(item T) {
	q.TypedDelayingInterface.AddAfter(item, q.rateLimiter.When(item))
}

// NumRequeues implements TypedRateLimitingInterface.
func (q *rateLimitingType[T]) NumRequeues(item T) int {
	return q.rateLimiter.NumRequeues(item)
}

// Forget implements TypedRateLimitingInterface.
func (q *rateLimitingType[T]) Forget(item T) {
	q.rateLimiter.Forget(item)
}
