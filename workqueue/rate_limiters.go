package workqueue

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// TypedRateLimiter decides how long an item waits before it is retried.
type TypedRateLimiter[T comparable] interface {
	// When returns how long item should wait, and counts a failure.
	When(item T) time.Duration
	// Forget stops tracking item (it succeeded or was given up on).
	Forget(item T)
	// NumRequeues returns how many failures item has had.
	NumRequeues(item T) int
}

// RateLimiter is TypedRateLimiter for items of any type.
//
// Deprecated: use TypedRateLimiter.
type RateLimiter TypedRateLimiter[any]

// DefaultTypedControllerRateLimiter returns client-go's default controller
// limiter: the larger of a per-item exponential backoff (5 ms doubling to
// 1000 s) and an overall token bucket (10 qps, burst 100).
//
// The bucket is shared by all items and never forgets, so after a burst of
// failures the delays grow for every item (client-go issue #973); wrap it
// with NewTypedWithMaxWaitRateLimiter to bound them.
func DefaultTypedControllerRateLimiter[T comparable]() TypedRateLimiter[T] {
	return NewTypedMaxOfRateLimiter(
		NewTypedItemExponentialFailureRateLimiter[T](5*time.Millisecond, 1000*time.Second),
		&TypedBucketRateLimiter[T]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}

// DefaultControllerRateLimiter is DefaultTypedControllerRateLimiter for any
// items.
//
// Deprecated: use DefaultTypedControllerRateLimiter.
func DefaultControllerRateLimiter() RateLimiter {
	return DefaultTypedControllerRateLimiter[any]()
}

// DefaultTypedItemBasedRateLimiter returns a per-item exponential backoff
// from 1 ms doubling to 1000 s.
func DefaultTypedItemBasedRateLimiter[T comparable]() TypedRateLimiter[T] {
	return NewTypedItemExponentialFailureRateLimiter[T](time.Millisecond, 1000*time.Second)
}

// DefaultItemBasedRateLimiter is DefaultTypedItemBasedRateLimiter for any
// items.
//
// Deprecated: use DefaultTypedItemBasedRateLimiter.
func DefaultItemBasedRateLimiter() RateLimiter {
	return DefaultTypedItemBasedRateLimiter[any]()
}

// TypedBucketRateLimiter adapts a token bucket: every When takes a token
// and waits for it. It is global (not per item) and Forget does nothing.
type TypedBucketRateLimiter[T comparable] struct {
	*rate.Limiter
}

// BucketRateLimiter is TypedBucketRateLimiter for items of any type.
//
// Deprecated: use TypedBucketRateLimiter.
type BucketRateLimiter = TypedBucketRateLimiter[any]

var _ RateLimiter = &BucketRateLimiter{}

// When reserves a token and returns the wait for it.
func (r *TypedBucketRateLimiter[T]) When(T) time.Duration {
	return r.Limiter.Reserve().Delay()
}

// NumRequeues is always 0: the bucket does not track items.
func (r *TypedBucketRateLimiter[T]) NumRequeues(T) int { return 0 }

// Forget does nothing: the bucket does not track items.
func (r *TypedBucketRateLimiter[T]) Forget(T) {}

// failureCounts is a locked per-item failure counter.
type failureCounts[T comparable] struct {
	mu       sync.Mutex
	failures map[T]int
}

// next returns the count before this failure and increments it.
func (c *failureCounts[T]) next(item T) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failures == nil {
		c.failures = map[T]int{}
	}
	n := c.failures[item]
	c.failures[item] = n + 1
	return n
}

func (c *failureCounts[T]) get(item T) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failures[item]
}

func (c *failureCounts[T]) forget(item T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.failures, item)
}

// TypedItemExponentialFailureRateLimiter waits baseDelay * 2^failures for an
// item, capped at maxDelay. Each When counts a failure; Forget resets it.
type TypedItemExponentialFailureRateLimiter[T comparable] struct {
	counts    failureCounts[T]
	baseDelay time.Duration
	maxDelay  time.Duration
}

// ItemExponentialFailureRateLimiter is the untyped form.
//
// Deprecated: use TypedItemExponentialFailureRateLimiter.
type ItemExponentialFailureRateLimiter = TypedItemExponentialFailureRateLimiter[any]

var _ RateLimiter = &ItemExponentialFailureRateLimiter{}

// NewTypedItemExponentialFailureRateLimiter returns a per-item exponential
// backoff from baseDelay to maxDelay.
func NewTypedItemExponentialFailureRateLimiter[T comparable](baseDelay, maxDelay time.Duration) TypedRateLimiter[T] {
	return &TypedItemExponentialFailureRateLimiter[T]{baseDelay: baseDelay, maxDelay: maxDelay}
}

// NewItemExponentialFailureRateLimiter is the untyped form.
//
// Deprecated: use NewTypedItemExponentialFailureRateLimiter.
func NewItemExponentialFailureRateLimiter(baseDelay, maxDelay time.Duration) RateLimiter {
	return NewTypedItemExponentialFailureRateLimiter[any](baseDelay, maxDelay)
}

// When implements TypedRateLimiter.
func (r *TypedItemExponentialFailureRateLimiter[T]) When(item T) time.Duration {
	exp := r.counts.next(item)
	// Compute in float64 so a large exponent saturates instead of wrapping.
	backoff := float64(r.baseDelay.Nanoseconds()) * math.Pow(2, float64(exp))
	if backoff > math.MaxInt64 || time.Duration(backoff) > r.maxDelay {
		return r.maxDelay
	}
	return time.Duration(backoff)
}

// NumRequeues implements TypedRateLimiter.
func (r *TypedItemExponentialFailureRateLimiter[T]) NumRequeues(item T) int {
	return r.counts.get(item)
}

// Forget implements TypedRateLimiter.
func (r *TypedItemExponentialFailureRateLimiter[T]) Forget(item T) {
	r.counts.forget(item)
}

// TypedItemFastSlowRateLimiter waits fastDelay for the first
// maxFastAttempts failures of an item, then slowDelay.
type TypedItemFastSlowRateLimiter[T comparable] struct {
	counts          failureCounts[T]
	maxFastAttempts int
	fastDelay       time.Duration
	slowDelay       time.Duration
}

// ItemFastSlowRateLimiter is the untyped form.
//
// Deprecated: use TypedItemFastSlowRateLimiter.
type ItemFastSlowRateLimiter = TypedItemFastSlowRateLimiter[any]

var _ RateLimiter = &ItemFastSlowRateLimiter{}

// NewTypedItemFastSlowRateLimiter returns a fast-then-slow limiter.
func NewTypedItemFastSlowRateLimiter[T comparable](fastDelay, slowDelay time.Duration, maxFastAttempts int) TypedRateLimiter[T] {
	return &TypedItemFastSlowRateLimiter[T]{fastDelay: fastDelay, slowDelay: slowDelay, maxFastAttempts: maxFastAttempts}
}

// NewItemFastSlowRateLimiter is the untyped form.
//
// Deprecated: use NewTypedItemFastSlowRateLimiter.
func NewItemFastSlowRateLimiter(fastDelay, slowDelay time.Duration, maxFastAttempts int) RateLimiter {
	return NewTypedItemFastSlowRateLimiter[any](fastDelay, slowDelay, maxFastAttempts)
}

// When implements TypedRateLimiter.
func (r *TypedItemFastSlowRateLimiter[T]) When(item T) time.Duration {
	if r.counts.next(item)+1 <= r.maxFastAttempts {
		return r.fastDelay
	}
	return r.slowDelay
}

// NumRequeues implements TypedRateLimiter.
func (r *TypedItemFastSlowRateLimiter[T]) NumRequeues(item T) int {
	return r.counts.get(item)
}

// Forget implements TypedRateLimiter.
func (r *TypedItemFastSlowRateLimiter[T]) Forget(item T) {
	r.counts.forget(item)
}

// TypedMaxOfRateLimiter asks every limiter and returns the longest wait.
// Combined with a token bucket the burst can appear exceeded when some
// items were separately delayed longer.
type TypedMaxOfRateLimiter[T comparable] struct {
	limiters []TypedRateLimiter[T]
}

// MaxOfRateLimiter is the untyped form.
//
// Deprecated: use TypedMaxOfRateLimiter.
type MaxOfRateLimiter = TypedMaxOfRateLimiter[any]

// NewTypedMaxOfRateLimiter combines limiters by taking the maximum.
func NewTypedMaxOfRateLimiter[T comparable](limiters ...TypedRateLimiter[T]) TypedRateLimiter[T] {
	return &TypedMaxOfRateLimiter[T]{limiters: limiters}
}

// NewMaxOfRateLimiter is the untyped form.
//
// Deprecated: use NewTypedMaxOfRateLimiter.
func NewMaxOfRateLimiter(limiters ...TypedRateLimiter[any]) RateLimiter {
	return NewTypedMaxOfRateLimiter(limiters...)
}

// When implements TypedRateLimiter; every limiter counts the failure.
func (r *TypedMaxOfRateLimiter[T]) When(item T) time.Duration {
	var longest time.Duration
	for _, l := range r.limiters {
		longest = max(longest, l.When(item))
	}
	return longest
}

// NumRequeues implements TypedRateLimiter: the maximum of the limiters.
func (r *TypedMaxOfRateLimiter[T]) NumRequeues(item T) int {
	n := 0
	for _, l := range r.limiters {
		n = max(n, l.NumRequeues(item))
	}
	return n
}

// Forget implements TypedRateLimiter: every limiter forgets item.
func (r *TypedMaxOfRateLimiter[T]) Forget(item T) {
	for _, l := range r.limiters {
		l.Forget(item)
	}
}

// TypedWithMaxWaitRateLimiter caps the wait of another limiter at maxDelay.
type TypedWithMaxWaitRateLimiter[T comparable] struct {
	limiter  TypedRateLimiter[T]
	maxDelay time.Duration
}

// WithMaxWaitRateLimiter is the untyped form.
//
// Deprecated: use TypedWithMaxWaitRateLimiter.
type WithMaxWaitRateLimiter = TypedWithMaxWaitRateLimiter[any]

// NewTypedWithMaxWaitRateLimiter caps limiter's waits at maxDelay.
func NewTypedWithMaxWaitRateLimiter[T comparable](limiter TypedRateLimiter[T], maxDelay time.Duration) TypedRateLimiter[T] {
	return &TypedWithMaxWaitRateLimiter[T]{limiter: limiter, maxDelay: maxDelay}
}

// NewWithMaxWaitRateLimiter is the untyped form.
//
// Deprecated: use NewTypedWithMaxWaitRateLimiter.
func NewWithMaxWaitRateLimiter(limiter RateLimiter, maxDelay time.Duration) RateLimiter {
	return NewTypedWithMaxWaitRateLimiter[any](limiter, maxDelay)
}

// When implements TypedRateLimiter.
func (w TypedWithMaxWaitRateLimiter[T]) When(item T) time.Duration {
	return min(w.limiter.When(item), w.maxDelay)
}

// Forget implements TypedRateLimiter.
func (w TypedWithMaxWaitRateLimiter[T]) Forget(item T) { w.limiter.Forget(item) }

// NumRequeues implements TypedRateLimiter.
func (w TypedWithMaxWaitRateLimiter[T]) NumRequeues(item T) int { return w.limiter.NumRequeues(item) }
