package client_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/embed"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/client"
)

// startServer runs an embedded API server for the examples.
func startServer() (*embed.Server, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := embed.Start(ctx, embed.Options{Config: server.Config{Logger: slog.New(slog.DiscardHandler)}, Listen: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	return srv, func() {
		cancel()
		_ = srv.Stop(context.Background())
		<-srv.Done()
	}
}

// Create, list, watch and handle errors on a typed resource.
func Example() {
	srv, stop := startServer()
	defer stop()
	ctx := context.Background()

	c, err := client.New(&client.Config{Host: srv.URL})
	if err != nil {
		log.Fatal(err)
	}
	tasks := client.For(c, kunosv1.Tasks).Namespace("default")

	// List, then watch from the list's resourceVersion: nothing is missed.
	items, meta, err := tasks.List(ctx, metav1.ListOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tasks:", len(items))
	w, err := tasks.Watch(ctx, metav1.ListOptions{ResourceVersion: meta.ResourceVersion})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Stop()

	created, err := tasks.Create(ctx, &kunosv1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: "build-1"},
		Spec:       kunosv1.TaskSpec{Image: "golang:1.26", Command: []string{"make"}},
	}, metav1.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", created.Name, "generation", created.Generation)

	ev := <-w.ResultChan()
	fmt.Println("event:", ev.Type, ev.Object.(*kunosv1.Task).Name)

	_, err = tasks.Get(ctx, "build-2", metav1.GetOptions{})
	fmt.Println("not found:", apierrors.IsNotFound(err))

	// Objects from the client are the caller's: change a copy anyway, as
	// one would with objects from a cache.
	changed := created.DeepCopy()
	changed.Spec.Image = "golang:1.27"
	updated, err := tasks.Update(ctx, changed, metav1.UpdateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("updated: generation", updated.Generation)

	// created carries an older resourceVersion now.
	_, err = tasks.Update(ctx, created, metav1.UpdateOptions{})
	fmt.Println("conflict:", apierrors.IsConflict(err))
	// Output:
	// tasks: 0
	// created: build-1 generation 1
	// event: ADDED build-1
	// not found: true
	// updated: generation 2
	// conflict: true
}

// Any resource can be used without a Go type.
func ExampleDynamic() {
	srv, stop := startServer()
	defer stop()
	ctx := context.Background()

	c, err := client.New(&client.Config{Host: srv.URL})
	if err != nil {
		log.Fatal(err)
	}
	nodes := client.Dynamic(c, kunosv1.Nodes.Info)
	_, err = nodes.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kunos.io/v1",
		"kind":       "Node",
		"metadata":   map[string]any{"name": "node-1"},
		"spec":       map[string]any{"capacity": int64(8)},
	}}, metav1.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	n, err := nodes.Get(ctx, "node-1", metav1.GetOptions{})
	if err != nil {
		log.Fatal(err)
	}
	capacity, _, _ := unstructured.NestedInt64(n.Object, "spec", "capacity")
	fmt.Println(n.GetKind(), n.GetName(), "capacity", capacity)
	// Output:
	// Node node-1 capacity 8
}

// A ListerWatcher feeds a reflector or an informer; the tweak function
// narrows every list and watch, here to one label.
func ExampleResource_ListerWatcher() {
	srv, stop := startServer()
	defer stop()
	ctx := context.Background()

	c, err := client.New(&client.Config{Host: srv.URL})
	if err != nil {
		log.Fatal(err)
	}
	tasks := client.For(c, kunosv1.Tasks).Namespace("default")
	for _, name := range []string{"a", "b"} {
		t := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"team": name}}}
		if _, err := tasks.Create(ctx, t, metav1.CreateOptions{}); err != nil {
			log.Fatal(err)
		}
	}
	lw := tasks.ListerWatcher(func(o *metav1.ListOptions) { o.LabelSelector = "team=b" })
	items, _, err := lw.List(ctx, metav1.ListOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range items {
		fmt.Println(t.Name)
	}
	// Output:
	// b
}

// Connect with the current context of ~/.kube/config (or $KUBECONFIG).
func ExampleLoadKubeconfig() {
	cfg, err := client.LoadKubeconfig("", "")
	if err != nil {
		log.Fatal(err)
	}
	cfg.UserAgent = "my-controller/1.0"
	c, err := client.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	jobs := client.For(c, kunosv1.Jobs).Namespace("default")
	items, _, err := jobs.ListAll(context.Background(), metav1.ListOptions{Limit: 500})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(items), "jobs")
}
