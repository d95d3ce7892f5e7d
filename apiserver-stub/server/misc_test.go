package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

func TestTableOutput(t *testing.T) {
	srv := stubtest.Start(t)
	mustCreate(t, srv, "a")
	r := do(t, srv, http.MethodPatch, tasksNS+"/a/status", "application/merge-patch+json", `{"status":{"phase":"Running"}}`)
	wantCode(t, r, 200)
	wantCode(t, post(t, srv, jobsNS, `{"metadata":{"name":"j"},"spec":{"completions":3,"template":{}}}`), 201)
	wantCode(t, post(t, srv, nodes, `{"metadata":{"name":"n"},"spec":{"capacity":4}}`), 201)

	for _, c := range []struct {
		path  string
		cols  []string
		cells []any
	}{
		{tasksNS, []string{"Name", "Phase", "Node", "Age"}, []any{"a", "Running", ""}},
		{tasksNS + "/a", []string{"Name", "Phase", "Node", "Age"}, []any{"a", "Running", ""}},
		{jobsNS, []string{"Name", "Completions", "Active", "Age"}, []any{"j", "0/3", float64(0)}},
		{nodes, []string{"Name", "Ready", "Capacity", "Running", "Age"}, []any{"n", "Unknown", float64(4), float64(0)}},
	} {
		r := do(t, srv, http.MethodGet, c.path, "", "", "Accept", tableAccept)
		var tbl metav1.Table
		if err := json.Unmarshal(r.body, &tbl); err != nil || r.code != 200 || tbl.Kind != "Table" || tbl.APIVersion != "meta.k8s.io/v1" {
			t.Fatalf("%s: %d %v %s", c.path, r.code, err, r.body)
		}
		var cols []string
		for _, d := range tbl.ColumnDefinitions {
			cols = append(cols, d.Name)
		}
		if !equal(cols, c.cols) || len(tbl.Rows) != 1 || tbl.ResourceVersion == "" {
			t.Fatalf("%s: columns %v rows %d", c.path, cols, len(tbl.Rows))
		}
		cells := tbl.Rows[0].Cells
		for i, want := range c.cells {
			if cells[i] != want {
				t.Fatalf("%s: cell %d = %v, want %v", c.path, i, cells[i], want)
			}
		}
		var pom metav1.PartialObjectMetadata
		if err := json.Unmarshal(tbl.Rows[0].Object.Raw, &pom); err != nil || pom.Kind != "PartialObjectMetadata" || pom.Name == "" {
			t.Fatalf("%s: row object %s", c.path, tbl.Rows[0].Object.Raw)
		}
	}
	// Table watch, as kubectl get -w asks for it.
	rv := srv.Store().CurrentRevision()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+tasksNS+"?watch=true&resourceVersion="+rvq(rv), nil)
	req.Header.Set("Accept", tableAccept)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	mustCreate(t, srv, "b")
	var e struct {
		Type   string
		Object metav1.Table
	}
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil || e.Type != "ADDED" || e.Object.Kind != "Table" || len(e.Object.Rows) != 1 || e.Object.Rows[0].Cells[0] != "b" {
		t.Fatalf("table watch event: %v %+v", err, e)
	}
	// Nothing acceptable: 406.
	wantStatus(t, do(t, srv, http.MethodGet, tasksNS, "", "", "Accept", "application/vnd.kubernetes.protobuf"), 406, metav1.StatusReasonNotAcceptable)
	wantStatus(t, do(t, srv, http.MethodGet, tasksNS+"?includeObject=All", "", "", "Accept", tableAccept), 400, metav1.StatusReasonBadRequest)
}

func TestDiscoveryVersionHealthOpenAPI(t *testing.T) {
	srv := stubtest.Start(t)
	var rl metav1.APIResourceList
	r := get(t, srv, "/apis/kunos.io/v1")
	if err := json.Unmarshal(r.body, &rl); err != nil || rl.GroupVersion != "kunos.io/v1" || len(rl.APIResources) != 6 {
		t.Fatalf("resource list: %v %s", err, r.body)
	}
	found := map[string]metav1.APIResource{}
	for _, res := range rl.APIResources {
		found[res.Name] = res
	}
	if tk := found["tasks"]; !tk.Namespaced || tk.Kind != "Task" || tk.SingularName != "task" || len(tk.Verbs) != 8 || tk.ShortNames[0] != "tk" {
		t.Fatalf("tasks: %+v", tk)
	}
	if no := found["nodes"]; no.Namespaced {
		t.Fatal("nodes namespaced")
	}
	if _, ok := found["jobs/status"]; !ok {
		t.Fatal("no jobs/status")
	}
	var gl metav1.APIGroupList
	r = do(t, srv, http.MethodGet, "/apis", "", "", "Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
	if err := json.Unmarshal(r.body, &gl); err != nil || gl.Kind != "APIGroupList" || len(gl.Groups) != 5 || gl.Groups[0].Name != "kunos.io" || gl.Groups[1].Name != "coordination.k8s.io" ||
		gl.Groups[2].Name != "rbac.authorization.k8s.io" || gl.Groups[3].Name != "authorization.k8s.io" || gl.Groups[4].Name != "authentication.k8s.io" ||
		r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("/apis: %v %s", err, r.body)
	}
	for _, p := range []string{"/api", "/apis/kunos.io", "/version", "/healthz", "/readyz", "/livez", "/openapi/v2", "/openapi/v3", "/openapi/v3/apis/kunos.io/v1"} {
		wantCode(t, get(t, srv, p), 200)
	}
	wantStatus(t, get(t, srv, "/apis/apps/v1"), 404, metav1.StatusReasonNotFound)
	var idx struct {
		Paths map[string]struct{ ServerRelativeURL string }
	}
	r = get(t, srv, "/openapi/v3")
	if err := json.Unmarshal(r.body, &idx); err != nil || !strings.HasPrefix(idx.Paths["apis/kunos.io/v1"].ServerRelativeURL, "/openapi/v3/apis/kunos.io/v1?hash=") {
		t.Fatalf("openapi index: %s", r.body)
	}
	if b := get(t, srv, "/openapi/v3/apis/kunos.io/v1").body; !strings.Contains(string(b), `"fieldValidation"`) || !strings.Contains(string(b), `"x-kubernetes-group-version-kind"`) {
		t.Fatal("openapi doc lacks fieldValidation on PATCH")
	}
}

func TestMetrics(t *testing.T) {
	srv := stubtest.Start(t)
	rvA := mustCreate(t, srv, "a")
	get(t, srv, tasksNS+"/nope")
	w, _ := startWatch(t, srv, chunked, tasksNS, "watch=true&resourceVersion=0")
	w.next(t)
	rvB := mustCreate(t, srv, "b")
	srv.Compact() // to rvB: a watch from rvA has expired
	startWatch(t, srv, chunked, tasksNS, "watch=true&resourceVersion="+rvq(rvA))

	reg := srv.Registry()
	var text string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		text = string(get(t, srv, "/metrics").body)
		if strings.Contains(text, `apiserver_registered_watchers{resource="tasks"} 1`) &&
			strings.Contains(text, `apiserver_expired_responses_total{verb="WATCH"} 1`) {
			break
		}
	}
	for _, want := range []string{
		`apiserver_request_total{code="201",resource="tasks",verb="POST"} 2`,
		`apiserver_request_total{code="404",resource="tasks",verb="GET"} 1`,
		`apiserver_request_duration_seconds_count{resource="tasks",verb="POST"} 2`,
		`apiserver_registered_watchers{resource="tasks"}`,
		`apiserver_watch_events_total{resource="tasks",type="ADDED"}`,
		`apiserver_expired_responses_total{verb="WATCH"} 1`,
		`apiserver_storage_objects{resource="tasks"} 2`,
		`apiserver_storage_compacted_revision ` + rvq(rvB),
		`apiserver_storage_compactions_total 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "apiserver_request_total"); err != nil || n == 0 {
		t.Fatalf("gather: %d %v", n, err)
	}
}

func TestPartialObjectMetadataOutput(t *testing.T) {
	srv := stubtest.Start(t)
	rv := mustCreate(t, srv, "a")
	const metaGet = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
	const metaList = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
	var pom metav1.PartialObjectMetadata
	r := do(t, srv, http.MethodGet, tasksNS+"/a", "", "", "Accept", metaGet)
	if err := json.Unmarshal(r.body, &pom); err != nil || pom.Kind != "PartialObjectMetadata" || pom.APIVersion != "meta.k8s.io/v1" || pom.Name != "a" || strings.Contains(string(r.body), `"spec":`) {
		t.Fatalf("get: %v %s", err, r.body)
	}
	var pl metav1.PartialObjectMetadataList
	r = do(t, srv, http.MethodGet, tasksNS, "", "", "Accept", metaList)
	if err := json.Unmarshal(r.body, &pl); err != nil || pl.Kind != "PartialObjectMetadataList" || len(pl.Items) != 1 || pl.ResourceVersion != rvq(rv) {
		t.Fatalf("list: %v %s", err, r.body)
	}
	// A list Accept on a get (and the reverse) falls through to plain JSON.
	r = do(t, srv, http.MethodGet, tasksNS+"/a", "", "", "Accept", metaList)
	if r.obj(t)["kind"] != "Task" {
		t.Fatalf("get with a list Accept: %s", r.body)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+tasksNS+"?watch=true&resourceVersion=0", nil)
	req.Header.Set("Accept", metaGet)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e struct {
		Type   string
		Object metav1.PartialObjectMetadata
	}
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil || e.Type != "ADDED" || e.Object.Kind != "PartialObjectMetadata" || e.Object.Name != "a" {
		t.Fatalf("watch: %v %+v", err, e)
	}
}

func TestLegacyWatchPathAndYAMLBody(t *testing.T) {
	srv := stubtest.Start(t)
	r := do(t, srv, http.MethodPost, tasksNS, "application/yaml", "apiVersion: kunos.io/v1\nkind: Task\nmetadata:\n  name: yml\nspec:\n  image: busybox\n")
	if r.code != 201 || nameOf(r.obj(t)) != "yml" {
		t.Fatalf("yaml create: %d %s", r.code, r.body)
	}
	wantStatus(t, do(t, srv, http.MethodPost, tasksNS, "application/yaml", "a: [b"), 400, metav1.StatusReasonBadRequest)
	w, _ := startWatch(t, srv, chunked, "/apis/kunos.io/v1/watch/namespaces/default/tasks", "resourceVersion=0")
	wantEvent(t, w.next(t), "ADDED", "yml", 0)
}
