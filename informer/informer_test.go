package informer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/reflector"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestLateHandlerJoinsWithoutGap adds handlers while the sink streams
// changes from another goroutine: each must see every key exactly once
// through its snapshot or a notification, in order (the recorder checks
// that every update's old state is the one the handler last saw, which a
// gap or a duplicate would break), and end equal to the cache.
func TestLateHandlerJoinsWithoutGap(t *testing.T) {
	for _, p := range []Policy{Coalesce, Block, Unbounded} {
		t.Run(p.String(), func(t *testing.T) {
			s := sinkInformer(t, Options[*kunosv1.Task]{Delivery: Delivery{Policy: p, BufferSize: 16}})
			m := newModel(t, s, 7, 50)
			must(t, s.Replace(nil, "0"))
			for range 500 {
				m.step()
			}
			stop, done := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(done)
				for {
					select {
					case <-stop:
						return
					default:
						m.step()
					}
				}
			}()
			var recs []*recorder
			var regs []Registration
			for range 8 {
				time.Sleep(time.Millisecond)
				r := newRecorder(t)
				reg, err := s.AddEventHandler(r)
				must(t, err)
				recs, regs = append(recs, r), append(regs, reg)
			}
			close(stop)
			<-done
			for i, r := range recs {
				eventually(t, "late handler converged", func() bool { return r.converged(s.indexer) })
				r.check()
				if !regs[i].HasSynced() {
					t.Errorf("handler %d converged but not synced", i)
				}
				// Its first notification per key is an add; the snapshot's
				// adds are flagged initial and come first.
				firsts := map[string]bool{}
				initialDone := false
				for _, e := range r.snapshot() {
					if !firsts[e.key] && e.kind != kindAdd {
						t.Fatalf("handler %d: first notification of %s is %v", i, e.key, e)
					}
					firsts[e.key] = true
					// Under Coalesce a snapshot key deleted and re-created
					// before delivery keeps its early place as a live add.
					if e.kind == kindAdd && e.flag && initialDone && p != Coalesce {
						t.Fatalf("handler %d: initial add %v after a live notification", i, e)
					}
					if !(e.kind == kindAdd && e.flag) {
						initialDone = true
					}
				}
			}
		})
	}
}

func TestRegistrationHasSynced(t *testing.T) {
	s := sinkInformer(t, Options[*kunosv1.Task]{})
	early := newRecorder(t)
	early.gate = make(chan struct{})
	regEarly, err := s.AddEventHandler(early)
	must(t, err)
	if regEarly.HasSynced() || s.HasSynced() {
		t.Fatal("synced before the initial list")
	}
	must(t, s.Replace([]*kunosv1.Task{task("a", 1), task("b", 2)}, "2"))
	if !s.HasSynced() {
		t.Fatal("informer not synced after its initial list")
	}
	if regEarly.HasSynced() {
		t.Fatal("registration synced before its initial adds were delivered")
	}
	early.gate <- struct{}{}
	eventually(t, "first add", func() bool { return early.calls.Load() == 1 })
	if regEarly.HasSynced() {
		t.Fatal("registration synced with one initial add pending")
	}
	early.gate <- struct{}{}
	eventually(t, "early synced", regEarly.HasSynced)

	// A live event pending does not hold back HasSynced.
	must(t, s.Add(task("c", 3)))
	if !regEarly.HasSynced() {
		t.Fatal("a live notification un-synced the registration")
	}

	late := newRecorder(t)
	late.gate = make(chan struct{})
	regLate, err := s.AddEventHandler(late)
	must(t, err)
	if regLate.HasSynced() {
		t.Fatal("late registration synced before its snapshot was delivered")
	}
	close(late.gate)
	close(early.gate)
	eventually(t, "late synced", regLate.HasSynced)
	if n := late.calls.Load(); n != 3 {
		t.Fatalf("late handler got %d notifications, want 3 initial adds", n)
	}
	for _, e := range late.snapshot() {
		if e.kind != kindAdd || !e.flag {
			t.Fatalf("late handler got %v, want initial adds", e)
		}
	}
	if !WaitForCacheSync(context.Background(), s.HasSynced, regEarly.HasSynced, regLate.HasSynced) {
		t.Fatal("WaitForCacheSync = false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if WaitForCacheSync(ctx, func() bool { return false }) {
		t.Fatal("WaitForCacheSync = true for a never-synced func")
	}
}

func TestRemoveEventHandlerStopsDelivery(t *testing.T) {
	m := newCountingMetrics()
	s := sinkInformer(t, Options[*kunosv1.Task]{InformerMetrics: m})
	must(t, s.Replace(nil, "0"))
	keep, gone := newRecorder(t), newRecorder(t)
	_, err := s.AddEventHandler(keep, WithName("keep"))
	must(t, err)
	reg, err := s.AddEventHandler(gone, WithName("gone"))
	must(t, err)
	must(t, s.Add(task("a", 1)))
	eventually(t, "both got a", func() bool { return keep.calls.Load() == 1 && gone.calls.Load() == 1 })

	// Hold the handler inside a call, queue more, then remove it: the call
	// in progress finishes, nothing queued is delivered.
	gone.gate = make(chan struct{})
	must(t, s.Add(task("b", 2)))
	eventually(t, "gone held", func() bool { return gone.waiting.Load() == 1 })
	must(t, s.Add(task("c", 3)))
	must(t, s.RemoveEventHandler(reg))
	select {
	case <-reg.Done():
		t.Fatal("Done closed while the handler is still in a call")
	default:
	}
	close(gone.gate)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, s.RemoveEventHandlerAndWait(ctx, reg)) // idempotent, and waits
	must(t, s.Add(task("d", 4)))
	eventually(t, "keep got everything", func() bool { return keep.calls.Load() == 4 })
	if n := gone.calls.Load(); n != 2 {
		t.Fatalf("removed handler got %d calls, want 2 (a, and b in progress)", n)
	}
	if got := m.removed; !slices.Equal(got, []string{"gone"}) {
		t.Errorf("HandlerRemoved calls = %v", got)
	}
	// The name is free again.
	_, err = s.AddEventHandler(newRecorder(t), WithName("gone"))
	must(t, err)
	if _, err := s.AddEventHandler(newRecorder(t), WithName("keep")); err == nil {
		t.Error("duplicate handler name accepted")
	}

	other := sinkInformer(t, Options[*kunosv1.Task]{})
	if err := other.RemoveEventHandler(reg); err == nil {
		t.Error("removing another informer's registration succeeded")
	}
}

func TestRemoveBeforeRun(t *testing.T) {
	s := newInformer[*kunosv1.Task](nopLW{}, Options[*kunosv1.Task]{})
	reg, err := s.AddEventHandler(newRecorder(t))
	must(t, err)
	must(t, s.RemoveEventHandlerAndWait(context.Background(), reg))
}

func TestPanickingHandlerKeepsReceiving(t *testing.T) {
	m := newCountingMetrics()
	s := sinkInformer(t, Options[*kunosv1.Task]{InformerMetrics: m})
	var mu sync.Mutex
	var got []string
	reg, err := s.AddEventHandler(HandlerFuncs[*kunosv1.Task]{
		AddFunc: func(obj *kunosv1.Task, initial bool) {
			if obj.Name == "boom" {
				panic("boom")
			}
			mu.Lock()
			got = append(got, obj.Name)
			mu.Unlock()
		},
	}, WithName("p"))
	must(t, err)
	must(t, s.Replace([]*kunosv1.Task{task("boom", 1)}, "1"))
	must(t, s.Add(task("after", 2)))
	eventually(t, "after delivered", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	if n := m.get(func(m *countingMetrics) int { return m.panics["p"] }); n != 1 {
		t.Errorf("panics counted = %d, want 1", n)
	}
	// The panicking initial add still counts as delivered.
	eventually(t, "synced after a panic", reg.HasSynced)
}

func TestRelistNotifications(t *testing.T) {
	m := newCountingMetrics()
	s := sinkInformer(t, Options[*kunosv1.Task]{InformerMetrics: m})
	r := newRecorder(t)
	_, err := s.AddEventHandler(r)
	must(t, err)
	a1, b1, c1 := task("a", 1), task("b", 2), task("c", 3)
	must(t, s.Replace([]*kunosv1.Task{a1, b1, c1}, "3"))
	eventually(t, "initial", func() bool { return r.calls.Load() == 3 })
	// a unchanged (same RV, even as a new object), b changed, c gone, d new.
	must(t, s.Replace([]*kunosv1.Task{task("a", 1), task("b", 5), task("d", 6)}, "6"))
	eventually(t, "relist", func() bool { return r.calls.Load() == 6 })
	r.check()
	got := r.snapshot()
	for _, e := range got[:3] {
		if e.kind != kindAdd || !e.flag {
			t.Errorf("initial notification %v, want an initial add", e)
		}
	}
	byKey := perKey(got[3:])
	want := map[string][]event{
		"default/b": {{kind: kindUpdate, key: "default/b", oldRV: 2, rv: 5}},
		"default/c": {{kind: kindDelete, key: "default/c", rv: 3, flag: true}},
		"default/d": {{kind: kindAdd, key: "default/d", rv: 6}},
	}
	if len(byKey) != len(want) {
		t.Errorf("relist notified %v, want %v", byKey, want)
	}
	for k, w := range want {
		if !slices.Equal(byKey[k], w) {
			t.Errorf("%s: %v, want %v", k, byKey[k], w)
		}
	}
	if got := s.indexer.LastStoreSyncResourceVersion(); got != "6" {
		t.Errorf("store RV = %q", got)
	}
	if n := m.get(func(m *countingMetrics) int { return m.objects }); n != 3 {
		t.Errorf("store objects metric = %d, want 3", n)
	}
	// Bad keys are skipped, not fatal.
	must(t, s.Replace([]*kunosv1.Task{task("a", 1), {}}, "7"))
	if s.indexer.Len() != 1 {
		t.Errorf("store has %d objects, want 1", s.indexer.Len())
	}
}

func TestResync(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	s := sinkInformer(t, Options[*kunosv1.Task]{Options: reflector.Options[*kunosv1.Task]{Clock: clk}, ResyncPeriod: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.resyncLoop(ctx) }()
	defer func() { cancel(); <-done }()

	def, fast, none := newRecorder(t), newRecorder(t), newRecorder(t)
	_, err := s.AddEventHandler(def)
	must(t, err)
	_, err = s.AddEventHandler(fast, WithResyncPeriod(3*time.Second))
	must(t, err)
	_, err = s.AddEventHandler(none, WithResyncPeriod(0))
	must(t, err)
	must(t, s.Replace([]*kunosv1.Task{task("a", 1), task("b", 2)}, "2"))
	eventually(t, "initial", func() bool { return def.calls.Load()+fast.calls.Load()+none.calls.Load() == 6 })

	syncs := func(r *recorder) int {
		n := 0
		for _, e := range r.snapshot() {
			if e.kind == kindUpdate && e.oldSame {
				n++
			}
		}
		return n
	}
	step := func(d time.Duration) {
		eventually(t, "resync timer armed", clk.HasWaiters)
		clk.Step(d)
	}
	step(3 * time.Second)
	eventually(t, "fast resynced", func() bool { return syncs(fast) == 2 })
	step(3 * time.Second)
	eventually(t, "fast resynced twice", func() bool { return syncs(fast) == 4 })
	step(4 * time.Second)
	eventually(t, "default resynced", func() bool { return syncs(def) == 2 })
	if n := syncs(none); n != 0 {
		t.Errorf("handler without resync got %d resyncs", n)
	}
	for _, r := range []*recorder{def, fast, none} {
		r.check()
	}
}

// fakeLW serves a fixed list and hands each watch's event channel to the
// test.
type fakeLW struct {
	mu      sync.Mutex
	items   []*kunosv1.Task
	rv      string
	watches chan chan<- watchEvent
}

type watchEvent = struct {
	typ string
	obj *kunosv1.Task
}

// chanWatch turns the test's watchEvents into a watch.Interface.
type chanWatch struct {
	in   chan watchEvent
	out  chan watch.Event
	stop chan struct{}
	once sync.Once
}

func (w *chanWatch) ResultChan() <-chan watch.Event { return w.out }
func (w *chanWatch) Stop()                          { w.once.Do(func() { close(w.stop) }) }

func (f *fakeLW) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	w := &chanWatch{in: make(chan watchEvent, 100), out: make(chan watch.Event), stop: make(chan struct{})}
	go func() {
		defer close(w.out)
		for {
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			case e := <-w.in:
				select {
				case w.out <- watch.Event{Type: watch.EventType(e.typ), Object: e.obj}:
				case <-w.stop:
					return
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	f.watches <- w.in
	return w, nil
}

func newFakeLW(rv string, items ...*kunosv1.Task) *fakeLW {
	return &fakeLW{items: items, rv: rv, watches: make(chan chan<- watchEvent, 16)}
}

func (f *fakeLW) List(ctx context.Context, opts metav1.ListOptions) ([]*kunosv1.Task, metav1.ListMeta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.items), metav1.ListMeta{ResourceVersion: f.rv}, nil
}

func TestRunEndToEnd(t *testing.T) {
	lw := newFakeLW("2", task("a", 1), task("b", 2))
	off := false
	m := newCountingMetrics()
	inf := New[*kunosv1.Task](lw, Options[*kunosv1.Task]{
		Options:         reflector.Options[*kunosv1.Task]{Name: "tasks", WatchList: &off},
		InformerMetrics: m,
		Resource:        kunosv1.Tasks.GVR.GroupResource(),
	})
	r := newRecorder(t)
	reg, err := inf.AddEventHandler(r)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); inf.Run(ctx) }()
	if !WaitForCacheSync(ctx, inf.HasSynced, reg.HasSynced) {
		t.Fatal("not synced")
	}
	events := <-lw.watches
	events <- watchEvent{"MODIFIED", task("a", 3)}
	events <- watchEvent{"DELETED", task("b", 4)}
	events <- watchEvent{"ADDED", task("c", 5)}
	eventually(t, "watch events delivered", func() bool { return r.calls.Load() == 5 })
	r.check()
	if rv := inf.LastSyncResourceVersion(); rv != "5" {
		t.Errorf("LastSyncResourceVersion = %q, want 5", rv)
	}
	got, err := inf.Lister().Namespace("default").Get("c")
	must(t, err)
	if got.ResourceVersion != "5" {
		t.Errorf("lister got %v", got)
	}
	if _, err := inf.Lister().Get("missing"); err == nil || !strings.Contains(err.Error(), "tasks") {
		t.Errorf("lister NotFound error = %v", err)
	}
	cancel()
	<-done
	if _, err := inf.AddEventHandler(newRecorder(t)); !errors.Is(err, ErrStopped) {
		t.Errorf("AddEventHandler after stop: %v", err)
	}
	select {
	case <-reg.Done():
	default:
		t.Error("handler goroutine still running after Run returned")
	}
	if m.get(func(m *countingMetrics) int { return m.stopped }) != 1 {
		t.Error("Stopped not reported")
	}
	inf.Run(context.Background()) // a second Run returns at once
}

func ExampleNew() {
	lw := newFakeLW("2", task("a", 1), task("b", 2))
	off := false
	inf := New[*kunosv1.Task](lw, Options[*kunosv1.Task]{Options: reflector.Options[*kunosv1.Task]{Name: "tasks", WatchList: &off}})

	var mu sync.Mutex
	var seen []string
	reg, _ := inf.AddEventHandler(HandlerFuncs[*kunosv1.Task]{
		AddFunc: func(t *kunosv1.Task, initial bool) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, fmt.Sprintf("add %s initial=%v", t.Name, initial))
		},
	}, WithName("example"))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); inf.Run(ctx) }()
	WaitForCacheSync(ctx, reg.HasSynced)
	cancel()
	<-done

	slices.Sort(seen)
	for _, s := range seen {
		fmt.Println(s)
	}
	// Output:
	// add a initial=true
	// add b initial=true
}

// TestConcurrentAddRemove adds and removes handlers from several goroutines
// while the sink streams changes; every removal's goroutine ends, and every
// handler still registered ends equal to the cache.
func TestConcurrentAddRemove(t *testing.T) {
	s := sinkInformer(t, Options[*kunosv1.Task]{Delivery: Delivery{BufferSize: 4}})
	must(t, s.Replace(nil, "0"))
	m := newModel(t, s, 11, 30)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				m.step()
			}
		}
	}()
	var wg sync.WaitGroup
	kept := make([][]*recorder, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				time.Sleep(200 * time.Microsecond) // let changes flow in between
				r := newRecorder(t)
				p := []Policy{Coalesce, Block, Unbounded}[i%3]
				reg, err := s.AddEventHandler(r, WithDelivery(Delivery{Policy: p, BufferSize: 4}))
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					kept[g] = append(kept[g], r)
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := s.RemoveEventHandlerAndWait(ctx, reg); err != nil {
					t.Error(err)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-done
	for _, rs := range kept {
		for _, r := range rs {
			eventually(t, "kept handler converged", func() bool { return r.converged(s.indexer) })
			r.check()
		}
	}
}
