package controllers

import (
	"context"
	"log/slog"
	"sync"

	"github.com/kunos-io/listwatch/workqueue"
)

// syncFunc reconciles one key; an error requeues the key with rate limiting.
type syncFunc func(ctx context.Context, key string) error

// runWorkers drains queue with n workers until ctx ends, then shuts the
// queue down and waits for the workers. It is the one worker loop all three
// controllers share: Get, sync, Forget on success or AddRateLimited on
// error, Done.
func runWorkers(ctx context.Context, name string, queue workqueue.TypedRateLimitingInterface[string], n int, reconcile syncFunc, log *slog.Logger) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for processNext(ctx, name, queue, reconcile, log) {
			}
		}()
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
}

func processNext(ctx context.Context, name string, queue workqueue.TypedRateLimitingInterface[string], reconcile syncFunc, log *slog.Logger) bool {
	key, shutdown := queue.Get()
	if shutdown {
		return false
	}
	defer queue.Done(key)
	if err := reconcile(ctx, key); err != nil {
		if ctx.Err() != nil {
			return true
		}
		log.Debug("sync failed, requeueing", "controller", name, "key", key, "err", err, "requeues", queue.NumRequeues(key))
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}

func newQueue(name string, provider workqueue.MetricsProvider) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name, MetricsProvider: provider},
	)
}
