package informer

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/internal/poll"
	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// task returns a Task default/name at resourceVersion rv.
func task(name string, rv int) *kunosv1.Task {
	return &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{
		Namespace: "default", Name: name, ResourceVersion: strconv.Itoa(rv),
	}}
}

func rvOf(obj cache.Object) int {
	n, _ := strconv.Atoi(obj.GetResourceVersion())
	return n
}

// nopLW is a ListerWatcher for informers driven through their Sink.
type nopLW struct{}

func (nopLW) List(context.Context, metav1.ListOptions) ([]*kunosv1.Task, metav1.ListMeta, error) {
	return nil, metav1.ListMeta{}, fmt.Errorf("nopLW")
}
func (nopLW) Watch(context.Context, metav1.ListOptions) (watch.Interface, error) {
	return nil, fmt.Errorf("nopLW")
}

// sinkInformer returns a started informer driven through its Sink; it is
// stopped at the end of the test.
func sinkInformer(t testing.TB, opts Options[*kunosv1.Task]) *informer[*kunosv1.Task] {
	t.Helper()
	s := newInformer[*kunosv1.Task](nopLW{}, opts)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// event is one handler call as a recorder saw it.
type event struct {
	kind    kind
	key     string
	oldRV   int
	rv      int
	flag    bool
	oldSame bool // update: old and new are the same object (a resync)
}

func (e event) String() string {
	switch e.kind {
	case kindAdd:
		return fmt.Sprintf("add %s@%d initial=%v", e.key, e.rv, e.flag)
	case kindUpdate:
		return fmt.Sprintf("update %s@%d->%d", e.key, e.oldRV, e.rv)
	default:
		return fmt.Sprintf("delete %s@%d unknown=%v", e.key, e.rv, e.flag)
	}
}

// recorder records every call and checks, per key, that the handler's view
// is consistent: an add only for a key it believes absent, an update whose
// old state is the one it last saw, resourceVersions never going back, a
// delete only of a key it believes present. gate, if set, is received from
// before every call (to hold the handler).
type recorder struct {
	t       testing.TB
	gate    chan struct{}
	slow    time.Duration
	waiting atomic.Int64 // calls blocked on gate
	// slowEvery > 1 sleeps slow on every slowEvery-th call only.
	slowEvery int

	mu     sync.Mutex
	events []event
	seen   map[string]*kunosv1.Task // the handler's view
	errs   []string
	calls  atomic.Int64
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, seen: map[string]*kunosv1.Task{}}
}

func (r *recorder) wait() {
	if r.gate != nil {
		r.waiting.Add(1)
		<-r.gate
		r.waiting.Add(-1)
	}
	if r.slow > 0 && (r.slowEvery <= 1 || r.calls.Load()%int64(r.slowEvery) == 0) {
		time.Sleep(r.slow)
	}
}

func (r *recorder) fail(format string, args ...any) {
	if len(r.errs) < 10 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

func (r *recorder) OnAdd(obj *kunosv1.Task, initial bool) {
	r.wait()
	defer r.calls.Add(1)
	key, _ := cache.MetaNamespaceKeyFunc(obj)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{kind: kindAdd, key: key, rv: rvOf(obj), flag: initial})
	if prev, ok := r.seen[key]; ok {
		r.fail("add %s@%d while it holds @%d", key, rvOf(obj), rvOf(prev))
	}
	r.seen[key] = obj
}

func (r *recorder) OnUpdate(old, obj *kunosv1.Task) {
	r.wait()
	defer r.calls.Add(1)
	key, _ := cache.MetaNamespaceKeyFunc(obj)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{kind: kindUpdate, key: key, oldRV: rvOf(old), rv: rvOf(obj), oldSame: old == obj})
	prev, ok := r.seen[key]
	switch {
	case !ok:
		r.fail("update %s@%d->%d of a key it does not hold", key, rvOf(old), rvOf(obj))
	case prev != old:
		r.fail("update %s: old @%d is not the state it last saw @%d", key, rvOf(old), rvOf(prev))
	case rvOf(obj) < rvOf(prev):
		r.fail("update %s goes back from @%d to @%d", key, rvOf(prev), rvOf(obj))
	}
	r.seen[key] = obj
}

func (r *recorder) OnDelete(obj *kunosv1.Task, unknown bool) {
	r.wait()
	defer r.calls.Add(1)
	key, _ := cache.MetaNamespaceKeyFunc(obj)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{kind: kindDelete, key: key, rv: rvOf(obj), flag: unknown})
	prev, ok := r.seen[key]
	switch {
	case !ok:
		r.fail("delete %s@%d of a key it does not hold", key, rvOf(obj))
	case rvOf(obj) < rvOf(prev):
		r.fail("delete %s@%d older than the state it holds @%d", key, rvOf(obj), rvOf(prev))
	}
	delete(r.seen, key)
}

func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

// check fails the test on any invariant violation seen so far.
func (r *recorder) check() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.errs {
		r.t.Error(e)
	}
}

// converged reports whether the handler's view equals the cache.
func (r *recorder) converged(idx cache.Indexer[*kunosv1.Task]) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) != idx.Len() {
		return false
	}
	for key, obj := range r.seen {
		cur, ok, _ := idx.GetByKey(key)
		if !ok || rvOf(cur) != rvOf(obj) {
			return false
		}
	}
	return true
}

// eventually polls cond until it holds or the test's budget runs out.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 15*time.Second, what, cond)
}

// countingMetrics is a MetricsHook that counts.
type countingMetrics struct {
	noMetrics
	mu         sync.Mutex
	coalesced  map[string]int
	panics     map[string]int
	removed    []string
	maxPending map[string]int
	stopped    int
	synced     bool
	objects    int
}

func newCountingMetrics() *countingMetrics {
	return &countingMetrics{coalesced: map[string]int{}, panics: map[string]int{}, maxPending: map[string]int{}}
}

func (m *countingMetrics) Coalesced(h string) {
	m.mu.Lock()
	m.coalesced[h]++
	m.mu.Unlock()
}
func (m *countingMetrics) HandlerPanicked(h string) {
	m.mu.Lock()
	m.panics[h]++
	m.mu.Unlock()
}
func (m *countingMetrics) HandlerRemoved(h string) {
	m.mu.Lock()
	m.removed = append(m.removed, h)
	m.mu.Unlock()
}
func (m *countingMetrics) SetPending(h string, n int) {
	m.mu.Lock()
	if n > m.maxPending[h] {
		m.maxPending[h] = n
	}
	m.mu.Unlock()
}
func (m *countingMetrics) Stopped() {
	m.mu.Lock()
	m.stopped++
	m.mu.Unlock()
}
func (m *countingMetrics) SetSynced(b bool) {
	m.mu.Lock()
	m.synced = b
	m.mu.Unlock()
}
func (m *countingMetrics) SetStoreObjects(n int) {
	m.mu.Lock()
	m.objects = n
	m.mu.Unlock()
}
func (m *countingMetrics) get(f func(*countingMetrics) int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return f(m)
}
