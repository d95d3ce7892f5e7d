package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/examples/job-controller/controllers"
	"github.com/kunos-io/listwatch/informer"
	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The writers' Tasks live in these namespaces and are bound to these
// nodes, which no node agent runs: the job controller's scheduler and
// agents leave them alone.
var (
	chaosNamespaces = []string{"ns-0", "ns-1", "ns-2"}
	chaosNodes      = []string{"node-a", "node-b", "node-c"}
)

// jobNamespace holds the Jobs, and the job controller's Tasks.
const jobNamespace = "jobs"

// logEntry is a state of a Task a writer wrote, as the server answered.
type logEntry struct {
	rv   int64
	uid  types.UID
	node string
}

// writerLog keeps, per key, the last states the writers wrote (a bounded
// number: the gap check looks a few seconds back only).
type writerLog struct {
	mu    sync.Mutex
	byKey map[string][]logEntry
}

const writerLogPerKey = 256

func (l *writerLog) add(key string, e logEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	es := append(l.byKey[key], e)
	if len(es) > writerLogPerKey {
		es = append(es[:0:0], es[len(es)-writerLogPerKey/2:]...)
	}
	l.byKey[key] = es
}

// between returns the states of key written strictly between lo and hi.
func (l *writerLog) between(key string, lo, hi int64) []logEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logEntry
	for _, e := range l.byKey[key] {
		if e.rv > lo && e.rv < hi {
			out = append(out, e)
		}
	}
	return out
}

func (l *writerLog) reset() {
	l.mu.Lock()
	clear(l.byKey)
	l.mu.Unlock()
}

// chaosLoad runs the writers and the Job writer. pause stops them between
// two writes, resume lets them go on.
type chaosLoad struct {
	st    *chaosStats
	cfg   chaosConfig
	log   *writerLog
	tasks *client.Resource[*kunosv1.Task]
	jobs  *client.Resource[*kunosv1.Job]
	gate  sync.RWMutex
	wg    sync.WaitGroup
	// paused is how long the writers were paused (pausedAt: since when),
	// written under gate.
	paused   time.Duration
	pausedAt time.Time
}

func newChaosLoad(st *chaosStats, cfg chaosConfig, direct []string) (*chaosLoad, error) {
	c, err := client.New(&client.Config{Host: direct[0], Hosts: direct, QPS: -1, Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	return &chaosLoad{
		st: st, cfg: cfg, log: &writerLog{byKey: map[string][]logEntry{}},
		tasks: client.For(c, kunosv1.Tasks),
		jobs:  client.For(c, kunosv1.Jobs).Namespace(jobNamespace),
	}, nil
}

func (l *chaosLoad) pause() {
	l.gate.Lock()
	l.pausedAt = time.Now()
}

func (l *chaosLoad) resume() {
	l.paused += time.Since(l.pausedAt)
	l.gate.Unlock()
}

// start starts the writers and the Job writer until ctx ends.
func (l *chaosLoad) start(ctx context.Context, rng *rand.Rand) {
	lim := rate.NewLimiter(rate.Limit(l.cfg.rate), l.cfg.writers)
	for i := range l.cfg.writers {
		wrng := rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for lim.Wait(ctx) == nil {
				l.gate.RLock()
				l.writeOnce(ctx, wrng)
				l.gate.RUnlock()
			}
		}()
	}
	jrng := rand.New(rand.NewPCG(rng.Uint64(), 99))
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.jobWriter(ctx, jrng)
	}()
}

func (l *chaosLoad) wait() { l.wg.Wait() }

// writeOnce creates, patches or deletes a random Task, and logs the state
// the server answered with.
func (l *chaosLoad) writeOnce(ctx context.Context, rng *rand.Rand) {
	ns := chaosNamespaces[rng.IntN(len(chaosNamespaces))]
	name := fmt.Sprintf("t-%03d", rng.IntN(l.cfg.names))
	node := chaosNodes[rng.IntN(len(chaosNodes))]
	tasks := l.tasks.Namespace(ns)
	var got *kunosv1.Task
	var err error
	create := func() {
		got, err = tasks.Create(ctx, &kunosv1.Task{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"chaos": "writer"}},
			Spec:       kunosv1.TaskSpec{NodeName: node, Command: []string{"true"}},
		}, metav1.CreateOptions{})
	}
	patch := func() {
		body := fmt.Sprintf(`{"metadata":{"labels":{"chaos-n":"%d"}},"spec":{"nodeName":%q}}`, rng.IntN(1<<30), node)
		got, err = tasks.Patch(ctx, name, types.MergePatchType, []byte(body), metav1.PatchOptions{})
	}
	switch p := rng.IntN(100); {
	case p < 30:
		if create(); apierrors.IsAlreadyExists(err) {
			patch()
		}
	case p < 85:
		if patch(); apierrors.IsNotFound(err) {
			create()
		}
	default:
		err = tasks.Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			err = nil
		}
	}
	switch {
	case err != nil:
		if ctx.Err() == nil {
			l.st.writeErrors.Add(1)
		}
		return
	case got != nil:
		l.log.add(ns+"/"+name, logEntry{rv: rvOf(got), uid: got.UID, node: got.Spec.NodeName})
	}
	l.st.writes.Add(1)
}

// jobWriter creates Jobs of chaosCompletions Tasks, and deletes the
// oldest finished ones beyond cfg.maxJobs.
func (l *chaosLoad) jobWriter(ctx context.Context, rng *rand.Rand) {
	completions, parallelism := int32(chaosCompletions), int32(2)
	for n := 0; ; n++ {
		sleepCtx(ctx, l.cfg.jobEvery+time.Duration(rng.IntN(int(l.cfg.jobEvery))))
		if ctx.Err() != nil {
			return
		}
		l.gate.RLock()
		jobs, _, err := l.jobs.List(ctx, metav1.ListOptions{})
		if err == nil && len(jobs) >= l.cfg.maxJobs {
			for _, j := range jobs {
				if meta.IsStatusConditionTrue(j.Status.Conditions, kunosv1.JobComplete) {
					_ = l.jobs.Delete(ctx, j.Name, metav1.DeleteOptions{})
					break
				}
			}
		} else if err == nil {
			_, err := l.jobs.Create(ctx, &kunosv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("job-%05d", n)},
				Spec: kunosv1.JobSpec{
					Completions: &completions, Parallelism: &parallelism,
					Template: kunosv1.TaskTemplateSpec{Spec: kunosv1.TaskSpec{Command: []string{"sleep", "0.05"}}},
				},
			}, metav1.CreateOptions{})
			if err == nil {
				l.st.jobsCreated.Add(1)
			}
		}
		l.gate.RUnlock()
	}
}

// chaosLogger is the logger of the job controller's manager (and, if
// ours, of the test's informers): nothing, unless LISTWATCH_CHAOS_LOG asks
// for the manager's warnings (1), or debug logs of both (debug).
func chaosLogger(t *testing.T, ours bool) *slog.Logger {
	switch v := os.Getenv("LISTWATCH_CHAOS_LOG"); {
	case v == "1" && !ours:
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	case v == "debug":
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testWriter writes log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// jobObserver counts the distinct Tasks seen for each Job: never more than
// its completions, since every Task succeeds.
type jobObserver struct {
	st *chaosStats

	mu    sync.Mutex
	tasks map[types.UID]map[types.UID]*jobTask // Job UID -> Task UID
	over  map[types.UID]string                 // Jobs with too many, by name
	// lost are the Jobs of a store that was lost: the job controller may
	// create Tasks for them in the new store, from a cache that has not
	// seen the loss yet (counted apart, as orphans).
	lost    map[types.UID]bool
	orphans int
}

// markLost records that every Job seen so far is lost with the store.
func (o *jobObserver) markLost() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for uid := range o.tasks {
		o.lost[uid] = true
	}
}

// jobTask is what was seen of one Task of a Job.
type jobTask struct {
	name, node string
	phase      kunosv1.TaskPhase
	created    time.Time
	rvs        []int64
}

func (o *jobObserver) observe(t *kunosv1.Task) {
	ref := metav1.GetControllerOfNoCopy(t)
	if ref == nil || ref.Kind != "Job" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	ts := o.tasks[ref.UID]
	if ts == nil {
		ts = map[types.UID]*jobTask{}
		o.tasks[ref.UID] = ts
	}
	jt := ts[t.UID]
	if jt == nil {
		jt = &jobTask{name: t.Name, created: t.CreationTimestamp.Time}
		ts[t.UID] = jt
		o.st.tasksByJobs.Add(1)
		if len(ts) > chaosCompletions && o.lost[ref.UID] {
			o.orphans++
			o.st.t.Logf("chaos: Task %s/%s created for Job %s (uid %.8s), which was lost with the store (its Task number %d)",
				t.Namespace, t.Name, ref.Name, ref.UID, len(ts))
		} else if len(ts) > chaosCompletions {
			o.over[ref.UID] = t.Namespace + "/" + ref.Name
			o.st.diverged("job-overcreate", "Job %s/%s (uid %.8s) has its Task number %d, %s: more than its %d completions",
				t.Namespace, ref.Name, ref.UID, len(ts), t.Name, chaosCompletions)
		}
	}
	jt.node, jt.phase = t.Spec.NodeName, t.Status.Phase
	if len(jt.rvs) < 8 {
		jt.rvs = append(jt.rvs, rvOf(t))
	}
}

// report describes the Tasks of the Jobs that got too many.
func (o *jobObserver) report(t *testing.T) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for uid, name := range o.over {
		var lines []string
		for tuid, jt := range o.tasks[uid] {
			lines = append(lines, fmt.Sprintf("%s (uid %.8s, created %s, node %q, phase %q, rvs %v)",
				jt.name, tuid, jt.created.Format("15:04:05"), jt.node, jt.phase, jt.rvs))
		}
		slices.Sort(lines)
		t.Logf("Job %s (uid %.8s): %s", name, uid, strings.Join(lines, "; "))
	}
}

// startJobController runs the job-controller example's controllers (Job
// controller, scheduler, two node agents) on a Manager whose client goes
// through the proxies. It returns once the nodes are registered; the
// manager runs until ctx ends, and done is closed once it stopped.
//
// LISTWATCH_CHAOS_LOG=1 shows the manager's logs (warnings and up; debug
// with LISTWATCH_CHAOS_LOG=debug).
func startJobController(ctx context.Context, urls []string, t *testing.T) (done chan error, err error) {
	quiet := chaosLogger(t, false)
	mgr, err := controller.NewManager(&client.Config{Host: urls[0], Hosts: urls, QPS: -1, Timeout: 10 * time.Second},
		controller.ManagerOptions{Logger: quiet, Factory: chaosFactoryOptions()})
	if err != nil {
		return nil, err
	}
	opts := controllers.Options{Nodes: 2, HeartbeatInterval: 500 * time.Millisecond}
	if err := controllers.Add(mgr, opts); err != nil {
		return nil, err
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = controllers.RegisterNodes(rctx, mgr.Client(), opts)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	done = make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return done, nil
}

// chaosFactoryOptions are the job-controller's informer options under
// chaos: the server's short bookmark interval, so the watchdog fires soon.
func chaosFactoryOptions() informer.FactoryOptions {
	var o informer.FactoryOptions
	o.BookmarkInterval = chaosBookmark
	return o
}
