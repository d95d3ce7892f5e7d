package informer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/reflector"
	"github.com/kunos-io/listwatch/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

type fakeProvider struct{ names []string }

func (p *fakeProvider) InformerMetrics(name string) MetricsHook {
	p.names = append(p.names, name)
	return nil
}
func (p *fakeProvider) ReflectorMetrics(name string) reflector.MetricsHook { return nil }

func newTask(ns, name, node string) *kunosv1.Task {
	return &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: kunosv1.TaskSpec{NodeName: node, Image: "busybox"}}
}

func TestFactory(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithBookmarkInterval(time.Second))
	c, err := client.New(&client.Config{Host: srv.URL, QPS: -1})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tasks := client.For(c, kunosv1.Tasks)
	for i, node := range []string{"n1", "n2", "n1"} {
		_, err := tasks.Namespace("default").Create(ctx, newTask("default", fmt.Sprintf("t%d", i), node), metav1.CreateOptions{})
		must(t, err)
	}

	prov := &fakeProvider{}
	f := NewFactory(c, FactoryOptions{MetricsProvider: prov})
	defer f.Shutdown()
	all := mustFor(t, f, kunosv1.Tasks)
	if again := mustFor(t, f, kunosv1.Tasks); again != all {
		t.Fatal("For built a second informer for the same key")
	}
	n1 := mustFor(t, f, kunosv1.Tasks, WithFieldSelector("spec.nodeName=n1"))
	if n1 == all {
		t.Fatal("a field selector did not make a distinct informer")
	}
	readyz := httptest.NewRecorder()
	f.ReadyzHandler().ServeHTTP(readyz, httptest.NewRequest("GET", "/readyz", nil))
	if readyz.Code != 200 {
		t.Errorf("readyz before Start = %d, want 200 (nothing started)", readyz.Code)
	}

	f.Start(ctx)
	if !f.WaitForCacheSync(ctx) || !f.Synced() {
		t.Fatal("factory not synced")
	}
	if all.Indexer().Len() != 3 || n1.Indexer().Len() != 2 {
		t.Fatalf("caches hold %d and %d tasks, want 3 and 2", all.Indexer().Len(), n1.Indexer().Len())
	}
	readyz = httptest.NewRecorder()
	f.ReadyzHandler().ServeHTTP(readyz, httptest.NewRequest("GET", "/readyz", nil))
	if readyz.Code != 200 {
		t.Errorf("readyz = %d, want 200", readyz.Code)
	}

	// A handler on the informer we will remove, and one on another.
	gone, kept := newRecorder(t), newRecorder(t)
	regGone, err := n1.AddEventHandler(gone)
	must(t, err)
	regKept, err := all.AddEventHandler(kept)
	must(t, err)
	if !WaitForCacheSync(ctx, regGone.HasSynced, regKept.HasSynced) {
		t.Fatal("registrations not synced")
	}

	// Removing one informer ends its goroutines and leaves the others be.
	if !Remove(f, kunosv1.Tasks, WithFieldSelector("spec.nodeName=n1")) {
		t.Fatal("Remove found no informer")
	}
	if Remove(f, kunosv1.Tasks, WithFieldSelector("spec.nodeName=n1")) {
		t.Fatal("second Remove found the informer again")
	}
	select {
	case <-regGone.Done():
	default:
		t.Fatal("handler of the removed informer still running")
	}
	_, err = tasks.Namespace("default").Create(ctx, newTask("default", "t9", "n1"), metav1.CreateOptions{})
	must(t, err)
	eventually(t, "kept handler sees t9", func() bool { return kept.calls.Load() == 4 })
	if n := gone.calls.Load(); n != 2 {
		t.Errorf("removed informer's handler got %d calls, want 2", n)
	}
	if _, err := n1.AddEventHandler(newRecorder(t)); err == nil {
		t.Error("AddEventHandler on a removed informer succeeded")
	}

	// An informer created after Start starts at once.
	nodes := mustFor(t, f, kunosv1.Nodes)
	if !WaitForCacheSync(ctx, nodes.HasSynced) {
		t.Fatal("late informer did not start")
	}
	if len(prov.names) != 3 || prov.names[1] != "tasks.kunos.io fields=spec.nodeName=n1" {
		t.Errorf("metrics names = %q", prov.names)
	}
	// The same resource as another Go type is another informer, not a
	// conflict.
	dyn := mustFor(t, f, resource.Descriptor[*unstructured.Unstructured]{Info: kunosv1.Tasks.Info})
	if !WaitForCacheSync(ctx, dyn.HasSynced) || dyn.Indexer().Len() != 4 {
		t.Errorf("unstructured informer of tasks holds %d objects, want 4 (t0-t2, t9)", dyn.Indexer().Len())
	}
	f.Shutdown()
	select {
	case <-regKept.Done():
	default:
		t.Fatal("handler still running after Shutdown")
	}
}

func TestFactoryReadyzUnsynced(t *testing.T) {
	// A server that never answers keeps the informer unsynced.
	c, err := client.New(&client.Config{Host: "http://127.0.0.1:1", QPS: -1})
	must(t, err)
	f := NewFactory(c, FactoryOptions{})
	mustFor(t, f, kunosv1.Jobs, InNamespace("ns1"))
	ctx, cancel := context.WithCancel(context.Background())
	f.Start(ctx)
	rec := httptest.NewRecorder()
	f.ReadyzHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	if rec.Code != 503 || !strings.Contains(string(body), "jobs.kunos.io ns=ns1") {
		t.Errorf("readyz = %d %q", rec.Code, body)
	}
	if f.Synced() {
		t.Error("Synced = true")
	}
	cancel()
	f.Shutdown()
}

func mustFor[T cache.Object](t *testing.T, f *Factory, d resource.Descriptor[T], opts ...ResourceOption) SharedIndexInformer[T] {
	t.Helper()
	inf, err := For(f, d, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return inf
}

// For refuses, before building anything, what could never list.
func TestFactoryForErrors(t *testing.T) {
	c, err := client.New(&client.Config{Host: "http://127.0.0.1:1", QPS: -1})
	must(t, err)
	f := NewFactory(c, FactoryOptions{})
	defer f.Shutdown()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"namespace on a cluster-scoped resource", forErr(f, kunosv1.Nodes, InNamespace("x")), "cluster-scoped"},
		{"label selector", forErr(f, kunosv1.Tasks, WithLabelSelector("a in (")), "label selector"},
		{"field selector syntax", forErr(f, kunosv1.Tasks, WithFieldSelector("spec.nodeName")), "field selector"},
		{"unknown field", forErr(f, kunosv1.Jobs, WithFieldSelector("spec.nodeName=n1")), `"spec.nodeName" is not a selectable field`},
		{"invalid descriptor", forErr(f, resource.Descriptor[*kunosv1.Task]{}), "no version"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, tc.err, tc.want)
		}
	}
	if !errors.Is(forErr(f, kunosv1.Nodes, InNamespace("x")), resource.ErrScope) {
		t.Error("a scope error does not wrap resource.ErrScope")
	}
	if len(f.informers) != 0 {
		t.Errorf("failed For calls left %d informers", len(f.informers))
	}
	if _, err := For(f, kunosv1.Tasks, WithFieldSelector("metadata.name=a,spec.nodeName=n1"), InNamespace("x")); err != nil {
		t.Errorf("valid selectors: %v", err)
	}
}

func forErr[T cache.Object](f *Factory, d resource.Descriptor[T], opts ...ResourceOption) error {
	_, err := For(f, d, opts...)
	return err
}

// The factory's options reach every informer, typed for it.
func TestFactoryOptionsFor(t *testing.T) {
	var seen []string
	base := Options[cache.Object]{
		ResyncPeriod: time.Minute,
		Indexers: cache.Indexers[cache.Object]{"byName": func(o cache.Object) ([]string, error) {
			return []string{o.GetName()}, nil
		}},
	}
	base.PageSize = 7
	base.Transform = func(o cache.Object) (cache.Object, error) {
		seen = append(seen, o.GetName())
		return o, nil
	}
	o, err := optionsFor[*kunosv1.Task](base)
	must(t, err)
	if o.ResyncPeriod != time.Minute || o.PageSize != 7 {
		t.Errorf("options not carried: %+v", o)
	}
	task := newTask("ns", "t1", "n1")
	if got, err := o.Transform(task); err != nil || got != task || len(seen) != 1 {
		t.Errorf("Transform = %v, %v (seen %v)", got, err, seen)
	}
	if vals, err := o.Indexers["byName"](task); err != nil || len(vals) != 1 || vals[0] != "t1" {
		t.Errorf("index = %v, %v", vals, err)
	}
	base.Transform = func(o cache.Object) (cache.Object, error) { return &kunosv1.Node{}, nil }
	o, err = optionsFor[*kunosv1.Task](base)
	must(t, err)
	if _, err := o.Transform(task); err == nil {
		t.Error("a Transform returning another type did not fail")
	}
}
