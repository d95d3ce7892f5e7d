package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/reflector"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// chaosRun is one backend's run.
type chaosRun struct {
	t   *testing.T
	cfg chaosConfig
	be  chaosBackend
	st  *chaosStats
	rng *rand.Rand // the run's goroutine (faults) only
	ctx context.Context

	load      *chaosLoad
	jobs      *jobObserver
	informers []*chaosInformer
	// tasks lists Tasks directly from the servers, for the checks.
	tasks *client.Resource[*kunosv1.Task]
	jobsR *client.Resource[*kunosv1.Job]
	// nodesClient reaches the servers directly too.
	nodesClient *client.Client

	// checkMu is held (read) by each continuous check, and (write) while
	// the store is being lost and refilled.
	checkMu sync.RWMutex
	// lasting counts the lasting faults not ended yet.
	lasting sync.WaitGroup
	// peakHeap is the highest heap in use sampled.
	peakHeap atomic.Uint64
}

// later ends a lasting fault after d (at once if the run is over).
func (r *chaosRun) later(d time.Duration, end func()) {
	r.lasting.Add(1)
	go func() {
		defer r.lasting.Done()
		sleepCtx(r.ctx, d)
		end()
	}()
}

func runChaos(t *testing.T, cfg chaosConfig, name string, rng *rand.Rand) *chaosResult {
	start := time.Now()
	st := newChaosStats(t)
	be, err := startChaosBackend(t, cfg, name)
	if err != nil {
		t.Fatal(err)
	}
	backendClosed := false
	defer func() {
		if !backendClosed {
			be.close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &chaosRun{t: t, cfg: cfg, be: be, st: st, rng: rng, ctx: ctx, jobs: &jobObserver{st: st, tasks: map[types.UID]map[types.UID]*jobTask{}, over: map[types.UID]string{}, lost: map[types.UID]bool{}}}
	direct, err := client.New(&client.Config{Host: be.direct()[0], Hosts: be.direct(), QPS: -1, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r.tasks = client.For(direct, kunosv1.Tasks)
	r.nodesClient = direct
	r.jobsR = client.For(direct, kunosv1.Jobs).Namespace(jobNamespace)
	if r.load, err = newChaosLoad(st, cfg, be.direct()); err != nil {
		t.Fatal(err)
	}

	// Informers, each with its own client, through the proxies (in a
	// different order for every other one, with two replicas).
	infCtx, stopInformers := context.WithCancel(ctx)
	defer stopInformers()
	for i, spec := range chaosInformerSpecs() {
		urls := slices.Clone(be.proxied())
		if i%2 == 1 {
			slices.Reverse(urls)
		}
		ci, err := newChaosInformer(r, spec, urls)
		if err != nil {
			t.Fatal(err)
		}
		r.informers = append(r.informers, ci)
		go func() {
			defer close(ci.done)
			ci.inf.Run(infCtx)
		}()
	}
	stopAll := func() {
		stopInformers()
		for _, ci := range r.informers {
			<-ci.done
		}
	}
	defer stopAll()
	syncCtx, syncCancel := context.WithTimeout(ctx, 60*time.Second)
	for _, ci := range r.informers {
		if !waitUntil(syncCtx, ci.inf.HasSynced) {
			t.Fatalf("informer %s never synced", ci.spec.name)
		}
	}
	syncCancel()

	jcCtx, stopJC := context.WithCancel(ctx)
	defer stopJC()
	jcDone, err := startJobController(jcCtx, be.proxied(), t)
	if err != nil {
		t.Fatalf("job controller: %v", err)
	}
	var jcOnce sync.Once
	stopJobController := func() {
		jcOnce.Do(func() {
			stopJC()
			if err := <-jcDone; err != nil {
				t.Errorf("job controller manager: %v", err)
			}
		})
	}
	defer stopJobController()

	// Heap sampling, continuous checks, load.
	var bg sync.WaitGroup
	bgCtx, stopBG := context.WithCancel(ctx)
	bg.Add(2)
	go func() { defer bg.Done(); r.sampleHeap(bgCtx) }()
	go func() { defer bg.Done(); r.checkContinuously(bgCtx) }()
	loadCtx, stopLoad := context.WithCancel(ctx)
	r.load.start(loadCtx, rand.New(rand.NewPCG(rng.Uint64(), 1)))
	t.Logf("chaos %s: started in %s", name, time.Since(start).Round(time.Millisecond))

	// Faults.
	chaosStart := time.Now()
	var kinds []chaosFault
	for _, f := range append(proxyFaults(), be.faults()...) {
		if cfg.only == nil || cfg.only[f.name] {
			kinds = append(kinds, f)
		}
	}
	if len(kinds) == 0 {
		t.Fatalf("no fault kind selected by LISTWATCH_CHAOS_FAULTS")
	}
	deck := &shuffledDeck{long: cfg.long, kinds: kinds, rng: rng}
	for time.Since(chaosStart) < cfg.duration || (!cfg.long && deck.round == 0 && time.Since(chaosStart) < 4*cfg.duration) {
		sleepCtx(ctx, cfg.faultGap[0]+time.Duration(rng.Int64N(int64(cfg.faultGap[1]-cfg.faultGap[0]))))
		f := deck.deal()
		if f.exclusive {
			r.lasting.Wait()
		}
		if f.run(r) {
			st.fault(f.name)
		}
		if t.Failed() && cfg.long {
			break
		}
	}
	chaosTime := time.Since(chaosStart)
	r.lasting.Wait()
	for _, p := range be.proxies() {
		p.SetStall(false)
		p.SetDelay(0)
		p.SetRefuse(false)
	}
	be.heal()
	stopLoad()
	r.load.wait()
	writesPerSec := float64(st.writes.Load()) / chaosTime.Seconds()
	writing := chaosTime - r.load.paused
	t.Logf("chaos %s: %d faults in %s (%s); %d writes (%.0f/s, %.0f/s while not paused for %s), %d failed", name, st.faults.Load(),
		chaosTime.Round(time.Millisecond), deck, st.writes.Load(), writesPerSec, float64(st.writes.Load())/writing.Seconds(),
		r.load.paused.Round(time.Millisecond), st.writeErrors.Load())

	// Quiescence.
	qStart := time.Now()
	r.quiesce()
	stopBG()
	bg.Wait()
	r.checkGaps(time.Time{})
	t.Logf("chaos %s: quiescent checks took %s", name, time.Since(qStart).Round(time.Millisecond))

	// The watchdogs fired (stalls outlast them), and compactions made the
	// reflectors relist.
	relists := map[string]int64{}
	var relistTotal int64
	for _, ci := range r.informers {
		for reason, n := range ci.relists.snapshot() {
			relists[string(reason)] += n
			relistTotal += n
		}
	}
	if n := st.stallChecks.Load(); n > 0 && relists[string(reflector.RelistWatchdog)] == 0 {
		st.diverged("watchdog", "no watchdog fired although the servers stalled every watch for %s, longer than the %s watchdog, %d times", chaosStall, chaosWatchdog, n)
	}
	st.mu.Lock()
	compactions := st.faultKinds["compact"]
	st.mu.Unlock()
	if compactions > 0 && relists[string(reflector.RelistExpired)] == 0 {
		st.diverged("expired", "no 410 relist although the history was compacted right behind the newest revision, every client being behind it, %d times", compactions)
	}

	r.jobs.report(t)
	stopJobController()
	stopAll()
	be.close()
	backendClosed = true

	st.mu.Lock()
	t.Logf("chaos %s: faults=%d {%s}", name, st.faults.Load(), counts(intCounts(st.faultKinds)))
	t.Logf("chaos %s: events=%d relists=%d {%s} exact-checks=%d (skipped %d) gap-checks=%d stalls=%d (informers without a watchdog: %d) jobs=%d job-tasks=%d",
		name, st.events.Load(), relistTotal, counts(relists), st.exactChecks.Load(), st.exactSkips.Load(),
		st.gapChecks.Load(), st.stallChecks.Load(), st.stallMisses.Load(), st.jobsCreated.Load(), st.tasksByJobs.Load())
	r.jobs.mu.Lock()
	if r.jobs.orphans > 0 {
		t.Logf("chaos %s: %d Tasks created for Jobs lost with the store (by a job controller whose caches had not seen the loss yet)", name, r.jobs.orphans)
	}
	r.jobs.mu.Unlock()
	if len(st.converged) > 0 {
		t.Logf("chaos %s: caches converged after each restart that lost the store in %v", name, st.converged)
	}
	if st.divergences.Load() > 0 {
		t.Logf("chaos %s: divergences=%d {%s}", name, st.divergences.Load(), counts(intCounts(st.divKinds)))
	}
	st.mu.Unlock()
	if cfg.long {
		fmt.Printf("soak %s: duration=%s writes=%d writes_per_sec=%.0f writes_per_sec_unpaused=%.0f faults=%d events=%d relists=%d divergences=%d peak_heap_mb=%.1f\n",
			name, chaosTime.Round(time.Second), st.writes.Load(), writesPerSec, float64(st.writes.Load())/writing.Seconds(),
			st.faults.Load(), st.events.Load(), relistTotal, st.divergences.Load(), float64(r.peakHeap.Load())/(1<<20))
	}
	t.Logf("chaos %s: took %s", name, time.Since(start).Round(time.Millisecond))
	return &chaosResult{chaosStats: st, relists: relistTotal}
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(ctx context.Context, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *chaosRun) sampleHeap(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > r.peakHeap.Load() {
			r.peakHeap.Store(ms.HeapAlloc)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// snapshot reads an informer's cache with its resourceVersion, the same
// for the whole read ("" if a write came in between).
func snapshot(ci *chaosInformer) (map[string]objID, string) {
	idx := ci.inf.Indexer()
	rv := idx.LastStoreSyncResourceVersion()
	objs := idx.List()
	if idx.LastStoreSyncResourceVersion() != rv {
		return nil, ""
	}
	return idMap(objs), rv
}

func idMap(objs []*kunosv1.Task) map[string]objID {
	m := make(map[string]objID, len(objs))
	for _, t := range objs {
		m[taskKey(t)] = objID{t.UID, rvOf(t)}
	}
	return m
}

// serverList lists the informer's selection from the servers directly:
// at rv exactly, or consistently ("").
func (r *chaosRun) serverList(ctx context.Context, ci *chaosInformer, rv string) (map[string]objID, string, error) {
	res := r.tasks
	if ci.spec.namespace != "" {
		res = res.Namespace(ci.spec.namespace)
	}
	opts := metav1.ListOptions{FieldSelector: ci.spec.fieldSelector(), Limit: 500}
	if rv != "" {
		opts.ResourceVersion, opts.ResourceVersionMatch = rv, metav1.ResourceVersionMatchExact
	}
	items, lm, err := res.ListAll(ctx, opts)
	if err != nil {
		return nil, "", err
	}
	return idMap(items), lm.ResourceVersion, nil
}

// diff describes how two maps of objects differ (at most a few keys).
func diff(got, want map[string]objID) string {
	var out []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			out = append(out, fmt.Sprintf("%s missing (server %s)", k, w))
		} else if g != w {
			out = append(out, fmt.Sprintf("%s is %s (server %s)", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%s extra (%s, gone from the server)", k, g))
		}
	}
	if len(out) == 0 {
		return ""
	}
	slices.Sort(out)
	n := len(out)
	if n > 5 {
		out = append(out[:5], "...")
	}
	return fmt.Sprintf("%d differences: %s", n, strings.Join(out, "; "))
}

// checkContinuously compares one informer's cache at a time with the
// server's list at the cache's resourceVersion, and checks the handlers'
// transitions a few seconds old against what the writers wrote.
func (r *chaosRun) checkContinuously(ctx context.Context) {
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r.checkMu.RLock()
		r.checkExact(ctx, r.informers[i%len(r.informers)])
		if i%3 == 0 {
			r.checkGaps(time.Now().Add(-3 * time.Second))
		}
		r.checkMu.RUnlock()
	}
}

// checkExact compares ci's cache with the server at the cache's
// resourceVersion. It skips when the cache moved during the read or the
// server no longer has (or not yet) that revision.
func (r *chaosRun) checkExact(ctx context.Context, ci *chaosInformer) bool {
	cache, rv := snapshot(ci)
	if rv == "" || ci.inf.Stale() {
		r.st.exactSkips.Add(1)
		return false
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	server, _, err := r.serverList(lctx, ci, rv)
	if err != nil {
		r.st.exactSkips.Add(1)
		return false
	}
	r.st.exactChecks.Add(1)
	if d := diff(cache, server); d != "" {
		r.st.diverged("cache-vs-server", "%s: cache at rv %s differs from the server's list at rv %s: %s", ci.spec.name, rv, rv, d)
	}
	return true
}

// checkGaps checks the transitions recorded before cutoff (all with a zero
// cutoff): the states the writers wrote between two states a handler saw
// through one chain of watches, and which the informer's selection
// matches, must have been seen too.
func (r *chaosRun) checkGaps(cutoff time.Time) {
	for _, ci := range r.informers {
		for _, h := range ci.handlers {
			for _, tr := range h.takePending(cutoff) {
				r.st.gapChecks.Add(1)
				ns, _, _ := strings.Cut(tr.key, "/")
				for _, e := range r.load.log.between(tr.key, tr.from.rv, tr.to.rv) {
					if ci.spec.matches(ns, e) {
						r.st.diverged("skipped", "%s: %s went from rv %d to rv %d (epoch %d, no list between) without the state at rv %d (uid %.8s, node %s) written meanwhile",
							h.name, tr.key, tr.from.rv, tr.to.rv, tr.to.epoch, e.rv, e.uid, e.node)
						break
					}
				}
			}
		}
	}
}

// converged reports whether ci's cache and every handler's mirror equal
// the server's consistent list; why not, otherwise.
func (r *chaosRun) converged(ctx context.Context, ci *chaosInformer) (bool, string) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	server, rv, err := r.serverList(lctx, ci, "")
	if err != nil {
		return false, fmt.Sprintf("list: %v", err)
	}
	cache, _ := snapshot(ci)
	if cache == nil {
		return false, "cache moving"
	}
	if d := diff(cache, server); d != "" {
		return false, fmt.Sprintf("cache (rv %s) vs server (rv %s): %s", ci.inf.Indexer().LastStoreSyncResourceVersion(), rv, d)
	}
	for _, h := range ci.handlers {
		if d := diff(h.mirror(), server); d != "" {
			return false, fmt.Sprintf("handler %s's mirror vs server (rv %s): %s", h.name, rv, d)
		}
	}
	return true, ""
}

// awaitConverged waits until every informer converged, or the deadline;
// it returns why those that did not, did not.
func (r *chaosRun) awaitConverged(d time.Duration, ready func(i int, ci *chaosInformer) bool) (map[string]string, map[string]time.Duration) {
	ctx, cancel := context.WithTimeout(r.ctx, d)
	defer cancel()
	why := map[string]string{}
	took := map[string]time.Duration{}
	start := time.Now()
	for i, ci := range r.informers {
		for {
			ok, reason := false, "not relisted yet"
			if ready == nil || ready(i, ci) {
				ok, reason = r.converged(ctx, ci)
			}
			if ok {
				delete(why, ci.spec.name)
				took[ci.spec.name] = time.Since(start).Round(time.Millisecond)
				break
			}
			why[ci.spec.name] = reason
			if ctx.Err() != nil {
				break
			}
			sleepCtx(ctx, 50*time.Millisecond)
		}
	}
	return why, took
}

// quiesce waits, once faults and writers stopped, for the Jobs to complete
// and every cache and mirror to equal the server, then checks them.
func (r *chaosRun) quiesce() {
	// The Jobs complete, with exactly their completions.
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.jobsDone)
	defer cancel()
	var incomplete []*kunosv1.Job
	waitUntil(ctx, func() bool {
		jobs, _, err := r.jobsR.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		incomplete = incomplete[:0]
		for _, j := range jobs {
			if !meta.IsStatusConditionTrue(j.Status.Conditions, kunosv1.JobComplete) || j.Status.Succeeded != chaosCompletions {
				incomplete = append(incomplete, j)
			}
		}
		return len(incomplete) == 0
	})
	if len(incomplete) > 0 {
		lctx, lcancel := context.WithTimeout(r.ctx, 10*time.Second)
		tasks, _, err := r.tasks.Namespace(jobNamespace).List(lctx, metav1.ListOptions{})
		lcancel()
		if err != nil {
			r.t.Logf("chaos: list the Tasks of the incomplete Jobs: %v", err)
		}
		owned := map[types.UID]int{}
		for _, t := range tasks {
			if ref := metav1.GetControllerOfNoCopy(t); ref != nil {
				owned[ref.UID]++
			}
		}
		for _, j := range incomplete {
			desc := fmt.Sprintf("%s (succeeded %d, active %d, failed %d; %d Tasks on the server)",
				j.Name, j.Status.Succeeded, j.Status.Active, j.Status.Failed, owned[j.UID])
			r.st.diverged("job-incomplete", "Job %s not complete %s after the faults stopped", desc, r.cfg.jobsDone)
		}
		r.describeJobs()
	}

	// Caches and mirrors equal the server's consistent list.
	why, _ := r.awaitConverged(r.cfg.quiesce, nil)
	for name, why := range why {
		r.st.diverged("not-converged", "%s did not converge in %s at quiescence: %s", name, r.cfg.quiesce, why)
	}
	// And the cache equals the list at its own revision.
	for _, ci := range r.informers {
		r.checkExact(r.ctx, ci)
	}
}

// restartEmpty runs restart (a restart that loses the store) between a
// barrier and a convergence check: the writers pause, every handler
// catches up with its cache and the cache with the server (so that no
// state of the old store arrives afterwards), the order tracking is reset
// (resourceVersions start over), the store is lost, and every cache must
// then converge to the new, empty state.
func (r *chaosRun) restartEmpty(restart func()) {
	r.load.pause()
	defer r.load.resume()
	r.checkMu.Lock()
	defer r.checkMu.Unlock()
	target := r.be.revision()
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.converge)
	for _, ci := range r.informers {
		ok := waitUntil(ctx, func() bool {
			cache, rv := snapshot(ci)
			if cache == nil || rv == "" || rvOfString(rv) < target {
				return false
			}
			for _, h := range ci.handlers {
				if diff(h.mirror(), cache) != "" {
					return false
				}
			}
			return true
		})
		if !ok {
			cache, rv := snapshot(ci)
			r.st.diverged("barrier", "%s did not reach rv %d with its handlers in %s before a restart that loses the store (cache at rv %s, %d objects)",
				ci.spec.name, target, r.cfg.converge, rv, len(cache))
		}
	}
	cancel()
	r.checkGaps(time.Time{})
	r.load.log.reset()
	epochs := make([]int64, len(r.informers))
	for i, ci := range r.informers {
		for _, h := range ci.handlers {
			h.reset()
		}
		epochs[i] = ci.epoch.Load()
	}
	r.jobs.markLost()
	restart()
	start := time.Now()
	why, each := r.awaitConverged(r.cfg.converge, func(i int, ci *chaosInformer) bool {
		return ci.epoch.Load() > epochs[i] && !ci.inf.Stale()
	})
	took := time.Since(start)
	r.t.Logf("chaos: converged after a restart that lost the store in %s: %v", took.Round(time.Millisecond), each)
	r.st.mu.Lock()
	r.st.converged = append(r.st.converged, took.Round(time.Millisecond))
	r.st.mu.Unlock()
	for name, reason := range why {
		r.st.diverged("stale-after-empty-restart", "%s did not converge to the new, empty store in %s: %s", name, r.cfg.converge, reason)
	}
}

// stallWatches has the servers stall every watch (accepted, then silent)
// for chaosStall, once every informer is streaming and with no other fault
// in force: each informer's watchdog must fire. It counts those that did not.
func (r *chaosRun) stallWatches(stall func(bool)) {
	r.awaitWatching()
	before := make([]int64, len(r.informers))
	rvs := make([]string, len(r.informers))
	for i, ci := range r.informers {
		before[i] = ci.relists.snapshot()[reflector.RelistWatchdog]
		rvs[i] = ci.inf.Indexer().LastStoreSyncResourceVersion()
	}
	rev := r.be.revision()
	start := time.Now()
	stall(true)
	sleepCtx(r.ctx, chaosStall)
	stall(false)
	var missed []string
	for i, ci := range r.informers {
		if ci.relists.snapshot()[reflector.RelistWatchdog] == before[i] {
			last := time.Unix(0, ci.relists.lastEvent.Load()).Sub(start)
			missed = append(missed, fmt.Sprintf("%s (at rv %s of %d when the stall began; its last event %s into the stall)",
				ci.spec.name, rvs[i], rev, last.Round(time.Millisecond)))
		}
	}
	r.st.stallChecks.Add(1)
	if len(missed) > 0 {
		r.st.stallMisses.Add(int64(len(missed)))
		r.t.Logf("chaos: no watchdog fired for %v while the servers stalled every watch for %s, from %s", missed, chaosStall, start.UTC().Format("15:04:05.000"))
	}
}

// awaitWatching waits (a few seconds at most) until every informer's watch
// is streaming (an event or bookmark came within two bookmark intervals,
// and no error for a while), so that a stall then hits watches rather
// than requests or backoffs.
func (r *chaosRun) awaitWatching() {
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	waitUntil(ctx, func() bool {
		for _, ci := range r.informers {
			if !ci.relists.streaming(2 * chaosBookmark) {
				return false
			}
		}
		return true
	})
}

// compactBehind makes every watch resume from a compacted revision: the
// clients are cut off (the proxies refuse and reset every connection), a
// write moves the newest revision past every client's, the history is
// compacted right behind that newest revision, and the clients are let
// back: each watch resumes from an older revision and gets 410 Expired.
func (r *chaosRun) compactBehind(compact func(ctx context.Context, rev int64) error) bool {
	for _, p := range r.be.proxies() {
		p.SetRefuse(true)
		p.ResetAll()
	}
	defer func() {
		for _, p := range r.be.proxies() {
			p.SetRefuse(false)
		}
	}()
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	name := fmt.Sprintf("t-%03d", r.rng.IntN(r.cfg.names))
	patch := fmt.Sprintf(`{"metadata":{"labels":{"chaos-compact":"%d"}}}`, r.rng.IntN(1<<30))
	task, err := r.tasks.Namespace(chaosNamespaces[0]).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		task, err = r.tasks.Namespace(chaosNamespaces[0]).Create(ctx, &kunosv1.Task{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kunosv1.TaskSpec{NodeName: chaosNodes[0]},
		}, metav1.CreateOptions{})
	}
	if err != nil {
		r.t.Logf("chaos: compact: write: %v", err)
		return false
	}
	r.load.log.add(chaosNamespaces[0]+"/"+name, logEntry{rv: rvOf(task), uid: task.UID, node: task.Spec.NodeName})
	if err := compact(ctx, rvOf(task)); err != nil {
		r.t.Logf("chaos: compact at %d: %v", rvOf(task), err)
		return false
	}
	return true
}

// describeJobs logs the Tasks of the Jobs' namespace and the Nodes, as
// the server has them.
func (r *chaosRun) describeJobs() {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	tasks, _, err := r.tasks.Namespace(jobNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		r.t.Logf("list Tasks: %v", err)
	}
	for _, t := range tasks {
		owner := ""
		if ref := metav1.GetControllerOfNoCopy(t); ref != nil {
			owner = fmt.Sprintf("%s (uid %.8s)", ref.Name, ref.UID)
		}
		r.t.Logf("Task %s: rv %s, owner %s, node %q, phase %q, created %s", t.Name, t.ResourceVersion, owner, t.Spec.NodeName, t.Status.Phase, t.CreationTimestamp.Format("15:04:05"))
	}
	nodes, _, err := client.For(r.nodesClient, kunosv1.Nodes).List(ctx, metav1.ListOptions{})
	if err != nil {
		r.t.Logf("list Nodes: %v", err)
	}
	for _, n := range nodes {
		r.t.Logf("Node %s: rv %s, running %d, heartbeat %v, ready %t", n.Name, n.ResourceVersion, n.Status.RunningTasks, n.Status.HeartbeatTime, meta.IsStatusConditionTrue(n.Status.Conditions, kunosv1.NodeReady))
	}
}

func rvOfString(s string) int64 {
	var n int64
	_, _ = fmt.Sscan(s, &n)
	return n
}
