package namespace_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/internal/poll"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func do(t *testing.T, srv *stubtest.Server, method, path, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, srv.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	if method == http.MethodPatch {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, what, cond)
}

// The lifecycle of a Namespace as on a cluster: created Active with the
// kubernetes finalizer; objects go in; a delete makes it Terminating
// (creates in it are 403 NamespaceTerminating); its content goes, a Task
// held by a finalizer last, then the Namespace; creates in it are then
// 404.
func TestNamespaceLifecycle(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithControllers())
	tasks := "/apis/kunos.io/v1/namespaces/team/tasks"
	if code, b := do(t, srv, "POST", tasks, `{"metadata":{"name":"early"}}`); code != 404 ||
		!strings.Contains(string(b), `"message":"namespaces \"team\" not found"`) {
		t.Fatalf("create in a missing namespace: %d %s", code, b)
	}
	code, b := do(t, srv, "POST", "/api/v1/namespaces", `{"metadata":{"name":"team"}}`)
	var ns corev1.Namespace
	if code != 201 || json.Unmarshal(b, &ns) != nil || ns.Status.Phase != corev1.NamespaceActive ||
		len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != corev1.FinalizerKubernetes || ns.Labels[corev1.LabelMetadataName] != "team" {
		t.Fatalf("create namespace: %d %s", code, b)
	}
	for _, body := range []string{`{"metadata":{"name":"a"}}`, `{"metadata":{"name":"b"}}`, `{"metadata":{"name":"held","finalizers":["test.kunos.io/hold"]}}`} {
		if code, b := do(t, srv, "POST", tasks, body); code != 201 {
			t.Fatalf("create task: %d %s", code, b)
		}
	}
	if code, b := do(t, srv, "POST", "/apis/coordination.k8s.io/v1/namespaces/team/leases", `{"metadata":{"name":"l"}}`); code != 201 {
		t.Fatalf("create lease: %d %s", code, b)
	}
	code, b = do(t, srv, "DELETE", "/api/v1/namespaces/team", "")
	if code != 200 || json.Unmarshal(b, &ns) != nil || ns.DeletionTimestamp == nil || ns.Status.Phase != corev1.NamespaceTerminating {
		t.Fatalf("delete namespace: %d %s", code, b)
	}
	code, b = do(t, srv, "POST", tasks, `{"metadata":{"name":"late"}}`)
	var st metav1.Status
	if code != 403 || json.Unmarshal(b, &st) != nil || st.Reason != metav1.StatusReasonForbidden ||
		st.Message != `tasks.kunos.io "late" is forbidden: unable to create new content in namespace team because it is being terminated` ||
		len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != corev1.NamespaceTerminatingCause || st.Details.Causes[0].Field != "metadata.namespace" {
		t.Fatalf("create in a terminating namespace: %d %s", code, b)
	}
	eventually(t, "the free content to go", func() bool {
		ca, _ := do(t, srv, "GET", tasks+"/a", "")
		cl, _ := do(t, srv, "GET", "/apis/coordination.k8s.io/v1/namespaces/team/leases/l", "")
		return ca == 404 && cl == 404
	})
	time.Sleep(50 * time.Millisecond)
	if code, b := do(t, srv, "GET", "/api/v1/namespaces/team", ""); code != 200 {
		t.Fatalf("the namespace went before its content: %d %s", code, b)
	}
	if code, b := do(t, srv, "PATCH", tasks+"/held", `{"metadata":{"finalizers":null}}`); code != 200 {
		t.Fatalf("release: %d %s", code, b)
	}
	eventually(t, "the namespace to go", func() bool {
		c, _ := do(t, srv, "GET", "/api/v1/namespaces/team", "")
		return c == 404
	})
	if code, _ := do(t, srv, "POST", tasks, `{"metadata":{"name":"after"}}`); code != 404 {
		t.Fatalf("create after the namespace went: %d", code)
	}
}

// default, kube-system and kube-public exist from the start and may not be
// deleted.
func TestSystemNamespaces(t *testing.T) {
	srv := stubtest.Start(t)
	for _, n := range []string{"default", "kube-system", "kube-public"} {
		if code, b := do(t, srv, "GET", "/api/v1/namespaces/"+n, ""); code != 200 {
			t.Fatalf("%s: %d %s", n, code, b)
		}
		code, b := do(t, srv, "DELETE", "/api/v1/namespaces/"+n, "")
		if code != 403 || !bytes.Contains(b, []byte(`namespaces \"`+n+`\" is forbidden: this namespace may not be deleted`)) {
			t.Fatalf("delete %s: %d %s", n, code, b)
		}
	}
}
