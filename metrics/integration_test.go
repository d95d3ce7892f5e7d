package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/internal/poll"
	"github.com/kunos-io/listwatch/reflector"
	"github.com/kunos-io/listwatch/workqueue"
)

// These tests run a real informer, reflector, client and workqueue against
// the in-process API server and read what they reported from the registry.

// rig is one informer named "tasks" over the default namespace of srv, with
// every hook wired to m.
type rig struct {
	srv   *stubtest.Server
	reg   *prometheus.Registry
	m     *Metrics
	tasks *client.Resource[*kunosv1.Task]
	inf   informer.SharedIndexInformer[*kunosv1.Task]
	stop  func() // cancels Run and waits for it
}

func newRig(t *testing.T, opts ...stubtest.Option) *rig {
	t.Helper()
	srv := stubtest.Start(t, opts...)
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	c, err := client.New(&client.Config{Host: srv.URL, Metrics: m.Client()})
	if err != nil {
		t.Fatal(err)
	}
	tasks := client.For(c, kunosv1.Tasks).Namespace("default")
	quiet := slog.New(slog.DiscardHandler)
	o := informer.Options[*kunosv1.Task]{Options: reflector.Options[*kunosv1.Task]{Name: "tasks", Logger: quiet}, InformerMetrics: m.InformerMetrics("tasks")}
	o.Metrics = m.ReflectorMetrics("tasks")
	inf := informer.New(tasks.ListerWatcher(nil), o)
	return &rig{srv: srv, reg: reg, m: m, tasks: tasks, inf: inf}
}

// run starts the informer and waits for its cache to sync.
func (r *rig) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.inf.Run(ctx)
	}()
	r.stop = func() { cancel(); <-done }
	t.Cleanup(r.stop)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if !informer.WaitForCacheSync(wctx, r.inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
}

func (r *rig) create(t *testing.T, name string) *kunosv1.Task {
	t.Helper()
	obj, err := r.tasks.Create(context.Background(), &kunosv1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       kunosv1.TaskSpec{Image: "v1"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// value returns the value of the series of metric whose labels include
// want, or -1 if there is none.
func value(t *testing.T, g prometheus.Gatherer, metric string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
	next:
		for _, s := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			return sampleValue(s)
		}
	}
	return -1
}

func sampleValue(s *dto.Metric) float64 {
	switch {
	case s.Counter != nil:
		return s.GetCounter().GetValue()
	case s.Gauge != nil:
		return s.GetGauge().GetValue()
	case s.Histogram != nil:
		return float64(s.GetHistogram().GetSampleCount())
	}
	return -1
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, what, cond)
}

// seriesNamed returns "metric{labels}" for every series labelled name=value.
func seriesNamed(t *testing.T, g prometheus.Gatherer, label, val string) []string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == label && l.GetValue() == val {
					out = append(out, fmt.Sprintf("%s%v", mf.GetName(), s.GetLabel()))
				}
			}
		}
	}
	return out
}

func TestEndToEndInformerAndWorkqueue(t *testing.T) {
	r := newRig(t)
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Millisecond),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "tasks", MetricsProvider: r.m.WorkqueueProvider()},
	)
	defer q.ShutDown()
	enqueue := func(obj *kunosv1.Task) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			q.Add(key)
		}
	}
	if _, err := r.inf.AddEventHandler(informer.HandlerFuncs[*kunosv1.Task]{
		AddFunc:    func(obj *kunosv1.Task, _ bool) { enqueue(obj) },
		UpdateFunc: func(_, obj *kunosv1.Task) { enqueue(obj) },
		DeleteFunc: func(obj *kunosv1.Task, _ bool) { enqueue(obj) },
	}, informer.WithName("controller")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.inf.AddEventHandler(informer.HandlerFuncs[*kunosv1.Task]{
		AddFunc: func(obj *kunosv1.Task, _ bool) {
			if strings.HasPrefix(obj.Name, "panic-") {
				panic("handler bug")
			}
		},
	}, informer.WithName("crashy")); err != nil {
		t.Fatal(err)
	}
	r.run(t)

	// A worker that fails every key once, through the rate limiter.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer q.ShutDown()
	wg.Go(func() {
		failed := map[string]bool{}
		for {
			key, shutdown := q.Get()
			if shutdown {
				return
			}
			if !failed[key] {
				failed[key] = true
				q.AddRateLimited(key)
			} else {
				q.Forget(key)
			}
			q.Done(key)
		}
	})

	ctx := context.Background()
	names := []string{"a", "b", "c", "panic-1", "panic-2"}
	created := map[string]*kunosv1.Task{}
	for _, n := range names {
		created[n] = r.create(t, n)
	}
	// Every key reaches the queue and fails once. Waiting for that before
	// updating and deleting keeps the count exact: the informer coalesces
	// per key, so an add followed by a delete it has not delivered yet
	// would reach no handler.
	retries := func() float64 { return value(t, r.reg, "workqueue_retries_total", map[string]string{"name": "tasks"}) }
	eventually(t, "5 workqueue retries", func() bool { return retries() == 5 })
	panics := func() float64 {
		return value(t, r.reg, "informer_handler_panics_total", map[string]string{"name": "tasks", "handler": "crashy"})
	}
	eventually(t, "2 handler panics", func() bool { return panics() == 2 })
	for _, n := range []string{"a", "b", "c"} {
		obj := created[n].DeepCopy()
		obj.Spec.Image = "v2"
		if _, err := r.tasks.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"a", "panic-1"} {
		if err := r.tasks.Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	events := func(typ string) float64 {
		return value(t, r.reg, "reflector_watch_events_total", map[string]string{"name": "tasks", "type": typ})
	}
	eventually(t, "watch events 5 ADDED, 3 MODIFIED, 2 DELETED", func() bool {
		return events("ADDED") == 5 && events("MODIFIED") == 3 && events("DELETED") == 2
	})
	eventually(t, "3 objects in the store", func() bool {
		return value(t, r.reg, "informer_store_objects", map[string]string{"name": "tasks"}) == 3
	})
	eventually(t, "an empty queue", func() bool {
		return value(t, r.reg, "workqueue_depth", map[string]string{"name": "tasks"}) == 0 && q.Len() == 0
	})
	if got := panics(); got != 2 {
		t.Errorf("informer_handler_panics_total = %v, want 2", got)
	}
	if got := retries(); got != 5 {
		t.Errorf("workqueue_retries_total = %v, want 5 (each key fails once)", got)
	}

	checks := []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"informer_synced", map[string]string{"name": "tasks"}, 1},
		{"informer_handler_panics_total", map[string]string{"name": "tasks", "handler": "controller"}, 0},
		{"reflector_watch_events_total", map[string]string{"name": "tasks", "type": "ERROR"}, 0},
		{"reflector_relists_total", map[string]string{"name": "tasks", "reason": "expired"}, 0},
		{"rest_client_requests_total", map[string]string{"verb": "create", "resource": "tasks", "code": "201"}, 5},
		{"rest_client_requests_total", map[string]string{"verb": "update", "resource": "tasks", "code": "200"}, 3},
		{"rest_client_requests_total", map[string]string{"verb": "delete", "resource": "tasks", "code": "200"}, 2},
	}
	for _, c := range checks {
		if got := value(t, r.reg, c.metric, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.metric, c.labels, got, c.want)
		}
	}
	// Adds: at least one per key reaching the queue plus the 5 retries.
	if got := value(t, r.reg, "workqueue_adds_total", map[string]string{"name": "tasks"}); got < 10 {
		t.Errorf("workqueue_adds_total = %v, want >= 10", got)
	}
	for _, m := range []string{"reflector_lists_total", "reflector_watches_total", "reflector_last_resource_version", "reflector_seconds_since_last_event"} {
		if got := value(t, r.reg, m, map[string]string{"name": "tasks"}); got < 0 {
			t.Errorf("%s missing", m)
		}
	}
	if got := value(t, r.reg, "rest_client_requests_total", map[string]string{"verb": "watch", "resource": "tasks", "code": "200"}); got < 1 {
		t.Errorf("no watch request counted (%v)", got)
	}
	if got := value(t, r.reg, "informer_handler_duration_seconds", map[string]string{"name": "tasks", "handler": "controller"}); got < 1 {
		t.Errorf("no handler duration observed (%v)", got)
	}

	// Stop everything: the informer's, reflector's and queue's series go;
	// only the client's remain.
	r.stop()
	q.ShutDown()
	wg.Wait()
	if left := seriesNamed(t, r.reg, "name", "tasks"); len(left) != 0 {
		t.Fatalf("series left after stop: %v", left)
	}
	if n := value(t, r.reg, "rest_client_requests_total", map[string]string{"verb": "create"}); n != 5 {
		t.Fatalf("client series lost: %v", n)
	}
}

func TestEndToEndRelistOnExpired(t *testing.T) {
	r := newRig(t, stubtest.WithHistory(4))
	r.run(t)
	relists := func(reason string) float64 {
		return value(t, r.reg, "reflector_relists_total", map[string]string{"name": "tasks", "reason": reason})
	}
	lists := func() float64 {
		return value(t, r.reg, "reflector_lists_total", map[string]string{"name": "tasks"})
	}
	listsBefore := lists()

	// The informer falls behind while its watch is stalled; the server
	// compacts past its resourceVersion and drops the watch, so resuming
	// gets 410 Expired and the reflector must relist.
	r.srv.StallWatches(true)
	for i := range 10 {
		r.create(t, fmt.Sprint("t", i))
	}
	r.srv.Compact()
	r.srv.DropWatches()
	r.srv.StallWatches(false)

	eventually(t, "a relist for reason expired", func() bool { return relists("expired") >= 1 })
	eventually(t, "10 objects in the store after the relist", func() bool {
		return value(t, r.reg, "informer_store_objects", map[string]string{"name": "tasks"}) == 10
	})
	if got := lists(); got <= listsBefore {
		t.Errorf("reflector_lists_total = %v, want more than %v after the relist", got, listsBefore)
	}
	if got := relists("error"); got != 0 {
		t.Errorf("relists for reason error = %v, want 0", got)
	}
	rv := value(t, r.reg, "reflector_last_resource_version", map[string]string{"name": "tasks"})
	if rv < 10 {
		t.Errorf("reflector_last_resource_version = %v, want >= 10", rv)
	}
	r.stop()
	if left := seriesNamed(t, r.reg, "name", "tasks"); len(left) != 0 {
		t.Fatalf("series left after stop: %v", left)
	}
}

func TestEndToEndHandlerRemoved(t *testing.T) {
	r := newRig(t)
	var mu sync.Mutex
	seen := 0
	count := informer.HandlerFuncs[*kunosv1.Task]{AddFunc: func(*kunosv1.Task, bool) { mu.Lock(); seen++; mu.Unlock() }}
	if _, err := r.inf.AddEventHandler(count, informer.WithName("keep")); err != nil {
		t.Fatal(err)
	}
	temp, err := r.inf.AddEventHandler(count, informer.WithName("temp"))
	if err != nil {
		t.Fatal(err)
	}
	r.run(t)
	r.create(t, "x")
	eventually(t, "both handlers saw x", func() bool {
		return value(t, r.reg, "informer_handler_duration_seconds", map[string]string{"handler": "temp"}) == 1 &&
			value(t, r.reg, "informer_handler_duration_seconds", map[string]string{"handler": "keep"}) == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.inf.RemoveEventHandlerAndWait(ctx, temp); err != nil {
		t.Fatal(err)
	}
	r.create(t, "y")
	eventually(t, "keep saw y", func() bool {
		return value(t, r.reg, "informer_handler_duration_seconds", map[string]string{"handler": "keep"}) == 2
	})
	if left := seriesNamed(t, r.reg, "handler", "temp"); len(left) != 0 {
		t.Fatalf("series of the removed handler: %v", left)
	}
}

// TestEndToEndRemoveBusyHandler removes a handler while it is inside a call:
// the call's report comes after the removal and must not bring the
// handler's series back.
func TestEndToEndRemoveBusyHandler(t *testing.T) {
	r := newRig(t)
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	slow := informer.HandlerFuncs[*kunosv1.Task]{AddFunc: func(*kunosv1.Task, bool) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
	}}
	reg, err := r.inf.AddEventHandler(slow, informer.WithName("slow"))
	if err != nil {
		t.Fatal(err)
	}
	r.run(t)
	for i := range 3 {
		r.create(t, fmt.Sprint("x", i))
	}
	<-started
	if err := r.inf.RemoveEventHandler(reg); err != nil {
		t.Fatal(err)
	}
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case <-reg.Done():
	case <-ctx.Done():
		t.Fatal("handler did not end")
	}
	if left := seriesNamed(t, r.reg, "handler", "slow"); len(left) != 0 {
		t.Fatalf("series of the removed handler: %v", left)
	}
}

// TestEndToEndFactoryChurn creates, runs and removes informers through a
// Factory with *Metrics as its provider, again and again: the number of
// series does not grow (the leak that made Kubernetes drop its reflector
// metrics), and an informer removed before it ever ran leaves nothing.
func TestEndToEndFactoryChurn(t *testing.T) {
	srv := stubtest.Start(t)
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	c, err := client.New(&client.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	f := informer.NewFactory(c, informer.FactoryOptions{MetricsProvider: m})
	defer f.Shutdown()

	// Built, never started, removed: no series at all.
	if _, err := informer.For(f, kunosv1.Tasks, informer.InNamespace("default"), informer.WithInformerName("idle")); err != nil {
		t.Fatal(err)
	}
	if !informer.Remove(f, kunosv1.Tasks, informer.InNamespace("default")) {
		t.Fatal("Remove of the idle informer = false")
	}
	if n := testutil.CollectAndCount(m); n != 0 {
		t.Fatalf("an informer that never ran left %d series", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx)
	tasks := client.For(c, kunosv1.Tasks).Namespace("default")
	if _, err := tasks.Create(ctx, &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		name := fmt.Sprint("tasks-", i)
		inf, err := informer.For(f, kunosv1.Tasks, informer.InNamespace("default"), informer.WithInformerName(name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inf.AddEventHandler(informer.HandlerFuncs[*kunosv1.Task]{}, informer.WithName("h")); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		ok := f.WaitForCacheSync(wctx)
		wcancel()
		if !ok {
			t.Fatalf("%s did not sync", name)
		}
		eventually(t, name+" series", func() bool {
			return value(t, reg, "informer_store_objects", map[string]string{"name": name}) == 1 &&
				value(t, reg, "informer_synced", map[string]string{"name": name}) == 1 &&
				value(t, reg, "reflector_watch_events_total", map[string]string{"name": name, "type": "ADDED"}) == 1 &&
				value(t, reg, "informer_handler_duration_seconds", map[string]string{"name": name, "handler": "h"}) == 1
		})
		if !informer.Remove(f, kunosv1.Tasks, informer.InNamespace("default")) {
			t.Fatalf("Remove of %s = false", name)
		}
		if left := seriesNamed(t, reg, "name", name); len(left) != 0 {
			t.Fatalf("series of removed informer %s: %v", name, left)
		}
	}
	// Nothing is left (this client has no metrics hook).
	if n := testutil.CollectAndCount(m); n != 0 {
		t.Fatalf("%d series left after removing every informer", n)
	}
}

// TestEndToEndStandaloneReflector runs a reflector without an informer: its
// series go when Run returns (reflector.MetricsStopper).
func TestEndToEndStandaloneReflector(t *testing.T) {
	srv := stubtest.Start(t)
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	c, err := client.New(&client.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	tasks := client.For(c, kunosv1.Tasks).Namespace("default")
	store := cache.NewIndexer[*kunosv1.Task](cache.MetaNamespaceKeyFunc, nil)
	r := reflector.New(tasks.ListerWatcher(nil), reflector.NewStoreSink(store), reflector.Options[*kunosv1.Task]{
		Name: "solo", Metrics: m.Reflector("solo"), Logger: slog.New(slog.DiscardHandler),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if _, err := tasks.Create(ctx, &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ADDED event", func() bool {
		return value(t, reg, "reflector_watch_events_total", map[string]string{"name": "solo", "type": "ADDED"}) == 1
	})
	cancel()
	<-done
	if left := seriesNamed(t, reg, "name", "solo"); len(left) != 0 {
		t.Fatalf("series left after Run returned: %v", left)
	}
}
