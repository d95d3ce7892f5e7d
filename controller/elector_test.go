package controller_test

import (
	"context"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/controller"
)

// fakeElector leads when the test says so, keeping the Elector contract:
// terms never overlap and Run waits for onStarted before it moves on.
type fakeElector struct {
	elect, depose chan struct{}
}

func (f *fakeElector) Run(ctx context.Context, onStarted func(context.Context), onStopped func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.elect:
		}
		term, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); onStarted(term) }()
		select {
		case <-f.depose:
		case <-ctx.Done():
		}
		cancel()
		<-done
		onStopped()
	}
}

// With an Elector, caches run (and the manager is ready) before this
// replica leads, but nothing is reconciled; a term reconciles everything in
// the cache; losing the lead cancels reconciles in progress at once (no
// grace: another replica may take over); a new term starts again from the
// cache.
func TestControllersRunOnlyWhileLeading(t *testing.T) {
	el := &fakeElector{elect: make(chan struct{}), depose: make(chan struct{})}
	e := newEnv(t, controller.ManagerOptions{LeaderElection: el})
	var calls counter
	var mu sync.Mutex
	var slowErr error
	slowStarted := make(chan struct{})
	if err := controller.New(e.mgr, "c", kunosv1.Jobs, controller.Options{MaxConcurrentReconciles: 2}).For(e.jobs).
		Complete(controller.ReconcilerFunc(func(ctx context.Context, r controller.Request) (controller.Result, error) {
			if calls.inc(r) == 1 && r.Name == "slow" {
				close(slowStarted)
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Second):
				}
				mu.Lock()
				slowErr = ctx.Err()
				mu.Unlock()
			}
			return controller.Result{}, nil
		})); err != nil {
		t.Fatal(err)
	}
	e.createJob(t, "a", 1, nil)
	e.start(t)

	eventually(t, "ready while standing by", e.mgr.Ready)
	time.Sleep(100 * time.Millisecond)
	if n := calls.get(req("a")); n != 0 {
		t.Fatalf("reconciled %d times before leading", n)
	}
	select {
	case <-e.mgr.Elected():
		t.Fatal("Elected closed before leading")
	default:
	}

	el.elect <- struct{}{}
	<-e.mgr.Elected()
	eventually(t, "Job a reconciled once leading", func() bool { return calls.get(req("a")) == 1 })

	e.createJob(t, "slow", 1, nil)
	<-slowStarted
	t0 := time.Now()
	el.depose <- struct{}{}
	eventually(t, "the reconcile in progress cancelled", func() bool { mu.Lock(); defer mu.Unlock(); return slowErr != nil })
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("cancelled after %s, not at once", d)
	}

	job, err := e.jobClient.Get(context.Background(), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job.Labels = map[string]string{"changed": "while-deposed"}
	if _, err := e.jobClient.Update(context.Background(), job, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the change in the cache", func() bool {
		j, err := e.jobs.Lister().Namespace("default").Get("a")
		return err == nil && j.Labels["changed"] != ""
	})
	time.Sleep(100 * time.Millisecond)
	if n := calls.get(req("a")); n != 1 {
		t.Fatalf("reconciled %d times; want no reconcile while not leading", n)
	}

	el.elect <- struct{}{}
	eventually(t, "Job a reconciled in the new term", func() bool { return calls.get(req("a")) == 2 })
	eventually(t, "Job slow reconciled again in the new term", func() bool { return calls.get(req("slow")) == 2 })
}
