package informer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

func pendingOf(reg Registration) int {
	l := reg.(*listener[*kunosv1.Task])
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fifo.len() + l.keys.len()
}

// setWindow sets a Coalesce registration's in-order window; 0 coalesces
// from the first pending notification on.
func setWindow(reg Registration, n int) {
	l := reg.(*listener[*kunosv1.Task])
	l.mu.Lock()
	l.bound = n
	l.mu.Unlock()
}

// holdHandler makes r's handler block inside a call for a throwaway key,
// so that what is pushed next stays pending.
func holdHandler(t *testing.T, s *informer[*kunosv1.Task], r *recorder, rv int) {
	t.Helper()
	r.gate = make(chan struct{})
	must(t, s.Add(task("zz-hold", rv)))
	eventually(t, "handler held", func() bool { return r.waiting.Load() == 1 })
}

func TestCoalesceSemantics(t *testing.T) {
	m := newCountingMetrics()
	s := sinkInformer(t, Options[*kunosv1.Task]{InformerMetrics: m, Delivery: Delivery{Policy: Coalesce}})
	r := newRecorder(t)
	reg, err := s.AddEventHandler(r, WithName("h"))
	must(t, err)
	setWindow(reg, 0)
	must(t, s.Replace([]*kunosv1.Task{task("a", 1), task("c", 2), task("e", 3)}, "3"))
	eventually(t, "initial list delivered", reg.HasSynced)
	holdHandler(t, s, r, 4)

	a1, _, _ := s.indexer.GetByKey("default/a")
	for rv := 5; rv <= 7; rv++ {
		must(t, s.Update(task("a", rv))) // -> update a 1->7
	}
	must(t, s.Add(task("b", 8)))     // add then delete before delivery:
	must(t, s.Delete(task("b", 9)))  // -> dropped entirely
	must(t, s.Update(task("c", 10))) // update then delete:
	must(t, s.Delete(task("c", 11))) // -> delete c@11
	must(t, s.Delete(task("e", 12))) // delete then re-create:
	must(t, s.Add(task("e", 13)))    // -> delete e@12, add e@14
	must(t, s.Update(task("e", 14)))
	must(t, s.Add(task("f", 15))) // add then update:
	must(t, s.Update(task("f", 16)))
	if got := pendingOf(reg); got != 5 { // a, b (now empty), c, e, f
		t.Errorf("pending keys = %d, want 5", got)
	}
	close(r.gate)
	eventually(t, "handler converged", func() bool { return r.converged(s.indexer) })
	r.check()

	got := r.snapshot()[4:]
	want := []event{
		{kind: kindUpdate, key: "default/a", oldRV: 1, rv: 7},
		{kind: kindDelete, key: "default/c", rv: 11},
		{kind: kindDelete, key: "default/e", rv: 12},
		{kind: kindAdd, key: "default/e", rv: 14},
		{kind: kindAdd, key: "default/f", rv: 16},
	}
	if !slices.Equal(got, want) {
		t.Errorf("delivered\n%v\nwant\n%v", got, want)
	}
	if a1 == nil {
		t.Fatal("a@1 missing")
	}
	// a: 2 merged updates; b: add+delete; c: update into delete; e: update
	// into re-add; f: update into add.
	if n := m.get(func(m *countingMetrics) int { return m.coalesced["h"] }); n != 7 {
		t.Errorf("coalesced = %d, want 7", n)
	}
}

// TestDefaultDeliveryLosesNothing: with the default policy, a handler far
// behind still sees an object that was added and deleted inside its
// backlog, and every intermediate state, in order.
func TestDefaultDeliveryLosesNothing(t *testing.T) {
	s := sinkInformer(t, Options[*kunosv1.Task]{})
	r := newRecorder(t)
	reg, err := s.AddEventHandler(r, WithName("h"))
	must(t, err)
	setWindow(reg, 0)
	must(t, s.Replace([]*kunosv1.Task{task("a", 1)}, "1"))
	eventually(t, "initial list delivered", reg.HasSynced)
	holdHandler(t, s, r, 2)
	must(t, s.Update(task("a", 3)))
	must(t, s.Add(task("b", 4)))
	must(t, s.Delete(task("b", 5)))
	must(t, s.Update(task("a", 6)))
	close(r.gate)
	eventually(t, "handler converged", func() bool { return r.converged(s.indexer) })
	r.check()
	got := r.snapshot()[2:]
	want := []event{
		{kind: kindUpdate, key: "default/a", oldRV: 1, rv: 3},
		{kind: kindAdd, key: "default/b", rv: 4},
		{kind: kindDelete, key: "default/b", rv: 5},
		{kind: kindUpdate, key: "default/a", oldRV: 3, rv: 6},
	}
	if !slices.Equal(got, want) {
		t.Errorf("delivered\n%v\nwant\n%v", got, want)
	}
}

func TestCoalesceResyncOfPendingKeyIsDropped(t *testing.T) {
	s := sinkInformer(t, Options[*kunosv1.Task]{Delivery: Delivery{Policy: Coalesce}})
	r := newRecorder(t)
	reg, err := s.AddEventHandler(r, WithResyncPeriod(time.Second))
	must(t, err)
	setWindow(reg, 0)
	must(t, s.Replace([]*kunosv1.Task{task("a", 1)}, "1"))
	eventually(t, "initial", func() bool { return r.calls.Load() == 1 })
	holdHandler(t, s, r, 2)
	must(t, s.Update(task("a", 3)))
	s.acquire()
	for _, l := range *s.active.Load() {
		for _, obj := range s.indexer.List() {
			l.push(notification[*kunosv1.Task]{kind: kindUpdate, flag: true, key: "default/" + obj.Name, oldObj: obj, obj: obj}, false, s.abort)
		}
	}
	s.release()
	close(r.gate)
	eventually(t, "converged", func() bool { return r.converged(s.indexer) })
	r.check()
	// zz-hold gets its resync (update 2->2); a's resync merged into its
	// pending real update 1->3.
	got := r.snapshot()[1:]
	want := []event{{kind: kindAdd, key: "default/zz-hold", rv: 2}, {kind: kindUpdate, key: "default/a", oldRV: 1, rv: 3}, {kind: kindUpdate, key: "default/zz-hold", oldRV: 2, rv: 2, oldSame: true}}
	if !slices.Equal(got, want) {
		t.Errorf("delivered\n%v\nwant\n%v", got, want)
	}
}

// TestCoalesceWindow checks that Coalesce delivers every notification in
// order within its window and merges only past it, keeping per-key order
// across the two.
func TestCoalesceWindow(t *testing.T) {
	s := sinkInformer(t, Options[*kunosv1.Task]{Delivery: Delivery{Policy: Coalesce, BufferSize: 2}})
	r := newRecorder(t)
	reg, err := s.AddEventHandler(r)
	must(t, err)
	must(t, s.Replace([]*kunosv1.Task{task("a", 1)}, "1"))
	eventually(t, "initial", reg.HasSynced)
	holdHandler(t, s, r, 2)
	for rv := 5; rv <= 8; rv++ {
		must(t, s.Update(task("a", rv))) // 5, 6 in the window; 7, 8 merged
	}
	must(t, s.Add(task("b", 9)))
	if got := pendingOf(reg); got != 4 {
		t.Errorf("pending = %d, want 2 in the window + 2 keys", got)
	}
	close(r.gate)
	eventually(t, "converged", func() bool { return r.converged(s.indexer) })
	must(t, s.Update(task("a", 10))) // backlog drained: in order again
	must(t, s.Update(task("a", 11)))
	eventually(t, "converged", func() bool { return r.calls.Load() == 8 })
	r.check()
	want := []event{
		{kind: kindUpdate, key: "default/a", oldRV: 1, rv: 5},
		{kind: kindUpdate, key: "default/a", oldRV: 5, rv: 6},
		{kind: kindUpdate, key: "default/a", oldRV: 6, rv: 8},
		{kind: kindAdd, key: "default/b", rv: 9},
		{kind: kindUpdate, key: "default/a", oldRV: 8, rv: 10},
		{kind: kindUpdate, key: "default/a", oldRV: 10, rv: 11},
	}
	if got := r.snapshot()[2:]; !slices.Equal(got, want) {
		t.Errorf("delivered\n%v\nwant\n%v", got, want)
	}
}

func TestBlockAppliesBackpressureWithoutLoss(t *testing.T) {
	s := sinkInformer(t, Options[*kunosv1.Task]{Delivery: Delivery{Policy: Block, BufferSize: 4}})
	r := newRecorder(t)
	reg, err := s.AddEventHandler(r)
	must(t, err)
	must(t, s.Replace(nil, "1"))
	holdHandler(t, s, r, 1)

	var progress, done = make(chan int, 100), make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			if err := s.Add(task(fmt.Sprintf("k%02d", i), 10+i)); err != nil {
				t.Error(err)
			}
			progress <- i
		}
	}()
	// 4 fit in the buffer; the 5th push waits for space.
	eventually(t, "buffer full", func() bool { return len(progress) == 4 && pendingOf(reg) == 4 })
	time.Sleep(20 * time.Millisecond)
	if n := len(progress); n != 4 {
		t.Fatalf("sink went on past a full Block buffer: %d pushes done", n)
	}
	close(r.gate)
	<-done
	eventually(t, "all delivered", func() bool { return r.calls.Load() == 21 })
	r.check()
	for i, e := range r.snapshot()[1:] {
		if want := fmt.Sprintf("default/k%02d", i); e.key != want || e.kind != kindAdd {
			t.Fatalf("event %d = %v, want add %s", i, e, want)
		}
	}
}

func TestUnboundedDeliversEverything(t *testing.T) {
	s := sinkInformer(t, Options[*kunosv1.Task]{Delivery: Delivery{Policy: Unbounded, BufferSize: 16}})
	r := newRecorder(t)
	reg, err := s.AddEventHandler(r)
	must(t, err)
	must(t, s.Replace(nil, "1"))
	holdHandler(t, s, r, 1)
	const n = 5000
	for i := range n {
		must(t, s.Update(task(fmt.Sprintf("k%d", i%10), 10+i)))
	}
	if got := pendingOf(reg); got != n {
		t.Fatalf("pending = %d, want %d", got, n)
	}
	close(r.gate)
	eventually(t, "all delivered", func() bool { return r.calls.Load() == n+1 })
	r.check()
	for i, e := range r.snapshot()[1:] {
		if e.rv != 10+i {
			t.Fatalf("event %d has rv %d, want %d", i, e.rv, 10+i)
		}
	}
	// The ring gave its memory back once drained.
	l := reg.(*listener[*kunosv1.Task])
	l.mu.Lock()
	capacity := len(l.fifo.buf)
	l.mu.Unlock()
	if capacity > 64 {
		t.Errorf("drained ring keeps capacity %d", capacity)
	}
}

// model drives an informer's Sink with random changes and records, per key,
// the notifications the sink must produce.
type model struct {
	t    testing.TB
	s    *informer[*kunosv1.Task]
	rng  *rand.Rand
	rv   int
	live map[string]*kunosv1.Task
	keys []string
	want map[string][]event
}

func newModel(t testing.TB, s *informer[*kunosv1.Task], seed uint64, nkeys int) *model {
	m := &model{t: t, s: s, rng: rand.New(rand.NewPCG(seed, 1)), live: map[string]*kunosv1.Task{}, want: map[string][]event{}}
	for i := range nkeys {
		m.keys = append(m.keys, fmt.Sprintf("k%03d", i))
	}
	return m
}

func (m *model) step() {
	name := m.keys[m.rng.IntN(len(m.keys))]
	key := "default/" + name
	m.rv++
	prev, ok := m.live[name]
	switch {
	case m.rng.IntN(200) == 0:
		m.replace()
		return
	case !ok:
		obj := task(name, m.rv)
		must(m.t, m.s.Add(obj))
		m.live[name] = obj
		m.want[key] = append(m.want[key], event{kind: kindAdd, key: key, rv: m.rv})
	case m.rng.IntN(4) == 0:
		must(m.t, m.s.Delete(task(name, m.rv)))
		delete(m.live, name)
		m.want[key] = append(m.want[key], event{kind: kindDelete, key: key, rv: m.rv})
	default:
		obj := task(name, m.rv)
		must(m.t, m.s.Update(obj))
		m.live[name] = obj
		m.want[key] = append(m.want[key], event{kind: kindUpdate, key: key, oldRV: rvOf(prev), rv: m.rv})
	}
}

// replace relists: some objects vanish, some change, some appear, the rest
// stay as they are.
func (m *model) replace() {
	next := map[string]*kunosv1.Task{}
	for _, name := range m.keys {
		prev, ok := m.live[name]
		key := "default/" + name
		switch r := m.rng.IntN(4); {
		case ok && r == 0: // vanished
			m.want[key] = append(m.want[key], event{kind: kindDelete, key: key, rv: rvOf(prev), flag: true})
		case ok && r == 1: // changed
			obj := task(name, m.rv)
			next[name] = obj
			m.want[key] = append(m.want[key], event{kind: kindUpdate, key: key, oldRV: rvOf(prev), rv: m.rv})
		case ok: // unchanged: no notification
			next[name] = prev
		case r == 0: // appeared
			obj := task(name, m.rv)
			next[name] = obj
			m.want[key] = append(m.want[key], event{kind: kindAdd, key: key, rv: m.rv})
		}
	}
	items := make([]*kunosv1.Task, 0, len(next))
	for _, obj := range next {
		items = append(items, obj)
	}
	must(m.t, m.s.Replace(items, fmt.Sprint(m.rv)))
	m.live = next
}

func perKey(events []event) map[string][]event {
	out := map[string][]event{}
	for _, e := range events {
		out[e.key] = append(out[e.key], e)
	}
	return out
}

// TestRandomizedPerKeyOrder drives random changes and relists through every
// policy with handlers of random speed, and checks each handler's view per
// key: consistent at every step (see recorder), equal to the cache at the
// end, and, for Block and Unbounded, exactly the sink's notifications.
func TestRandomizedPerKeyOrder(t *testing.T) {
	for _, p := range []Policy{Coalesce, Block, Unbounded} {
		t.Run(p.String(), func(t *testing.T) {
			for seed := range uint64(3) {
				s := sinkInformer(t, Options[*kunosv1.Task]{Delivery: Delivery{Policy: p, BufferSize: 8}})
				must(t, s.Replace(nil, "0"))
				var recs []*recorder
				for i := range 3 {
					r := newRecorder(t)
					if i == 1 {
						r.slow, r.slowEvery = 50*time.Microsecond, 16
					}
					_, err := s.AddEventHandler(r)
					must(t, err)
					recs = append(recs, r)
				}
				m := newModel(t, s, seed, 40)
				for range 3000 {
					m.step()
				}
				for i, r := range recs {
					eventually(t, fmt.Sprintf("handler %d converged", i), func() bool { return r.converged(s.indexer) })
					r.check()
					if p == Coalesce {
						continue
					}
					got := perKey(r.snapshot())
					for key, want := range m.want {
						if !slices.Equal(got[key], want) {
							t.Fatalf("seed %d handler %d key %s:\n got %v\nwant %v", seed, i, key, got[key], want)
						}
					}
				}
			}
		})
	}
}

// TestBlockedSinkIsReleased checks that a sink waiting on a full Block
// buffer moves on when that handler is removed, and that a handler added
// meanwhile is admitted without waiting and without a gap.
func TestBlockedSinkIsReleased(t *testing.T) {
	s := sinkInformer(t, Options[*kunosv1.Task]{Delivery: Delivery{Policy: Block, BufferSize: 1}})
	r := newRecorder(t)
	reg, err := s.AddEventHandler(r)
	must(t, err)
	must(t, s.Replace(nil, "1"))
	holdHandler(t, s, r, 1)
	must(t, s.Add(task("a", 2))) // fills the buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		must(t, s.Add(task("b", 3))) // waits for space
		must(t, s.Add(task("c", 4)))
	}()
	eventually(t, "sink waiting", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.busy
	})
	late := newRecorder(t)
	lateReg, err := s.AddEventHandler(late) // must not wait for the sink
	must(t, err)
	must(t, s.RemoveEventHandler(reg))
	<-done
	close(r.gate)
	eventually(t, "late handler converged", func() bool { return late.converged(s.indexer) })
	late.check()
	if !lateReg.HasSynced() {
		t.Error("late handler not synced")
	}
}
