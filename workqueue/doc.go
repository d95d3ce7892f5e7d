// Package workqueue provides the work queues that feed controllers: the
// same API and semantics as k8s.io/client-go/util/workqueue (v0.37), so a
// client-go user changes only the import path, plus a priority queue with
// aging.
//
// Every queue here is
//   - fair: items are handed out in the order they were added (Typed,
//     by default) or by priority (PriorityQueue);
//   - stingy: an item added many times before it is processed is processed
//     once, and an item is never handed to two workers at once; an item added
//     while it is being processed is queued again when Done is called;
//   - safe for many producers and consumers;
//   - shut down cleanly: after ShutDown, Get hands out what is queued and
//     then reports shutdown; ShutDownWithDrain also waits for the items in
//     flight.
//
// The layers are those of client-go: Typed (TypedInterface) is the basic
// queue; a delaying queue (TypedDelayingInterface) adds AddAfter through a
// min-heap and one waiting goroutine; a rate-limiting queue
// (TypedRateLimitingInterface) adds AddRateLimited, Forget and NumRequeues on
// top of a TypedRateLimiter. The rate limiters and their defaults are
// client-go's: DefaultTypedControllerRateLimiter is the larger of a per-item
// exponential backoff (5 ms to 1000 s) and a token bucket (10 qps, burst 100).
//
// Beyond client-go:
//   - PriorityQueue (NewTypedPriorityQueue) serves higher priorities first
//     and ages waiting items (one priority level per AgingInterval), so a
//     flood of high-priority work cannot starve low-priority items, as it can
//     in controller-runtime's priority queue.
//   - A MetricsProvider that also implements MetricsDeleter has a named
//     queue's series removed when the queue is shut down.
//   - The zero value of the per-item rate limiters is usable, and Done for
//     an item that is not being processed is ignored instead of queueing a
//     duplicate.
//
// Metrics are recorded only for queues with a Name, through the
// MetricsProvider of the config or the one set by SetProvider. Every config
// takes a Clock (k8s.io/utils/clock.WithTicker), so tests drive delays and
// metrics with k8s.io/utils/clock/testing.FakeClock instead of sleeping.
//
// Goroutines: Typed owns one only when it records metrics; delaying, rate-
// limiting and priority queues own one. ShutDown ends them and waits.
package workqueue
