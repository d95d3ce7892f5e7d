package controller_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/reflector"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// The endpoints: /healthz answers, /readyz is 503 until the caches synced,
// /metrics serves every controller_runtime_* metric with controller-
// runtime's names, the workqueue_* metrics of the controller's queue and
// the client's and informers' metrics, with values that move.
func TestEndpointsAndMetrics(t *testing.T) {
	e := newEnv(t, controller.ManagerOptions{MetricsAddr: "127.0.0.1:0"})
	if e.mgr.Ready() {
		t.Fatal("ready before Start")
	}
	block, release := make(chan struct{}), make(chan struct{})
	if err := controller.New(e.mgr, "c", kunosv1.Jobs, controller.Options{MaxConcurrentReconciles: 3}).For(e.jobs).
		Complete(controller.ReconcilerFunc(func(_ context.Context, r controller.Request) (controller.Result, error) {
			switch r.Name {
			case "fails":
				return controller.Result{}, controller.TerminalError(errors.New("no"))
			case "later":
				return controller.Result{RequeueAfter: time.Hour}, nil
			case "blocks":
				close(block)
				<-release
			}
			return controller.Result{}, nil
		})); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	eventually(t, "listening", func() bool { return e.mgr.Addr() != "" })
	base := "http://" + e.mgr.Addr()
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
	eventually(t, "ready", e.mgr.Ready)
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", code, body)
	}

	e.createJob(t, "blocks", 1, nil)
	<-block
	if got := e.metric(t, "controller_runtime_active_workers"); got != 1 {
		t.Errorf("active_workers = %v while one reconcile runs, want 1", got)
	}
	close(release)
	for _, name := range []string{"ok", "fails", "later"} {
		e.createJob(t, name, 1, nil)
	}
	eventually(t, "4 reconciles counted", func() bool {
		n := 0.0
		for _, r := range []string{"success", "error", "requeue_after"} {
			v, _ := metricValue(t, e.reg, "controller_runtime_reconcile_total", map[string]string{"controller": "c", "result": r})
			n += v
		}
		timed, _ := metricValue(t, e.reg, "controller_runtime_reconcile_time_seconds", map[string]string{"controller": "c"})
		return n == 4 && timed == 4
	})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"controller_runtime_reconcile_total", []string{"result", "success"}, 2},
		{"controller_runtime_reconcile_total", []string{"result", "error"}, 1},
		{"controller_runtime_reconcile_total", []string{"result", "requeue_after"}, 1},
		{"controller_runtime_reconcile_total", []string{"result", "requeue"}, 0},
		{"controller_runtime_reconcile_errors_total", nil, 1},
		{"controller_runtime_terminal_reconcile_errors_total", nil, 1},
		{"controller_runtime_reconcile_panics_total", nil, 0},
		{"controller_runtime_reconcile_time_seconds", nil, 4},
		{"controller_runtime_active_workers", nil, 0},
		{"controller_runtime_max_concurrent_reconciles", nil, 3},
	} {
		if got := e.metric(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if v, ok := metricValue(t, e.reg, "workqueue_adds_total", map[string]string{"name": "c"}); !ok || v < 4 {
		t.Errorf("workqueue_adds_total{name=c} = %v (present %v), want at least 4", v, ok)
	}
	if v, ok := metricValue(t, e.reg, "rest_client_requests_total", map[string]string{"verb": "create", "resource": "jobs"}); !ok || v != 4 {
		t.Errorf("rest_client_requests_total{verb=create,resource=jobs} = %v, want 4", v)
	}
	_, body := get(t, base+"/metrics")
	for _, name := range []string{
		"controller_runtime_reconcile_total", "controller_runtime_reconcile_errors_total",
		"controller_runtime_terminal_reconcile_errors_total", "controller_runtime_reconcile_panics_total",
		"controller_runtime_reconcile_time_seconds_bucket", "controller_runtime_active_workers",
		"controller_runtime_max_concurrent_reconciles", "workqueue_depth", "workqueue_adds_total",
		"workqueue_queue_duration_seconds_bucket", "workqueue_work_duration_seconds_bucket",
		"workqueue_unfinished_work_seconds", "workqueue_longest_running_processor_seconds",
		"workqueue_retries_total", "informer_synced", "reflector_lists_total",
	} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
}

// Readiness waits for every cache a controller reads, including one the
// manager's factory does not run.
func TestReadyzWaitsForControllerCaches(t *testing.T) {
	e := newEnv(t, controller.ManagerOptions{})
	lw := client.For(e.mgr.Client(), kunosv1.Jobs).ListerWatcher(nil)
	own := informer.New(lw, informer.Options[*kunosv1.Job]{Options: reflector.Options[*kunosv1.Job]{Name: "own-jobs"}})
	if err := controller.New(e.mgr, "c", kunosv1.Jobs, controller.Options{}).For(own).
		Complete(controller.ReconcilerFunc(func(context.Context, controller.Request) (controller.Result, error) {
			return controller.Result{}, nil
		})); err != nil {
		t.Fatal(err)
	}
	h := e.mgr.Handler()
	if rec := httptestGet(h, "/readyz"); rec.code != http.StatusServiceUnavailable || !strings.Contains(rec.body, "not running") {
		t.Fatalf("/readyz before Start: %d %q", rec.code, rec.body)
	}
	e.start(t)
	eventually(t, "the factory's informers synced", e.mgr.Factory().Synced)
	time.Sleep(50 * time.Millisecond)
	if rec := httptestGet(h, "/readyz"); rec.code != http.StatusServiceUnavailable || !strings.Contains(rec.body, "controller c") {
		t.Fatalf("/readyz with the controller's own informer not running: %d %q", rec.code, rec.body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); own.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, "ready", e.mgr.Ready)
	if rec := httptestGet(h, "/readyz"); rec.code != http.StatusOK {
		t.Fatalf("/readyz: %d %q", rec.code, rec.body)
	}
}

// Managers may share a registry: the second reuses the first's collectors.
func TestManagersShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newEnv(t, controller.ManagerOptions{Registerer: reg})
	b := newEnv(t, controller.ManagerOptions{Registerer: reg})
	for i, e := range []*env{a, b} {
		if err := controller.New(e.mgr, []string{"a", "b"}[i], kunosv1.Jobs, controller.Options{}).For(e.jobs).
			Complete(controller.ReconcilerFunc(func(context.Context, controller.Request) (controller.Result, error) {
				return controller.Result{}, nil
			})); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "b"} {
		if _, ok := metricValue(t, reg, "controller_runtime_max_concurrent_reconciles", map[string]string{"controller": name}); !ok {
			t.Errorf("no series for controller %s", name)
		}
	}
}
