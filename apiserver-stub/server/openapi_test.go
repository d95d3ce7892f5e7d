package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"google.golang.org/protobuf/proto"
)

// TestOpenAPISchemas: /openapi/v3 and /openapi/v2 carry the kunos.io/v1
// schemas of the generated CRDs, described by the Go doc comments, with
// metadata a reference to ObjectMeta (whose schema is there too), in the
// shape kube-apiserver publishes for custom resources; v2 also as protobuf,
// which kubectl's discovery client asks for.
func TestOpenAPISchemas(t *testing.T) {
	srv := stubtest.Start(t)
	type schema struct {
		Description string            `json:"description"`
		Ref         string            `json:"$ref"`
		AllOf       []schema          `json:"allOf"`
		Properties  map[string]schema `json:"properties"`
		Minimum     *float64          `json:"minimum"`
		GVK         []map[string]any  `json:"x-kubernetes-group-version-kind"`
		Selectable  []map[string]any  `json:"x-kubernetes-selectable-fields"`
	}
	var v3 struct {
		Components struct{ Schemas map[string]schema }
	}
	if err := json.Unmarshal(get(t, srv, "/openapi/v3/apis/kunos.io/v1").body, &v3); err != nil {
		t.Fatal(err)
	}
	var v2 struct{ Definitions map[string]schema }
	if err := json.Unmarshal(get(t, srv, "/openapi/v2").body, &v2); err != nil {
		t.Fatal(err)
	}
	const objectMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
	for name, defs := range map[string]map[string]schema{"v3": v3.Components.Schemas, "v2": v2.Definitions} {
		task := defs["io.kunos.v1.Task"]
		if d := task.Properties["spec"].Properties["nodeName"].Description; d != "NodeName is set by the scheduler; empty means unscheduled." {
			t.Errorf("%s: Task spec.nodeName description %q", name, d)
		}
		if len(task.GVK) != 1 || task.GVK[0]["kind"] != "Task" || len(task.Selectable) != 2 {
			t.Errorf("%s: Task extensions %v %v", name, task.GVK, task.Selectable)
		}
		md := task.Properties["metadata"]
		ref := md.Ref
		if name == "v3" && len(md.AllOf) == 1 {
			ref = md.AllOf[0].Ref
		}
		if ref == "" || md.Description == "" {
			t.Errorf("%s: Task metadata %+v", name, md)
		}
		if _, ok := defs[objectMeta]; !ok {
			t.Errorf("%s: no %s", name, objectMeta)
		}
		if m := defs["io.kunos.v1.Job"].Properties["spec"].Properties["completions"].Minimum; m == nil || *m != 0 {
			t.Errorf("%s: Job spec.completions minimum %v", name, m)
		}
	}
	r := do(t, srv, http.MethodGet, "/openapi/v2", "", "", "Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	if ct := r.header.Get("Content-Type"); r.code != 200 || ct != "application/com.github.proto-openapi.spec.v2.v1.0+protobuf" {
		t.Fatalf("/openapi/v2 protobuf: %d %q", r.code, ct)
	}
	var doc openapi_v2.Document
	if err := proto.Unmarshal(r.body, &doc); err != nil || doc.GetSwagger() != "2.0" || len(doc.GetDefinitions().GetAdditionalProperties()) == 0 {
		t.Fatalf("/openapi/v2 protobuf: %v %q", err, doc.GetSwagger())
	}
}
