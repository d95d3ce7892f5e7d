package controller_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/controller"
)

func TestExpectationsAreSetNotAdded(t *testing.T) {
	exp := controller.NewExpectations(controller.ExpectationsOptions{})
	a := req("a")
	if !exp.Satisfied(a) {
		t.Fatal("nothing expected, yet not satisfied")
	}
	exp.ExpectCreations(a, 2)
	exp.ExpectCreations(a, 2) // a reconcile running again sets, not adds
	exp.CreationObserved(a)
	if exp.Satisfied(a) {
		t.Fatal("satisfied with one of two creations seen")
	}
	exp.CreationObserved(a)
	if !exp.Satisfied(a) {
		t.Fatal("not satisfied after both creations; expectations were added, not set")
	}
	exp.ExpectDeletions(a, []types.UID{"u1"}) // replaces the creations
	if c, d := exp.Pending(a); c != 0 || d != 1 {
		t.Fatalf("pending %d creations, %d deletions; want 0, 1", c, d)
	}
	exp.Delete(a)
	if !exp.Satisfied(a) {
		t.Fatal("not satisfied after Delete")
	}
}

// A creation that failed is counted down only when the server certainly
// did not commit it; otherwise the informer's observation counts it, once.
func TestCreationFailedCountsOnlyCertainFailures(t *testing.T) {
	gr := schema.GroupResource{Group: "kunos.io", Resource: "tasks"}
	for _, c := range []struct {
		name    string
		err     error
		counted bool
	}{
		{"invalid (422)", apierrors.NewInvalid(schema.GroupKind{Group: "kunos.io", Kind: "Task"}, "t", nil), true},
		{"already exists (409)", apierrors.NewAlreadyExists(gr, "t"), true},
		{"forbidden (403)", apierrors.NewForbidden(gr, "t", errors.New("no")), true},
		{"too many requests (429)", apierrors.NewTooManyRequests("slow down", 1), true},
		{"wrapped bad request (400)", errors.Join(errors.New("create"), apierrors.NewBadRequest("bad")), true},
		{"timeout (504)", apierrors.NewTimeoutError("slow", 1), false},
		{"server timeout (500)", apierrors.NewServerTimeout(gr, "create", 1), false},
		{"internal error (500)", apierrors.NewInternalError(errors.New("etcd")), false},
		{"request timeout (408)", apierrors.NewGenericServerResponse(408, "POST", gr, "t", "", 0, false), false},
		{"connection reset", errors.New("read: connection reset by peer"), false},
		{"nil", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			exp := controller.NewExpectations(controller.ExpectationsOptions{})
			a := req("a")
			exp.ExpectCreations(a, 1)
			exp.CreationFailed(a, c.err)
			if got := exp.Satisfied(a); got != c.counted {
				t.Fatalf("satisfied after CreationFailed = %v, want %v", got, c.counted)
			}
			if !c.counted {
				// The server did commit it: the informer shows it, once.
				exp.CreationObserved(a)
				exp.ExpectCreations(a, 1) // the next reconcile creates one more
				if exp.Satisfied(a) {
					t.Fatal("satisfied before the next creation was seen")
				}
			}
		})
	}
}

// Deletions are paired with their expectation by UID: a failed delete and
// the informer's delete of the same object count once; an unexpected UID
// counts nothing.
func TestDeletionsArePairedByUID(t *testing.T) {
	exp := controller.NewExpectations(controller.ExpectationsOptions{})
	a := req("a")
	exp.ExpectDeletions(a, []types.UID{"u1", "u2", "u2"})
	exp.DeletionObserved(a, "u1")
	exp.DeletionObserved(a, "u1") // e.g. a NotFound delete, then the informer
	exp.DeletionObserved(a, "other")
	if exp.Satisfied(a) {
		t.Fatal("satisfied with u2 still expected")
	}
	if _, d := exp.Pending(a); d != 1 {
		t.Fatalf("%d deletions pending, want 1", d)
	}
	exp.DeletionObserved(a, "u2")
	if !exp.Satisfied(a) {
		t.Fatal("not satisfied after u1 and u2")
	}
}

func TestExpectationsExpire(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Now())
	exp := controller.NewExpectations(controller.ExpectationsOptions{Clock: clk})
	a := req("a")
	exp.ExpectCreations(a, 1)
	clk.SetTime(clk.Now().Add(controller.DefaultExpectationsTimeout))
	if exp.Satisfied(a) {
		t.Fatal("expired at exactly the timeout")
	}
	clk.SetTime(clk.Now().Add(time.Second))
	if !exp.Satisfied(a) {
		t.Fatal("not expired after the timeout")
	}
	exp.ExpectCreations(a, 1) // setting restarts the timeout
	if exp.Satisfied(a) {
		t.Fatal("a new expectation started expired")
	}
}

// A reconciler that creates Tasks under generated names and runs again
// every 20 ms keeps exactly spec.completions while its cache lags (the
// server stalls every watch), because Expectations fed by ObserveOwned
// hold it back until the cache shows its creations; without them it
// creates a batch per run. Deletions are counted by UID.
func TestObserveOwnedKeepsCreationsExact(t *testing.T) {
	e := newEnv(t, controller.ManagerOptions{})
	exp := controller.NewExpectations(controller.ExpectationsOptions{})
	if _, err := controller.ObserveOwned(exp, e.tasks); err != nil {
		t.Fatal(err)
	}
	var created atomic.Int32
	if err := controller.New(e.mgr, "jobs", kunosv1.Jobs, controller.Options{MaxConcurrentReconciles: 4}).
		For(e.jobs).
		Owns(controller.Owned(e.tasks)).
		Complete(controller.ReconcilerFunc(func(ctx context.Context, r controller.Request) (controller.Result, error) {
			again := controller.Result{RequeueAfter: 20 * time.Millisecond}
			if !exp.Satisfied(r) {
				return again, nil
			}
			job, err := e.jobs.Lister().Namespace(r.Namespace).Get(r.Name)
			if err != nil {
				return controller.Result{}, nil
			}
			owned, err := controller.ListOwned(e.tasks, job)
			if err != nil {
				return controller.Result{}, err
			}
			need := int(job.Spec.CompletionsOrDefault()) - len(owned)
			if need <= 0 {
				return again, nil
			}
			exp.ExpectCreations(r, need)
			for range need {
				task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{GenerateName: job.Name + "-", Namespace: job.Namespace,
					OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, kunosv1.SchemeGroupVersion.WithKind("Job"))}}}
				if _, err := e.taskClient.Create(ctx, task, metav1.CreateOptions{}); err != nil {
					exp.CreationFailed(r, err)
					return controller.Result{}, err
				}
				created.Add(1)
			}
			return again, nil
		})); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	eventually(t, "synced caches (a stalled watch would keep one from syncing)", e.mgr.Ready)
	e.createJob(t, "a", 20, nil)
	eventually(t, "Job a in the cache", func() bool { _, err := e.jobs.Lister().Namespace("default").Get("a"); return err == nil })
	e.srv.StallWatches(true)
	eventually(t, "the first 20 creations", func() bool { return created.Load() >= 20 })
	time.Sleep(200 * time.Millisecond) // 10 runs on a stale cache
	e.srv.StallWatches(false)
	eventually(t, "20 Tasks in the cache", func() bool { return len(ownedNames(t, e, "a")) >= 20 })
	time.Sleep(100 * time.Millisecond)
	if n, c := len(ownedNames(t, e, "a")), created.Load(); n != 20 || c != 20 {
		t.Fatalf("%d Tasks owned, %d created; want exactly 20", n, c)
	}
	if !exp.Satisfied(req("a")) {
		t.Fatal("expectations not met once the cache shows every Task")
	}

	// Deletions, by UID: only the expected ones count, each once.
	var uids []types.UID
	for _, uid := range ownedNames(t, e, "a") {
		if len(uids) < 3 {
			uids = append(uids, uid)
		}
	}
	exp.ExpectDeletions(req("a"), uids)
	for name, uid := range ownedNames(t, e, "a") {
		for _, u := range uids {
			if u == uid {
				if err := e.taskClient.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	eventually(t, "the three deletions observed", func() bool { return exp.Satisfied(req("a")) })
}
