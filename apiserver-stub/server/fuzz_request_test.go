package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Fuzz targets for the rest of what the server parses from a request (the
// path, the Accept and Content-Type headers, the options of writes and
// deletes), and for the whole handler. Seed corpora are in testdata/fuzz;
// .ci/run runs each target for a few seconds, and a crasher it finds is
// kept there as a regression test.

// wantStatusCode fails unless err is an API status error with one of codes.
func wantStatusCode(t *testing.T, err error, codes ...int32) {
	t.Helper()
	st, ok := err.(apierrors.APIStatus)
	if !ok {
		t.Fatalf("error is not a Status: %v", err)
	}
	for _, c := range codes {
		if st.Status().Code == c {
			return
		}
	}
	t.Fatalf("Status code %d, want one of %v: %v", st.Status().Code, codes, err)
}

func FuzzRequestPath(f *testing.F) {
	for _, p := range []string{
		"tasks", "namespaces/default/tasks", "namespaces/default/tasks/a", "namespaces/default/tasks/a/status",
		"nodes/n1/status", "watch/namespaces/d/tasks", "watch/nodes", "jobs/x", "namespaces//tasks", "tasks/../nodes",
		"namespaces/d/tasks/a/scale", "namespaces/d/nodes", "pods", "", "/", "namespaces/d/tasks/a/status/x",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		ri, err := parseResourcePath(kunosv1.SchemeGroupVersion, rest)
		if err != nil {
			wantStatusCode(t, err, http.StatusNotFound)
			return
		}
		if ri.forceWatch && ri.name != "" {
			t.Fatalf("a legacy watch of one object accepted: %q", rest)
		}
		for _, seg := range []string{ri.namespace, ri.name} {
			if strings.Contains(seg, "/") || seg == "." || seg == ".." {
				t.Fatalf("segment %q of %q", seg, rest)
			}
		}
		if ri.name != "" && !strings.HasPrefix(ri.key(ri.name), ri.prefix()) && ri.namespace != "" {
			t.Fatalf("key %q outside prefix %q", ri.key(ri.name), ri.prefix())
		}
		if ri.res.Namespaced && ri.name != "" && ri.namespace == "" {
			t.Fatalf("namespaced object without namespace: %q", rest)
		}
	})
}

func FuzzNegotiateOutput(f *testing.F) {
	for _, a := range []string{
		"", "application/json", "*/*", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
		"application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", "text/html", ";;;,,,", "application/vnd.kubernetes.protobuf",
		"application/json;as=Table;g=meta.k8s.io;v=v1beta1;q=0.5, application/*;q=0.1",
	} {
		f.Add(a, true)
		f.Add(a, false)
	}
	f.Fuzz(func(t *testing.T, accept string, list bool) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept", accept)
		out, v, err := negotiateOutput(r, list)
		if err != nil {
			wantStatusCode(t, err, http.StatusNotAcceptable)
			return
		}
		if out == outputTable && v != "v1" && v != "v1beta1" {
			t.Fatalf("Table version %q", v)
		}
	})
}

func FuzzBodyJSON(f *testing.F) {
	for _, c := range []struct{ ct, body string }{
		{"application/json", `{"metadata":{"name":"a"}}`}, {"", `{}`}, {"application/yaml", "metadata:\n  name: a\n"},
		{"application/yaml", "a: &a [x,x]\nb: [*a,*a]\n"}, {"application/yaml; charset=utf-8", "- 1\n- 2\n"},
		{"text/plain", "x"}, {";;", ""}, {"application/yaml", "\t: :"},
	} {
		f.Add(c.ct, []byte(c.body))
	}
	// A protobuf RoleBinding, as kubectl create rolebinding sends it.
	rb, _ := (&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "x"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "r"}}).Marshal()
	u, _ := (&runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"}, Raw: rb}).Marshal()
	f.Add(protobufMediaType, append(append([]byte(nil), protoMagic...), u...))
	f.Add(protobufMediaType, []byte("k8s\x00\x0a\x02"))
	kunos, _ := resources.lookup(schema.GroupVersion{Group: "kunos.io", Version: "v1"}, "tasks")
	rbac, _ := resources.lookup(rbacv1.SchemeGroupVersion, "rolebindings")
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		for _, res := range []*Resource{kunos, rbac} {
			mt, err := bodyMediaType(contentType, res)
			if err != nil {
				wantStatusCode(t, err, http.StatusUnsupportedMediaType)
				continue
			}
			if mt == protobufMediaType && res == kunos {
				t.Fatal("protobuf accepted for a kunos.io kind")
			}
			out, err := bodyJSON(mt, body, res)
			if err != nil {
				wantStatusCode(t, err, http.StatusBadRequest)
				continue
			}
			if mt != "application/json" && !json.Valid(out) {
				t.Fatalf("%s became invalid JSON: %q", mt, out)
			}
		}
	})
}

func FuzzWriteOptions(f *testing.F) {
	for _, q := range []string{
		"", "dryRun=All", "dryRun=All&dryRun=All", "dryRun=", "dryRun=Some", "fieldValidation=Strict", "fieldValidation=Loud",
		"fieldManager=kubectl", "fieldManager=%07", "fieldManager=" + strings.Repeat("m", 129), "force=true", "fieldValidation=Ignore&dryRun=All",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		for _, parse := range []func(url.Values) (writeOptions, error){
			parseCreateOptions, parseUpdateOptions,
			func(q url.Values) (writeOptions, error) { return parsePatchOptions(q, mergePatchType) },
			func(q url.Values) (writeOptions, error) { return parsePatchOptions(q, jsonPatchType) },
		} {
			wo, err := parse(q)
			if err != nil {
				wantStatusCode(t, err, http.StatusBadRequest, http.StatusUnprocessableEntity)
				continue
			}
			for _, v := range q["dryRun"] {
				if v != "All" {
					t.Fatalf("dryRun=%q accepted", v)
				}
			}
			if wo.dryRun != (len(q["dryRun"]) > 0) {
				t.Fatalf("dryRun %v for %q", wo.dryRun, query)
			}
		}
	})
}

func FuzzDeleteOptions(f *testing.F) {
	for _, c := range []struct{ ct, body, query string }{
		{"application/json", `{"propagationPolicy":"Background"}`, ""},
		{"application/json", `{"propagationPolicy":"Bogus"}`, ""},
		{"application/json", `{"apiVersion":"v1","kind":"Pod"}`, ""},
		{"application/json", `{"preconditions":{"uid":"u","resourceVersion":"3"},"gracePeriodSeconds":0}`, ""},
		{"application/yaml", "propagationPolicy: Orphan\n", ""},
		{"text/plain", `{}`, ""},
		{"", "", "gracePeriodSeconds=abc"},
		{"", "", "propagationPolicy=Foreground&dryRun=All"},
		{"", "", "orphanDependents=true&propagationPolicy=Orphan"},
		{"application/json", `{"dryRun":["Some"]}`, "dryRun=All"},
	} {
		f.Add(c.ct, []byte(c.body), c.query)
	}
	store := storage.NewMemoryStore(storage.MemoryConfig{Codec: NewCodec()})
	f.Cleanup(store.Close)
	s, err := New(Config{Store: store, MaxBodyBytes: 64 << 10})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte, query string) {
		r := httptest.NewRequest(http.MethodDelete, "/", bytes.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", contentType)
		opts, err := s.parseDeleteOptions(httptest.NewRecorder(), r)
		if err != nil {
			wantStatusCode(t, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge,
				http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity)
			return
		}
		if errs := metav1validation.ValidateDeleteOptions(opts); len(errs) > 0 {
			t.Fatalf("invalid options accepted: %v", errs)
		}
	})
}

// FuzzServeHTTP sends arbitrary requests (but watches) to the whole
// handler. Invariants: no panic; every answer of 400 or more is a Status
// whose code is the HTTP code, and leaves the store's revision as it was.
func FuzzServeHTTP(f *testing.F) {
	for _, c := range []struct{ method, path, ct, accept, body string }{
		{"GET", "/apis/kunos.io/v1/namespaces/d/tasks/a", "", "", ""},
		{"GET", "/apis/kunos.io/v1/namespaces/d/tasks?limit=1&labelSelector=x%3Dy", "", "application/json;as=Table;v=v1;g=meta.k8s.io", ""},
		{"POST", "/apis/kunos.io/v1/namespaces/d/tasks", "application/json", "", `{"metadata":{"name":"b","resourceVersion":"9"}}`},
		{"POST", "/apis/kunos.io/v1/nodes?dryRun=All", "application/yaml", "", "metadata:\n  name: n\n"},
		{"PUT", "/apis/kunos.io/v1/namespaces/d/tasks/a", "application/json", "", `{"metadata":{"name":"a","resourceVersion":"1"}}`},
		{"PATCH", "/apis/kunos.io/v1/namespaces/d/tasks/a/status", "application/merge-patch+json", "", `{"status":{"phase":"Running"}}`},
		{"PATCH", "/apis/kunos.io/v1/namespaces/d/tasks/a", "application/json-patch+json", "", `[{"op":"remove","path":"/metadata"}]`},
		{"DELETE", "/apis/kunos.io/v1/namespaces/d/tasks/a?propagationPolicy=Bogus", "", "", ""},
		{"DELETE", "/apis/kunos.io/v1/namespaces/d/tasks", "application/json", "", `{"dryRun":["All"]}`},
		{"GET", "/apis/kunos.io/v1", "", "", ""},
		{"GET", "/openapi/v2", "", "", ""},
		{"FOO", "/apis/kunos.io/v1/tasks?timeout=abc", "", "text/html", ""},
	} {
		f.Add(c.method, c.path, c.ct, c.accept, []byte(c.body))
	}
	store := storage.NewMemoryStore(storage.MemoryConfig{Codec: NewCodec()})
	f.Cleanup(store.Close)
	s, err := New(Config{Store: store, MaxBodyBytes: 64 << 10, RequestTimeout: 5 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	seed := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "d"}}
	if _, err := store.Create(context.Background(), "/tasks/d/a", seed); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, target, contentType, accept string, body []byte) {
		if !strings.HasPrefix(target, "/") {
			return
		}
		r, err := http.NewRequest(method, "http://server"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		r.Header.Set("Content-Type", contentType)
		r.Header.Set("Accept", accept)
		if s.isLongRunning(r) {
			return // watches stream until they end; FuzzParseListOptions covers their query
		}
		before := store.CurrentRevision()
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		code := w.Code
		if code < 400 {
			return
		}
		if method == http.MethodHead {
			return // no body
		}
		var st metav1.Status
		if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || st.Kind != "Status" || int(st.Code) != code {
			if strings.HasPrefix(target, "/healthz") || strings.HasPrefix(target, "/readyz") || strings.HasPrefix(target, "/livez") || target == "/metrics" {
				return
			}
			t.Fatalf("%s %s answered %d with no matching Status: %v %.300s", method, target, code, err, w.Body.Bytes())
		}
		if code == http.StatusInternalServerError && strings.Contains(st.Message, "panic") {
			t.Fatalf("%s %s panicked: %s", method, target, st.Message)
		}
		if after := store.CurrentRevision(); after != before {
			t.Fatalf("%s %s answered %d but wrote (revision %d -> %d)", method, target, code, before, after)
		}
	})
}
