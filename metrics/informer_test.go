package metrics

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestInformerHookRecords(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	h := m.Informer("tasks")
	if m.Informer("tasks") != h {
		t.Fatal("a second Informer call with a live name returned a new hook")
	}
	h.SetStoreObjects(3)
	h.SetSynced(true)
	h.SetPending("ctrl", 4)
	h.SetPending("ctrl", 2)
	h.ObserveHandler("ctrl", 20*time.Millisecond)
	h.Coalesced("ctrl")
	h.Coalesced("ctrl")
	h.HandlerPanicked("audit")

	want := `
# HELP informer_store_objects Number of objects in the informer's store.
# TYPE informer_store_objects gauge
informer_store_objects{name="tasks"} 3
# HELP informer_synced 1 once the informer's store holds a complete initial list, 0 before.
# TYPE informer_synced gauge
informer_synced{name="tasks"} 1
# HELP informer_pending_notifications Notifications buffered for a handler and not yet delivered.
# TYPE informer_pending_notifications gauge
informer_pending_notifications{handler="audit",name="tasks"} 0
informer_pending_notifications{handler="ctrl",name="tasks"} 2
# HELP informer_coalesced_notifications_total Total number of notifications merged into a later one for the same key because the handler's buffer was full.
# TYPE informer_coalesced_notifications_total counter
informer_coalesced_notifications_total{handler="audit",name="tasks"} 0
informer_coalesced_notifications_total{handler="ctrl",name="tasks"} 2
# HELP informer_handler_panics_total Total number of panics recovered from a handler.
# TYPE informer_handler_panics_total counter
informer_handler_panics_total{handler="audit",name="tasks"} 1
informer_handler_panics_total{handler="ctrl",name="tasks"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"informer_store_objects", "informer_synced", "informer_pending_notifications",
		"informer_coalesced_notifications_total", "informer_handler_panics_total"); err != nil {
		t.Fatal(err)
	}
	h.SetSynced(false)
	if got := testutil.ToFloat64(m.inf.synced.WithLabelValues("tasks")); got != 0 {
		t.Fatalf("synced = %v after SetSynced(false)", got)
	}
	if got := testutil.CollectAndCount(m.inf.duration); got != 2 {
		t.Fatalf("handler duration series = %d, want 2", got)
	}
}

func TestInformerHandlerRemoved(t *testing.T) {
	m := New(nil)
	h := m.Informer("tasks")
	h.SetPending("a", 1)
	h.SetPending("b", 1)
	h.HandlerRemoved("a")
	h.HandlerRemoved("a")     // idempotent
	h.HandlerRemoved("never") // unknown handler
	if n := countWithLabel(t, m, "handler", "a"); n != 0 {
		t.Fatalf("%d series of the removed handler remain", n)
	}
	if n := countWithLabel(t, m, "handler", "b"); n != 4 {
		t.Fatalf("other handler has %d series, want 4", n)
	}
	// A new registration under the same name starts from zero.
	h.HandlerPanicked("a")
	if got := testutil.ToFloat64(m.inf.panics.WithLabelValues("tasks", "a")); got != 1 {
		t.Fatalf("panics of re-added handler = %v, want 1", got)
	}
}

func TestInformerStoppedDeletesInformerAndReflectorSeries(t *testing.T) {
	m := New(nil)
	for _, name := range []string{"a", "b"} {
		i := m.InformerMetrics(name)
		r := m.ReflectorMetrics(name)
		i.SetStoreObjects(1)
		i.SetSynced(true)
		i.SetPending("h", 1)
		i.ObserveHandler("h", time.Millisecond)
		r.WatchStarted()
		r.ObserveEvent("ADDED")
		r.SetResourceVersion("5")
	}
	before := testutil.CollectAndCount(m)
	a := m.Informer("a")
	a.Stopped()
	a.Stopped() // idempotent
	after := testutil.CollectAndCount(m)
	if after*2 != before || countWithLabel(t, m, "name", "a") != 0 {
		t.Fatalf("series: %d before, %d after; %d of a remain", before, after, countWithLabel(t, m, "name", "a"))
	}
	// Late reports from the stopping informer are dropped.
	a.SetStoreObjects(2)
	a.SetSynced(false)
	a.SetPending("h", 3)
	a.SetPending("new", 3)
	a.ObserveHandler("h", time.Second)
	a.Coalesced("h")
	a.HandlerPanicked("h")
	a.HandlerRemoved("h")
	if n := testutil.CollectAndCount(m); n != after {
		t.Fatalf("late reports resurrected series: %d, want %d", n, after)
	}
	m.DeleteInformer("b")
	if n := testutil.CollectAndCount(m); n != 0 {
		t.Fatalf("%d series remain after deleting both informers", n)
	}
	m.DeleteInformer("b") // nothing left: a no-op
}

func TestInformerEmptyNameRecordsNothing(t *testing.T) {
	m := New(nil)
	h := m.Informer("")
	h.SetStoreObjects(1)
	h.SetSynced(true)
	h.SetPending("h", 1)
	h.ObserveHandler("h", time.Second)
	h.Coalesced("h")
	h.HandlerPanicked("h")
	h.HandlerRemoved("h")
	h.Stopped()
	if n := testutil.CollectAndCount(m); n != 0 {
		t.Fatalf("unnamed informer produced %d series", n)
	}
}

// TestStopRacesReports runs reports concurrently with stops and checks the
// invariant that matters: once everything has stopped, no series is left,
// whatever the interleaving.
func TestStopRacesReports(t *testing.T) {
	for round := range 20 {
		m := New(nil)
		name := fmt.Sprint("inf-", round)
		inf := m.Informer(name)
		refl := m.Reflector(name)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				handler := fmt.Sprint("h", g)
				for i := range 200 {
					inf.SetPending(handler, i)
					inf.ObserveHandler(handler, time.Microsecond)
					inf.Coalesced(handler)
					inf.SetStoreObjects(i)
					refl.ObserveEvent("MODIFIED")
					refl.SetResourceVersion(fmt.Sprint(i))
					refl.Relisted("expired")
					if i == 100 && g == 0 {
						inf.HandlerRemoved("h1")
					}
				}
			})
		}
		wg.Go(func() { inf.Stopped() })
		wg.Wait()
		if n := testutil.CollectAndCount(m); n != 0 {
			t.Fatalf("round %d: %d series survive a stop racing with reports", round, n)
		}
	}
}

// TestStopRacesRestartUnderSameName: a component stopping while a new one
// with the same name starts must never delete the new one's series (which
// would leave it reporting into detached series forever).
func TestStopRacesRestartUnderSameName(t *testing.T) {
	m := New(nil)
	for range 200 {
		oldR, oldI := m.Reflector("x"), m.Informer("x")
		oldR.WatchStarted()
		oldI.SetStoreObjects(1)
		var newR *ReflectorHook
		var newI *InformerHook
		var wg sync.WaitGroup
		wg.Go(oldI.Stopped) // cascades to the reflector
		wg.Go(func() {
			newR, newI = m.Reflector("x"), m.Informer("x")
			newR.WatchStarted()
			newI.SetStoreObjects(2)
		})
		wg.Wait()
		// Report again: a live new hook must be visible.
		newR.WatchStarted()
		newI.SetStoreObjects(3)
		if newR != oldR {
			if n := countWithLabel(t, m.refl.watches, "name", "x"); n != 1 {
				t.Fatalf("new reflector's series lost")
			}
		}
		if newI != oldI {
			if n := countWithLabel(t, m.inf.objects, "name", "x"); n != 1 {
				t.Fatalf("new informer's series lost")
			}
		}
		newI.Stopped()
		newR.Stopped()
	}
}
