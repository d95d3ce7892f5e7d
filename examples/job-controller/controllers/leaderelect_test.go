package controllers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apis/kube"
	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/examples/job-controller/controllers"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// replicaFence sees every reconcile of every replica: it records a
// violation when two replicas are inside Reconcile at once, or when a
// replica reconciles while the Lease names another holder.
type replicaFence struct {
	mu         sync.Mutex
	inside     map[string]int // replica -> reconciles in progress
	reconciles map[string]int // replica -> reconciles begun
	violations []string
}

func (f *replicaFence) enter(id, name string, req controller.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for other, n := range f.inside {
		if other != id && n > 0 {
			f.violations = append(f.violations, fmt.Sprintf("%s/%s reconciled %s while %s had %d reconciles in progress", id, name, req, other, n))
		}
	}
	f.inside[id]++
	f.reconciles[id]++
}

func (f *replicaFence) exit(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inside[id]--
}

func (f *replicaFence) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reconciles[id]
}

// TestLeaseElectionHandsOverMidJob runs three replicas of the example, each
// with a LeaseElector on one Lease (what --leader-elect gives the binary),
// on one server. The first leader is killed mid-Job (it stops without
// releasing the Lease, as a crashed process would): a standby takes over
// within the lease duration. That leader is then stopped gracefully (it
// releases the Lease): the last replica takes over at once, and finishes
// the Job with exactly its completions. No two replicas ever reconcile at
// once, and none reconciles while the Lease names another (every reconcile
// of every controller, node agents included, is fenced).
func TestLeaseElectionHandsOverMidJob(t *testing.T) {
	srv, c := setup(t)
	log := watchTasks(t, c, "le")
	leases := client.For(c, kube.Leases).Namespace("default")
	f := &replicaFence{inside: map[string]int{}, reconciles: map[string]int{}}
	var wiring string // the replica being wired
	defer controllers.SetReconcilerWrapper(func(name string, r controller.Reconciler) controller.Reconciler {
		id := wiring
		return controller.ReconcilerFunc(func(ctx context.Context, req controller.Request) (controller.Result, error) {
			f.enter(id, name, req)
			defer f.exit(id)
			if l, err := leases.Get(ctx, "job-controller", metav1.GetOptions{}); err == nil && ptr.Deref(l.Spec.HolderIdentity, "") != id {
				f.mu.Lock()
				f.violations = append(f.violations, fmt.Sprintf("%s/%s reconciled %s while the Lease named %q", id, name, req, ptr.Deref(l.Spec.HolderIdentity, "")))
				f.mu.Unlock()
			}
			return r.Reconcile(ctx, req)
		})
	})()
	leOpts := controller.LeaseElectorOptions{Name: "job-controller", Namespace: "default",
		LeaseDuration: time.Second, RenewDeadline: 700 * time.Millisecond, RetryPeriod: 100 * time.Millisecond}
	type replica struct {
		id string
		cl *cluster
		el *controller.LeaseElector
	}
	start := func(id string, release bool) *replica {
		o := leOpts
		o.Identity = id
		o.ReleaseOnCancel = ptr.To(release)
		el, err := controller.NewLeaseElector(&client.Config{Host: srv.URL}, o)
		if err != nil {
			t.Fatal(err)
		}
		wiring = id
		return &replica{id, startCluster(t, srv.URL, 3, func(o *controller.ManagerOptions) { o.LeaderElection = el }), el}
	}
	A := start("a", false) // a crashes: it never releases the Lease
	eventually(t, "a leads", A.el.IsLeader)
	standbys := []*replica{start("b", true), start("c", true)}
	for _, r := range standbys {
		eventually(t, r.id+"'s caches synced", r.cl.mgr.Ready)
	}
	leader := func() *replica {
		for _, r := range standbys {
			if r.el.IsLeader() {
				return r
			}
		}
		return nil
	}

	jobs := client.For(c, kunosv1.Jobs).Namespace("le")
	if _, err := jobs.Create(context.Background(), newJob("le", "handover", 20, 3, 6, "sleep", "0.1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, jobs, "handover", func(j *kunosv1.Job) bool { return j.Status.Succeeded >= 5 }, "5 succeeded under a")
	if n := f.count("b") + f.count("c"); n != 0 {
		t.Fatalf("the standbys reconciled %d times while a led", n)
	}

	// Kill a: the Lease keeps naming it until it expires.
	killedAt := time.Now()
	A.cl.stop()
	aAtKill := f.count("a")
	eventually(t, "a standby leads", func() bool { return leader() != nil })
	crashHandover := time.Since(killedAt)
	// A standby takes the Lease once it has seen it unrenewed for
	// LeaseDuration, trying every RetryPeriod; a's last renewal was at
	// most a RetryPeriod before the kill, and its drain (up to
	// startCluster's 1s GracefulShutdownTimeout) does not renew.
	if bound := time.Second + leOpts.LeaseDuration + 2*leOpts.RetryPeriod; crashHandover > bound {
		t.Errorf("a standby took over %s after the leader was killed (bound %s)", crashHandover, bound)
	}
	B := leader()
	waitJob(t, jobs, "handover", func(j *kunosv1.Job) bool { return j.Status.Succeeded >= 10 }, "10 succeeded under "+B.id)

	// Stop B gracefully: it releases the Lease, and the last replica takes
	// over at once.
	var C *replica
	for _, r := range standbys {
		if r != B {
			C = r
		}
	}
	stoppedAt := time.Now()
	B.cl.stop()
	eventually(t, C.id+" leads", C.el.IsLeader)
	releaseHandover := time.Since(stoppedAt)
	if bound := time.Second + 3*leOpts.RetryPeriod; releaseHandover > bound {
		t.Errorf("%s took over %s after %s released the Lease (bound %s)", C.id, releaseHandover, B.id, bound)
	}
	bAtStop := f.count(B.id)

	j := waitJob(t, jobs, "handover", complete, "Complete under "+C.id)
	created, maxActive, _ := log.counts()
	// One over parallelism is possible in a failover window (see
	// TestOnlyTheLeaderRuns); more Tasks than completions never is.
	if j.Status.Succeeded != 20 || created != 20 || maxActive > 4 {
		t.Fatalf("succeeded=%d created=%d maxActive=%d, want 20, 20, <=4", j.Status.Succeeded, created, maxActive)
	}
	if n := f.count("a"); n != aAtKill {
		t.Fatalf("a reconciled %d times after it was killed", n-aAtKill)
	}
	if n := f.count(B.id); n != bAtStop {
		t.Fatalf("%s reconciled %d times after it stopped", B.id, n-bAtStop)
	}
	if f.count(B.id) == 0 || f.count(C.id) == 0 {
		t.Fatalf("reconciles: %s %d, %s %d; want both > 0", B.id, f.count(B.id), C.id, f.count(C.id))
	}
	l, err := leases.Get(context.Background(), "job-controller", metav1.GetOptions{})
	if err != nil || ptr.Deref(l.Spec.HolderIdentity, "") != C.id {
		t.Fatalf("Lease holder %q (%v), want %s", ptr.Deref(l.Spec.HolderIdentity, ""), err, C.id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.violations {
		t.Error("fencing broken: " + v)
	}
	t.Logf("reconciles: a %d, %s %d, %s %d; handover after a crash %s, after a release %s",
		f.reconciles["a"], B.id, f.reconciles[B.id], C.id, f.reconciles[C.id],
		crashHandover.Round(time.Millisecond), releaseHandover.Round(time.Millisecond))
}
