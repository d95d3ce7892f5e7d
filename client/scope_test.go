package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/reflector"
	"github.com/kunos-io/listwatch/resource"
)

// The client does not import the reflector; a Resource and its
// ListerWatcher satisfy the reflector's interface structurally.
var (
	_ reflector.ListerWatcher[*kunosv1.Task] = (*client.Resource[*kunosv1.Task])(nil)
	_ reflector.ListerWatcher[*kunosv1.Task] = (*client.ListerWatcher[*kunosv1.Task])(nil)
)

// A namespace that does not fit the resource's scope fails every call at
// once, with an error wrapping resource.ErrScope, and sends nothing.
func TestScopeErrors(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "unexpected", http.StatusInternalServerError)
	}))
	defer srv.Close()
	c, err := client.New(&client.Config{Host: srv.URL, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nodes := client.For(c, kunosv1.Nodes).Namespace("x")
	if !errors.Is(nodes.Err(), resource.ErrScope) {
		t.Errorf("Err() = %v", nodes.Err())
	}
	tasks := client.For(c, kunosv1.Tasks) // all namespaces
	noNS := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "t"}}
	for name, call := range map[string]func() error{
		"node list":              func() error { _, _, err := nodes.List(ctx, metav1.ListOptions{}); return err },
		"node watch":             func() error { _, err := nodes.Watch(ctx, metav1.ListOptions{}); return err },
		"node get":               func() error { _, err := nodes.Get(ctx, "n", metav1.GetOptions{}); return err },
		"node create":            func() error { _, err := nodes.Create(ctx, &kunosv1.Node{}, metav1.CreateOptions{}); return err },
		"task create without ns": func() error { _, err := tasks.Create(ctx, noNS, metav1.CreateOptions{}); return err },
		"task get without ns":    func() error { _, err := tasks.Get(ctx, "t", metav1.GetOptions{}); return err },
		"task delete without ns": func() error { return tasks.Delete(ctx, "t", metav1.DeleteOptions{}) },
		"task patch without ns": func() error {
			_, err := tasks.Patch(ctx, "t", "application/merge-patch+json", []byte("{}"), metav1.PatchOptions{})
			return err
		},
		"task update without ns": func() error { _, err := tasks.Update(ctx, noNS, metav1.UpdateOptions{}); return err },
	} {
		if err := call(); !errors.Is(err, resource.ErrScope) {
			t.Errorf("%s: err = %v, want one wrapping resource.ErrScope", name, err)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
	if err := client.For(c, kunosv1.Tasks).Namespace("ns").Err(); err != nil {
		t.Errorf("a namespaced resource in a namespace: %v", err)
	}
	if err := client.For(c, resource.Descriptor[*kunosv1.Task]{}).Err(); err == nil {
		t.Error("an empty descriptor gave no error")
	}
}
