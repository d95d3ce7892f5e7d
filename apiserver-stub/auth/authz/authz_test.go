package authz_test

import (
	"net/http/httptest"
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/auth/authz"
)

func TestRequestAttributes(t *testing.T) {
	type want struct {
		verb, group, version, resource, sub, ns, name string
		resourceRequest                               bool
	}
	for _, c := range []struct {
		method, url string
		want        want
	}{
		{"GET", "/api", want{verb: "get"}},
		{"GET", "/api/v1", want{verb: "get"}},
		{"GET", "/apis/kunos.io", want{verb: "get"}},
		{"GET", "/apis/kunos.io/v1", want{verb: "get"}},
		{"GET", "/healthz", want{verb: "get"}},
		{"POST", "/metrics", want{verb: "post"}},
		{"GET", "/apis/kunos.io/v1/tasks", want{"list", "kunos.io", "v1", "tasks", "", "", "", true}},
		{"GET", "/apis/kunos.io/v1/tasks?watch=true", want{"watch", "kunos.io", "v1", "tasks", "", "", "", true}},
		{"GET", "/apis/kunos.io/v1/tasks?watch=false", want{"list", "kunos.io", "v1", "tasks", "", "", "", true}},
		{"GET", "/apis/kunos.io/v1/watch/namespaces/a/tasks", want{"watch", "kunos.io", "v1", "tasks", "", "a", "", true}},
		{"GET", "/apis/kunos.io/v1/namespaces/a/tasks", want{"list", "kunos.io", "v1", "tasks", "", "a", "", true}},
		{"GET", "/apis/kunos.io/v1/namespaces/a/tasks?watch=1&fieldSelector=metadata.name%3Dx", want{"watch", "kunos.io", "v1", "tasks", "", "a", "x", true}},
		{"GET", "/apis/kunos.io/v1/namespaces/a/tasks/x", want{"get", "kunos.io", "v1", "tasks", "", "a", "x", true}},
		{"HEAD", "/apis/kunos.io/v1/namespaces/a/tasks/x", want{"get", "kunos.io", "v1", "tasks", "", "a", "x", true}},
		{"PUT", "/apis/kunos.io/v1/namespaces/a/tasks/x/status", want{"update", "kunos.io", "v1", "tasks", "status", "a", "x", true}},
		{"PATCH", "/apis/kunos.io/v1/namespaces/a/tasks/x", want{"patch", "kunos.io", "v1", "tasks", "", "a", "x", true}},
		{"POST", "/apis/kunos.io/v1/namespaces/a/tasks", want{"create", "kunos.io", "v1", "tasks", "", "a", "", true}},
		{"DELETE", "/apis/kunos.io/v1/namespaces/a/tasks", want{"deletecollection", "kunos.io", "v1", "tasks", "", "a", "", true}},
		{"DELETE", "/apis/kunos.io/v1/namespaces/a/tasks/x", want{"delete", "kunos.io", "v1", "tasks", "", "a", "x", true}},
		{"GET", "/apis/kunos.io/v1/nodes/n1", want{"get", "kunos.io", "v1", "nodes", "", "", "n1", true}},
		{"GET", "/api/v1/namespaces/a/events", want{"list", "", "v1", "events", "", "a", "", true}},
		{"GET", "/api/v1/namespaces", want{"list", "", "v1", "namespaces", "", "", "", true}},
		{"GET", "/api/v1/namespaces/a", want{"get", "", "v1", "namespaces", "", "", "a", true}},
		{"PUT", "/api/v1/namespaces/a/finalize", want{"update", "", "v1", "namespaces", "finalize", "", "a", true}},
	} {
		a := authz.RequestAttributes(httptest.NewRequest(c.method, c.url, nil), nil)
		got := want{a.Verb, a.APIGroup, a.APIVersion, a.Resource, a.Subresource, a.Namespace, a.Name, a.ResourceRequest}
		if got != c.want {
			t.Errorf("%s %s: got %+v, want %+v", c.method, c.url, got, c.want)
		}
	}
}
