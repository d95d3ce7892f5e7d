package bench

// Side by side: decoding a watch stream and a list response, by our client
// and by client-go v0.37 (a typed REST client on the same scheme, and the
// dynamic client), against one loopback server in one process. The server
// writes pre-encoded bytes, so the numbers are the clients' cost. Run:
//
//	cd hack/bench && go test -run='^$' -bench='Client(Watch|List)' -benchmem
//
// One op of ClientWatch is one event; one op of ClientList is one list of
// 1000 Tasks.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	lwclient "github.com/kunos-io/listwatch/client"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

func clientBenchTask(i int) *kunosv1.Task {
	timeout := int64(600)
	return &kunosv1.Task{
		TypeMeta: metav1.TypeMeta{Kind: "Task", APIVersion: "kunos.io/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("build-7f9c2-%06d", i), Namespace: "team-a", UID: "5b1a2c8e-8d3f-4f4e-9a51-0c9d8e7f6a5b",
			ResourceVersion: strconv.Itoa(100000 + i), Generation: 3, CreationTimestamp: metav1.Unix(1763700000, 0),
			Labels:          map[string]string{"app": "builder", "job": "build-7f9c2", "tier": "batch"},
			Annotations:     map[string]string{"kunos.io/attempt": "2"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "kunos.io/v1", Kind: "Job", Name: "build-7f9c2", UID: "9f8e7d6c-5b4a-3c2d-1e0f-a1b2c3d4e5f6"}},
		},
		Spec:   kunosv1.TaskSpec{Command: []string{"make", "-j4", "all"}, Image: "golang:1.26", NodeName: "node-17", TimeoutSeconds: &timeout},
		Status: kunosv1.TaskStatus{Phase: kunosv1.TaskRunning},
	}
}

// clientBenchServer answers a watch with n copies of one MODIFIED event
// (n from the "n" query parameter; type first, as servers write it) and a
// list with a TaskList of 1000 Tasks.
func clientBenchServer(b *testing.B) *httptest.Server {
	frame, err := json.Marshal(struct {
		Type   string        `json:"type"`
		Object *kunosv1.Task `json:"object"`
	}{"MODIFIED", clientBenchTask(0)})
	if err != nil {
		b.Fatal(err)
	}
	frame = append(frame, '\n')
	list := &kunosv1.TaskList{TypeMeta: metav1.TypeMeta{Kind: "TaskList", APIVersion: "kunos.io/v1"}}
	list.ResourceVersion = "200000"
	for i := range 1000 {
		list.Items = append(list.Items, *clientBenchTask(i))
	}
	listBody, err := json.Marshal(list)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("watch") != "true" {
			_, _ = w.Write(listBody)
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("labelSelector")[len("n="):])
		buf := make([]byte, 0, 64<<10)
		for i := range n {
			buf = append(buf, frame...)
			if len(buf) > 60<<10 || i == n-1 {
				if _, err := w.Write(buf); err != nil {
					return
				}
				buf = buf[:0]
			}
		}
	}))
	b.Cleanup(srv.Close)
	return srv
}

func clientGoREST(b *testing.B, host string) rest.Interface {
	rc, err := rest.RESTClientFor(&rest.Config{
		Host: host, APIPath: "/apis", QPS: -1,
		ContentConfig: rest.ContentConfig{
			GroupVersion:         &kunosv1.SchemeGroupVersion,
			NegotiatedSerializer: serializer.NewCodecFactory(kunosv1.Scheme).WithoutConversion(),
			ContentType:          "application/json",
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	return rc
}

func drainWatch(b *testing.B, w watch.Interface, want int) {
	n := 0
	for ev := range w.ResultChan() {
		if ev.Type != watch.Modified {
			b.Fatalf("event %d: %s %v", n, ev.Type, ev.Object)
		}
		n++
	}
	if n != want {
		b.Fatalf("got %d events, want %d", n, want)
	}
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkClientWatch(b *testing.B) {
	srv := clientBenchServer(b)
	ours, err := lwclient.New(&lwclient.Config{Host: srv.URL, QPS: -1})
	if err != nil {
		b.Fatal(err)
	}
	rc := clientGoREST(b, srv.URL)
	dyn, err := dynamic.NewForConfig(&rest.Config{Host: srv.URL, QPS: -1})
	if err != nil {
		b.Fatal(err)
	}
	opts := func(n int) metav1.ListOptions { return metav1.ListOptions{LabelSelector: "n=" + strconv.Itoa(n)} }
	ctx := context.Background()
	b.Run("typed/listwatch", func(b *testing.B) {
		b.ReportAllocs()
		w, err := lwclient.For(ours, kunosv1.Tasks).Watch(ctx, opts(b.N))
		if err != nil {
			b.Fatal(err)
		}
		drainWatch(b, w, b.N)
	})
	b.Run("typed/client-go", func(b *testing.B) {
		b.ReportAllocs()
		o := opts(b.N)
		o.Watch = true
		w, err := rc.Get().Resource("tasks").VersionedParams(&o, metav1.ParameterCodec).Watch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		drainWatch(b, w, b.N)
	})
	b.Run("unstructured/listwatch", func(b *testing.B) {
		b.ReportAllocs()
		w, err := lwclient.Dynamic(ours, kunosv1.Tasks.Info).Watch(ctx, opts(b.N))
		if err != nil {
			b.Fatal(err)
		}
		drainWatch(b, w, b.N)
	})
	b.Run("unstructured/client-go", func(b *testing.B) {
		b.ReportAllocs()
		w, err := dyn.Resource(kunosv1.Tasks.GVR).Watch(ctx, opts(b.N))
		if err != nil {
			b.Fatal(err)
		}
		drainWatch(b, w, b.N)
	})
}

func BenchmarkClientList(b *testing.B) {
	srv := clientBenchServer(b)
	ours, err := lwclient.New(&lwclient.Config{Host: srv.URL, QPS: -1})
	if err != nil {
		b.Fatal(err)
	}
	rc := clientGoREST(b, srv.URL)
	dyn, err := dynamic.NewForConfig(&rest.Config{Host: srv.URL, QPS: -1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	check := func(b *testing.B, n int, err error) {
		if err != nil || n != 1000 {
			b.Fatalf("%d items, %v", n, err)
		}
	}
	b.Run("typed/listwatch", func(b *testing.B) {
		b.ReportAllocs()
		tasks := lwclient.For(ours, kunosv1.Tasks)
		for b.Loop() {
			items, _, err := tasks.List(ctx, metav1.ListOptions{})
			check(b, len(items), err)
		}
	})
	b.Run("typed/client-go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var l kunosv1.TaskList
			err := rc.Get().Resource("tasks").Do(ctx).Into(&l)
			check(b, len(l.Items), err)
		}
	})
	b.Run("unstructured/listwatch", func(b *testing.B) {
		b.ReportAllocs()
		tasks := lwclient.Dynamic(ours, kunosv1.Tasks.Info)
		for b.Loop() {
			items, _, err := tasks.List(ctx, metav1.ListOptions{})
			check(b, len(items), err)
		}
	})
	b.Run("unstructured/client-go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l, err := dyn.Resource(kunosv1.Tasks.GVR).List(ctx, metav1.ListOptions{})
			check(b, len(l.Items), err)
		}
	})
}
