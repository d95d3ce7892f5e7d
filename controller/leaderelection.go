package controller

// This file holds LeaseElector, an Elector over a coordination.k8s.io/v1
// Lease with client-go's leaderelection semantics. Invariants: a term
// (onStarted) begins only after this replica wrote itself as the Lease's
// holder; every write is conditional on the resourceVersion last read, so
// two replicas never both succeed from the same state; a replica that has
// not renewed within RenewDeadline of its last successful renewal
// (measured from when that renewal was sent) ends its term, which is
// before LeaseDuration has passed for any other replica, because others
// count LeaseDuration from when they observed that renewal; the lease is
// released (holder cleared) only after onStarted returned.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kunos-io/listwatch/apis/kube"
	"github.com/kunos-io/listwatch/client"
)

// client-go's defaults (and controller-runtime's) for leader election.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// jitterFactor is client-go's: acquisition is retried every RetryPeriod
// plus up to 1.2 RetryPeriod, and RenewDeadline must exceed 1.2
// RetryPeriod.
const jitterFactor = 1.2

// LeaseElectorOptions configure a LeaseElector. Name is required.
type LeaseElectorOptions struct {
	// Name and Namespace of the Lease (Namespace default "default"). The
	// replicas of one controller use the same Lease. Name also labels
	// the leader_election_* metrics.
	Name      string
	Namespace string
	// Identity is this replica's holderIdentity; it must differ between
	// replicas. Default: the hostname, "_" and a random UUID, as
	// controller-runtime does.
	Identity string
	// LeaseDuration is how long other replicas wait, from when they last
	// saw the Lease change, before they take it over (default 15s). The
	// Lease records it in whole seconds, rounded up.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps trying to renew, from its
	// last successful renewal, before it stops leading (default 10s). It
	// must be shorter than LeaseDuration: the difference is the time
	// reconciles in progress have to stop after leadership is lost.
	RenewDeadline time.Duration
	// RetryPeriod is the pause between tries, to acquire and to renew
	// (default 2s).
	RetryPeriod time.Duration
	// ReleaseOnCancel: when Run's context ends and the last term is over,
	// clear the holder (and set a 1s duration) so another replica takes
	// over at once instead of after LeaseDuration. nil means true (the
	// default, as controller-runtime's); a pointer to false keeps the
	// Lease until it expires, as a crashed replica would.
	ReleaseOnCancel *bool
	// Registerer receives leader_election_master_status{name} and
	// leader_election_slowpath_total{name}. Default: the registry of the
	// Manager whose LeaderElection this elector is.
	Registerer prometheus.Registerer
	// Logger receives acquisitions, losses and failed tries. Default:
	// the Manager's logger, or slog.Default() outside a Manager.
	Logger *slog.Logger
}

// LeaseElector is an Elector over a coordination.k8s.io/v1 Lease, with
// client-go's semantics (tools/leaderelection): a replica takes the Lease
// when it has no holder, or when the holder has not renewed it for
// LeaseDuration as observed locally; the leader renews it every
// RetryPeriod and stops leading if it could not renew within
// RenewDeadline; every write is conditional on the Lease's
// resourceVersion; on cancel the leader releases it. It uses only the
// k8s.io/api Lease type and the Kubernetes REST API, so it works against
// a real kube-apiserver as against apiserver-stub.
//
// One difference makes it stricter than client-go: the renew deadline
// counts from the start of the last successful renewal (client-go counts
// it from the start of a round of tries, which begins up to RetryPeriod
// later), and a replica that finds another holder in a valid Lease stops
// leading at once; so a leader always stops at least
// LeaseDuration-RenewDeadline before another replica may take over.
type LeaseElector struct {
	opts    LeaseElectorOptions
	leases  *client.Resource[*coordinationv1.Lease]
	release bool
	seconds int32 // LeaseDuration in the Lease, rounded up

	metricsMu sync.Mutex
	metrics   *electionMetrics

	mu sync.Mutex // guards the fields below
	// lease is the last Lease read or written; observed is when its
	// holder/renewal last changed as this replica saw it (local clock).
	lease    *coordinationv1.Lease
	observed time.Time
	// renewStart is when the last successful acquisition or renewal of
	// this replica began.
	renewStart time.Time
	leading    bool
	log        *slog.Logger
}

// managedElector is what a Manager gives an Elector that wants it: its
// registry and its logger, for options left unset.
type managedElector interface {
	registerMetrics(prometheus.Registerer) error
	setLogger(*slog.Logger)
}

var _ managedElector = (*LeaseElector)(nil)

var _ Elector = (*LeaseElector)(nil)

// NewLeaseElector returns an elector for the Lease opts names, with a
// client of its own to the server cfg describes (cfg is copied), so that
// the rate limit the controllers share never delays a renewal, as
// client-go advises. It fails on invalid options or config; it does not
// contact the server.
func NewLeaseElector(cfg *client.Config, opts LeaseElectorOptions) (*LeaseElector, error) {
	if cfg == nil {
		return nil, errors.New("controller: NewLeaseElector: nil client config")
	}
	if opts.Name == "" {
		return nil, errors.New("controller: NewLeaseElector: Name is required")
	}
	if opts.Namespace == "" {
		opts.Namespace = metav1.NamespaceDefault
	}
	if opts.Identity == "" {
		host, _ := os.Hostname()
		opts.Identity = host + "_" + string(uuid.NewUUID())
	}
	if opts.LeaseDuration == 0 {
		opts.LeaseDuration = DefaultLeaseDuration
	}
	if opts.RenewDeadline == 0 {
		opts.RenewDeadline = DefaultRenewDeadline
	}
	if opts.RetryPeriod == 0 {
		opts.RetryPeriod = DefaultRetryPeriod
	}
	switch {
	case opts.LeaseDuration <= opts.RenewDeadline:
		return nil, errors.New("controller: NewLeaseElector: LeaseDuration must be greater than RenewDeadline")
	case opts.RetryPeriod <= 0:
		return nil, errors.New("controller: NewLeaseElector: RetryPeriod must be positive")
	case opts.RenewDeadline <= time.Duration(jitterFactor*float64(opts.RetryPeriod)):
		return nil, errors.New("controller: NewLeaseElector: RenewDeadline must be greater than RetryPeriod*1.2")
	}
	c, err := client.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("controller: NewLeaseElector: %w", err)
	}
	e := &LeaseElector{
		opts:    opts,
		leases:  client.For(c, kube.Leases).Namespace(opts.Namespace),
		release: opts.ReleaseOnCancel == nil || *opts.ReleaseOnCancel,
		seconds: int32(math.Ceil(opts.LeaseDuration.Seconds())),
		log:     opts.Logger,
	}
	if opts.Registerer != nil {
		if err := e.registerMetrics(opts.Registerer); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Identity returns this replica's holderIdentity.
func (e *LeaseElector) Identity() string { return e.opts.Identity }

// IsLeader reports whether this replica is inside a term.
func (e *LeaseElector) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// Leader returns the holder of the Lease as last observed ("" if none or
// not yet read).
func (e *LeaseElector) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return holderOf(e.lease)
}

// registerMetrics registers the elector's metrics with reg once (the
// Manager calls it with its registry when opts.Registerer is nil).
func (e *LeaseElector) registerMetrics(reg prometheus.Registerer) error {
	e.metricsMu.Lock()
	defer e.metricsMu.Unlock()
	if e.metrics != nil {
		return nil
	}
	m, err := newElectionMetrics(reg)
	if err != nil {
		return err
	}
	m.status.WithLabelValues(e.opts.Name).Set(0)
	m.slowpath.WithLabelValues(e.opts.Name).Add(0)
	e.metrics = m
	return nil
}

// setLogger sets the logger the Manager passes when opts.Logger is nil.
func (e *LeaseElector) setLogger(l *slog.Logger) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.log == nil {
		e.log = l
	}
}

func (e *LeaseElector) logger() *slog.Logger {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.log == nil {
		e.log = slog.Default()
	}
	return e.log.With("lease", e.opts.Namespace+"/"+e.opts.Name, "identity", e.opts.Identity)
}

func (e *LeaseElector) setStatus(leading bool) {
	e.mu.Lock()
	e.leading = leading
	e.mu.Unlock()
	e.metricsMu.Lock()
	m := e.metrics
	e.metricsMu.Unlock()
	if m != nil {
		v := 0.0
		if leading {
			v = 1
		}
		m.status.WithLabelValues(e.opts.Name).Set(v)
	}
}

func (e *LeaseElector) slowpath() {
	e.metricsMu.Lock()
	m := e.metrics
	e.metricsMu.Unlock()
	if m != nil {
		m.slowpath.WithLabelValues(e.opts.Name).Inc()
	}
}

// Run campaigns for the Lease until ctx is done, calling onStarted for
// each term and onStopped after it (see Elector).
func (e *LeaseElector) Run(ctx context.Context, onStarted func(ctx context.Context), onStopped func()) {
	log := e.logger()
	for ctx.Err() == nil {
		log.Info("attempting to acquire the leader lease")
		if !e.acquire(ctx, log) {
			return
		}
		log.Info("acquired the leader lease")
		e.setStatus(true)
		lost := e.lead(ctx, onStarted)
		e.setStatus(false)
		if lost {
			log.Warn("lost the leader lease: stopped leading")
		} else if e.release {
			e.releaseLease(log)
		}
		onStopped()
	}
}

// acquire tries every RetryPeriod (jittered) until this replica holds the
// Lease (true) or ctx is done (false).
func (e *LeaseElector) acquire(ctx context.Context, log *slog.Logger) bool {
	for {
		start := time.Now()
		tctx, cancel := context.WithTimeout(ctx, e.opts.RenewDeadline)
		ok, _, err := e.tryAcquireOrRenew(tctx, start)
		cancel()
		if ok {
			return true
		}
		if err != nil && ctx.Err() == nil {
			log.Debug("could not acquire the leader lease", "err", err)
		}
		t := time.NewTimer(wait.Jitter(e.opts.RetryPeriod, jitterFactor))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// lead runs one term: onStarted with a context cancelled when the lease
// is lost or ctx is done, renewing meanwhile (also after ctx is done,
// until onStarted returned). It returns whether the lease was lost.
func (e *LeaseElector) lead(ctx context.Context, onStarted func(context.Context)) bool {
	termCtx, cancelTerm := context.WithCancel(ctx)
	defer cancelTerm()
	renewCtx, stopRenew := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRenew()
	renewDone := make(chan bool, 1)
	go func() { renewDone <- e.renewLoop(renewCtx) }()
	termDone := make(chan struct{})
	go func() { defer close(termDone); onStarted(termCtx) }()

	select {
	case lost := <-renewDone:
		// Lost (renewLoop only returns on its own when it is): stop
		// the term at once and wait until it has returned.
		cancelTerm()
		<-termDone
		return lost
	case <-termDone:
	}
	// onStarted returned; it may have done so while this replica still
	// leads (a manager with nothing to run): lead until ctx is done.
	select {
	case lost := <-renewDone:
		return lost
	case <-ctx.Done():
		stopRenew()
		return <-renewDone
	}
}

// renewLoop renews the Lease every RetryPeriod until ctx is done (false)
// or the lease is lost (true): no renewal succeeded within RenewDeadline
// of the start of the last successful one, or another holder was found.
func (e *LeaseElector) renewLoop(ctx context.Context) bool {
	log := e.logger()
	last := e.lastRenew()
	for {
		t := time.NewTimer(e.opts.RetryPeriod)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		for {
			deadline := last.Add(e.opts.RenewDeadline)
			if !time.Now().Before(deadline) {
				log.Warn("could not renew the leader lease within the renew deadline", "renewDeadline", e.opts.RenewDeadline)
				return true
			}
			start := time.Now()
			tctx, cancel := context.WithDeadline(ctx, deadline)
			ok, other, err := e.tryAcquireOrRenew(tctx, start)
			cancel()
			if ok {
				last = start
				break
			}
			if ctx.Err() != nil {
				return false
			}
			if other != "" {
				log.Warn("another replica holds the leader lease", "holder", other)
				return true
			}
			log.Debug("could not renew the leader lease", "err", err)
			wait := min(e.opts.RetryPeriod, time.Until(deadline))
			t := time.NewTimer(max(wait, 0))
			select {
			case <-ctx.Done():
				t.Stop()
				return false
			case <-t.C:
			}
		}
	}
}

// lastRenew returns when the current holding began to be written: the
// acquisition's start, recorded by tryAcquireOrRenew.
func (e *LeaseElector) lastRenew() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.renewStart
}

// tryAcquireOrRenew is client-go's: with a valid lease this replica
// holds, renew it from the copy it has (the fast path); otherwise read it,
// create it if missing, give up if another holder's lease is still valid
// as observed locally (returning that holder), else write this replica as
// the holder. start is when the try began; a success records it as the
// start of the last renewal.
func (e *LeaseElector) tryAcquireOrRenew(ctx context.Context, start time.Time) (ok bool, otherHolder string, err error) {
	now := metav1.NewMicroTime(time.Now())
	e.mu.Lock()
	cached := e.lease
	fast := cached != nil && holderOf(cached) == e.opts.Identity && e.validLocked(time.Now())
	e.mu.Unlock()

	if fast {
		l := cached.DeepCopy()
		e.fill(l, now, false)
		updated, err := e.leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			e.observe(updated, start, true)
			return true, "", nil
		}
		if ctx.Err() != nil {
			return false, "", err
		}
		// Fall back to the slow path: read, then decide.
	}

	cur, err := e.leases.Get(ctx, e.opts.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: e.opts.Name, Namespace: e.opts.Namespace}}
		e.fill(l, now, true)
		created, err := e.leases.Create(ctx, l, metav1.CreateOptions{})
		if err != nil {
			return false, "", err
		}
		e.observe(created, start, true)
		return true, "", nil
	}
	if err != nil {
		return false, "", err
	}
	e.observe(cur, start, false)
	holder := holderOf(cur)
	e.mu.Lock()
	valid := e.validLocked(time.Now())
	e.mu.Unlock()
	if holder != "" && holder != e.opts.Identity && valid {
		return false, holder, nil
	}
	l := cur.DeepCopy()
	if holder == e.opts.Identity {
		e.slowpath()
		e.fill(l, now, false)
	} else {
		e.fill(l, now, true)
	}
	updated, err := e.leases.Update(ctx, l, metav1.UpdateOptions{})
	if err != nil {
		return false, "", err
	}
	e.observe(updated, start, true)
	return true, "", nil
}

// fill sets the Lease spec for this replica holding it at now; acquired
// starts a new holding (acquireTime now, one more transition if another
// replica held it).
func (e *LeaseElector) fill(l *coordinationv1.Lease, now metav1.MicroTime, acquired bool) {
	id := e.opts.Identity
	secs := e.seconds
	spec := &l.Spec
	if acquired {
		if spec.HolderIdentity != nil && *spec.HolderIdentity != id && spec.LeaseTransitions != nil {
			n := *spec.LeaseTransitions + 1
			spec.LeaseTransitions = &n
		} else if spec.LeaseTransitions == nil {
			n := int32(0)
			spec.LeaseTransitions = &n
		}
		spec.AcquireTime = &now
	}
	spec.HolderIdentity = &id
	spec.LeaseDurationSeconds = &secs
	spec.RenewTime = &now
}

// observe records l as the last Lease seen. written says this replica
// wrote it (a successful acquisition or renewal begun at start).
// observed moves only when the holder's record changed, as client-go
// compares the raw record: a Lease read again unchanged does not extend
// the time others' holdings seem valid.
func (e *LeaseElector) observe(l *coordinationv1.Lease, start time.Time, written bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if written {
		e.renewStart = start
	}
	if e.lease == nil || !sameRecord(e.lease, l) {
		e.observed = time.Now()
		if written {
			// Others observe this write no earlier than it began.
			e.observed = start
		}
	}
	e.lease = l
}

// validLocked reports whether the last observed Lease has not expired:
// its duration has not passed since it was observed to change.
func (e *LeaseElector) validLocked(now time.Time) bool {
	if e.lease == nil {
		return false
	}
	d := time.Duration(0)
	if s := e.lease.Spec.LeaseDurationSeconds; s != nil {
		d = time.Duration(*s) * time.Second
	}
	return e.observed.Add(d).After(now)
}

// releaseLease clears the holder and shortens the duration to 1s, if this
// replica still holds the Lease; a conflict rereads and retries, within
// RenewDeadline.
func (e *LeaseElector) releaseLease(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.RenewDeadline)
	defer cancel()
	for ctx.Err() == nil {
		cur, err := e.leases.Get(ctx, e.opts.Name, metav1.GetOptions{})
		if err != nil {
			log.Warn("could not release the leader lease", "err", err)
			return
		}
		if holderOf(cur) != e.opts.Identity {
			return
		}
		l := cur.DeepCopy()
		now := metav1.NewMicroTime(time.Now())
		empty, one := "", int32(1)
		l.Spec.HolderIdentity = &empty
		l.Spec.LeaseDurationSeconds = &one
		l.Spec.RenewTime = &now
		l.Spec.AcquireTime = &now
		updated, err := e.leases.Update(ctx, l, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			log.Warn("could not release the leader lease", "err", err)
			return
		}
		e.observe(updated, time.Now(), false)
		log.Info("released the leader lease")
		return
	}
}

func holderOf(l *coordinationv1.Lease) string {
	if l == nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// sameRecord compares what client-go's LeaderElectionRecord holds.
func sameRecord(a, b *coordinationv1.Lease) bool {
	return holderOf(a) == holderOf(b) &&
		eqPtr(a.Spec.LeaseDurationSeconds, b.Spec.LeaseDurationSeconds) &&
		eqPtr(a.Spec.LeaseTransitions, b.Spec.LeaseTransitions) &&
		eqTime(a.Spec.AcquireTime, b.Spec.AcquireTime) && eqTime(a.Spec.RenewTime, b.Spec.RenewTime)
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func eqTime(a, b *metav1.MicroTime) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}

// electionMetrics are client-go's leader-election metrics
// (component-base's leader_election_master_status and
// leader_election_slowpath_total), labelled by lease name.
type electionMetrics struct {
	status   *prometheus.GaugeVec
	slowpath *prometheus.CounterVec
}

func newElectionMetrics(reg prometheus.Registerer) (*electionMetrics, error) {
	m := &electionMetrics{
		status: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leader_election_master_status",
			Help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
		}, []string{"name"}),
		slowpath: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leader_election_slowpath_total",
			Help: "Total number of slow path exercised in renewing leader leases. 'name' is the string used to identify the lease. Please make sure to group by name.",
		}, []string{"name"}),
	}
	var err error
	m.status = register(reg, m.status, &err)
	m.slowpath = register(reg, m.slowpath, &err)
	if err != nil {
		return nil, fmt.Errorf("controller: register leader election metrics: %w", err)
	}
	return m, nil
}
