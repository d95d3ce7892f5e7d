package client

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

func TestListAllPages(t *testing.T) {
	ctx := testCtx(t)
	f, srv := newFakeAPI(t)
	c := mustClient(t, &Config{Host: srv.URL})
	tasks := For(c, kunosv1.Tasks).Namespace("ns")
	for i := range 7 {
		if _, err := tasks.Create(ctx, newTask("", fmt.Sprintf("t%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	f.requests = nil
	f.mu.Unlock()

	page, meta, err := tasks.List(ctx, metav1.ListOptions{Limit: 3})
	if err != nil || len(page) != 3 || meta.Continue == "" {
		t.Fatalf("one page: %d items, %+v, %v", len(page), meta, err)
	}
	all, meta, err := tasks.ListAll(ctx, metav1.ListOptions{Limit: 3, ResourceVersion: "0"})
	if err != nil || len(all) != 7 || meta.Continue != "" || meta.ResourceVersion != "7" {
		t.Fatalf("all: %d items, %+v, %v", len(all), meta, err)
	}
	for i, o := range all {
		if o.Name != fmt.Sprintf("t%d", i) || o.Kind != "Task" {
			t.Fatalf("item %d = %s %s", i, o.Kind, o.Name)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var queries []string
	for _, r := range f.requests {
		queries = append(queries, r.URL.RawQuery)
	}
	want := []string{"limit=3", "limit=3&resourceVersion=0", "continue=ns%2Ft2&limit=3", "continue=ns%2Ft5&limit=3"}
	if fmt.Sprint(queries) != fmt.Sprint(want) {
		t.Fatalf("queries = %v, want %v", queries, want)
	}
}

// TestListAllExpiredContinue: a 410 Expired on a later page falls back to
// one full list at the original resourceVersion; at the first page it is
// returned as is.
func TestListAllExpiredContinue(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	item := func(name string) string {
		return `{"kind":"Task","apiVersion":"kunos.io/v1","metadata":{"name":"` + name + `","namespace":"ns"}}`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		q := r.URL.Query()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case q.Get("resourceVersion") == "1":
			writeErr(w, apierrors.NewResourceExpired("The resourceVersion for the provided list is too old."))
		case q.Get("continue") != "":
			writeErr(w, apierrors.NewResourceExpired("The provided continue parameter is too old"))
		case q.Get("limit") != "":
			fmt.Fprint(w, `{"kind":"TaskList","apiVersion":"kunos.io/v1","metadata":{"resourceVersion":"10","continue":"tok"},"items":[`+item("a")+`]}`)
		default:
			fmt.Fprint(w, `{"kind":"TaskList","apiVersion":"kunos.io/v1","metadata":{"resourceVersion":"12"},"items":[`+item("a")+","+item("b")+`]}`)
		}
	}))
	defer srv.Close()
	c := mustClient(t, &Config{Host: srv.URL})
	tasks := For(c, kunosv1.Tasks).Namespace("ns")
	items, meta, err := tasks.ListAll(testCtx(t), metav1.ListOptions{Limit: 1, ResourceVersion: "5", ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if err != nil || len(items) != 2 || meta.ResourceVersion != "12" {
		t.Fatalf("fallback: %d items, %+v, %v", len(items), meta, err)
	}
	want := []string{
		"limit=1&resourceVersion=5&resourceVersionMatch=Exact",
		"continue=tok&limit=1",
		"resourceVersion=5&resourceVersionMatch=Exact",
	}
	if fmt.Sprint(queries) != fmt.Sprint(want) {
		t.Fatalf("queries = %v, want %v", queries, want)
	}
	if _, _, err := tasks.ListAll(testCtx(t), metav1.ListOptions{Limit: 1, ResourceVersion: "1"}); !apierrors.IsResourceExpired(err) {
		t.Fatalf("first page expired: %v", err)
	}
}

func TestListDecodeErrors(t *testing.T) {
	cases := map[string]string{
		"wrong list kind":  `{"kind":"JobList","apiVersion":"kunos.io/v1","metadata":{},"items":[]}`,
		"wrong version":    `{"kind":"TaskList","apiVersion":"kunos.io/v2","metadata":{},"items":[]}`,
		"no kind":          `{"metadata":{},"items":[]}`,
		"item wrong kind":  `{"kind":"TaskList","apiVersion":"kunos.io/v1","metadata":{},"items":[{"kind":"Job","apiVersion":"kunos.io/v1"}]}`,
		"null item":        `{"kind":"TaskList","apiVersion":"kunos.io/v1","metadata":{},"items":[null]}`,
		"not json":         `<html>`,
		"items not a list": `{"kind":"TaskList","apiVersion":"kunos.io/v1","metadata":{},"items":{}}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, body) // no Content-Type: accepted, like client-go
			}))
			defer srv.Close()
			c := mustClient(t, &Config{Host: srv.URL})
			for _, err := range []error{
				func() error {
					_, _, err := For(c, kunosv1.Tasks).List(testCtx(t), metav1.ListOptions{})
					return err
				}(),
				func() error {
					_, _, err := Dynamic(c, kunosv1.Tasks.Info).List(testCtx(t), metav1.ListOptions{})
					return err
				}(),
			} {
				if err == nil {
					t.Fatal("no error")
				}
			}
		})
	}
	// Items without kind/apiVersion get them from the list.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"TaskList","apiVersion":"kunos.io/v1","metadata":{"resourceVersion":"3"},"items":[{"metadata":{"name":"a"}}]}`)
	}))
	defer srv.Close()
	c := mustClient(t, &Config{Host: srv.URL})
	typed, _, err := For(c, kunosv1.Tasks).List(testCtx(t), metav1.ListOptions{})
	if err != nil || typed[0].Kind != "Task" || typed[0].APIVersion != "kunos.io/v1" {
		t.Fatalf("typed: %v %v", typed, err)
	}
	dyn, _, err := Dynamic(c, kunosv1.Tasks.Info).List(testCtx(t), metav1.ListOptions{})
	if err != nil || dyn[0].GetKind() != "Task" || dyn[0].GetAPIVersion() != "kunos.io/v1" {
		t.Fatalf("dynamic: %v %v", dyn, err)
	}
}

func TestDynamicCRUD(t *testing.T) {
	ctx := testCtx(t)
	_, srv := newFakeAPI(t)
	c := mustClient(t, &Config{Host: srv.URL})
	tasks := Dynamic(c, kunosv1.Tasks.Info).Namespace("ns")
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kunos.io/v1", "kind": "Task",
		"metadata": map[string]any{"name": "a"},
		"spec":     map[string]any{"image": "x", "timeoutSeconds": int64(30)},
	}}
	created, err := tasks.Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedInt64(created.Object, "spec", "timeoutSeconds"); v != 30 {
		t.Fatalf("numbers must decode as int64: %#v", created.Object["spec"])
	}
	got, err := tasks.Get(ctx, "a", metav1.GetOptions{})
	if err != nil || got.GetResourceVersion() != created.GetResourceVersion() {
		t.Fatalf("get: %v %v", got, err)
	}
	_ = unstructured.SetNestedField(got.Object, "y", "spec", "image")
	if _, err := tasks.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	items, _, err := tasks.List(ctx, metav1.ListOptions{})
	if err != nil || len(items) != 1 {
		t.Fatalf("list: %v %v", items, err)
	}
	if img, _, _ := unstructured.NestedString(items[0].Object, "spec", "image"); img != "y" {
		t.Fatalf("image = %q", img)
	}
	if _, err := tasks.Patch(ctx, "a", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{}); !apierrors.IsMethodNotSupported(err) {
		t.Fatalf("patch on fake: %v", err)
	}
	if err := tasks.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}
