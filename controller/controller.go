package controller

// This file is the reconcile loop. Invariants:
//   - one workqueue per run (a run is the manager's lifetime, or one
//     leadership term), fed only by the controller's sources and by the
//     loop's own requeues; the workqueue hands a Request to one worker at a
//     time, so no object is ever reconciled by two workers at once;
//   - every Request taken is finished (Done) and ends in exactly one of:
//     Forget (success, terminal error), AddAfter (RequeueAfter) or
//     AddRateLimited (error, panic), and is counted once in
//     controller_runtime_reconcile_total;
//   - no lock of the controller is held while the Reconciler runs;
//   - run returns only after every worker and handler it started ended.

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/workqueue"
)

// ctrl is a controller built by Builder.Complete and run by its Manager.
type ctrl struct {
	name    string
	r       Reconciler
	workers int
	limiter workqueue.TypedRateLimiter[Request]
	sources []namedSource
	metrics *reconcileMetrics
	queues  workqueue.MetricsProvider
	log     *slog.Logger
	grace   time.Duration
}

// namedSource is a source and its role in the controller ("for",
// "owns-0", "watches-1"), which names its handler registration.
type namedSource struct {
	role string
	src  source
}

// synced reports whether every source's informer has synced.
func (c *ctrl) synced() bool {
	for _, s := range c.sources {
		if !s.src.synced() {
			return false
		}
	}
	return true
}

// run reconciles until ctx ends: it registers the sources, waits until each
// registration has seen its informer's initial list, then runs the
// workers. When ctx ends it stops taking Requests; reconciles in progress
// run to their end, their context cancelled at once if graceful() is false
// (leadership lost: another replica may start) or after c.grace otherwise.
// An error means a source could not be registered (its informer stopped).
func (c *ctrl) run(ctx context.Context, graceful func() bool) error {
	q := workqueue.NewTypedRateLimitingQueueWithConfig(c.limiter, workqueue.TypedRateLimitingQueueConfig[Request]{
		Name:            c.name,
		MetricsProvider: c.queues,
	})
	defer q.ShutDown()

	var regs []*registration
	removeAll := func() {
		for _, r := range regs {
			// Waits for a handler call in progress: map functions must
			// not block.
			_ = r.remove(context.Background())
		}
		regs = nil
	}
	defer removeAll()
	for _, s := range c.sources {
		r, err := s.src.register("controller:"+c.name+"/"+s.role, q.Add)
		if err != nil {
			return fmt.Errorf("controller %s: %s source: %w", c.name, s.role, err)
		}
		regs = append(regs, r)
	}
	synced := make([]func() bool, len(regs))
	for i, r := range regs {
		synced[i] = r.reg.HasSynced
	}
	if !informer.WaitForCacheSync(ctx, synced...) {
		return nil
	}

	c.log.Info("starting workers", "workers", c.workers)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var wg sync.WaitGroup
	for range c.workers {
		wg.Go(func() {
			for c.processNext(ctx, rctx, q) {
			}
		})
	}
	<-ctx.Done()
	removeAll()
	q.ShutDown()
	if graceful() {
		t := time.AfterFunc(c.grace, cancel)
		defer t.Stop()
	} else {
		cancel()
	}
	wg.Wait()
	c.log.Info("workers stopped")
	return nil
}

// processNext takes one Request and reconciles it, unless the controller
// is stopping (ctx done): then queued Requests are left for the next run or
// replica. It returns false once the queue is shut down and empty.
func (c *ctrl) processNext(ctx, rctx context.Context, q workqueue.TypedRateLimitingInterface[Request]) bool {
	req, shutdown := q.Get()
	if shutdown {
		return false
	}
	defer q.Done(req)
	if ctx.Err() != nil {
		return true
	}
	c.handle(rctx, q, req)
	return true
}

// handle reconciles req once and decides its future, like
// controller-runtime's reconcileHandler.
func (c *ctrl) handle(ctx context.Context, q workqueue.TypedRateLimitingInterface[Request], req Request) {
	active := c.metrics.activeWorkers.WithLabelValues(c.name)
	active.Inc()
	defer active.Dec()
	log := c.log.With("namespace", req.Namespace, "name", req.Name)

	// Every metric is recorded before the Request goes back to the queue,
	// so whoever sees its next reconcile also sees this one counted.
	start := time.Now()
	res, panicked, err := c.reconcile(withLogger(ctx, log), req, log)
	c.metrics.duration.WithLabelValues(c.name).Observe(time.Since(start).Seconds())

	switch {
	case err != nil:
		c.metrics.errors.WithLabelValues(c.name).Inc()
		c.metrics.total.WithLabelValues(c.name, resultError).Inc()
		if panicked {
			c.metrics.panics.WithLabelValues(c.name).Inc()
		}
		if IsTerminal(err) {
			c.metrics.terminal.WithLabelValues(c.name).Inc()
			q.Forget(req)
			log.Error("reconcile failed with a terminal error: not retrying", "err", err)
			return
		}
		if res.RequeueAfter > 0 {
			log.Warn("reconcile returned both an error and RequeueAfter: the error's backoff wins", "requeueAfter", res.RequeueAfter)
		}
		q.AddRateLimited(req)
		if ctx.Err() != nil {
			log.Debug("reconcile failed while stopping", "err", err)
			return
		}
		log.Error("reconcile failed: requeued with backoff", "err", err, "failures", q.NumRequeues(req))
	case res.RequeueAfter > 0:
		c.metrics.total.WithLabelValues(c.name, resultRequeueAfter).Inc()
		q.Forget(req)
		q.AddAfter(req, res.RequeueAfter)
		log.Debug("reconciled: requeued", "after", res.RequeueAfter)
	default:
		c.metrics.total.WithLabelValues(c.name, resultSuccess).Inc()
		q.Forget(req)
		log.Debug("reconciled")
	}
}

// reconcile calls the Reconciler, turning a panic into an error.
func (c *ctrl) reconcile(ctx context.Context, req Request, log *slog.Logger) (res Result, panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked = true
			err = fmt.Errorf("panic: %v [recovered]", p)
			log.Error("reconcile panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	res, err = c.r.Reconcile(ctx, req)
	return res, false, err
}
