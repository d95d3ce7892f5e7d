package reflector_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/reflector"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clocktesting "k8s.io/utils/clock/testing"
)

// This file holds a scripted ListerWatcher: every List and Watch call
// blocks until the test answers it, so a test plays the server one reply
// and one event at a time.

const waitLong = 10 * time.Second

type call struct {
	verb  string // "list" or "watch"
	opts  metav1.ListOptions
	reply chan reply
}

type reply struct {
	items []*kunosv1.Task
	meta  metav1.ListMeta
	w     watch.Interface
	err   error
}

func (c *call) list(items []*kunosv1.Task, rv, cont string) {
	c.reply <- reply{items: items, meta: metav1.ListMeta{ResourceVersion: rv, Continue: cont}}
}
func (c *call) fail(err error) { c.reply <- reply{err: err} }
func (c *call) watch() *fakeWatch {
	w := newFakeWatch()
	c.reply <- reply{w: w}
	return w
}

type scriptLW struct{ calls chan *call }

func (s *scriptLW) do(ctx context.Context, verb string, opts metav1.ListOptions) (reply, error) {
	c := &call{verb: verb, opts: opts, reply: make(chan reply, 1)}
	select {
	case s.calls <- c:
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
	select {
	case r := <-c.reply:
		return r, r.err
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
}

func (s *scriptLW) List(ctx context.Context, opts metav1.ListOptions) ([]*kunosv1.Task, metav1.ListMeta, error) {
	r, err := s.do(ctx, "list", opts)
	return r.items, r.meta, err
}

func (s *scriptLW) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	r, err := s.do(ctx, "watch", opts)
	if err != nil {
		return nil, err
	}
	return r.w, nil
}

// fakeWatch is a watch whose events the test sends one by one; send returns
// once the reflector has received the event.
type fakeWatch struct {
	ch                chan watch.Event
	stopped           chan struct{}
	stopOnce, endOnce sync.Once
}

func newFakeWatch() *fakeWatch {
	return &fakeWatch{ch: make(chan watch.Event), stopped: make(chan struct{})}
}
func (w *fakeWatch) ResultChan() <-chan watch.Event { return w.ch }
func (w *fakeWatch) Stop()                          { w.stopOnce.Do(func() { close(w.stopped) }) }

// send delivers ev; it reports false if the reflector stopped the watch.
func (w *fakeWatch) send(t *testing.T, typ watch.EventType, obj runtime.Object) bool {
	t.Helper()
	select {
	case w.ch <- watch.Event{Type: typ, Object: obj}:
		return true
	case <-w.stopped:
		return false
	case <-time.After(waitLong):
		t.Fatalf("reflector did not take the %s event", typ)
		return false
	}
}

// end closes the stream from the server's side.
func (w *fakeWatch) end() { w.endOnce.Do(func() { close(w.ch) }) }

func (w *fakeWatch) isStopped() bool {
	select {
	case <-w.stopped:
		return true
	default:
		return false
	}
}

func task(name, rv string) *kunosv1.Task {
	return &kunosv1.Task{
		TypeMeta:   metav1.TypeMeta{Kind: "Task", APIVersion: "kunos.io/v1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: rv},
	}
}

func bookmark(rv string, initialEnd bool) *kunosv1.Task {
	b := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{ResourceVersion: rv}}
	if initialEnd {
		b.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: "true"}
	}
	return b
}

// op is one call the reflector made on the sink.
type op struct {
	verb string // replace, add, update, delete, bookmark
	key  string // or, for replace, the sorted keys joined by ","
	rv   string
}

func (o op) String() string { return fmt.Sprintf("%s %s@%s", o.verb, o.key, o.rv) }

// recSink records every call, in order, and can be told to fail.
type recSink struct {
	ops     chan op
	mu      sync.Mutex
	failAdd error
	during  func() // called inside Add, Update and Delete, without the lock
	objs    map[string]*kunosv1.Task
}

func newRecSink() *recSink {
	return &recSink{ops: make(chan op, 10000), objs: map[string]*kunosv1.Task{}}
}

func key(o *kunosv1.Task) string { k, _ := cache.MetaNamespaceKeyFunc(o); return k }

func (s *recSink) Replace(items []*kunosv1.Task, rv string) error {
	s.mu.Lock()
	s.objs = map[string]*kunosv1.Task{}
	keys := ""
	for i, it := range items {
		s.objs[key(it)] = it
		if i > 0 {
			keys += ","
		}
		keys += key(it)
	}
	s.mu.Unlock()
	s.ops <- op{"replace", keys, rv}
	return nil
}
func (s *recSink) put(verb string, o *kunosv1.Task) error {
	s.mu.Lock()
	if s.during != nil {
		during := s.during
		s.mu.Unlock()
		during() // e.g. time passing inside a slow handler
		s.mu.Lock()
	}
	if verb == "add" && s.failAdd != nil {
		s.mu.Unlock()
		s.ops <- op{"add-failed", key(o), o.ResourceVersion}
		return s.failAdd
	}
	if verb == "delete" {
		delete(s.objs, key(o))
	} else {
		s.objs[key(o)] = o
	}
	s.mu.Unlock()
	s.ops <- op{verb, key(o), o.ResourceVersion}
	return nil
}
func (s *recSink) Add(o *kunosv1.Task) error    { return s.put("add", o) }
func (s *recSink) Update(o *kunosv1.Task) error { return s.put("update", o) }
func (s *recSink) Delete(o *kunosv1.Task) error { return s.put("delete", o) }
func (s *recSink) Bookmark(rv string)           { s.ops <- op{"bookmark", "", rv} }

func (s *recSink) get(k string) *kunosv1.Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objs[k]
}

// harness runs one reflector against a scriptLW, with a fake clock.
type harness struct {
	t       *testing.T
	lw      *scriptLW
	sink    *recSink
	clock   *clocktesting.FakeClock
	r       *reflector.Reflector[*kunosv1.Task]
	trans   chan reflector.Transition
	metrics *recMetrics
	errs    chan error
	cancel  context.CancelFunc
	done    chan struct{}
}

func start(t *testing.T, tweak func(*reflector.Options[*kunosv1.Task])) *harness {
	t.Helper()
	h := &harness{
		t:       t,
		lw:      &scriptLW{calls: make(chan *call)},
		sink:    newRecSink(),
		clock:   clocktesting.NewFakeClock(time.Unix(1_000_000, 0)),
		trans:   make(chan reflector.Transition, 1000),
		metrics: &recMetrics{relists: map[reflector.RelistReason]int{}},
		errs:    make(chan error, 1000),
		done:    make(chan struct{}),
	}
	opts := reflector.Options[*kunosv1.Task]{
		Name:              "test",
		Clock:             h.clock,
		Metrics:           h.metrics,
		WatchdogTimeout:   time.Hour,
		BookmarkInterval:  time.Minute,
		WatchErrorHandler: func(err error) { h.errs <- err },
		Logger:            discardLogger(),
	}
	if tweak != nil {
		tweak(&opts)
	}
	h.r = reflector.New[*kunosv1.Task](h.lw, h.sink, opts)
	reflector.TraceTransitions(h.r, func(tr reflector.Transition) { h.trans <- tr })
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { defer close(h.done); h.r.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(waitLong):
		h.t.Fatal("Run did not return after cancel")
	}
}

// expect returns the next List or Watch call, which must be of verb.
func (h *harness) expect(verb string) *call {
	h.t.Helper()
	select {
	case c := <-h.lw.calls:
		if c.verb != verb {
			h.t.Fatalf("got a %s call (%+v), want %s", c.verb, c.opts, verb)
		}
		return c
	case <-time.After(waitLong):
		h.t.Fatalf("no %s call", verb)
		return nil
	}
}

// expectOp returns the next sink call and checks it against want ("" parts
// match anything).
func (h *harness) expectOp(want op) op {
	h.t.Helper()
	select {
	case got := <-h.sink.ops:
		if got.verb != want.verb || (want.key != "" && got.key != want.key) || (want.rv != "" && got.rv != want.rv) {
			h.t.Fatalf("sink got %v, want %v", got, want)
		}
		return got
	case <-time.After(waitLong):
		h.t.Fatalf("sink got nothing, want %v", want)
		return op{}
	}
}

// expectTrans returns the next transition and checks its String form.
func (h *harness) expectTrans(want string) reflector.Transition {
	h.t.Helper()
	select {
	case tr := <-h.trans:
		if tr.String() != want {
			h.t.Fatalf("transition %v (err %v), want %s", tr, tr.Err, want)
		}
		return tr
	case <-time.After(waitLong):
		h.t.Fatalf("no transition, want %s", want)
		return reflector.Transition{}
	}
}

// transitions checks a run of transitions.
func (h *harness) transitions(want ...string) {
	h.t.Helper()
	for _, w := range want {
		h.expectTrans(w)
	}
}

// elapse waits until the reflector sleeps on the fake clock, then moves the
// clock by d.
// expectRV waits until the reflector's last synced resourceVersion is
// want: the sink sees an event (expectOp) just before the reflector records
// its resourceVersion.
func (h *harness) expectRV(want string) {
	h.t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		rv := h.r.LastSyncResourceVersion()
		if rv == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("resourceVersion %q, want %q", rv, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) elapse(d time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(waitLong)
	for !h.clock.HasWaiters() {
		if time.Now().After(deadline) {
			h.t.Fatal("reflector never waited on the clock")
		}
		time.Sleep(time.Millisecond)
	}
	h.clock.Step(d)
}

// syncByWatchList answers the first watch-list with items and an end
// bookmark at rv, and returns the open stream.
func (h *harness) syncByWatchList(rv string, items ...*kunosv1.Task) *fakeWatch {
	h.t.Helper()
	h.expectTrans("sync/ok->watch-list")
	w := h.expect("watch").watch()
	for _, it := range items {
		w.send(h.t, watch.Added, it)
	}
	w.send(h.t, watch.Bookmark, bookmark(rv, true))
	h.expectOp(op{verb: "replace", rv: rv})
	h.expectTrans("watch-list/ok->stream")
	return w
}

type recMetrics struct {
	mu             sync.Mutex
	lists, watches int
	listErrs       int
	events         map[watch.EventType]int
	relists        map[reflector.RelistReason]int
	rv             string
}

func (m *recMetrics) ObserveList(_ time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lists++
	if err != nil {
		m.listErrs++
	}
}
func (m *recMetrics) WatchStarted() { m.mu.Lock(); m.watches++; m.mu.Unlock() }
func (m *recMetrics) ObserveEvent(t watch.EventType) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.events == nil {
		m.events = map[watch.EventType]int{}
	}
	m.events[t]++
}
func (m *recMetrics) Relisted(r reflector.RelistReason) { m.mu.Lock(); m.relists[r]++; m.mu.Unlock() }
func (m *recMetrics) SetResourceVersion(rv string)      { m.mu.Lock(); m.rv = rv; m.mu.Unlock() }

func (m *recMetrics) relisted(r reflector.RelistReason) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.relists[r]
}

func (m *recMetrics) snapshot() map[reflector.RelistReason]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[reflector.RelistReason]int{}
	for k, v := range m.relists {
		out[k] = v
	}
	return out
}

// drainErrs returns the errors reported to WatchErrorHandler so far.
func (h *harness) drainErrs() []error {
	var out []error
	for {
		select {
		case err := <-h.errs:
			out = append(out, err)
		default:
			return out
		}
	}
}
