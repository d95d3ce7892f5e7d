package controller_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/kunos-io/listwatch/apis/kube"
	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
)

// partition is a proxy in front of the server for one replica's elector:
// while cut, its requests hang until their client gives up, as behind a
// network partition.
type partition struct {
	srv *httptest.Server
	cut atomic.Bool
}

func newPartition(t *testing.T, target string) *partition {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &partition{}
	closing := make(chan struct{})
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.cut.Load() {
			// Read the body, so that the server notices when the client
			// gives up and closes the connection.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-closing:
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(closing); p.srv.Close() })
	return p
}

// replica is one manager with a LeaseElector on the shared Lease.
type replica struct {
	id      string
	mgr     *controller.Manager
	el      *controller.LeaseElector
	net     *partition
	reg     *prometheus.Registry
	cancel  context.CancelFunc
	done    chan error
	stopped atomic.Bool
}

// fence is the check every reconcile makes: no two replicas inside
// Reconcile at once, and the Lease names the one that is.
type fence struct {
	inside     atomic.Int32 // replicas inside Reconcile (one worker each)
	maxInside  atomic.Int32
	reconciles atomic.Int64
	mu         sync.Mutex
	violations []string
	starts     map[string][]time.Time // when each replica's reconciles began
	last       map[string]time.Time   // its last reconcile's end
}

func (f *fence) violate(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.violations = append(f.violations, fmt.Sprintf(format, args...))
}

// firstAfter returns when replica id first reconciled after t0.
func (f *fence) firstAfter(id string, t0 time.Time) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.starts[id] {
		if t.After(t0) {
			return t, true
		}
	}
	return time.Time{}, false
}

// electionCluster runs three replicas of one Job controller on one
// server, each with a LeaseElector on the same Lease, and a stream of Job
// updates for them to reconcile.
type electionCluster struct {
	t        *testing.T
	srv      *stubtest.Server
	opts     controller.LeaseElectorOptions
	replicas []*replica
	fence    *fence
	leases   *client.Resource[*coordinationv1.Lease]
}

func newElectionCluster(t *testing.T, opts controller.LeaseElectorOptions) *electionCluster {
	srv := stubtest.Start(t)
	c, err := client.New(&client.Config{Host: srv.URL, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	ec := &electionCluster{
		t: t, srv: srv, opts: opts,
		fence:  &fence{starts: map[string][]time.Time{}, last: map[string]time.Time{}},
		leases: client.For(c, kube.Leases).Namespace(opts.Namespace),
	}
	jobs := client.For(c, kunosv1.Jobs).Namespace("default")
	for i := range 4 {
		n := int32(1)
		if _, err := jobs.Create(context.Background(), &kunosv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("j%d", i), Namespace: "default"},
			Spec:       kunosv1.JobSpec{Completions: &n, Template: kunosv1.TaskTemplateSpec{Spec: kunosv1.TaskSpec{Command: []string{"true"}}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A stream of updates: every few milliseconds a Job changes.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			patch := fmt.Sprintf(`{"metadata":{"labels":{"tick":"%d"}}}`, i)
			_, _ = jobs.Patch(ctx, fmt.Sprintf("j%d", i%4), types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			time.Sleep(3 * time.Millisecond)
		}
	})
	for i := range 3 {
		ec.replicas = append(ec.replicas, ec.newReplica(fmt.Sprintf("replica-%d", i)))
	}
	return ec
}

func (ec *electionCluster) newReplica(id string) *replica {
	t := ec.t
	r := &replica{id: id, net: newPartition(t, ec.srv.URL), reg: prometheus.NewRegistry()}
	opts := ec.opts
	opts.Identity = id
	el, err := controller.NewLeaseElector(&client.Config{Host: r.net.srv.URL, QPS: -1}, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.el = el
	mgr, err := controller.NewManager(&client.Config{Host: ec.srv.URL, QPS: -1},
		controller.ManagerOptions{LeaderElection: el, Registerer: r.reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r.mgr = mgr
	jobs := mustInformer(t, mgr.Factory(), kunosv1.Jobs)
	f := ec.fence
	// One worker per replica: inside counts the replicas inside Reconcile.
	if err := controller.New(mgr, "fenced", kunosv1.Jobs, controller.Options{MaxConcurrentReconciles: 1}).For(jobs).
		Complete(controller.ReconcilerFunc(func(ctx context.Context, req controller.Request) (controller.Result, error) {
			n := f.inside.Add(1)
			defer f.inside.Add(-1)
			for m := f.maxInside.Load(); n > m && !f.maxInside.CompareAndSwap(m, n); m = f.maxInside.Load() {
			}
			start := time.Now()
			if n > 1 {
				f.violate("%s: %d replicas inside Reconcile at %s", id, n, start.Format("15:04:05.000"))
			}
			f.mu.Lock()
			f.starts[id] = append(f.starts[id], start)
			f.mu.Unlock()
			l, err := ec.leases.Get(ctx, ec.opts.Name, metav1.GetOptions{})
			if err == nil && (l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != id) {
				f.violate("%s reconciled %s while the Lease named %q", id, req, ptr.Deref(l.Spec.HolderIdentity, ""))
			}
			time.Sleep(time.Millisecond)
			f.reconciles.Add(1)
			f.mu.Lock()
			f.last[id] = time.Now()
			f.mu.Unlock()
			return controller.Result{}, nil
		})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- mgr.Start(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the replica's manager and waits for Start to return.
func (r *replica) stop(t *testing.T) {
	if r.stopped.Swap(true) {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("%s: Start: %v", r.id, err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("%s: Start did not return", r.id)
	}
}

// leader waits until exactly one live replica leads and returns it.
func (ec *electionCluster) leader() *replica {
	ec.t.Helper()
	var found *replica
	eventually(ec.t, "one leader", func() bool {
		found = nil
		n := 0
		for _, r := range ec.replicas {
			if !r.stopped.Load() && r.el.IsLeader() {
				found = r
				n++
			}
		}
		return n == 1
	})
	return found
}

// handover waits for a replica other than old to reconcile and returns
// how long after t0 it first did.
func (ec *electionCluster) handover(old *replica, t0 time.Time) (*replica, time.Duration) {
	ec.t.Helper()
	var next *replica
	var at time.Time
	eventually(ec.t, "a new leader reconciling", func() bool {
		for _, r := range ec.replicas {
			if r == old || r.stopped.Load() {
				continue
			}
			if ft, ok := ec.fence.firstAfter(r.id, t0); ok {
				next, at = r, ft
				return true
			}
		}
		return false
	})
	return next, at.Sub(t0)
}

func (ec *electionCluster) check() {
	ec.t.Helper()
	f := ec.fence
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.violations {
		ec.t.Error("fencing broken: " + v)
	}
	if m := f.maxInside.Load(); m > 1 {
		ec.t.Errorf("%d replicas were inside Reconcile at once", m)
	}
}

// steady lets the leader reconcile the stream for d and checks that only
// it did.
func (ec *electionCluster) steady(lead *replica, d time.Duration) {
	ec.t.Helper()
	before := ec.fence.reconciles.Load()
	time.Sleep(d)
	if n := ec.fence.reconciles.Load() - before; n < 10 {
		ec.t.Fatalf("only %d reconciles in %s under the update stream", n, d)
	}
	ec.fence.mu.Lock()
	defer ec.fence.mu.Unlock()
	for id, last := range ec.fence.last {
		if id != lead.id && time.Since(last) < d/2 {
			ec.t.Errorf("%s reconciled %s ago while %s leads", id, time.Since(last), lead.id)
		}
	}
}

func masterStatus(t *testing.T, r *replica, name string) float64 {
	t.Helper()
	v, _ := metricValue(t, r.reg, "leader_election_master_status", map[string]string{"name": name})
	return v
}

// Three replicas on one Lease, with release on cancel (the default): at
// most one reconciles at any moment, the Lease always names it, and
// cancelling the leader hands over within LeaseDuration+RenewDeadline
// (in practice within a RetryPeriod or two, as the Lease is released).
func TestLeaseElectorHandoverOnCancel(t *testing.T) {
	opts := controller.LeaseElectorOptions{Name: "fenced", Namespace: "kube-system",
		LeaseDuration: time.Second, RenewDeadline: 700 * time.Millisecond, RetryPeriod: 200 * time.Millisecond}
	bound := opts.LeaseDuration + opts.RenewDeadline
	ec := newElectionCluster(t, opts)

	a := ec.leader()
	ec.steady(a, 500*time.Millisecond)
	if v := masterStatus(t, a, "fenced"); v != 1 {
		t.Errorf("leader_election_master_status of the leader = %v", v)
	}
	for _, r := range ec.replicas {
		if r != a {
			if v := masterStatus(t, r, "fenced"); v != 0 {
				t.Errorf("leader_election_master_status of %s (standby) = %v", r.id, v)
			}
		}
	}

	t0 := time.Now()
	a.stop(t)
	b, d := ec.handover(a, t0)
	t.Logf("handover %s -> %s after cancel: %s (bound %s)", a.id, b.id, d, bound)
	if d >= bound {
		t.Errorf("handover took %s, not below LeaseDuration+RenewDeadline = %s", d, bound)
	}
	l, err := ec.leases.Get(context.Background(), "fenced", metav1.GetOptions{})
	if err != nil || ptr.Deref(l.Spec.HolderIdentity, "") != b.id || ptr.Deref(l.Spec.LeaseTransitions, 0) < 1 {
		t.Errorf("Lease after handover: %v %+v", err, l)
	}
	ec.steady(b, 500*time.Millisecond)

	t0 = time.Now()
	b.stop(t)
	c, d := ec.handover(b, t0)
	t.Logf("handover %s -> %s after cancel: %s (bound %s)", b.id, c.id, d, bound)
	if d >= bound {
		t.Errorf("handover took %s, not below LeaseDuration+RenewDeadline = %s", d, bound)
	}
	ec.steady(c, 500*time.Millisecond)

	// The last one releases too: the Lease is left without a holder.
	c.stop(t)
	l, err = ec.leases.Get(context.Background(), "fenced", metav1.GetOptions{})
	if err != nil || ptr.Deref(l.Spec.HolderIdentity, "x") != "" || ptr.Deref(l.Spec.LeaseDurationSeconds, 0) != 1 {
		t.Errorf("Lease after the last replica stopped: %v %+v", err, l.Spec)
	}
	ec.check()
	t.Logf("%d reconciles, at most %d at once", ec.fence.reconciles.Load(), ec.fence.maxInside.Load())
}

// Without release (a replica that dies, or one cut off from the server):
// a leader cut off steps down by itself within RenewDeadline, before any
// other may take over, which happens within LeaseDuration+RenewDeadline;
// a leader that stops without releasing is replaced within
// LeaseDuration+RenewDeadline as well. Fencing holds throughout.
func TestLeaseElectorPartitionAndCrash(t *testing.T) {
	opts := controller.LeaseElectorOptions{Name: "fenced", Namespace: "kube-system",
		LeaseDuration: time.Second, RenewDeadline: 700 * time.Millisecond, RetryPeriod: 100 * time.Millisecond,
		ReleaseOnCancel: ptr.To(false)}
	bound := opts.LeaseDuration + opts.RenewDeadline
	ec := newElectionCluster(t, opts)

	a := ec.leader()
	ec.steady(a, 500*time.Millisecond)

	// Cut the leader's elector off the server (its caches stay up, so it
	// could go on reconciling: only its elector stops it).
	t0 := time.Now()
	a.net.cut.Store(true)
	eventually(t, "the cut-off leader stepping down", func() bool { return !a.el.IsLeader() })
	stepDown := time.Since(t0)
	b, d := ec.handover(a, t0)
	t.Logf("partition: %s stepped down after %s; %s reconciled after %s (bound %s)", a.id, stepDown, b.id, d, bound)
	if stepDown >= opts.RenewDeadline+opts.RetryPeriod {
		t.Errorf("the cut-off leader stepped down after %s, later than RenewDeadline", stepDown)
	}
	if d >= bound {
		t.Errorf("takeover took %s, not below LeaseDuration+RenewDeadline = %s", d, bound)
	}
	if d <= stepDown {
		t.Errorf("%s took over (%s) before %s stepped down (%s)", b.id, d, a.id, stepDown)
	}
	a.net.cut.Store(false) // a campaigns again, as a standby
	ec.steady(b, 500*time.Millisecond)

	t0 = time.Now()
	b.stop(t)
	c, d := ec.handover(b, t0)
	t.Logf("crash: %s -> %s after %s (bound %s)", b.id, c.id, d, bound)
	if d >= bound {
		t.Errorf("handover took %s, not below LeaseDuration+RenewDeadline = %s", d, bound)
	}
	ec.steady(c, 300*time.Millisecond)
	ec.check()
	t.Logf("%d reconciles, at most %d at once", ec.fence.reconciles.Load(), ec.fence.maxInside.Load())
}

func TestLeaseElectorOptions(t *testing.T) {
	cfg := &client.Config{Host: "http://127.0.0.1:1"}
	for _, o := range []controller.LeaseElectorOptions{
		{},
		{Name: "x", LeaseDuration: time.Second, RenewDeadline: time.Second},
		{Name: "x", LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: time.Second},
	} {
		if _, err := controller.NewLeaseElector(cfg, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	el, err := controller.NewLeaseElector(cfg, controller.LeaseElectorOptions{Name: "x"})
	if err != nil || !strings.Contains(el.Identity(), "_") || el.IsLeader() || el.Leader() != "" {
		t.Fatalf("defaults: %v %q", err, el.Identity())
	}
}
