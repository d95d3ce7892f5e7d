package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	leasesNS  = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
	leasesAll = "/apis/coordination.k8s.io/v1/leases"
	eventsNS  = "/api/v1/namespaces/default/events"
	eventsAll = "/api/v1/events"
)

func leaseJSON(name, holder string) string {
	return fmt.Sprintf(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":%q},"spec":{"holderIdentity":%q,"leaseDurationSeconds":15}}`, name, holder)
}

// eventJSON is an Event about the Task name (uid) in namespace ns.
func eventJSON(name, ns, task, uid, reason string) string {
	e := corev1.Event{
		TypeMeta:       metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Task", APIVersion: "kunos.io/v1", Namespace: ns, Name: task, UID: types.UID("u-" + uid)},
		Reason:         reason, Message: "about " + task, Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "test"}, Count: 1,
	}
	b, _ := json.Marshal(&e)
	return string(b)
}

func itemNames(t *testing.T, r resp) []string {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("list: %d %s", r.code, r.body)
	}
	var l struct {
		Kind       string
		APIVersion string
		Items      []map[string]any
	}
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range l.Items {
		out = append(out, nameOf(it))
	}
	return out
}

// Leases are served at coordination.k8s.io/v1 with kube-apiserver's
// semantics: namespaced, optimistic concurrency on resourceVersion, no
// generation, strategic merge patch, the LeaseList kind.
func TestLeases(t *testing.T) {
	srv := stubtest.Start(t)
	r := post(t, srv, leasesNS, leaseJSON("ctrl", "a"))
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	var l coordinationv1.Lease
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatal(err)
	}
	if l.Kind != "Lease" || l.APIVersion != "coordination.k8s.io/v1" || l.Namespace != "kube-system" || l.UID == "" ||
		*l.Spec.HolderIdentity != "a" || l.Generation != 0 {
		t.Fatalf("created: %+v", l)
	}
	// A stale update loses, as leader election relies on.
	stale := l.DeepCopy()
	h := "b"
	l.Spec.HolderIdentity = &h
	b, _ := json.Marshal(&l)
	if r := do(t, srv, http.MethodPut, leasesNS+"/ctrl", "application/json", string(b)); r.code != http.StatusOK {
		t.Fatalf("update: %d %s", r.code, r.body)
	}
	c := "c"
	stale.Spec.HolderIdentity = &c
	b, _ = json.Marshal(stale)
	wantStatus(t, do(t, srv, http.MethodPut, leasesNS+"/ctrl", "application/json", string(b)), http.StatusConflict, metav1.StatusReasonConflict)

	r = do(t, srv, http.MethodPatch, leasesNS+"/ctrl", "application/strategic-merge-patch+json", `{"metadata":{"labels":{"x":"y"}}}`)
	if r.code != http.StatusOK || !strings.Contains(string(r.body), `"x":"y"`) || !strings.Contains(string(r.body), `"holderIdentity":"b"`) {
		t.Fatalf("strategic merge patch: %d %s", r.code, r.body)
	}
	// Custom resources still refuse it, as kube-apiserver does.
	mustCreate(t, srv, "t1")
	wantStatus(t, do(t, srv, http.MethodPatch, tasksNS+"/t1", "application/strategic-merge-patch+json", `{}`),
		http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType)

	if r := post(t, srv, "/apis/coordination.k8s.io/v1/namespaces/default/leases", leaseJSON("other", "z")); r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	r = get(t, srv, leasesAll)
	if got := itemNames(t, r); strings.Join(got, ",") != "other,ctrl" || !strings.Contains(string(r.body), `"kind":"LeaseList","apiVersion":"coordination.k8s.io/v1"`) {
		t.Fatalf("all namespaces: %v %s", got, r.body)
	}
	// A namespaced kind needs its namespace for one object; no status.
	wantStatus(t, get(t, srv, leasesAll+"/ctrl"), http.StatusNotFound, metav1.StatusReasonNotFound)
	wantStatus(t, get(t, srv, leasesNS+"/ctrl/status"), http.StatusNotFound, metav1.StatusReasonNotFound)
	// Leases are not in the core group, nor Tasks in coordination.
	wantStatus(t, get(t, srv, "/api/v1/namespaces/kube-system/leases"), http.StatusNotFound, metav1.StatusReasonNotFound)
	wantStatus(t, get(t, srv, "/apis/coordination.k8s.io/v1/namespaces/default/tasks"), http.StatusNotFound, metav1.StatusReasonNotFound)
}

// Events are served at /api/v1 and select by kube-apiserver's fields, as
// kubectl describe asks: involvedObject.name, .namespace, .kind, .uid.
func TestEventsFieldSelectors(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithNamespaces("other"))
	for _, e := range []string{
		eventJSON("a.1", "default", "a", "1", "Started"),
		eventJSON("a.2", "default", "a", "1", "Finished"),
		eventJSON("b.1", "default", "b", "2", "Started"),
	} {
		if r := post(t, srv, eventsNS, e); r.code != http.StatusCreated {
			t.Fatalf("create: %d %s", r.code, r.body)
		}
	}
	if r := post(t, srv, "/api/v1/namespaces/other/events", eventJSON("a.3", "other", "a", "3", "Started")); r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	for _, c := range []struct{ path, sel, want string }{
		{eventsNS, "", "a.1,a.2,b.1"},
		{eventsAll, "", "a.1,a.2,b.1,a.3"},
		{eventsNS, "involvedObject.name=a", "a.1,a.2"},
		{eventsAll, "involvedObject.name=a", "a.1,a.2,a.3"},
		{eventsNS, "involvedObject.name=a,involvedObject.namespace=default,involvedObject.kind=Task,involvedObject.uid=u-1", "a.1,a.2"},
		{eventsNS, "involvedObject.uid=u-2", "b.1"},
		{eventsNS, "reason=Started", "a.1,b.1"},
		{eventsNS, "source=test,type=Normal,involvedObject.apiVersion=kunos.io/v1", "a.1,a.2,b.1"},
		{eventsNS, "involvedObject.kind=Job", ""},
		{eventsNS, "metadata.name=b.1", "b.1"},
	} {
		path := c.path
		if c.sel != "" {
			path += "?fieldSelector=" + c.sel
		}
		r := get(t, srv, path)
		if got := strings.Join(itemNames(t, r), ","); got != c.want {
			t.Errorf("%s: %q, want %q", path, got, c.want)
		}
		if !strings.Contains(string(r.body), `"kind":"EventList","apiVersion":"v1"`) {
			t.Errorf("%s: %s", path, r.body)
		}
	}
	wantStatus(t, get(t, srv, eventsNS+"?fieldSelector=spec.nodeName%3Dx"), http.StatusBadRequest, metav1.StatusReasonBadRequest)
	wantStatus(t, get(t, srv, tasksNS+"?fieldSelector=involvedObject.name%3Dx"), http.StatusBadRequest, metav1.StatusReasonBadRequest)

	// A watch filtered by involvedObject sees only its object's events.
	w, _ := startWatch(t, srv, chunked, eventsNS, "watch=true&fieldSelector=involvedObject.name%3Db")
	if e := w.next(t); e.Type != "ADDED" || e.meta(t).Name != "b.1" {
		t.Fatalf("initial: %s %s", e.Type, e.Object)
	}
	post(t, srv, eventsNS, eventJSON("a.4", "default", "a", "1", "Again"))
	post(t, srv, eventsNS, eventJSON("b.2", "default", "b", "2", "Again"))
	if e := w.next(t); e.Type != "ADDED" || e.meta(t).Name != "b.2" {
		t.Fatalf("live: %s %s", e.Type, e.Object)
	}
	// Events are aggregated by patching count and lastTimestamp.
	r := do(t, srv, http.MethodPatch, eventsNS+"/b.2", "application/merge-patch+json", `{"count":2,"message":"again"}`)
	if r.code != http.StatusOK || !strings.Contains(string(r.body), `"count":2`) {
		t.Fatalf("patch: %d %s", r.code, r.body)
	}
	if e := w.next(t); e.Type != "MODIFIED" || e.meta(t).Name != "b.2" {
		t.Fatalf("patched: %s %s", e.Type, e.Object)
	}
}

// Discovery lists the core group at /api and the named groups at /apis,
// with each group/version's resources.
func TestBuiltinDiscovery(t *testing.T) {
	srv := stubtest.Start(t)
	var av metav1.APIVersions
	if err := json.Unmarshal(get(t, srv, "/api").body, &av); err != nil || len(av.Versions) != 1 || av.Versions[0] != "v1" {
		t.Fatalf("/api: %v %+v", err, av)
	}
	resourcesOf := func(path string) map[string]metav1.APIResource {
		t.Helper()
		r := get(t, srv, path)
		var rl metav1.APIResourceList
		if err := json.Unmarshal(r.body, &rl); err != nil || r.code != 200 || rl.Kind != "APIResourceList" {
			t.Fatalf("%s: %v %s", path, err, r.body)
		}
		m := map[string]metav1.APIResource{}
		for _, x := range rl.APIResources {
			m[x.Name] = x
		}
		return m
	}
	core := resourcesOf("/api/v1")
	if ns := core["namespaces"]; ns.Kind != "Namespace" || ns.Namespaced || ns.ShortNames[0] != "ns" {
		t.Fatalf("/api/v1 namespaces: %+v", core)
	}
	if _, ok := core["namespaces/status"]; !ok {
		t.Fatalf("/api/v1 namespaces/status: %+v", core)
	}
	if ev := core["events"]; len(core) != 3 || ev.Kind != "Event" || !ev.Namespaced || ev.ShortNames[0] != "ev" || len(ev.Verbs) != 8 {
		t.Fatalf("/api/v1: %+v", core)
	}
	coord := resourcesOf("/apis/coordination.k8s.io/v1/")
	if le := coord["leases"]; len(coord) != 1 || le.Kind != "Lease" || !le.Namespaced || le.SingularName != "lease" {
		t.Fatalf("coordination.k8s.io/v1: %+v", coord)
	}
	var g metav1.APIGroup
	if err := json.Unmarshal(get(t, srv, "/apis/coordination.k8s.io").body, &g); err != nil || g.PreferredVersion.GroupVersion != "coordination.k8s.io/v1" {
		t.Fatalf("group: %v %+v", err, g)
	}
	wantStatus(t, get(t, srv, "/api/v2"), http.StatusNotFound, metav1.StatusReasonNotFound)
	wantStatus(t, get(t, srv, "/apis/events.k8s.io/v1"), http.StatusNotFound, metav1.StatusReasonNotFound)
	var idx struct {
		Paths map[string]struct{ ServerRelativeURL string }
	}
	if err := json.Unmarshal(get(t, srv, "/openapi/v3").body, &idx); err != nil || len(idx.Paths) != 4 { // core, kunos.io, coordination, rbac
		t.Fatalf("openapi index: %v %+v", err, idx)
	}
	for p, u := range idx.Paths {
		r := get(t, srv, strings.Split(u.ServerRelativeURL, "?")[0])
		if r.code != 200 || !strings.Contains(string(r.body), `"fieldValidation"`) {
			t.Fatalf("openapi %s: %d", p, r.code)
		}
	}
	if b := get(t, srv, "/openapi/v3/api/v1").body; !strings.Contains(string(b), `"/api/v1/namespaces/{namespace}/events/{name}"`) ||
		!strings.Contains(string(b), `io.k8s.api.core.v1.Event`) {
		t.Fatalf("core openapi: %s", b)
	}
}

// Tables show kube-apiserver's columns: Leases their holder, Events all
// of printEvent's (kubectl hides the wide ones).
func TestBuiltinTables(t *testing.T) {
	srv := stubtest.Start(t)
	post(t, srv, leasesNS, leaseJSON("ctrl", "replica-a"))
	post(t, srv, eventsNS, eventJSON("a.1", "default", "a", "1", "Started"))
	table := func(path string) metav1.Table {
		t.Helper()
		r := do(t, srv, http.MethodGet, path, "", "", "Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
		var tb metav1.Table
		if err := json.Unmarshal(r.body, &tb); err != nil || r.code != 200 {
			t.Fatalf("%s: %v %s", path, err, r.body)
		}
		return tb
	}
	tb := table(leasesAll)
	if len(tb.ColumnDefinitions) != 3 || tb.ColumnDefinitions[1].Name != "Holder" || len(tb.Rows) != 1 ||
		tb.Rows[0].Cells[0] != "ctrl" || tb.Rows[0].Cells[1] != "replica-a" {
		t.Fatalf("lease table: %+v", tb)
	}
	tb = table(eventsNS)
	if len(tb.ColumnDefinitions) != 10 || len(tb.Rows) != 1 {
		t.Fatalf("event table: %+v", tb)
	}
	c := tb.Rows[0].Cells
	if c[1] != "Normal" || c[2] != "Started" || c[3] != "task/a" || c[5] != "test" || c[6] != "about a" || c[8] != float64(1) || c[9] != "a.1" {
		t.Fatalf("event row: %#v", c)
	}
}
