package controllers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/examples/job-controller/controllers"
	coordinationv1 "k8s.io/api/coordination/v1"
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

// TestLeaseElectionHandsOverMidJob runs two replicas of the example, each
// with a LeaseElector on one Lease (what --leader-elect gives the binary),
// on one server: the first leader is cancelled mid-Job, the standby takes
// over within the lease duration and finishes the Job with exactly its
// completions, and no two replicas ever reconcile at once (every reconcile
// of every controller, node agents included, is fenced).
func TestLeaseElectionHandsOverMidJob(t *testing.T) {
	srv, c := setup(t)
	log := watchTasks(t, c, "le")
	leases := client.For[*coordinationv1.Lease](c, controller.LeasesResource).Namespace("default")
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
		LeaseDuration: time.Second, RenewDeadline: 700 * time.Millisecond, RetryPeriod: 200 * time.Millisecond}
	replica := func(id string) (*cluster, *controller.LeaseElector) {
		o := leOpts
		o.Identity = id
		el, err := controller.NewLeaseElector(&client.Config{Host: srv.URL}, o)
		if err != nil {
			t.Fatal(err)
		}
		wiring = id
		return startCluster(t, srv.URL, 3, func(o *controller.ManagerOptions) { o.LeaderElection = el }), el
	}
	A, elA := replica("a")
	eventually(t, "a leads", elA.IsLeader)
	B, elB := replica("b")
	eventually(t, "b's caches synced", B.mgr.Ready)

	jobs := client.For[*kunosv1.Job](c, kunosv1.JobsResource).Namespace("le")
	if _, err := jobs.Create(context.Background(), newJob("le", "handover", 16, 3, 6, "sleep", "0.1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, jobs, "handover", func(j *kunosv1.Job) bool { return j.Status.Succeeded >= 5 }, "5 succeeded under a")
	if n := f.count("b"); n != 0 {
		t.Fatalf("the standby reconciled %d times while a led", n)
	}
	stoppedAt := time.Now()
	A.stop() // cancel the leader mid-Job: it drains, then releases the Lease
	eventually(t, "b leads", elB.IsLeader)
	// a drains for up to startCluster's GracefulShutdownTimeout (1s)
	// before it releases; b takes over within a RetryPeriod or two of that.
	handover := time.Since(stoppedAt)
	if handover > time.Second+leOpts.LeaseDuration {
		t.Errorf("b took over %s after a was cancelled", handover)
	}
	aAtHandover := f.count("a")

	j := waitJob(t, jobs, "handover", complete, "Complete under b")
	created, maxActive, _ := log.counts()
	// One over parallelism is possible in the failover window (see
	// TestOnlyTheLeaderRuns); more Tasks than completions never is.
	if j.Status.Succeeded != 16 || created != 16 || maxActive > 4 {
		t.Fatalf("succeeded=%d created=%d maxActive=%d, want 16, 16, <=4", j.Status.Succeeded, created, maxActive)
	}
	if n := f.count("a"); n != aAtHandover {
		t.Fatalf("a reconciled %d times after it stopped", n-aAtHandover)
	}
	if f.count("b") == 0 {
		t.Fatal("b never reconciled")
	}
	l, err := leases.Get(context.Background(), "job-controller", metav1.GetOptions{})
	if err != nil || ptr.Deref(l.Spec.HolderIdentity, "") != "b" {
		t.Fatalf("Lease holder %q (%v), want b", ptr.Deref(l.Spec.HolderIdentity, ""), err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.violations {
		t.Error("fencing broken: " + v)
	}
	t.Logf("a reconciled %d times, b %d; handover after %s", f.reconciles["a"], f.reconciles["b"], handover.Round(time.Millisecond))
}
