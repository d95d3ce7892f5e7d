package metrics_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kunos-io/listwatch/metrics"
	"github.com/kunos-io/listwatch/reflector"
	"github.com/kunos-io/listwatch/workqueue"
)

// Example wires the hooks into a registry, simulates what a reflector, an
// informer and a queue report, and shows what /metrics serves before and
// after the informer stops.
func Example() {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)

	// What a running informer named "tasks" reports through its hooks.
	refl := m.Reflector("tasks")
	refl.ObserveList(30*time.Millisecond, nil)
	refl.WatchStarted()
	refl.ObserveEvent(watch.Added)
	refl.ObserveEvent(watch.Modified)
	refl.Relisted(reflector.RelistExpired)
	inf := m.Informer("tasks")
	inf.SetStoreObjects(2)
	inf.SetSynced(true)
	inf.HandlerPanicked("controller")

	// A queue reports through the workqueue.MetricsProvider.
	q := m.WorkqueueProvider()
	q.NewAddsMetric("tasks").Inc()

	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	show := func() {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(body), "\n") {
			for _, want := range []string{"reflector_watch_events_total", "reflector_relists_total{name=\"tasks\",reason=\"expired\"}", "informer_synced", "informer_handler_panics_total", "workqueue_adds_total"} {
				if strings.HasPrefix(line, want) {
					fmt.Println(line)
				}
			}
		}
	}
	show()

	// The informer stops and the queue shuts down: their series go.
	inf.Stopped()
	q.DeleteQueueMetrics("tasks")
	fmt.Println("-- after stop --")
	show()

	// Output:
	// informer_handler_panics_total{handler="controller",name="tasks"} 1
	// informer_synced{name="tasks"} 1
	// reflector_relists_total{name="tasks",reason="expired"} 1
	// reflector_watch_events_total{name="tasks",type="ADDED"} 1
	// reflector_watch_events_total{name="tasks",type="BOOKMARK"} 0
	// reflector_watch_events_total{name="tasks",type="DELETED"} 0
	// reflector_watch_events_total{name="tasks",type="ERROR"} 0
	// reflector_watch_events_total{name="tasks",type="MODIFIED"} 1
	// reflector_watch_events_total{name="tasks",type="unknown"} 0
	// workqueue_adds_total{name="tasks"} 1
	// -- after stop --
}

// ExampleMetrics_WorkqueueProvider meters a real rate-limiting queue; its
// series are deleted when it shuts down.
func ExampleMetrics_WorkqueueProvider() {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "jobs", MetricsProvider: m.WorkqueueProvider()})

	q.Add("default/a")
	q.Add("default/b")
	q.Add("default/a") // already queued
	key, _ := q.Get()
	q.AddAfter(key, 0) // a retry with no delay
	q.Done(key)

	showQueue := func() {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			switch mf.GetName() {
			case "workqueue_adds_total", "workqueue_depth", "workqueue_retries_total":
				for _, s := range mf.GetMetric() {
					v := s.GetCounter().GetValue() + s.GetGauge().GetValue()
					fmt.Printf("%s{name=%q} %v\n", mf.GetName(), s.GetLabel()[0].GetValue(), v)
				}
			}
		}
	}
	showQueue()
	q.ShutDown()
	fmt.Println("-- after ShutDown --")
	showQueue()

	// Output:
	// workqueue_adds_total{name="jobs"} 3
	// workqueue_depth{name="jobs"} 2
	// workqueue_retries_total{name="jobs"} 1
	// -- after ShutDown --
}
