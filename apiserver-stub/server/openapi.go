package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// OpenAPI v3 is published for one reason: kubectl create/apply/replace
// (with the default --validate=strict) looks in /openapi/v3 for the
// fieldValidation query parameter on each kind's PATCH operation; when it
// finds it, kubectl lets the server validate (fieldValidation=Strict)
// instead of downloading schemas. The document lists every path and verb;
// schemas are shallow (unknown fields under spec/status are for the server
// to judge). /openapi/v2 is not served.

var (
	openAPIOnce sync.Once
	openAPIDoc  []byte
	openAPIHash string
)

func openAPIV3() ([]byte, string) {
	openAPIOnce.Do(func() {
		openAPIDoc = buildOpenAPIV3()
		sum := sha256.Sum256(openAPIDoc)
		openAPIHash = strings.ToUpper(hex.EncodeToString(sum[:16]))
	})
	return openAPIDoc, openAPIHash
}

func buildOpenAPIV3() []byte {
	type obj = map[string]any
	queryParam := func(name, typ string) obj {
		return obj{"name": name, "in": "query", "schema": obj{"type": typ, "uniqueItems": true}}
	}
	pathParam := func(name string) obj {
		return obj{"name": name, "in": "path", "required": true, "schema": obj{"type": "string", "uniqueItems": true}}
	}
	ref := func(kind string) obj {
		return obj{"$ref": "#/components/schemas/io.kunos.v1." + kind}
	}
	okResp := func(schema obj) obj {
		return obj{"200": obj{"description": "OK", "content": obj{"application/json": obj{"schema": schema}}}}
	}
	writeParams := []any{queryParam("dryRun", "string"), queryParam("fieldManager", "string"), queryParam("fieldValidation", "string")}
	listParams := []any{
		queryParam("allowWatchBookmarks", "boolean"), queryParam("continue", "string"),
		queryParam("fieldSelector", "string"), queryParam("labelSelector", "string"),
		queryParam("limit", "integer"), queryParam("resourceVersion", "string"),
		queryParam("resourceVersionMatch", "string"), queryParam("sendInitialEvents", "boolean"),
		queryParam("timeoutSeconds", "integer"), queryParam("watch", "boolean"),
	}
	paths := obj{}
	schemas := obj{}
	for _, r := range kunosv1.Resources {
		gvk := obj{"group": groupName, "version": "v1", "kind": r.Kind}
		op := func(id, action string, params []any, body bool, resp obj) obj {
			o := obj{
				"operationId": id, "parameters": params, "responses": resp,
				"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
			}
			if body {
				o["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": ref(r.Kind)}}}
			}
			return o
		}
		patchOp := func(id string) obj {
			o := op(id, "patch", writeParams, false, okResp(ref(r.Kind)))
			o["requestBody"] = obj{"required": true, "content": obj{
				mergePatchType: obj{"schema": obj{"type": "object"}},
				jsonPatchType:  obj{"schema": obj{"type": "object"}},
			}}
			return o
		}
		base := "/apis/" + groupVersion + "/"
		var coll, item []any
		if r.Namespaced {
			base += "namespaces/{namespace}/"
			coll = []any{pathParam("namespace")}
			item = []any{pathParam("name"), pathParam("namespace")}
			paths["/apis/"+groupVersion+"/"+r.GVR.Resource] = obj{
				"get": op("list"+r.Kind+"ForAllNamespaces", "list", listParams, false, okResp(ref(r.ListKind))),
			}
		} else {
			item = []any{pathParam("name")}
		}
		paths[base+r.GVR.Resource] = obj{
			"parameters": coll,
			"get":        op("list"+r.Kind, "list", listParams, false, okResp(ref(r.ListKind))),
			"post":       op("create"+r.Kind, "post", writeParams, true, okResp(ref(r.Kind))),
		}
		paths[base+r.GVR.Resource+"/{name}"] = obj{
			"parameters": item,
			"get":        op("read"+r.Kind, "get", []any{queryParam("resourceVersion", "string")}, false, okResp(ref(r.Kind))),
			"put":        op("replace"+r.Kind, "put", writeParams, true, okResp(ref(r.Kind))),
			"patch":      patchOp("patch" + r.Kind),
			"delete":     op("delete"+r.Kind, "delete", []any{queryParam("dryRun", "string")}, false, okResp(obj{"type": "object"})),
		}
		if r.HasStatus {
			paths[base+r.GVR.Resource+"/{name}/status"] = obj{
				"parameters": item,
				"get":        op("read"+r.Kind+"Status", "get", nil, false, okResp(ref(r.Kind))),
				"put":        op("replace"+r.Kind+"Status", "put", writeParams, true, okResp(ref(r.Kind))),
				"patch":      patchOp("patch" + r.Kind + "Status"),
			}
		}
		schemas["io.kunos.v1."+r.Kind] = obj{
			"type":        "object",
			"description": r.Kind + " of kunos.io/v1.",
			"properties": obj{
				"apiVersion": obj{"type": "string"}, "kind": obj{"type": "string"},
				"metadata": obj{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
				"spec":     obj{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
				"status":   obj{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
			},
			"x-kubernetes-group-version-kind": []any{gvk},
		}
		schemas["io.kunos.v1."+r.ListKind] = obj{
			"type": "object",
			"properties": obj{
				"apiVersion": obj{"type": "string"}, "kind": obj{"type": "string"},
				"metadata": obj{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
				"items":    obj{"type": "array", "items": ref(r.Kind)},
			},
			"x-kubernetes-group-version-kind": []any{obj{"group": groupName, "version": "v1", "kind": r.ListKind}},
		}
	}
	doc := obj{
		"openapi":    "3.0.0",
		"info":       obj{"title": "listwatch apiserver-stub", "version": "v1.37.0"},
		"paths":      paths,
		"components": obj{"schemas": schemas},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // static document: fails only on a programming error
	}
	return b
}

// serveOpenAPI serves /openapi/v3 (the index) and /openapi/v3/apis/kunos.io/v1.
func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	doc, hash := openAPIV3()
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/openapi/v3":
		writeJSON(w, http.StatusOK, map[string]any{"paths": map[string]any{
			"apis/" + groupVersion: map[string]string{"serverRelativeURL": "/openapi/v3/apis/" + groupVersion + "?hash=" + hash},
		}})
	case "/openapi/v3/apis/" + groupVersion:
		writeRaw(w, http.StatusOK, doc)
	default:
		writeError(w, notFoundPath())
	}
}
