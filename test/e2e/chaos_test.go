package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestChaos runs informers, writers and the job-controller example against
// a server behind fault-injecting proxies (internal/faultproxy) while
// faults are injected at random, on two backends in turn:
//
//	memory  one in-process server (stubtest) on the memory store, reached
//	        through two proxies (two URLs of one server, client.Config.Hosts).
//	        Faults: connections cut, reset, half-closed and stalled, proxies
//	        stalled, delayed and refusing, watches dropped and stalled on the
//	        server (the reflectors' watchdogs must fire), compactions right
//	        behind the newest revision with every client behind it (410
//	        relists), restarts that keep the store and restarts that lose it
//	        (a new, empty server whose revisions start over).
//	etcd    an embedded 3-member etcd cluster and two server replicas over
//	        it, each behind its proxy; clients know both (client.Config.Hosts).
//	        Faults: the proxy faults, etcd compactions (410 relists), watches
//	        dropped on a replica and stalled on both, etcd leader kills and
//	        replica kills.
//
// The informers (package informer over package client) watch Tasks over
// chunked HTTP and WebSocket, all namespaces or one, some with a field
// selector (spec.nodeName), some with paged lists instead of watch-list,
// some with slow handlers; writers create, patch and delete Tasks in three
// namespaces; the job-controller example (Job controller, scheduler, node
// agents) runs on a Manager through the proxies too.
//
// Invariants, checked continuously and at quiescence (after the faults
// stop, the writers stop and the Jobs finish); every breach counts as a
// divergence and fails the test:
//
//   - each informer's cache equals the server's list at the cache's
//     resourceVersion (resourceVersionMatch=Exact), whenever the server
//     still has that revision, and the server's consistent list at
//     quiescence;
//   - per key, every handler sees states in resourceVersion order; an
//     update's old object and a relist's delete are exactly the state the
//     handler saw last (nothing skipped between the cache and the handler,
//     whose delivery is the lossless default); between two states seen
//     through one watch (no list in between), no state the writers wrote
//     that the informer's selection matches is missing;
//   - each handler's mirror of what exists equals the server at quiescence;
//   - after a restart that lost the store, every cache converges to the new
//     state;
//   - the Job controller never creates more Tasks for a Job than its
//     completions (the Tasks succeed), and every Job completes. Tasks
//     created for Jobs that a restart lost with the store (by a controller
//     whose caches had not seen the loss yet) are counted and logged apart:
//     no controller can avoid them;
//   - no goroutine is left once everything stopped (goleak).
//
// It prints one line, summed over the backends:
//
//	faults=N events=N relists=N divergences=N
//
// The default (short) mode runs each backend for ~10-15 s of faults (every
// kind at least once) at 150 writes/s: about 40 s in all on two cores. LISTWATCH_CHAOS_DURATION=10m selects the long mode:
// that long per backend, at LISTWATCH_CHAOS_RATE writes/s (default 1200),
// with a line of figures (heap, goroutines) per backend; hack/soak.sh runs
// it. LISTWATCH_CHAOS_BACKENDS=memory (or etcd) runs one backend,
// LISTWATCH_CHAOS_SEED fixes the random choices, LISTWATCH_CHAOS_FAULTS
// (a comma-separated list of fault names) restricts the faults, and
// LISTWATCH_CHAOS_LOG=1 shows the job controller's logs.
func TestChaos(t *testing.T) {
	cfg := chaosConfigFromEnv(t)
	goroutinesBefore := runtime.NumGoroutine()
	leakOpts := chaosLeakOptions(goleak.IgnoreCurrent())
	t.Logf("chaos: mode=%s duration=%s/backend writers=%d rate=%.0f/s seed=%d backends=%s",
		cfg.mode(), cfg.duration, cfg.writers, cfg.rate, cfg.seed, strings.Join(cfg.backends, ","))
	var total chaosTotals
	for i, name := range cfg.backends {
		ok := t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(cfg.seed), uint64(i)))
			st := runChaos(t, cfg, name, rng)
			total.add(st)
			if d := st.divergences.Load(); d != 0 {
				t.Errorf("%d divergences (see above)", d)
			}
		})
		if !ok && cfg.long {
			break
		}
	}
	// Everything was stopped: no goroutine of the run may be left (the
	// package's TestMain checks again at the very end).
	// An etcd member's peer connections may take a few seconds more (their
	// read deadline) to end after Close.
	var leak error
	for deadline := time.Now().Add(20 * time.Second); ; {
		if leak = goleak.Find(leakOpts...); leak == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if leak != nil {
		total.divergences++
		t.Errorf("goroutines left after the chaos runs: %v", leak)
	}
	after := runtime.NumGoroutine()
	if cfg.long {
		t.Logf("chaos: goroutines before=%d after=%d", goroutinesBefore, after)
		fmt.Printf("soak: goroutines_before=%d goroutines_after=%d\n", goroutinesBefore, after)
	}
	fmt.Printf("faults=%d events=%d relists=%d divergences=%d\n", total.faults, total.events, total.relists, total.divergences)
}

// chaosLeakOptions ignore the goroutines an embedded etcd leaves behind
// after Close, none of them ours (as TestMain does).
func chaosLeakOptions(before goleak.Option) []goleak.Option {
	return []goleak.Option{
		before,
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	}
}

// Timings shared by every run. The servers send a bookmark every
// chaosBookmark; the reflectors presume a watch dead after chaosWatchdog
// of silence; stalls last chaosStall, longer than that.
const (
	chaosBookmark = 200 * time.Millisecond
	chaosWatchdog = time.Second
	chaosStall    = 3 * time.Second
	// chaosCompletions is every Job's spec.completions (its Tasks succeed).
	chaosCompletions = 3
)

// chaosConfig is what one TestChaos run does.
type chaosConfig struct {
	long     bool
	duration time.Duration // of the fault phase, per backend
	writers  int
	rate     float64 // target writes/s over all writers
	names    int     // Task names per namespace
	// faultGap bounds the pause between two faults.
	faultGap [2]time.Duration
	// jobEvery is the pause between two Jobs; maxJobs bounds those kept.
	jobEvery time.Duration
	maxJobs  int
	// jobsDone bounds the wait for the Jobs to complete at quiescence,
	// quiesce the wait for caches and mirrors to equal the server.
	jobsDone, quiesce time.Duration
	// converge bounds the wait for caches after a restart that lost the
	// store, and the barrier before it.
	converge time.Duration
	backends []string
	seed     int64
	// only, if set, restricts the faults to these kinds (for debugging:
	// LISTWATCH_CHAOS_FAULTS=proxy-stall,compact).
	only map[string]bool
}

func (c chaosConfig) mode() string {
	if c.long {
		return "long"
	}
	return "short"
}

func chaosConfigFromEnv(t *testing.T) chaosConfig {
	t.Helper()
	cfg := chaosConfig{
		duration: 10 * time.Second,
		writers:  4,
		rate:     150,
		names:    40,
		faultGap: [2]time.Duration{100 * time.Millisecond, 400 * time.Millisecond},
		jobEvery: 400 * time.Millisecond,
		maxJobs:  6,
		jobsDone: 20 * time.Second,
		quiesce:  45 * time.Second,
		converge: 30 * time.Second,
		backends: []string{"memory", "etcd"},
		seed:     time.Now().UnixNano(),
	}
	if v := os.Getenv("LISTWATCH_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("LISTWATCH_CHAOS_DURATION=%q: want a duration such as 10m", v)
		}
		cfg.long, cfg.duration = true, d
		cfg.writers, cfg.rate, cfg.names = 32, 1200, 200
		cfg.faultGap = [2]time.Duration{300 * time.Millisecond, 1500 * time.Millisecond}
		cfg.jobEvery, cfg.maxJobs = 200*time.Millisecond, 10
		cfg.jobsDone, cfg.quiesce = 60*time.Second, 90*time.Second
	}
	if v := os.Getenv("LISTWATCH_CHAOS_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			t.Fatalf("LISTWATCH_CHAOS_RATE=%q: want writes per second", v)
		}
		cfg.rate = r
		cfg.writers = max(cfg.writers, int(r/40))
	}
	if v := os.Getenv("LISTWATCH_CHAOS_BACKENDS"); v != "" {
		cfg.backends = nil
		for _, b := range strings.Split(v, ",") {
			b = strings.TrimSpace(b)
			if b != "memory" && b != "etcd" {
				t.Fatalf("LISTWATCH_CHAOS_BACKENDS=%q: want memory, etcd or both", v)
			}
			cfg.backends = append(cfg.backends, b)
		}
	}
	if v := os.Getenv("LISTWATCH_CHAOS_FAULTS"); v != "" {
		cfg.only = map[string]bool{}
		for _, f := range strings.Split(v, ",") {
			cfg.only[strings.TrimSpace(f)] = true
		}
	}
	if v := os.Getenv("LISTWATCH_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("LISTWATCH_CHAOS_SEED=%q: want an integer", v)
		}
		cfg.seed = s
	}
	return cfg
}

// chaosStats are one backend run's counters.
type chaosStats struct {
	t *testing.T

	faults                   atomic.Int64
	writes, writeErrors      atomic.Int64
	events                   atomic.Int64
	divergences              atomic.Int64
	exactChecks, exactSkips  atomic.Int64
	gapChecks                atomic.Int64
	stallChecks, stallMisses atomic.Int64
	jobsCreated, tasksByJobs atomic.Int64

	mu         sync.Mutex
	faultKinds map[string]int
	divKinds   map[string]int
	converged  []time.Duration // after each restart that lost the store
}

func newChaosStats(t *testing.T) *chaosStats {
	return &chaosStats{t: t, faultKinds: map[string]int{}, divKinds: map[string]int{}}
}

// maxDivergenceLogs bounds the divergences described in the log.
const maxDivergenceLogs = 40

// diverged records a broken invariant.
func (s *chaosStats) diverged(kind, format string, args ...any) {
	n := s.divergences.Add(1)
	s.mu.Lock()
	s.divKinds[kind]++
	s.mu.Unlock()
	if n <= maxDivergenceLogs {
		s.t.Logf("DIVERGENCE %s: %s", kind, fmt.Sprintf(format, args...))
	}
}

func (s *chaosStats) fault(kind string) {
	s.faults.Add(1)
	s.mu.Lock()
	s.faultKinds[kind]++
	s.mu.Unlock()
}

// chaosTotals sum the summary line over backends.
type chaosTotals struct {
	faults, events, relists, divergences int64
}

func (tt *chaosTotals) add(r *chaosResult) {
	tt.faults += r.faults.Load()
	tt.events += r.events.Load()
	tt.relists += r.relists
	tt.divergences += r.divergences.Load()
}

// chaosResult is a run's stats with the relists its informers counted.
type chaosResult struct {
	*chaosStats
	relists int64
}

// counts formats a map of counters in key order.
func counts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}

func intCounts(m map[string]int) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = int64(v)
	}
	return out
}
