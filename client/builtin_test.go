package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kunos-io/listwatch/apis/kube"
	"github.com/kunos-io/listwatch/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Built-in kinds of k8s.io/api are typed clients through their
// descriptors, with no generated code: Pods listed by field selector and
// watched, ConfigMaps created and read, on kube-apiserver's paths.
func TestBuiltinTypedClients(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/v1/namespaces/default/pods" && r.URL.Query().Get("watch") == "true":
			fmt.Fprint(w, `{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p2","namespace":"default","resourceVersion":"8"},"spec":{"nodeName":"n1"}}}`+"\n")
		case r.Method == "GET" && r.URL.Path == "/api/v1/namespaces/default/pods":
			if got := r.URL.Query().Get("fieldSelector"); got != "spec.nodeName=n1" {
				t.Errorf("fieldSelector %q", got)
			}
			fmt.Fprint(w, `{"apiVersion":"v1","kind":"PodList","metadata":{"resourceVersion":"7"},"items":[{"metadata":{"name":"p1","namespace":"default","resourceVersion":"5"},"spec":{"nodeName":"n1"},"status":{"phase":"Running"}}]}`)
		case r.Method == "POST" && r.URL.Path == "/api/v1/namespaces/default/configmaps":
			b, _ := io.ReadAll(r.Body)
			w.WriteHeader(http.StatusCreated)
			w.Write(b)
		case r.Method == "GET" && r.URL.Path == "/api/v1/namespaces/default/configmaps/c":
			fmt.Fprint(w, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"default","resourceVersion":"3"},"data":{"k":"v"}}`)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	c, err := client.New(&client.Config{Host: srv.URL, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pods := client.For(c, kube.Pods).Namespace("default")
	items, meta, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"})
	if err != nil || len(items) != 1 || items[0].Spec.NodeName != "n1" || items[0].Status.Phase != corev1.PodRunning || meta.ResourceVersion != "7" {
		t.Fatalf("list: %v %+v %+v", err, items, meta)
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: "7"})
	if err != nil {
		t.Fatal(err)
	}
	ev := <-w.ResultChan()
	w.Stop()
	if p, ok := ev.Object.(*corev1.Pod); !ok || p.Name != "p2" {
		t.Fatalf("watch event: %+v", ev)
	}
	cms := client.For(c, kube.ConfigMaps).Namespace("default")
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm, err := cms.Get(ctx, "c", metav1.GetOptions{})
	if err != nil || cm.Data["k"] != "v" {
		t.Fatalf("get: %v %+v", err, cm)
	}
}
