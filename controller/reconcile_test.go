package controller_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/workqueue"
)

// recordingLimiter is the default rate limiter, recording which Requests
// were backed off (When) and forgotten.
type recordingLimiter struct {
	workqueue.TypedRateLimiter[controller.Request]
	when, forget counter
}

func newRecordingLimiter() *recordingLimiter {
	return &recordingLimiter{TypedRateLimiter: workqueue.DefaultTypedControllerRateLimiter[controller.Request]()}
}

func (l *recordingLimiter) When(r controller.Request) time.Duration {
	l.when.inc(r)
	return l.TypedRateLimiter.When(r)
}

func (l *recordingLimiter) Forget(r controller.Request) {
	l.forget.inc(r)
	l.TypedRateLimiter.Forget(r)
}

// runReconciler starts a manager with one controller "c" over Jobs
// reconciled by fn, with a recording rate limiter.
func runReconciler(t *testing.T, opts controller.Options, fn controller.ReconcilerFunc) (*env, *recordingLimiter, *running) {
	t.Helper()
	e := newEnv(t, controller.ManagerOptions{})
	l := newRecordingLimiter()
	opts.RateLimiter = l
	if err := controller.New(e.mgr, "c", kunosv1.Jobs, opts).For(e.jobs).Complete(fn); err != nil {
		t.Fatal(err)
	}
	return e, l, e.start(t)
}

func (e *env) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{"controller": "c"}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	v, ok := metricValue(t, e.reg, name, want)
	if !ok {
		t.Fatalf("no series %s%v", name, want)
	}
	return v
}

// An error requeues the Request with the rate limiter's per-item
// exponential backoff (5, 10, 20, 40 ms); success forgets it.
func TestErrorRequeuesWithBackoff(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	e, l, _ := runReconciler(t, controller.Options{}, func(_ context.Context, _ controller.Request) (controller.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		if len(at) <= 4 {
			return controller.Result{}, fmt.Errorf("attempt %d failed", len(at))
		}
		return controller.Result{}, nil
	})
	e.createJob(t, "a", 1, nil)
	eventually(t, "success after 4 failures", func() bool { return l.forget.get(req("a")) == 1 })

	mu.Lock()
	defer mu.Unlock()
	if len(at) != 5 || l.when.get(req("a")) != 4 {
		t.Fatalf("%d attempts, %d backoffs; want 5 and 4", len(at), l.when.get(req("a")))
	}
	for i := 1; i < len(at); i++ {
		if min := 5 * time.Millisecond << (i - 1); at[i].Sub(at[i-1]) < min {
			t.Errorf("attempt %d came %s after the previous one, before the %s backoff", i+1, at[i].Sub(at[i-1]), min)
		}
	}
	if got := e.metric(t, "controller_runtime_reconcile_errors_total"); got != 4 {
		t.Errorf("reconcile_errors_total = %v, want 4", got)
	}
	if got := e.metric(t, "controller_runtime_reconcile_total", "result", "error"); got != 4 {
		t.Errorf("reconcile_total{error} = %v, want 4", got)
	}
	if got := e.metric(t, "controller_runtime_reconcile_total", "result", "success"); got != 1 {
		t.Errorf("reconcile_total{success} = %v, want 1", got)
	}
	if got, _ := metricValue(t, e.reg, "workqueue_retries_total", map[string]string{"name": "c"}); got != 4 {
		t.Errorf("workqueue_retries_total = %v, want 4", got)
	}
}

// A TerminalError is counted and not retried; the next event for the
// object reconciles it again.
func TestTerminalErrorIsNotRetried(t *testing.T) {
	var calls counter
	e, l, _ := runReconciler(t, controller.Options{}, func(_ context.Context, r controller.Request) (controller.Result, error) {
		calls.inc(r)
		return controller.Result{}, controller.TerminalError(errors.New("invalid spec"))
	})
	e.createJob(t, "a", 1, nil)
	eventually(t, "first reconcile", func() bool { return calls.get(req("a")) == 1 })
	time.Sleep(300 * time.Millisecond) // 60 times the first backoff
	if n := calls.get(req("a")); n != 1 || l.when.get(req("a")) != 0 {
		t.Fatalf("%d reconciles, %d backoffs after a terminal error; want 1 and 0", n, l.when.get(req("a")))
	}
	if got := e.metric(t, "controller_runtime_terminal_reconcile_errors_total"); got != 1 {
		t.Errorf("terminal_reconcile_errors_total = %v, want 1", got)
	}
	if got := e.metric(t, "controller_runtime_reconcile_errors_total"); got != 1 {
		t.Errorf("reconcile_errors_total = %v, want 1", got)
	}

	job, err := e.jobClient.Get(context.Background(), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job.Labels = map[string]string{"fixed": "yes"}
	if _, err := e.jobClient.Update(context.Background(), job, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a reconcile after the next event", func() bool { return calls.get(req("a")) == 2 })
}

// A panic is recovered, counted as a panic and an error, and the Request is
// retried with backoff.
func TestPanicIsRecoveredAndRetried(t *testing.T) {
	var calls counter
	e, l, _ := runReconciler(t, controller.Options{}, func(_ context.Context, r controller.Request) (controller.Result, error) {
		if calls.inc(r) == 1 {
			var m map[string]int
			m["boom"]++ // a nil-map write: a runtime panic
		}
		return controller.Result{}, nil
	})
	e.createJob(t, "a", 1, nil)
	eventually(t, "success after the panic", func() bool { return l.forget.get(req("a")) == 1 })
	if n := calls.get(req("a")); n != 2 || l.when.get(req("a")) != 1 {
		t.Fatalf("%d reconciles, %d backoffs; want 2 and 1", n, l.when.get(req("a")))
	}
	for name, want := range map[string]float64{
		"controller_runtime_reconcile_panics_total": 1,
		"controller_runtime_reconcile_errors_total": 1,
	} {
		if got := e.metric(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// Result.RequeueAfter brings the Request back after the delay, counted as
// requeue_after and not as a failure.
func TestRequeueAfter(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	e, l, _ := runReconciler(t, controller.Options{}, func(_ context.Context, _ controller.Request) (controller.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		if len(at) == 1 {
			return controller.Result{RequeueAfter: 100 * time.Millisecond}, nil
		}
		return controller.Result{}, nil
	})
	e.createJob(t, "a", 1, nil)
	eventually(t, "the second reconcile", func() bool { mu.Lock(); defer mu.Unlock(); return len(at) == 2 })
	mu.Lock()
	gap := at[1].Sub(at[0])
	mu.Unlock()
	if gap < 100*time.Millisecond {
		t.Errorf("requeued after %s, want at least 100ms", gap)
	}
	if l.when.get(req("a")) != 0 {
		t.Error("RequeueAfter went through the rate limiter")
	}
	if got := e.metric(t, "controller_runtime_reconcile_total", "result", "requeue_after"); got != 1 {
		t.Errorf("reconcile_total{requeue_after} = %v, want 1", got)
	}
}

// Fencing: with 4 workers and a storm of updates to 8 Jobs, no Job is ever
// reconciled by two workers at once, while different Jobs are.
func TestNeverTwoWorkersOnOneKey(t *testing.T) {
	const jobs, updates = 8, 50
	var (
		mu        sync.Mutex
		inFlight  = map[controller.Request]int{}
		running   int
		maxRun    int
		violation string
		seen      = map[controller.Request]string{}
	)
	var e *env
	e, _, _ = runReconciler(t, controller.Options{MaxConcurrentReconciles: 4}, func(_ context.Context, r controller.Request) (controller.Result, error) {
		mu.Lock()
		inFlight[r]++
		running++
		maxRun = max(maxRun, running)
		if inFlight[r] > 1 && violation == "" {
			violation = fmt.Sprintf("%s reconciled by %d workers at once", r, inFlight[r])
		}
		mu.Unlock()

		time.Sleep(3 * time.Millisecond)
		job, err := e.jobs.Lister().Namespace(r.Namespace).Get(r.Name)

		mu.Lock()
		if err == nil {
			seen[r] = job.Labels["n"]
		}
		inFlight[r]--
		running--
		mu.Unlock()
		return controller.Result{}, nil
	})
	for i := range jobs {
		e.createJob(t, fmt.Sprintf("j%d", i), 1, nil)
	}
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Go(func() {
			ctx := context.Background()
			for n := range updates {
				err := controller.RetryOnConflict(ctx, controller.DefaultRetry, func(ctx context.Context) error {
					job, err := e.jobClient.Get(ctx, fmt.Sprintf("j%d", i), metav1.GetOptions{})
					if err != nil {
						return err
					}
					job.Labels = map[string]string{"n": strconv.Itoa(n)}
					_, err = e.jobClient.Update(ctx, job, metav1.UpdateOptions{})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	last := strconv.Itoa(updates - 1)
	eventually(t, "every Job reconciled at its last state", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range jobs {
			if seen[req(fmt.Sprintf("j%d", i))] != last {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	if violation != "" {
		t.Fatal(violation)
	}
	if maxRun < 2 || maxRun > 4 {
		t.Fatalf("at most %d reconciles ran at once; want 2 to 4 (4 workers)", maxRun)
	}
	t.Logf("up to %d reconciles at once, never two on one Job", maxRun)
}

// Stopping the manager drains: a reconcile in progress runs to its end with
// a live context, Start returns only after it, and queued Requests are not
// started.
func TestStopDrainsReconcilesInProgress(t *testing.T) {
	var calls counter
	started, release := make(chan struct{}), make(chan struct{})
	var ctxErr error
	var finished bool
	e, _, run := runReconciler(t, controller.Options{}, func(ctx context.Context, r controller.Request) (controller.Result, error) {
		calls.inc(r)
		if r.Name == "slow" {
			close(started)
			<-release
			ctxErr, finished = ctx.Err(), true
		}
		return controller.Result{}, nil
	})
	e.createJob(t, "slow", 1, nil)
	<-started
	e.createJob(t, "queued", 1, nil)
	eventually(t, "the queued Job in the cache", func() bool {
		_, err := e.jobs.Lister().Namespace("default").Get("queued")
		return err == nil
	})
	time.Sleep(50 * time.Millisecond) // let the handler enqueue it behind "slow"

	stopped := make(chan error, 1)
	go func() { stopped <- run.stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("Start returned (%v) while a reconcile was in progress", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if !finished || ctxErr != nil {
		t.Fatalf("reconcile finished=%v with context error %v; want it finished with a live context", finished, ctxErr)
	}
	if n := calls.get(req("queued")); n != 0 {
		t.Fatalf("a Request queued behind the stop was reconciled %d times", n)
	}
}

// After GracefulShutdownTimeout a draining reconcile's context is
// cancelled, so a stuck Reconciler cannot hold the manager forever.
func TestGracefulShutdownTimeoutCancels(t *testing.T) {
	e := newEnv(t, controller.ManagerOptions{GracefulShutdownTimeout: 100 * time.Millisecond})
	started := make(chan struct{})
	var ctxErr error
	if err := controller.New(e.mgr, "c", kunosv1.Jobs, controller.Options{}).For(e.jobs).
		Complete(controller.ReconcilerFunc(func(ctx context.Context, _ controller.Request) (controller.Result, error) {
			close(started)
			<-ctx.Done()
			ctxErr = ctx.Err()
			return controller.Result{}, ctx.Err()
		})); err != nil {
		t.Fatal(err)
	}
	run := e.start(t)
	e.createJob(t, "stuck", 1, nil)
	<-started
	t0 := time.Now()
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 100*time.Millisecond {
		t.Errorf("Start returned %s after the stop, before the grace period", d)
	}
	if !errors.Is(ctxErr, context.Canceled) {
		t.Fatalf("reconcile context error %v, want context.Canceled", ctxErr)
	}
}
