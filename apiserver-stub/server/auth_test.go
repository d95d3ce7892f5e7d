package server_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/audit"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authn"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Tokens of the identities of the authorization tests. "revoked" is in no
// token file: a token that was removed from it.
const (
	tokAdmin   = "admin-token"
	tokReader  = "reader-token"
	tokWriter  = "writer-token"
	tokRevoked = "revoked-token"
)

// secureServer starts a server with a token file, anonymous requests
// enabled and RBAC, plus the given token lines.
func secureServer(t *testing.T, extraTokens string, opts ...stubtest.Option) *stubtest.Server {
	t.Helper()
	tf, _, err := authn.ParseTokenFile(strings.NewReader(
		tokAdmin + ",alice,1,system:masters\n" +
			tokReader + ",rita,2\n" +
			tokWriter + ",walt,3,\"writers,staff\"\n" + extraTokens))
	if err != nil {
		t.Fatal(err)
	}
	chain := authn.New(authn.Options{Tokens: tf, Anonymous: true})
	return stubtest.Start(t, append([]stubtest.Option{stubtest.WithAuthentication(chain), stubtest.WithRBAC(),
		stubtest.WithNamespaces("team-a", "team-b", "iso-0", "iso-1", "iso-2", "iso-3")}, opts...)...)
}

// as sends a request with a bearer token ("" for none).
func as(t testing.TB, srv *stubtest.Server, token, method, path, contentType, body string) resp {
	t.Helper()
	if token == "" {
		return do(t, srv, method, path, contentType, body)
	}
	return do(t, srv, method, path, contentType, body, "Authorization", "Bearer "+token)
}

// mustAs is as, failing the test unless the answer is 2xx.
func mustAs(t testing.TB, srv *stubtest.Server, token, method, path, contentType, body string) resp {
	t.Helper()
	r := as(t, srv, token, method, path, contentType, body)
	if r.code/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, r.code, r.body)
	}
	return r
}

// watchCode opens a watch and returns the code of its answer, closing it
// at once.
func watchCode(t testing.TB, srv *stubtest.Server, token, path string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func nsTasks(ns string) string { return "/apis/kunos.io/v1/namespaces/" + ns + "/tasks" }

func roleBindingJSON(ns, name, roleKind, role, subjectKind, subject string) string {
	return fmt.Sprintf(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":%q,"namespace":%q},
		"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":%q,"name":%q},
		"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":%q,"name":%q}]}`, name, ns, roleKind, role, subjectKind, subject)
}

// TestAuthorizationMatrix runs every identity against every kind of
// request and checks each 401, 403 and 2xx: anonymous (403 everywhere but
// health), a reader of namespace team-a (a Role with get, list, watch on
// Tasks), a writer of team-a (the bootstrap ClusterRole edit, bound in
// team-a to a group), a cluster admin (system:masters) and a revoked
// token (401 everywhere).
func TestAuthorizationMatrix(t *testing.T) {
	srv := secureServer(t, "")
	const json = "application/json"
	mustAs(t, srv, tokAdmin, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles", json,
		`{"metadata":{"name":"task-reader"},"rules":[{"apiGroups":["kunos.io"],"resources":["tasks"],"verbs":["get","list","watch"]}]}`)
	mustAs(t, srv, tokAdmin, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings", json,
		roleBindingJSON("team-a", "rita-reads", "Role", "task-reader", "User", "rita"))
	mustAs(t, srv, tokAdmin, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings", json,
		roleBindingJSON("team-a", "writers-edit", "ClusterRole", "edit", "Group", "writers"))
	for _, ns := range []string{"team-a", "team-b"} {
		mustAs(t, srv, tokAdmin, "POST", nsTasks(ns), json, taskJSON("t1", nil))
	}

	type identity struct{ name, token string }
	ids := []identity{{"anonymous", ""}, {"reader", tokReader}, {"writer", tokWriter}, {"admin", tokAdmin}, {"revoked", tokRevoked}}
	// Objects each identity's writes act on, so rows do not interfere.
	for _, id := range ids {
		for _, p := range []string{"upd", "patch", "status", "del"} {
			mustAs(t, srv, tokAdmin, "POST", nsTasks("team-a"), json, taskJSON(p+"-"+id.name, nil))
		}
	}
	type request struct {
		name string
		do   func(t *testing.T, id identity) int
	}
	call := func(method, path, ct, body string) func(*testing.T, identity) int {
		return func(t *testing.T, id identity) int {
			return as(t, srv, id.token, method, strings.ReplaceAll(path, "ID", id.name), ct, strings.ReplaceAll(body, "ID", id.name)).code
		}
	}
	watch := func(path string) func(*testing.T, identity) int {
		return func(t *testing.T, id identity) int { return watchCode(t, srv, id.token, path) }
	}
	update := func(t *testing.T, id identity) int {
		cur := mustAs(t, srv, tokAdmin, "GET", nsTasks("team-a")+"/upd-"+id.name, "", "").obj(t)
		cur["spec"] = map[string]any{"image": "changed"}
		b, _ := jsonMarshal(cur)
		return as(t, srv, id.token, "PUT", nsTasks("team-a")+"/upd-"+id.name, json, string(b)).code
	}
	const (
		mergePatch = "application/merge-patch+json"
		rbacNS     = "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a"
		rbacAll    = "/apis/rbac.authorization.k8s.io/v1"
	)
	ssar := `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"verb":"list","group":"kunos.io","resource":"tasks","namespace":"team-a"}}}`
	reqs := []request{
		{"get in team-a", call("GET", nsTasks("team-a")+"/t1", "", "")},
		{"list in team-a", call("GET", nsTasks("team-a"), "", "")},
		{"watch in team-a", watch(nsTasks("team-a") + "?watch=true")},
		{"watch in team-a (legacy path)", watch("/apis/kunos.io/v1/watch/namespaces/team-a/tasks")},
		{"get in team-b", call("GET", nsTasks("team-b")+"/t1", "", "")},
		{"list in team-b", call("GET", nsTasks("team-b"), "", "")},
		{"watch in team-b", watch(nsTasks("team-b") + "?watch=true")},
		{"list all namespaces", call("GET", "/apis/kunos.io/v1/tasks", "", "")},
		{"watch all namespaces", watch("/apis/kunos.io/v1/tasks?watch=true")},
		{"list cluster-scoped nodes", call("GET", "/apis/kunos.io/v1/nodes", "", "")},
		{"create in team-a", call("POST", nsTasks("team-a"), json, taskJSON("new-ID", nil))},
		{"create in team-b", call("POST", nsTasks("team-b"), json, taskJSON("new-ID", nil))},
		{"update in team-a", update},
		{"patch in team-a", call("PATCH", nsTasks("team-a")+"/patch-ID", mergePatch, `{"metadata":{"labels":{"x":"y"}}}`)},
		{"patch status in team-a", call("PATCH", nsTasks("team-a")+"/status-ID/status", mergePatch, `{"status":{"phase":"Running"}}`)},
		{"get status in team-a", call("GET", nsTasks("team-a")+"/status-ID/status", "", "")},
		{"delete in team-a", call("DELETE", nsTasks("team-a")+"/del-ID", "", "")},
		{"deletecollection in team-a (selects none)", call("DELETE", nsTasks("team-a")+"?labelSelector=none%3Dnone", "", "")},
		{"list rolebindings in team-a", call("GET", rbacNS+"/rolebindings", "", "")},
		{"create role in team-a", call("POST", rbacNS+"/roles", json, `{"metadata":{"name":"r-ID"},"rules":[]}`)},
		{"list clusterroles", call("GET", rbacAll+"/clusterroles", "", "")},
		{"create clusterrolebinding", call("POST", rbacAll+"/clusterrolebindings", json,
			`{"metadata":{"name":"crb-ID"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"ID"}]}`)},
		{"self access review", call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json, ssar)},
		{"self review", call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", json, `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)},
		{"discovery", call("GET", "/apis/kunos.io/v1", "", "")},
		{"healthz", call("GET", "/healthz", "", "")},
	}
	// want[request][identity]: the expected code for anonymous, reader,
	// writer, admin, revoked.
	want := map[string][5]int{
		"get in team-a":                             {403, 200, 200, 200, 401},
		"list in team-a":                            {403, 200, 200, 200, 401},
		"watch in team-a":                           {403, 200, 200, 200, 401},
		"watch in team-a (legacy path)":             {403, 200, 200, 200, 401},
		"get in team-b":                             {403, 403, 403, 200, 401},
		"list in team-b":                            {403, 403, 403, 200, 401},
		"watch in team-b":                           {403, 403, 403, 200, 401},
		"list all namespaces":                       {403, 403, 403, 200, 401},
		"watch all namespaces":                      {403, 403, 403, 200, 401},
		"list cluster-scoped nodes":                 {403, 403, 403, 200, 401},
		"create in team-a":                          {403, 403, 201, 201, 401},
		"create in team-b":                          {403, 403, 403, 201, 401},
		"update in team-a":                          {403, 403, 200, 200, 401},
		"patch in team-a":                           {403, 403, 200, 200, 401},
		"patch status in team-a":                    {403, 403, 200, 200, 401},
		"get status in team-a":                      {403, 403, 200, 200, 401},
		"delete in team-a":                          {403, 403, 200, 200, 401},
		"deletecollection in team-a (selects none)": {403, 403, 200, 200, 401},
		"list rolebindings in team-a":               {403, 403, 403, 200, 401},
		"create role in team-a":                     {403, 403, 403, 201, 401},
		"list clusterroles":                         {403, 403, 403, 200, 401},
		"create clusterrolebinding":                 {403, 403, 403, 201, 401},
		"self access review":                        {403, 201, 201, 201, 401},
		"self review":                               {403, 201, 201, 201, 401},
		"discovery":                                 {403, 200, 200, 200, 401},
		"healthz":                                   {200, 200, 200, 200, 401},
	}
	for _, rq := range reqs {
		w, ok := want[rq.name]
		if !ok {
			t.Fatalf("no expectation for %q", rq.name)
		}
		for i, id := range ids {
			t.Run(rq.name+"/"+id.name, func(t *testing.T) {
				if got := rq.do(t, id); got != w[i] {
					t.Errorf("%s as %s: %d, want %d", rq.name, id.name, got, w[i])
				}
			})
		}
	}
	// The refusals are kube-apiserver's Status bodies.
	st := wantStatus(t, as(t, srv, tokRevoked, "GET", nsTasks("team-a"), "", ""), 401, metav1.StatusReasonUnauthorized)
	if st.Message != "Unauthorized" {
		t.Errorf("401 message %q", st.Message)
	}
	st = wantStatus(t, as(t, srv, tokReader, "GET", "/apis/kunos.io/v1/tasks", "", ""), 403, metav1.StatusReasonForbidden)
	if want := `tasks.kunos.io is forbidden: User "rita" cannot list resource "tasks" in API group "kunos.io" at the cluster scope`; st.Message != want {
		t.Errorf("403 message %q, want %q", st.Message, want)
	}
	st = wantStatus(t, as(t, srv, tokWriter, "PATCH", nsTasks("team-b")+"/t1/status", mergePatch, `{}`), 403, metav1.StatusReasonForbidden)
	if want := `tasks.kunos.io "t1" is forbidden: User "walt" cannot patch resource "tasks/status" in API group "kunos.io" in the namespace "team-b"`; st.Message != want {
		t.Errorf("403 message %q, want %q", st.Message, want)
	}
	// Revoking a binding takes effect at the next request.
	mustAs(t, srv, tokAdmin, "DELETE", rbacNS+"/rolebindings/rita-reads", "", "")
	wantStatus(t, as(t, srv, tokReader, "GET", nsTasks("team-a"), "", ""), 403, metav1.StatusReasonForbidden)
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// TestSelfReviews checks what kubectl auth can-i and kubectl auth whoami
// read.
func TestSelfReviews(t *testing.T) {
	srv := secureServer(t, "")
	mustAs(t, srv, tokAdmin, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings", "application/json",
		roleBindingJSON("team-a", "rita-view", "ClusterRole", "view", "User", "rita"))
	review := func(token, ns, verb string) authorizationv1.SelfSubjectAccessReview {
		body := fmt.Sprintf(`{"spec":{"resourceAttributes":{"verb":%q,"group":"kunos.io","resource":"tasks","namespace":%q}}}`, verb, ns)
		r := mustAs(t, srv, token, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "application/json", body)
		var out authorizationv1.SelfSubjectAccessReview
		if err := json.Unmarshal(r.body, &out); err != nil || out.Kind != "SelfSubjectAccessReview" || r.code != 201 {
			t.Fatalf("review: %d %v %s", r.code, err, r.body)
		}
		return out
	}
	if r := review(tokReader, "team-a", "list"); !r.Status.Allowed || !strings.Contains(r.Status.Reason, "rita-view") {
		t.Errorf("list team-a: %+v", r.Status)
	}
	if r := review(tokReader, "team-a", "delete"); r.Status.Allowed {
		t.Errorf("delete team-a: %+v", r.Status)
	}
	if r := review(tokReader, "team-b", "list"); r.Status.Allowed {
		t.Errorf("list team-b: %+v", r.Status)
	}
	if r := review(tokAdmin, "", "deletecollection"); !r.Status.Allowed {
		t.Errorf("admin: %+v", r.Status)
	}
	r := as(t, srv, tokReader, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "application/json", `{"spec":{}}`)
	wantStatus(t, r, 422, metav1.StatusReasonInvalid)
	r = mustAs(t, srv, tokWriter, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", "application/json", `{}`)
	var who authenticationv1.SelfSubjectReview
	if err := json.Unmarshal(r.body, &who); err != nil || who.Status.UserInfo.Username != "walt" || who.Status.UserInfo.UID != "3" ||
		strings.Join(who.Status.UserInfo.Groups, ",") != "writers,staff,system:authenticated" {
		t.Fatalf("whoami: %v %s", err, r.body)
	}
	// Reviews are create-only and listed so in discovery.
	wantStatus(t, as(t, srv, tokAdmin, "GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "", ""), 405, metav1.StatusReasonMethodNotAllowed)
	var l metav1.APIResourceList
	if err := json.Unmarshal(mustAs(t, srv, tokReader, "GET", "/apis/authentication.k8s.io/v1", "", "").body, &l); err != nil ||
		len(l.APIResources) != 1 || l.APIResources[0].Name != "selfsubjectreviews" || strings.Join(l.APIResources[0].Verbs, ",") != "create" {
		t.Fatalf("discovery: %v %+v", err, l)
	}
}

// TestAnonymousDisabledAndAudit: without anonymous requests a request with
// no credential is 401; every answer is audited with who, what and code.
func TestAnonymousDisabledAndAudit(t *testing.T) {
	tf, _, _ := authn.ParseTokenFile(strings.NewReader(tokAdmin + ",alice,1,system:masters\n"))
	var buf syncBuffer
	srv := stubtest.Start(t, stubtest.WithAuthentication(authn.New(authn.Options{Tokens: tf})), stubtest.WithRBAC(),
		stubtest.WithAudit(audit.New(&buf, nil)), stubtest.WithNamespaces("a"))
	wantStatus(t, get(t, srv, "/healthz"), 401, metav1.StatusReasonUnauthorized)
	mustAs(t, srv, tokAdmin, "POST", nsTasks("a"), "application/json", taskJSON("x", nil))
	w, _ := startWatch(t, srv, wsTransport, nsTasks("a"), "watch=true&timeoutSeconds=1", "Authorization", "Bearer "+tokAdmin)
	if e := w.next(t); e.Type != "ADDED" {
		t.Fatalf("event %s", e.Type)
	}
	w.expectEnd(t)
	var events []audit.Event
	deadline := 100
	for ; deadline > 0; deadline-- {
		events = auditEvents(t, &buf)
		if len(events) >= 3 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(events) != 3 {
		t.Fatalf("audit events: %+v", events)
	}
	if e := events[0]; e.User != "" || e.Code != 401 || e.Path != "/healthz" {
		t.Errorf("401 event %+v", e)
	}
	if e := events[1]; e.User != "alice" || e.Verb != "create" || e.Resource != "tasks" || e.Namespace != "a" || e.Code != 201 || e.Decision != "allow" {
		t.Errorf("create event %+v", e)
	}
	if e := events[2]; e.Verb != "watch" || e.Code != 101 || e.LatencySeconds < 0.5 {
		t.Errorf("watch event %+v", e)
	}
}

// TestWatchIsolation is randomized: an admin writes creates, updates and
// deletes across several namespaces while one restricted watcher per
// namespace (half over WebSocket) watches its own; each must receive
// exactly its namespace's events, in order, and nothing else. A sentinel
// written last in every namespace marks the end of each stream. Every
// watcher is also refused the other namespaces and the all-namespaces
// watch.
func TestWatchIsolation(t *testing.T) {
	const nsCount = 4
	var tokens strings.Builder
	for i := 0; i < nsCount; i++ {
		fmt.Fprintf(&tokens, "w%d-token,watcher-%d,%d\n", i, i, 100+i)
	}
	srv := secureServer(t, tokens.String())
	ns := func(i int) string { return fmt.Sprintf("iso-%d", i) }
	for i := 0; i < nsCount; i++ {
		mustAs(t, srv, tokAdmin, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/"+ns(i)+"/rolebindings", "application/json",
			roleBindingJSON(ns(i), "view", "ClusterRole", "view", "User", fmt.Sprintf("watcher-%d", i)))
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	type ev struct {
		typ, name string
		rv        int64
	}
	watchers := make([]*watcher, nsCount)
	for i := 0; i < nsCount; i++ {
		tok := fmt.Sprintf("w%d-token", i)
		for j := 0; j < nsCount; j++ {
			if j != i {
				if code := watchCode(t, srv, tok, nsTasks(ns(j))+"?watch=true"); code != 403 {
					t.Fatalf("watcher %d watching %s: %d", i, ns(j), code)
				}
			}
		}
		if code := watchCode(t, srv, tok, "/apis/kunos.io/v1/tasks?watch=true"); code != 403 {
			t.Fatalf("watcher %d watching all namespaces: %d", i, code)
		}
		tr := transports[i%2]
		w, r := startWatch(t, srv, tr, nsTasks(ns(i)), "watch=true", "Authorization", "Bearer "+tok)
		if w == nil {
			t.Fatalf("watcher %d: %d %s", i, r.code, r.body)
		}
		watchers[i] = w
	}
	want := make([][]ev, nsCount)
	live := make([]map[string]bool, nsCount)
	for i := range live {
		live[i] = map[string]bool{}
	}
	for op := 0; op < 300; op++ {
		i := rng.IntN(nsCount)
		names := make([]string, 0, len(live[i]))
		for n := range live[i] {
			names = append(names, n)
		}
		switch k := rng.IntN(3); {
		case k == 0 || len(names) == 0:
			name := fmt.Sprintf("t%d", op)
			r := mustAs(t, srv, tokAdmin, "POST", nsTasks(ns(i)), "application/json", taskJSON(name, nil))
			live[i][name] = true
			want[i] = append(want[i], ev{"ADDED", name, rvOf(t, r.obj(t))})
		case k == 1:
			name := names[rng.IntN(len(names))]
			r := mustAs(t, srv, tokAdmin, "PATCH", nsTasks(ns(i))+"/"+name, "application/merge-patch+json",
				fmt.Sprintf(`{"metadata":{"labels":{"op":"%d"}}}`, op))
			want[i] = append(want[i], ev{"MODIFIED", name, rvOf(t, r.obj(t))})
		default:
			name := names[rng.IntN(len(names))]
			mustAs(t, srv, tokAdmin, "DELETE", nsTasks(ns(i))+"/"+name, "", "")
			delete(live[i], name)
			// The answer is a Status: the deletion's revision is checked
			// by order only (rv 0 here).
			want[i] = append(want[i], ev{"DELETED", name, 0})
		}
	}
	for i := 0; i < nsCount; i++ {
		mustAs(t, srv, tokAdmin, "POST", nsTasks(ns(i)), "application/json", taskJSON("sentinel", nil))
	}
	for i, w := range watchers {
		var got []ev
		var last int64
		for {
			e := w.next(t)
			m := e.meta(t)
			if m.Namespace != ns(i) {
				t.Fatalf("watcher %d got an event of namespace %q: %s", i, m.Namespace, e.Object)
			}
			if m.Name == "sentinel" {
				break
			}
			rv := e.rv(t)
			if rv <= last {
				t.Fatalf("watcher %d: resourceVersion %d after %d", i, rv, last)
			}
			last = rv
			if e.Type == "DELETED" {
				rv = 0
			}
			got = append(got, ev{e.Type, m.Name, rv})
		}
		if fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Fatalf("watcher %d (%s): got %d events, want %d\n got  %v\n want %v", i, ns(i), len(got), len(want[i]), got, want[i])
		}
		t.Logf("%s: %d events, in order", ns(i), len(got))
	}
}

// auditEvents decodes the audit lines written to b.
func auditEvents(t *testing.T, b *syncBuffer) []audit.Event {
	var out []audit.Event
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var e audit.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}
