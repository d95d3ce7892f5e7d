package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCreateGetListUpdateDelete(t *testing.T) {
	srv := stubtest.Start(t)
	empty := srv.Store().CurrentRevision()

	// A create that sets resourceVersion: refused as kube-apiserver's
	// storage refuses it, a 500 with no reason, and nothing stored.
	st := wantStatus(t, post(t, srv, tasksNS, `{"metadata":{"name":"a","resourceVersion":"77"}}`), 500, metav1.StatusReasonUnknown)
	if st.Message != "resourceVersion should not be set on objects to be created" || srv.Store().CurrentRevision() != empty {
		t.Fatalf("create with resourceVersion: %q, store at %d, want %d", st.Message, srv.Store().CurrentRevision(), empty)
	}

	// Create: 201 with server-set metadata; status is dropped as for CRs.
	r := post(t, srv, tasksNS, `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"a","labels":{"app":"x"},"uid":"bogus"},"spec":{"image":"i"},"status":{"phase":"Running"}}`)
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	created := r.obj(t)
	md := created["metadata"].(map[string]any)
	if md["uid"] == "" || md["uid"] == "bogus" || md["creationTimestamp"] == nil || md["generation"] != float64(1) || md["namespace"] != "default" {
		t.Fatalf("server-set metadata wrong: %v", md)
	}
	if st, _ := created["status"].(map[string]any); len(st) != 0 {
		t.Fatalf("status kept on create: %v", st)
	}
	rv := rvOf(t, created)
	if rv != srv.Store().CurrentRevision() {
		t.Fatalf("rv %d, store at %d", rv, srv.Store().CurrentRevision())
	}

	// Create again: 409 AlreadyExists.
	st = wantStatus(t, post(t, srv, tasksNS, taskJSON("a", nil)), 409, metav1.StatusReasonAlreadyExists)
	if st.Details == nil || st.Details.Name != "a" || st.Details.Kind != "tasks" || st.Details.Group != "kunos.io" {
		t.Fatalf("details %+v", st.Details)
	}

	// generateName.
	r = post(t, srv, tasksNS, `{"metadata":{"generateName":"gen-"},"spec":{}}`)
	if r.code != 201 || !strings.HasPrefix(nameOf(r.obj(t)), "gen-") || len(nameOf(r.obj(t))) != len("gen-")+5 {
		t.Fatalf("generateName: %d %s", r.code, r.body)
	}

	// Get.
	r = get(t, srv, tasksNS+"/a")
	if r.code != 200 || nameOf(r.obj(t)) != "a" || r.obj(t)["kind"] != "Task" {
		t.Fatalf("get: %d %s", r.code, r.body)
	}
	wantStatus(t, get(t, srv, tasksNS+"/nope"), 404, metav1.StatusReasonNotFound)

	// List: kind, resourceVersion, items.
	r = get(t, srv, tasksAll)
	l := r.obj(t)
	if l["kind"] != "TaskList" || l["apiVersion"] != "kunos.io/v1" || len(l["items"].([]any)) != 2 {
		t.Fatalf("list: %s", r.body)
	}
	if rvOf(t, l) != srv.Store().CurrentRevision() {
		t.Fatalf("list rv %d", rvOf(t, l))
	}
	r = get(t, srv, "/apis/kunos.io/v1/namespaces/empty/tasks")
	if !strings.Contains(string(r.body), `"items":[]`) || !strings.Contains(string(r.body), `"resourceVersion":"`) {
		t.Fatalf("empty list: %s", r.body)
	}

	// Update: status ignored, spec change bumps generation.
	body := `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"a","resourceVersion":"` + strconv.FormatInt(rv, 10) + `"},"spec":{"image":"j"},"status":{"phase":"Running"}}`
	r = do(t, srv, http.MethodPut, tasksNS+"/a", "application/json", body)
	if r.code != 200 {
		t.Fatalf("update: %d %s", r.code, r.body)
	}
	upd := r.obj(t)
	if upd["metadata"].(map[string]any)["generation"] != float64(2) || upd["spec"].(map[string]any)["image"] != "j" {
		t.Fatalf("update result: %s", r.body)
	}
	if st, _ := upd["status"].(map[string]any); len(st) != 0 {
		t.Fatalf("main resource update changed status: %s", r.body)
	}
	if upd["metadata"].(map[string]any)["uid"] != md["uid"] || upd["metadata"].(map[string]any)["creationTimestamp"] != md["creationTimestamp"] {
		t.Fatalf("uid/creationTimestamp not kept: %s", r.body)
	}
	rv2 := rvOf(t, upd)

	// Stale resourceVersion: 409 Conflict; missing: 422 Invalid.
	wantStatus(t, do(t, srv, http.MethodPut, tasksNS+"/a", "application/json", body), 409, metav1.StatusReasonConflict)
	st = wantStatus(t, do(t, srv, http.MethodPut, tasksNS+"/a", "application/json", taskJSON("a", nil)), 422, metav1.StatusReasonInvalid)
	if len(st.Details.Causes) != 1 || st.Details.Causes[0].Field != "metadata.resourceVersion" {
		t.Fatalf("causes %+v", st.Details.Causes)
	}
	// Update of a missing object: 404 (no create on update).
	wantStatus(t, do(t, srv, http.MethodPut, tasksNS+"/b", "application/json",
		`{"metadata":{"name":"b","resourceVersion":"1"}}`), 404, metav1.StatusReasonNotFound)
	// Name mismatch: 400.
	wantStatus(t, do(t, srv, http.MethodPut, tasksNS+"/a", "application/json",
		`{"metadata":{"name":"b","resourceVersion":"1"}}`), 400, metav1.StatusReasonBadRequest)

	// No-op update: no new revision.
	before := srv.Store().CurrentRevision()
	noop := do(t, srv, http.MethodGet, tasksNS+"/a", "", "")
	r = do(t, srv, http.MethodPut, tasksNS+"/a", "application/json", string(noop.body))
	if r.code != 200 || srv.Store().CurrentRevision() != before {
		t.Fatalf("no-op update wrote: %d rev %d -> %d", r.code, before, srv.Store().CurrentRevision())
	}

	// /status: only status changes; generation stays.
	sbody := `{"metadata":{"name":"a","resourceVersion":"` + strconv.FormatInt(rv2, 10) + `","labels":{"ignored":"yes"}},"spec":{"image":"ignored"},"status":{"phase":"Running"}}`
	r = do(t, srv, http.MethodPut, tasksNS+"/a/status", "application/json", sbody)
	if r.code != 200 {
		t.Fatalf("update status: %d %s", r.code, r.body)
	}
	so := r.obj(t)
	if so["status"].(map[string]any)["phase"] != "Running" || so["spec"].(map[string]any)["image"] != "j" ||
		so["metadata"].(map[string]any)["labels"] != nil || so["metadata"].(map[string]any)["generation"] != float64(2) {
		t.Fatalf("status update result: %s", r.body)
	}

	// Delete: 200 with a Success Status, then 404.
	r = do(t, srv, http.MethodDelete, tasksNS+"/a", "", "")
	if r.code != 200 {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	st = r.status(t)
	if st.Status != metav1.StatusSuccess || st.Details == nil || st.Details.Name != "a" || st.Details.Kind != "tasks" || string(st.Details.UID) != md["uid"] {
		t.Fatalf("delete Status: %s", r.body)
	}
	wantStatus(t, do(t, srv, http.MethodDelete, tasksNS+"/a", "", ""), 404, metav1.StatusReasonNotFound)
	wantStatus(t, get(t, srv, tasksNS+"/a"), 404, metav1.StatusReasonNotFound)
}

func TestClusterScopedNodes(t *testing.T) {
	srv := stubtest.Start(t)
	r := post(t, srv, nodes, `{"apiVersion":"kunos.io/v1","kind":"Node","metadata":{"name":"n1","namespace":"ignored"},"spec":{"capacity":3}}`)
	if r.code != 201 {
		t.Fatalf("create node: %d %s", r.code, r.body)
	}
	if ns := r.obj(t)["metadata"].(map[string]any)["namespace"]; ns != nil {
		t.Fatalf("node has namespace %v", ns)
	}
	if r := get(t, srv, nodes+"/n1"); r.code != 200 {
		t.Fatalf("get node: %d", r.code)
	}
	// Namespaced path for a cluster-scoped resource, and the reverse: 404.
	wantStatus(t, get(t, srv, "/apis/kunos.io/v1/namespaces/default/nodes"), 404, metav1.StatusReasonNotFound)
	wantStatus(t, get(t, srv, "/apis/kunos.io/v1/tasks/x"), 404, metav1.StatusReasonNotFound)
}

func TestDeleteWithPreconditionsAndFinalizers(t *testing.T) {
	srv := stubtest.Start(t)
	r := post(t, srv, tasksNS, `{"metadata":{"name":"f","finalizers":["kunos.io/keep"]}}`)
	if r.code != 201 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	uid := r.obj(t)["metadata"].(map[string]any)["uid"].(string)
	wantStatus(t, do(t, srv, http.MethodDelete, tasksNS+"/f", "application/json", `{"preconditions":{"uid":"other"}}`), 409, metav1.StatusReasonConflict)
	wantStatus(t, do(t, srv, http.MethodDelete, tasksNS+"/f", "application/json", `{"preconditions":{"resourceVersion":"999"}}`), 409, metav1.StatusReasonConflict)
	wantStatus(t, do(t, srv, http.MethodDelete, tasksNS+"/f", "application/json", `{"preconditions":`), 400, metav1.StatusReasonBadRequest)
	// With a finalizer, delete only marks the object.
	r = do(t, srv, http.MethodDelete, tasksNS+"/f", "application/json", `{"preconditions":{"uid":"`+uid+`"}}`)
	if r.code != 200 || r.obj(t)["metadata"].(map[string]any)["deletionTimestamp"] == nil {
		t.Fatalf("delete with finalizer: %d %s", r.code, r.body)
	}
	// Removing the finalizer deletes it.
	r = do(t, srv, http.MethodPatch, tasksNS+"/f", "application/merge-patch+json", `{"metadata":{"finalizers":null}}`)
	if r.code != 200 {
		t.Fatalf("remove finalizer: %d %s", r.code, r.body)
	}
	wantStatus(t, get(t, srv, tasksNS+"/f"), 404, metav1.StatusReasonNotFound)
}

func TestPatch(t *testing.T) {
	srv := stubtest.Start(t)
	rv := mustCreate(t, srv, "p")
	merge := "application/merge-patch+json"
	jsonp := "application/json-patch+json"

	r := do(t, srv, http.MethodPatch, tasksNS+"/p", merge, `{"metadata":{"labels":{"tier":"web"}}}`)
	if r.code != 200 || r.obj(t)["metadata"].(map[string]any)["labels"].(map[string]any)["tier"] != "web" ||
		r.obj(t)["metadata"].(map[string]any)["generation"] != float64(1) {
		t.Fatalf("merge patch: %d %s", r.code, r.body)
	}
	r = do(t, srv, http.MethodPatch, tasksNS+"/p", jsonp, `[{"op":"replace","path":"/spec/image","value":"v2"}]`)
	if r.code != 200 || r.obj(t)["spec"].(map[string]any)["image"] != "v2" || r.obj(t)["metadata"].(map[string]any)["generation"] != float64(2) {
		t.Fatalf("json patch: %d %s", r.code, r.body)
	}
	// Status through the main resource is ignored; through /status it applies.
	r = do(t, srv, http.MethodPatch, tasksNS+"/p", merge, `{"status":{"phase":"Failed"}}`)
	if st, _ := r.obj(t)["status"].(map[string]any); len(st) != 0 {
		t.Fatalf("main resource patched status: %s", r.body)
	}
	r = do(t, srv, http.MethodPatch, tasksNS+"/p/status", merge, `{"status":{"phase":"Succeeded"},"spec":{"image":"no"}}`)
	if r.code != 200 || r.obj(t)["status"].(map[string]any)["phase"] != "Succeeded" || r.obj(t)["spec"].(map[string]any)["image"] != "v2" {
		t.Fatalf("status patch: %d %s", r.code, r.body)
	}

	before := srv.Store().CurrentRevision()
	// Pinned stale resourceVersion: 409.
	wantStatus(t, do(t, srv, http.MethodPatch, tasksNS+"/p", merge, `{"metadata":{"resourceVersion":"`+strconv.FormatInt(rv, 10)+`"}}`), 409, metav1.StatusReasonConflict)
	// A failed test op: 422.
	wantStatus(t, do(t, srv, http.MethodPatch, tasksNS+"/p", jsonp, `[{"op":"test","path":"/spec/image","value":"nope"}]`), 422, metav1.StatusReasonInvalid)
	// Malformed patches: 400.
	wantStatus(t, do(t, srv, http.MethodPatch, tasksNS+"/p", jsonp, `{"op":"add"}`), 400, metav1.StatusReasonBadRequest)
	wantStatus(t, do(t, srv, http.MethodPatch, tasksNS+"/p", merge, `[1]`), 400, metav1.StatusReasonBadRequest)
	wantStatus(t, do(t, srv, http.MethodPatch, tasksNS+"/p", merge, `{`), 400, metav1.StatusReasonBadRequest)
	// Changing kind (422 with a cause on kind, as kube-apiserver validates
	// a custom resource), name (400, as kube-apiserver's checkName) or the
	// type of a field (422, the schema's verdict).
	wantStatus(t, do(t, srv, http.MethodPatch, tasksNS+"/p", merge, `{"kind":"Job"}`), 422, metav1.StatusReasonInvalid)
	wantStatus(t, do(t, srv, http.MethodPatch, tasksNS+"/p", merge, `{"metadata":{"name":"q"}}`), 400, metav1.StatusReasonBadRequest)
	wantStatus(t, do(t, srv, http.MethodPatch, tasksNS+"/p", merge, `{"spec":{"image":5}}`), 422, metav1.StatusReasonInvalid)
	// Unsupported patch types: 415.
	st := wantStatus(t, do(t, srv, http.MethodPatch, tasksNS+"/p", "application/strategic-merge-patch+json", `{}`), 415, metav1.StatusReasonUnsupportedMediaType)
	if !strings.Contains(st.Message, "strategic merge patch is not supported") {
		t.Fatalf("message %q", st.Message)
	}
	// Server-side apply needs a fieldManager (apply_test.go has the rest).
	wantStatus(t, do(t, srv, http.MethodPatch, tasksNS+"/p", "application/apply-patch+yaml", `{}`), 422, metav1.StatusReasonInvalid)
	wantStatus(t, do(t, srv, http.MethodPatch, tasksNS+"/p", "text/plain", `{}`), 415, metav1.StatusReasonUnsupportedMediaType)
	wantStatus(t, do(t, srv, http.MethodPatch, tasksNS+"/missing", merge, `{}`), 404, metav1.StatusReasonNotFound)
	if srv.Store().CurrentRevision() != before {
		t.Fatalf("failed patches wrote: %d -> %d", before, srv.Store().CurrentRevision())
	}
}

// TestBadInputNeverWrites sends malformed and invalid requests; each gets
// the Status kube-apiserver would send and the store does not move.
func TestBadInputNeverWrites(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithMaxBodyBytes(1024))
	mustCreate(t, srv, "keep")
	before := srv.Store().CurrentRevision()
	big := `{"metadata":{"name":"big"},"spec":{"image":"` + strings.Repeat("x", 2000) + `"}}`
	cases := []struct {
		name, method, path, ct, body string
		code                         int
		reason                       metav1.StatusReason
	}{
		{"malformed JSON", "POST", tasksNS, "application/json", `{"metadata":`, 400, metav1.StatusReasonBadRequest},
		{"not an object", "POST", tasksNS, "application/json", `[]`, 400, metav1.StatusReasonBadRequest},
		{"null", "POST", tasksNS, "application/json", `null`, 400, metav1.StatusReasonBadRequest},
		{"wrong apiVersion", "POST", tasksNS, "application/json", `{"apiVersion":"v1","kind":"Task","metadata":{"name":"x"}}`, 400, metav1.StatusReasonBadRequest},
		{"wrong kind", "POST", tasksNS, "application/json", `{"apiVersion":"kunos.io/v1","kind":"Job","metadata":{"name":"x"}}`, 422, metav1.StatusReasonInvalid},
		{"wrong kind in a missing namespace", "POST", "/apis/kunos.io/v1/namespaces/nowhere/tasks", "application/json", `{"apiVersion":"kunos.io/v1","kind":"Job","metadata":{"name":"x"}}`, 404, metav1.StatusReasonNotFound},
		{"wrong kind on an update", "PUT", tasksNS + "/keep", "application/json", `{"apiVersion":"kunos.io/v1","kind":"Job","metadata":{"name":"keep","resourceVersion":"` + strconv.FormatInt(before, 10) + `"}}`, 422, metav1.StatusReasonInvalid},
		{"wrong field type", "POST", tasksNS, "application/json", `{"metadata":{"name":"x"},"spec":{"command":"ls"}}`, 422, metav1.StatusReasonInvalid},
		{"invalid name", "POST", tasksNS, "application/json", `{"metadata":{"name":"Not_DNS"}}`, 422, metav1.StatusReasonInvalid},
		{"no name", "POST", tasksNS, "application/json", `{"metadata":{}}`, 422, metav1.StatusReasonInvalid},
		{"invalid label", "POST", tasksNS, "application/json", `{"metadata":{"name":"x","labels":{"a b":"c"}}}`, 422, metav1.StatusReasonInvalid},
		// As kube-apiserver: the namespace is looked up (NamespaceLifecycle)
		// before the object is validated.
		{"invalid namespace", "POST", "/apis/kunos.io/v1/namespaces/Bad_NS/tasks", "application/json", `{"metadata":{"name":"x"}}`, 404, metav1.StatusReasonNotFound},
		{"missing namespace", "POST", "/apis/kunos.io/v1/namespaces/nowhere/tasks", "application/json", `{"metadata":{"name":"x"}}`, 404, metav1.StatusReasonNotFound},
		{"namespace mismatch", "POST", tasksNS, "application/json", `{"metadata":{"name":"x","namespace":"other"}}`, 400, metav1.StatusReasonBadRequest},
		{"too large", "POST", tasksNS, "application/json", big, 413, metav1.StatusReasonRequestEntityTooLarge},
		{"unknown field strict", "POST", tasksNS + "?fieldValidation=Strict", "application/json", `{"metadata":{"name":"x"},"spec":{"nope":1}}`, 400, metav1.StatusReasonBadRequest},
		{"bad fieldValidation", "POST", tasksNS + "?fieldValidation=Loud", "application/json", `{"metadata":{"name":"x"}}`, 422, metav1.StatusReasonInvalid},
		{"bad dryRun", "POST", tasksNS + "?dryRun=Some", "application/json", `{"metadata":{"name":"x"}}`, 422, metav1.StatusReasonInvalid},
		{"bad content type", "POST", tasksNS, "text/plain", `{"metadata":{"name":"x"}}`, 415, metav1.StatusReasonUnsupportedMediaType},
		{"unknown resource", "POST", "/apis/kunos.io/v1/namespaces/default/pods", "application/json", `{}`, 404, metav1.StatusReasonNotFound},
		{"unknown subresource", "PUT", tasksNS + "/keep/scale", "application/json", `{}`, 404, metav1.StatusReasonNotFound},
		{"deletecollection across namespaces", "DELETE", tasksAll, "", ``, 405, metav1.StatusReasonMethodNotAllowed},
		{"deletecollection bad selector", "DELETE", tasksNS + "?labelSelector=a%20in", "", ``, 400, metav1.StatusReasonBadRequest},
		{"delete status", "DELETE", tasksNS + "/keep/status", "", ``, 405, metav1.StatusReasonMethodNotAllowed},
		{"post to object: a create, of an existing name", "POST", tasksNS + "/keep", "application/json", `{"metadata":{"name":"keep"}}`, 409, metav1.StatusReasonAlreadyExists},
		{"post to object: a create, without a name", "POST", tasksNS + "/keep", "application/json", `{}`, 422, metav1.StatusReasonInvalid},
		{"post to status", "POST", tasksNS + "/keep/status", "application/json", `{"metadata":{"name":"keep"}}`, 405, metav1.StatusReasonMethodNotAllowed},
		{"put on a collection", "PUT", tasksNS, "application/json", `{"metadata":{"name":"keep"}}`, 400, metav1.StatusReasonBadRequest},
		{"patch on a collection", "PATCH", tasksNS, "application/merge-patch+json", `{}`, 400, metav1.StatusReasonBadRequest},
		{"create on all namespaces", "POST", tasksAll, "application/json", `{"metadata":{"name":"x"}}`, 405, metav1.StatusReasonMethodNotAllowed},
		{"put too large", "PUT", tasksNS + "/keep", "application/json", big, 413, metav1.StatusReasonRequestEntityTooLarge},
		{"patch too large", "PATCH", tasksNS + "/keep", "application/merge-patch+json", big, 413, metav1.StatusReasonRequestEntityTooLarge},
		{"bad rv on update", "PUT", tasksNS + "/keep", "application/json", `{"metadata":{"name":"keep","resourceVersion":"abc"}}`, 422, metav1.StatusReasonInvalid},
		{"immutable uid", "PUT", tasksNS + "/keep", "application/json", `{"metadata":{"name":"keep","uid":"x","resourceVersion":"` + strconv.FormatInt(before, 10) + `"}}`, 422, metav1.StatusReasonInvalid},
		{"dry run create", "POST", tasksNS + "?dryRun=All", "application/json", `{"metadata":{"name":"dry"}}`, 201, ""},
		{"dry run delete", "DELETE", tasksNS + "/keep?dryRun=All", "", ``, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, srv, c.method, c.path, c.ct, c.body)
			if c.reason == "" {
				if r.code != c.code {
					t.Fatalf("code %d, want %d: %s", r.code, c.code, r.body)
				}
				return
			}
			wantStatus(t, r, c.code, c.reason)
		})
	}
	if got := srv.Store().CurrentRevision(); got != before {
		t.Fatalf("bad requests changed the store: revision %d -> %d", before, got)
	}
	if r := get(t, srv, tasksNS+"/keep"); r.code != 200 {
		t.Fatalf("object lost: %d", r.code)
	}
	// Warn mode (the default): unknown fields are accepted with a Warning.
	r := post(t, srv, tasksNS, `{"metadata":{"name":"warn"},"spec":{"nope":1}}`)
	if r.code != 201 || !strings.Contains(r.header.Get("Warning"), "nope") {
		t.Fatalf("warn mode: %d %q %s", r.code, r.header.Get("Warning"), r.body)
	}
}

func TestDeleteCollection(t *testing.T) {
	srv := stubtest.Start(t)
	mustCreate(t, srv, "a")
	mustCreate(t, srv, "b")
	wantCode(t, post(t, srv, tasksNS, taskJSON("c", map[string]string{"app": "other"})), 201)
	wantCode(t, post(t, srv, tasksNS, `{"metadata":{"name":"f","labels":{"app":"x"},"finalizers":["k/f"]}}`), 201)
	r := do(t, srv, http.MethodDelete, tasksNS+"?labelSelector=app%3Dx", "", "")
	if r.code != 200 || r.obj(t)["kind"] != "TaskList" || len(r.obj(t)["items"].([]any)) != 3 {
		t.Fatalf("deletecollection: %d %s", r.code, r.body)
	}
	l, _ := list(t, srv, tasksNS, nil)
	if got := names(l); !equal(got, []string{"c", "f"}) {
		t.Fatalf("left %v", got)
	}
	if l.Items[1].Metadata.DeletionTimestamp == nil {
		t.Fatal("finalized object not marked")
	}
}

// TestRoutingLikeTheCRDHandler checks the methods kube-apiserver routes by
// verb for custom resources (its CRD handler) and by path for kinds from
// k8s.io/api (go-restful): POST on a custom object's path is a create of
// the body's name, PUT and PATCH on a custom collection are 400, and a body
// of another kind of the group is 422 with a cause on kind.
func TestRoutingLikeTheCRDHandler(t *testing.T) {
	srv := stubtest.Start(t)
	mustCreate(t, srv, "keep")

	// The path's name is not the object's: the body's is.
	r := do(t, srv, "POST", tasksNS+"/keep", "application/json", `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"fresh"}}`)
	if r.code != 201 {
		t.Fatalf("POST on an object's path with a new name: %d %s", r.code, r.body)
	}
	if g := get(t, srv, tasksNS+"/fresh"); g.code != 200 {
		t.Fatalf("the body's name was not created: %d %s", g.code, g.body)
	}
	st := wantStatus(t, do(t, srv, "POST", tasksNS+"/keep", "application/json", `{"metadata":{"name":"keep"}}`), 409, metav1.StatusReasonAlreadyExists)
	if st.Details == nil || st.Details.Name != "keep" {
		t.Fatalf("AlreadyExists details: %+v", st.Details)
	}

	st = wantStatus(t, do(t, srv, "PUT", tasksNS, "application/json", `{"metadata":{"name":"keep"}}`), 400, metav1.StatusReasonBadRequest)
	if st.Message != "name must be provided" {
		t.Fatalf("PUT on a collection: message %q", st.Message)
	}
	wantStatus(t, do(t, srv, "PATCH", nodes, "application/merge-patch+json", `{}`), 400, metav1.StatusReasonBadRequest)

	st = wantStatus(t, do(t, srv, "POST", tasksNS, "application/json", `{"apiVersion":"kunos.io/v1","kind":"Job","metadata":{"name":"wk"}}`), 422, metav1.StatusReasonInvalid)
	if st.Details == nil || st.Details.Kind != "Job" || st.Details.Name != "wk" || len(st.Details.Causes) != 1 ||
		st.Details.Causes[0].Field != "kind" || st.Details.Causes[0].Type != metav1.CauseTypeFieldValueInvalid {
		t.Fatalf("wrong kind: details %+v", st.Details)
	}
	if g := get(t, srv, tasksNS+"/wk"); g.code != 404 {
		t.Fatalf("a body of the wrong kind was stored: %d", g.code)
	}

	// Kinds from k8s.io/api keep go-restful's routes: no such method there.
	lease := `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"}}`
	if r := post(t, srv, "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", lease); r.code != 201 {
		t.Fatalf("create lease: %d %s", r.code, r.body)
	}
	wantStatus(t, do(t, srv, "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l", "application/json", lease), 405, metav1.StatusReasonMethodNotAllowed)
	wantStatus(t, do(t, srv, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", "application/json", lease), 405, metav1.StatusReasonMethodNotAllowed)
	wantStatus(t, do(t, srv, "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", "application/json",
		`{"apiVersion":"coordination.k8s.io/v1","kind":"Event","metadata":{"name":"e"}}`), 400, metav1.StatusReasonBadRequest)
}
