package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const applyCT = "application/apply-patch+yaml"

func managers(t *testing.T, r resp) map[string]string {
	t.Helper()
	var o struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	r.decode(t, &o)
	out := map[string]string{}
	for _, e := range o.Metadata.ManagedFields {
		out[e.Manager+"/"+e.Subresource] = string(e.Operation)
	}
	return out
}

// kubectl apply --server-side: the first apply creates (201), the second
// is a no-op (same resourceVersion, no event); another manager changing a
// field the first owns is 409 with a cause per field, unless it forces,
// which moves the field to it.
func TestServerSideApply(t *testing.T) {
	srv := stubtest.Start(t)
	path := "/apis/kunos.io/v1/namespaces/default/tasks/a"
	cfg := "apiVersion: kunos.io/v1\nkind: Task\nmetadata:\n  name: a\n  labels:\n    app: x\nspec:\n  image: busybox\n"
	r1 := do(t, srv, http.MethodPatch, path+"?fieldManager=kubectl", applyCT, cfg)
	if r1.code != http.StatusCreated {
		t.Fatalf("first apply: %d %s", r1.code, r1.body)
	}
	if m := managers(t, r1); m["kubectl/"] != "Apply" || len(m) != 1 {
		t.Fatalf("managedFields after the first apply: %v (%s)", m, r1.body)
	}
	rv1 := rvOf(t, r1.obj(t))
	r2 := do(t, srv, http.MethodPatch, path+"?fieldManager=kubectl", applyCT, cfg)
	if r2.code != http.StatusOK || rvOf(t, r2.obj(t)) != rv1 || string(r2.body) != string(r1.body) {
		t.Fatalf("second apply is not a no-op: %d %s", r2.code, r2.body)
	}
	// Another manager takes the image: 409 with kube's cause.
	other := "apiVersion: kunos.io/v1\nkind: Task\nmetadata:\n  name: a\nspec:\n  image: alpine\n"
	r3 := do(t, srv, http.MethodPatch, path+"?fieldManager=other", applyCT, other)
	st := wantStatus(t, r3, http.StatusConflict, metav1.StatusReasonConflict)
	if st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != metav1.CauseTypeFieldManagerConflict ||
		st.Details.Causes[0].Field != ".spec.image" || !strings.Contains(st.Message, `conflict with "kubectl"`) {
		t.Fatalf("conflict: %s", r3.body)
	}
	r4 := do(t, srv, http.MethodPatch, path+"?fieldManager=other&force=true", applyCT, other)
	if r4.code != http.StatusOK || !strings.Contains(string(r4.body), `"image":"alpine"`) {
		t.Fatalf("forced apply: %d %s", r4.code, r4.body)
	}
	if m := managers(t, r4); m["kubectl/"] != "Apply" || m["other/"] != "Apply" {
		t.Fatalf("managedFields after the forced apply: %v", m)
	}
	// An apply without fieldManager is 422, force on another patch too.
	wantStatus(t, do(t, srv, http.MethodPatch, path, applyCT, cfg), http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
	wantStatus(t, do(t, srv, http.MethodPatch, path+"?force=true", "application/merge-patch+json", `{}`), http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
	wantStatus(t, do(t, srv, http.MethodPatch, path+"?fieldManager=kubectl", applyCT, "a: [b"), http.StatusBadRequest, metav1.StatusReasonBadRequest)
	// The first manager drops the label from its configuration: the label
	// goes (it owned it alone).
	noLabel := "apiVersion: kunos.io/v1\nkind: Task\nmetadata:\n  name: a\nspec:\n  image: busybox\n"
	r5 := do(t, srv, http.MethodPatch, path+"?fieldManager=kubectl&force=true", applyCT, noLabel)
	if r5.code != http.StatusOK || strings.Contains(string(r5.body), `"app":"x"`) {
		t.Fatalf("apply without the label: %d %s", r5.code, r5.body)
	}
}

// Creates, updates and patches are tracked as Update operations of their
// manager (fieldManager, else the User-Agent's product); /status entries
// are the status subresource's.
func TestManagedFieldsOfUpdates(t *testing.T) {
	srv := stubtest.Start(t)
	base := "/apis/kunos.io/v1/namespaces/default/tasks"
	r := do(t, srv, http.MethodPost, base+"?fieldManager=creator", "application/json", taskJSON("m", nil))
	if m := managers(t, r); r.code != http.StatusCreated || m["creator/"] != "Update" {
		t.Fatalf("create: %v %s", m, r.body)
	}
	r = do(t, srv, http.MethodPatch, base+"/m", "application/merge-patch+json", `{"metadata":{"labels":{"k":"v"}}}`, "User-Agent", "patcher/1.0 (linux)")
	if m := managers(t, r); r.code != http.StatusOK || m["patcher/"] != "Update" || m["creator/"] != "Update" {
		t.Fatalf("patch: %v %s", m, r.body)
	}
	r = do(t, srv, http.MethodPatch, base+"/m/status?fieldManager=agent", "application/merge-patch+json", `{"status":{"phase":"Running"}}`)
	if m := managers(t, r); r.code != http.StatusOK || m["agent/status"] != "Update" {
		t.Fatalf("status patch: %v %s", m, r.body)
	}
}

func (r resp) decode(t *testing.T, into any) {
	t.Helper()
	if err := json.Unmarshal(r.body, into); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}
