package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/watch"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kunos-io/listwatch/reflector"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestReflectorHookRecords(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(t0)
	reg := prometheus.NewPedanticRegistry()
	m := New(reg, WithClock(clk))
	h := m.Reflector("tasks")
	if m.Reflector("tasks") != h {
		t.Fatal("a second Reflector call with a live name returned a new hook")
	}

	h.ObserveList(2*time.Second, nil)
	h.ObserveList(time.Second, errors.New("boom"))
	h.WatchStarted()
	h.WatchStarted()
	for _, e := range []watch.EventType{watch.Added, watch.Added, watch.Modified, watch.Deleted, watch.Bookmark, watch.Error, "WEIRD", "STRANGE"} {
		h.ObserveEvent(e)
	}
	h.Relisted(reflector.RelistExpired)
	h.Relisted(reflector.RelistExpired)
	h.Relisted(reflector.RelistWatchdog)
	h.Relisted("future-reason")
	h.SetResourceVersion("12345")
	h.SetResourceVersion("not-a-number") // ignored: RVs are opaque
	clk.SetTime(t0.Add(90 * time.Second))

	want := `
# HELP reflector_lists_total Total number of lists (or watch-list initial syncs) the reflector performed, failed ones included.
# TYPE reflector_lists_total counter
reflector_lists_total{name="tasks"} 2
# HELP reflector_watches_total Total number of watches the reflector started.
# TYPE reflector_watches_total counter
reflector_watches_total{name="tasks"} 2
# HELP reflector_watch_events_total Total number of watch events the reflector received, by event type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR, unknown).
# TYPE reflector_watch_events_total counter
reflector_watch_events_total{name="tasks",type="ADDED"} 2
reflector_watch_events_total{name="tasks",type="BOOKMARK"} 1
reflector_watch_events_total{name="tasks",type="DELETED"} 1
reflector_watch_events_total{name="tasks",type="ERROR"} 1
reflector_watch_events_total{name="tasks",type="MODIFIED"} 1
reflector_watch_events_total{name="tasks",type="unknown"} 2
# HELP reflector_relists_total Total number of times the reflector dropped its watch and listed again, by reason (expired, too-large, error, watchdog).
# TYPE reflector_relists_total counter
reflector_relists_total{name="tasks",reason="error"} 0
reflector_relists_total{name="tasks",reason="expired"} 2
reflector_relists_total{name="tasks",reason="future-reason"} 1
reflector_relists_total{name="tasks",reason="too-large"} 0
reflector_relists_total{name="tasks",reason="watchdog"} 1
# HELP reflector_last_resource_version Last resourceVersion the reflector synced to, as a number (its 15 least significant digits, as Kubernetes does). Absent until a numeric resourceVersion is seen.
# TYPE reflector_last_resource_version gauge
reflector_last_resource_version{name="tasks"} 12345
# HELP reflector_last_event_timestamp_seconds Unix time in seconds at which the reflector last heard from the server: a successful list, a watch event or a bookmark. Absent until the first one.
# TYPE reflector_last_event_timestamp_seconds gauge
reflector_last_event_timestamp_seconds{name="tasks"} 1.7e+09
# HELP reflector_seconds_since_last_event Seconds since the reflector last heard from the server: a successful list, a watch event or a bookmark. Absent until the first one.
# TYPE reflector_seconds_since_last_event gauge
reflector_seconds_since_last_event{name="tasks"} 90
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"reflector_lists_total", "reflector_watches_total", "reflector_watch_events_total",
		"reflector_relists_total", "reflector_last_resource_version",
		"reflector_last_event_timestamp_seconds", "reflector_seconds_since_last_event"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.refl.listDur); n != 1 {
		t.Fatalf("list duration series = %d, want 1", n)
	}
}

func TestReflectorSinceLastEventAbsentUntilProgress(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(t0)
	m := New(nil, WithClock(clk))
	h := m.Reflector("r")
	h.WatchStarted()
	h.ObserveList(time.Second, errors.New("failed lists are not progress"))
	for _, name := range []string{"reflector_seconds_since_last_event", "reflector_last_event_timestamp_seconds", "reflector_last_resource_version"} {
		if n := testutil.CollectAndCount(m, name); n != 0 {
			t.Fatalf("%s present before any progress (%d series)", name, n)
		}
	}
	h.ObserveEvent(watch.Bookmark)
	clk.SetTime(t0.Add(5 * time.Second))
	if got := sinceLastEvent(t, m, "r"); got != 5 {
		t.Fatalf("since last event = %v, want 5", got)
	}
	h.ObserveList(time.Second, nil)
	if got := sinceLastEvent(t, m, "r"); got != 0 {
		t.Fatalf("since last event after a list = %v, want 0", got)
	}
	// A clock that steps back never yields a negative age.
	clk.SetTime(t0)
	if got := sinceLastEvent(t, m, "r"); got != 0 {
		t.Fatalf("since last event with clock stepped back = %v, want 0", got)
	}
}

func sinceLastEvent(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	m.collectSinceLastEvent(ch)
	close(ch)
	for metric := range ch {
		var pb dtoMetric
		if err := metric.Write(&pb); err != nil {
			t.Fatal(err)
		}
		for _, l := range pb.GetLabel() {
			if l.GetName() == "name" && l.GetValue() == name {
				return pb.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no reflector_seconds_since_last_event for %q", name)
	return 0
}

func TestReflectorStoppedDeletesSeriesForGood(t *testing.T) {
	m := New(nil)
	a, b := m.Reflector("a"), m.Reflector("b")
	for _, h := range []*ReflectorHook{a, b} {
		h.ObserveList(time.Second, nil)
		h.WatchStarted()
		h.ObserveEvent(watch.Added)
		h.Relisted(reflector.RelistError)
		h.Relisted("other")
		h.SetResourceVersion("10")
	}
	before := testutil.CollectAndCount(m)
	a.Stopped()
	a.Stopped() // idempotent
	after := testutil.CollectAndCount(m)
	if after*2 != before {
		t.Fatalf("series: %d before, %d after stopping one of two reflectors", before, after)
	}
	// Late reports from the stopping reflector are dropped.
	a.ObserveList(time.Second, nil)
	a.WatchStarted()
	a.ObserveEvent(watch.Modified)
	a.Relisted("yet-another")
	a.SetResourceVersion("11")
	if n := testutil.CollectAndCount(m); n != after {
		t.Fatalf("late reports resurrected series: %d, want %d", n, after)
	}
	if n := countWithLabel(t, m, "name", "a"); n != 0 {
		t.Fatalf("%d series of the stopped reflector remain", n)
	}
	// The name can be used again.
	a2 := m.Reflector("a")
	if a2 == a {
		t.Fatal("Reflector returned the stopped hook")
	}
	a2.WatchStarted()
	if got := testutil.ToFloat64(m.refl.watches.WithLabelValues("a")); got != 1 {
		t.Fatalf("watches of the new reflector = %v, want 1", got)
	}
	m.DeleteReflector("a")
	m.DeleteReflector("unknown")
	if n := countWithLabel(t, m, "name", "a"); n != 0 {
		t.Fatalf("%d series remain after DeleteReflector", n)
	}
}

func TestReflectorEmptyNameRecordsNothing(t *testing.T) {
	m := New(nil)
	h := m.Reflector("")
	h.ObserveList(time.Second, nil)
	h.WatchStarted()
	h.ObserveEvent(watch.Added)
	h.Relisted(reflector.RelistExpired)
	h.SetResourceVersion("1")
	h.Stopped()
	if n := testutil.CollectAndCount(m); n != 0 {
		t.Fatalf("unnamed reflector produced %d series", n)
	}
}

func TestParseResourceVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{"999999999999999", 999999999999999, true},
		{"1234567890123456789", 567890123456789, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1e5", 0, false},
		{" 1", 0, false},
		{"123456789012345678901", 0, false},
	} {
		got, ok := parseResourceVersion(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseResourceVersion(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseResourceVersion(f *testing.F) {
	for _, s := range []string{"0", "42", "18446744073709551615", "99999999999999999999", "-1", "", "abc", "1.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rv string) {
		v, ok := parseResourceVersion(rv)
		if !ok {
			return
		}
		if v < 0 || v >= 1e15 {
			t.Fatalf("parseResourceVersion(%q) = %v, outside [0, 1e15)", rv, v)
		}
	})
}
