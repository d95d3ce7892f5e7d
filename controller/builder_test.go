package controller_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/resource"
)

var nop = controller.ReconcilerFunc(func(context.Context, controller.Request) (controller.Result, error) {
	return controller.Result{}, nil
})

// offline is a manager whose server is never contacted.
func offline(t *testing.T) (*controller.Manager, informer.SharedIndexInformer[*kunosv1.Job], informer.SharedIndexInformer[*kunosv1.Task]) {
	t.Helper()
	mgr, err := controller.NewManager(&client.Config{Host: "http://127.0.0.1:1"}, controller.ManagerOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return mgr, mustInformer(t, mgr.Factory(), kunosv1.Jobs),
		mustInformer(t, mgr.Factory(), kunosv1.Tasks)
}

// Wiring mistakes the compiler cannot catch are errors, never panics.
func TestWiringErrors(t *testing.T) {
	mgr, jobs, tasks := offline(t)
	var nilJobs informer.SharedIndexInformer[*kunosv1.Job]
	var nilTasks informer.SharedIndexInformer[*kunosv1.Task]
	for _, c := range []struct {
		name  string
		build func() error
		want  string
	}{
		{"invalid descriptor", func() error {
			return controller.New(mgr, "x", resource.Descriptor[*kunosv1.Job]{}, controller.Options{}).Complete(nop)
		}, "no version"},
		{"For twice", func() error {
			return controller.New(mgr, "x", kunosv1.Jobs, controller.Options{}).For(jobs).For(jobs).Complete(nop)
		}, "For called twice"},
		{"nil For informer", func() error {
			return controller.New(mgr, "x", kunosv1.Jobs, controller.Options{}).For(nilJobs).Complete(nop)
		}, "nil informer"},
		{"nil predicate", func() error {
			return controller.New(mgr, "x", kunosv1.Jobs, controller.Options{}).For(jobs, nil).Complete(nop)
		}, "predicate 0 is nil"},
		{"nil reconciler", func() error {
			return controller.New(mgr, "x", kunosv1.Jobs, controller.Options{}).For(jobs).Complete(nil)
		}, "nil reconciler"},
		{"nil manager", func() error {
			return controller.New(nil, "x", kunosv1.Jobs, controller.Options{}).For(jobs).Complete(nop)
		}, "nil manager"},
		{"empty name", func() error {
			return controller.New(mgr, "", kunosv1.Jobs, controller.Options{}).For(jobs).Complete(nop)
		}, "empty name"},
		{"negative workers", func() error {
			return controller.New(mgr, "x", kunosv1.Jobs, controller.Options{MaxConcurrentReconciles: -1}).For(jobs).Complete(nop)
		}, "negative MaxConcurrentReconciles"},
		{"nil Owns", func() error {
			return controller.New(mgr, "x", kunosv1.Jobs, controller.Options{}).For(jobs).Owns(nil).Complete(nop)
		}, "Owns: nil source"},
		{"nil owned informer", func() error {
			return controller.New(mgr, "x", kunosv1.Jobs, controller.Options{}).For(jobs).Owns(controller.Owned(nilTasks)).Complete(nop)
		}, "owns-0: nil informer"},
		{"nil Watches", func() error {
			return controller.New(mgr, "x", kunosv1.Jobs, controller.Options{}).For(jobs).Watches(nil).Complete(nop)
		}, "Watches: nil source"},
		{"nil map function", func() error {
			return controller.New(mgr, "x", kunosv1.Jobs, controller.Options{}).For(jobs).Watches(controller.Mapped(tasks, nil)).Complete(nop)
		}, "watches-0: nil map function"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.build()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}

	var nilJob *kunosv1.Job
	if _, err := controller.ListOwned(tasks, nilJob); err == nil {
		t.Error("ListOwned: nil owner accepted")
	}
	if _, err := controller.ObserveOwned(nil, tasks); err == nil {
		t.Error("ObserveOwned: nil Expectations accepted")
	}

	if err := controller.New(mgr, "x", kunosv1.Jobs, controller.Options{}).For(jobs).Complete(nop); err != nil {
		t.Fatal(err)
	}
	// Without For, the controller watches the descriptor's objects through
	// the manager's factory.
	if err := controller.New(mgr, "no-for", kunosv1.Jobs, controller.Options{}).Complete(nop); err != nil {
		t.Fatal(err)
	}
	if err := controller.New(mgr, "x", kunosv1.Tasks, controller.Options{}).For(tasks).Complete(nop); err == nil ||
		!strings.Contains(err.Error(), "of that name already") {
		t.Fatalf("duplicate name: %v", err)
	}
}

func TestManagerErrors(t *testing.T) {
	if _, err := controller.NewManager(nil, controller.ManagerOptions{}); err == nil {
		t.Error("nil config accepted")
	}
	if _, err := controller.NewManager(&client.Config{Host: "http://127.0.0.1:1"}, controller.ManagerOptions{
		Registerer: prometheus.WrapRegistererWithPrefix("x_", prometheus.NewRegistry()), MetricsAddr: "127.0.0.1:0",
	}); err == nil {
		t.Error("MetricsAddr without a Gatherer accepted")
	}
	if _, err := controller.NewManager(&client.Config{Host: "::bad"}, controller.ManagerOptions{}); err == nil {
		t.Error("bad host accepted")
	}

	mgr, jobs, _ := offline(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
	}()
	<-mgr.Elected()
	if err := mgr.Start(ctx); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Start: %v", err)
	}
	if err := controller.New(mgr, "late", kunosv1.Jobs, controller.Options{}).For(jobs).Complete(nop); err == nil ||
		!strings.Contains(err.Error(), "has started") {
		t.Errorf("Complete after Start: %v", err)
	}
}
