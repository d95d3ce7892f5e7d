package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRegisterTwiceReturnsError(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if _, err := Register(reg); err != nil {
		t.Fatalf("first Register: %v", err)
	}
	_, err := Register(reg)
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("second Register: got %v, want a wrapped AlreadyRegisteredError", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("New with a conflicting registry did not panic")
		}
	}()
	New(reg)
}

func TestNilRegistererStillCollects(t *testing.T) {
	m := New(nil)
	m.Client().ObserveRequest("get", "tasks", 200, 0)
	if got := testutil.ToFloat64(m.rest.requests.WithLabelValues("get", "tasks", "200")); got != 1 {
		t.Fatalf("requests = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(m, "rest_client_requests_total"); n != 1 {
		t.Fatalf("CollectAndCount = %d, want 1", n)
	}
}

// TestLint checks every metric against Prometheus' naming conventions, with
// at least one series of each vector present.
func TestLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	populate(m)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}

// populate creates at least one series of every metric.
func populate(m *Metrics) {
	p := m.WorkqueueProvider()
	p.NewDepthMetric("q").Inc()
	p.NewAddsMetric("q").Inc()
	p.NewLatencyMetric("q").Observe(1)
	p.NewWorkDurationMetric("q").Observe(1)
	p.NewUnfinishedWorkSecondsMetric("q").Set(1)
	p.NewLongestRunningProcessorSecondsMetric("q").Set(1)
	p.NewRetriesMetric("q").Inc()
	r := m.Reflector("r")
	r.ObserveList(1, nil)
	r.WatchStarted()
	r.ObserveEvent("ADDED")
	r.Relisted("expired")
	r.SetResourceVersion("7")
	i := m.Informer("r")
	i.SetStoreObjects(1)
	i.SetSynced(true)
	i.SetPending("h", 1)
	i.ObserveHandler("h", 1)
	i.Coalesced("h")
	i.HandlerPanicked("h")
	m.Client().ObserveRequest("list", "tasks", 200, 1)
}

// TestDocumentsEveryMetric keeps doc.go's table and the collectors in step.
func TestDocumentsEveryMetric(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	populate(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	doc := readDoc(t)
	if len(mfs) != 23 {
		t.Errorf("gathered %d metric families, want 23 (update this test and doc.go together)", len(mfs))
	}
	for _, mf := range mfs {
		if !strings.Contains(doc, "| "+mf.GetName()+" ") {
			t.Errorf("doc.go has no table row for %s", mf.GetName())
		}
	}
}

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerServesExposition(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	m.Client().ObserveRequest("watch", "tasks", 0, 0)
	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	want := `rest_client_requests_total{code="<error>",resource="tasks",verb="watch"} 1`
	if !strings.Contains(string(body), want) {
		t.Fatalf("body lacks %q:\n%s", want, body)
	}
}

// TestUnusedHooksExportNothing: hooks handed to components that never run
// (an informer built and removed before Start) must not leave series that
// nobody will ever delete.
func TestUnusedHooksExportNothing(t *testing.T) {
	m := New(nil)
	m.Reflector("r")
	m.Informer("i")
	m.InformerMetrics("f")
	m.ReflectorMetrics("f")
	m.WorkqueueProvider()
	m.Client()
	if n := testutil.CollectAndCount(m); n != 0 {
		t.Fatalf("unused hooks exported %d series", n)
	}
}
