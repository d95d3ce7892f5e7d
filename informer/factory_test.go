package informer

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/reflector"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	tasks := client.For[*kunosv1.Task](c, kunosv1.TasksResource)
	for i, node := range []string{"n1", "n2", "n1"} {
		_, err := tasks.Namespace("default").Create(ctx, newTask("default", fmt.Sprintf("t%d", i), node), metav1.CreateOptions{})
		must(t, err)
	}

	prov := &fakeProvider{}
	f := NewFactory(c, FactoryOptions{Metrics: prov})
	defer f.Shutdown()
	all := ForResource[*kunosv1.Task](f, kunosv1.TasksResource, "")
	if again := ForResource[*kunosv1.Task](f, kunosv1.TasksResource, ""); again != all {
		t.Fatal("ForResource built a second informer for the same key")
	}
	n1 := ForResource[*kunosv1.Task](f, kunosv1.TasksResource, "", WithFieldSelector("spec.nodeName=n1"))
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
	if !f.Remove(kunosv1.TasksResource, "", WithFieldSelector("spec.nodeName=n1")) {
		t.Fatal("Remove found no informer")
	}
	if f.Remove(kunosv1.TasksResource, "", WithFieldSelector("spec.nodeName=n1")) {
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
	nodes := ForResource[*kunosv1.Node](f, kunosv1.NodesResource, "")
	if !WaitForCacheSync(ctx, nodes.HasSynced) {
		t.Fatal("late informer did not start")
	}
	if len(prov.names) != 3 || prov.names[1] != "tasks.kunos.io fields=spec.nodeName=n1" {
		t.Errorf("metrics names = %q", prov.names)
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "*v1.Node") {
				t.Errorf("ForResource with a second type: recover() = %v", r)
			}
		}()
		ForResource[*kunosv1.Node](f, kunosv1.TasksResource, "")
	}()
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
	ForResource[*kunosv1.Job](f, kunosv1.JobsResource, "ns1")
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
