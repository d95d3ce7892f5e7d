package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// OpenAPI is published for kubectl: create/apply/replace (with the default
// --validate=strict) look in /openapi/v3 for the fieldValidation query
// parameter on each kind's PATCH operation, and when they find it let the
// server validate (fieldValidation=Strict) instead of downloading schemas;
// kubectl explain reads the schemas from /openapi/v3 (or, with
// --output plaintext-openapiv2, /openapi/v2). The v3 documents list every
// path and verb. The kunos.io/v1 kinds have their full structural schemas,
// from the generated CRDs, in kube-apiserver's shape (openapi_schema.go);
// the built-in kinds have shallow ones (their fields are for the server to
// judge). /openapi/v2 is one document with every schema, as JSON or, when
// asked for, protobuf.

var (
	openAPIOnce sync.Once
	openAPIDocs map[string]openAPIDoc // by index path: "api/v1", "apis/kunos.io/v1"
)

type openAPIDoc struct {
	doc  []byte
	hash string
}

// openAPIPath is the path of gv in the /openapi/v3 index and of its
// resources below the root: "api/v1" or "apis/GROUP/VERSION".
func openAPIPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.String()
}

// schemaPrefix names gv's schemas as kube-apiserver does:
// io.k8s.api.core.v1, io.k8s.api.coordination.v1, and the reversed group
// for others (io.kunos.v1).
func schemaPrefix(gv schema.GroupVersion) string {
	switch {
	case gv.Group == "":
		return "io.k8s.api.core." + gv.Version + "."
	case strings.HasSuffix(gv.Group, ".k8s.io"):
		return "io.k8s.api." + strings.TrimSuffix(gv.Group, ".k8s.io") + "." + gv.Version + "."
	}
	parts := strings.Split(gv.Group, ".")
	slices.Reverse(parts)
	return strings.Join(parts, ".") + "." + gv.Version + "."
}

func openAPIV3() map[string]openAPIDoc {
	openAPIOnce.Do(func() {
		openAPIDocs = map[string]openAPIDoc{}
		for _, r := range resources.all {
			if !r.Stored() {
				continue // a group of reviews only has no document
			}
			gv := r.GVR.GroupVersion()
			p := openAPIPath(gv)
			if _, ok := openAPIDocs[p]; ok {
				continue
			}
			doc := buildOpenAPIV3(gv)
			sum := sha256.Sum256(doc)
			openAPIDocs[p] = openAPIDoc{doc: doc, hash: strings.ToUpper(hex.EncodeToString(sum[:16]))}
		}
	})
	return openAPIDocs
}

func buildOpenAPIV3(gv schema.GroupVersion) []byte {
	type obj = map[string]any
	prefix := schemaPrefix(gv)
	queryParam := func(name, typ string) obj {
		return obj{"name": name, "in": "query", "schema": obj{"type": typ, "uniqueItems": true}}
	}
	pathParam := func(name string) obj {
		return obj{"name": name, "in": "path", "required": true, "schema": obj{"type": "string", "uniqueItems": true}}
	}
	ref := func(kind string) obj {
		return obj{"$ref": "#/components/schemas/" + prefix + kind}
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
	v3 := openAPIFlavor{}
	metaDefs, typeMeta := v3.metaSchemas()
	root := "/" + openAPIPath(gv) + "/"
	for _, r := range resources.resources(gv) {
		if !r.Stored() {
			continue // reviews: create only, not described
		}
		gvk := obj{"group": gv.Group, "version": gv.Version, "kind": r.Kind}
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
		base := root
		var coll, item []any
		if r.Namespaced {
			base += "namespaces/{namespace}/"
			coll = []any{pathParam("namespace")}
			item = []any{pathParam("name"), pathParam("namespace")}
			paths[root+r.GVR.Resource] = obj{
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
		if r.schema != nil {
			for name, sc := range v3.kindSchemas(r, prefix, typeMeta) {
				schemas[name] = sc
			}
			for name, sc := range metaDefs {
				schemas[name] = sc
			}
			continue
		}
		props := obj{
			"apiVersion": obj{"type": "string"}, "kind": obj{"type": "string"},
			"metadata": obj{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
		}
		s := obj{
			"type":                            "object",
			"description":                     r.Kind + " of " + gv.String() + ".",
			"properties":                      props,
			"x-kubernetes-group-version-kind": []any{gvk},
		}
		if r.Generation {
			props["spec"] = obj{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
			props["status"] = obj{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
		} else {
			// A built-in kind: its other fields are for the server to judge.
			s["x-kubernetes-preserve-unknown-fields"] = true
		}
		schemas[prefix+r.Kind] = s
		schemas[prefix+r.ListKind] = obj{
			"type": "object",
			"properties": obj{
				"apiVersion": obj{"type": "string"}, "kind": obj{"type": "string"},
				"metadata": obj{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
				"items":    obj{"type": "array", "items": ref(r.Kind)},
			},
			"x-kubernetes-group-version-kind": []any{obj{"group": gv.Group, "version": gv.Version, "kind": r.ListKind}},
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

// buildOpenAPIV2 returns the /openapi/v2 document: every kind's schema
// (kunos.io/v1 from its CRD, built-in kinds shallow) under definitions.
// Paths are left out: kubectl reads only definitions from it.
func buildOpenAPIV2() []byte {
	type obj = map[string]any
	v2 := openAPIFlavor{v2: true}
	metaDefs, typeMeta := v2.metaSchemas()
	defs := obj{}
	for name, d := range metaDefs {
		defs[name] = d
	}
	for _, r := range resources.all {
		gv := r.GVR.GroupVersion()
		prefix := schemaPrefix(gv)
		if r.schema != nil {
			for name, sc := range v2.kindSchemas(r, prefix, typeMeta) {
				defs[name] = sc
			}
			continue
		}
		defs[prefix+r.Kind] = obj{
			"type":                                 "object",
			"description":                          r.Kind + " of " + gv.String() + ".",
			"x-kubernetes-preserve-unknown-fields": true,
			"x-kubernetes-group-version-kind":      []any{obj{"group": gv.Group, "version": gv.Version, "kind": r.Kind}},
		}
	}
	doc := obj{
		"swagger":     "2.0",
		"info":        obj{"title": "listwatch apiserver-stub", "version": "v1.37.0"},
		"paths":       obj{},
		"definitions": defs,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // static document: fails only on a programming error
	}
	return b
}

var (
	openAPIV2Once              sync.Once
	openAPIV2JSON, openAPIV2PB []byte
	openAPIV2Err               error
)

// mimeOpenAPIV2Protobuf is what kubectl's discovery client asks /openapi/v2
// for (and the Content-Type of the answer).
const (
	mimeOpenAPIV2ProtobufAccept = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	mimeOpenAPIV2Protobuf       = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
)

// serveOpenAPIV2 serves /openapi/v2 as JSON or, when the Accept header
// asks for it, as gnostic's protobuf (kubectl's discovery client decodes
// nothing else).
func (s *Server) serveOpenAPIV2(w http.ResponseWriter, r *http.Request) {
	openAPIV2Once.Do(func() {
		openAPIV2JSON = buildOpenAPIV2()
		var doc *openapi_v2.Document
		if doc, openAPIV2Err = openapi_v2.ParseDocument(openAPIV2JSON); openAPIV2Err == nil {
			openAPIV2PB, openAPIV2Err = proto.Marshal(doc)
		}
	})
	for _, a := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(a), ";")
		if mt == mimeOpenAPIV2ProtobufAccept || mt == mimeOpenAPIV2Protobuf {
			if openAPIV2Err != nil {
				writeError(w, apierrors.NewInternalError(openAPIV2Err))
				return
			}
			w.Header().Set("Content-Type", mimeOpenAPIV2Protobuf)
			w.Header().Set("Content-Length", strconv.Itoa(len(openAPIV2PB)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(openAPIV2PB)
			return
		}
	}
	writeRaw(w, http.StatusOK, openAPIV2JSON)
}

// serveOpenAPI serves /openapi/v2, /openapi/v3 (the index) and one v3
// document per group/version: /openapi/v3/api/v1, /openapi/v3/apis/GROUP/VERSION.
func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimSuffix(r.URL.Path, "/")
	if p == "/openapi/v2" {
		s.serveOpenAPIV2(w, r)
		return
	}
	docs := openAPIV3()
	if p == "/openapi/v3" {
		paths := map[string]any{}
		for k, d := range docs {
			paths[k] = map[string]string{"serverRelativeURL": "/openapi/v3/" + k + "?hash=" + d.hash}
		}
		writeJSON(w, http.StatusOK, map[string]any{"paths": paths})
		return
	}
	if d, ok := docs[strings.TrimPrefix(p, "/openapi/v3/")]; ok && strings.HasPrefix(p, "/openapi/v3/") {
		writeRaw(w, http.StatusOK, d.doc)
		return
	}
	writeError(w, notFoundPath())
}
