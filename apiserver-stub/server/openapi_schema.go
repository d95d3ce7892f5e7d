package server

// This file builds the OpenAPI schemas of kinds that have a structural
// schema (the kunos.io/v1 kinds, from their generated CRDs), for
// /openapi/v3 and /openapi/v2, in the shape kube-apiserver publishes for a
// custom resource: the CRD's schema, with apiVersion and kind described as
// in TypeMeta, metadata a reference to ObjectMeta, the group-version-kind
// and selectable-field extensions, a List schema beside it, and the
// apimachinery meta/v1 schemas those reference. So `kubectl explain` prints
// the same on both servers.

import (
	"encoding/json"
	"strings"

	apiextensionsopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

type jsonObj = map[string]any

// The descriptions kube-apiserver gives the metadata of a custom resource
// and of its list (apiextensions-apiserver's OpenAPI builder takes them
// from the meta/v1 types' documentation).
const (
	objectMetaDescription = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
	listMetaDescription   = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
	listItemsDocFormat    = "List of %s. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
)

// openAPIFlavor says where references point and how a reference with a
// description is written: OpenAPI v3 wraps it in allOf, v2 does not.
type openAPIFlavor struct {
	v2 bool
}

func (f openAPIFlavor) refPrefix() string {
	if f.v2 {
		return "#/definitions/"
	}
	return "#/components/schemas/"
}

// ref returns a reference to a named schema with a description.
func (f openAPIFlavor) ref(name, description string) jsonObj {
	if f.v2 {
		return jsonObj{"description": description, "$ref": f.refPrefix() + name}
	}
	return jsonObj{"description": description, "allOf": []any{jsonObj{"$ref": f.refPrefix() + name}}}
}

// metaSchemas returns the meta/v1 schemas a custom resource's document
// references (ObjectMeta, ListMeta and what they reference), by name, and
// TypeMeta's, from the generated definitions apiextensions-apiserver ships.
func (f openAPIFlavor) metaSchemas() (defs map[string]jsonObj, typeMeta jsonObj) {
	all := apiextensionsopenapi.GetOpenAPIDefinitions(func(path string) spec.Ref {
		return spec.MustCreateRef(f.refPrefix() + common.EscapeJsonPointer(path))
	})
	defs = map[string]jsonObj{}
	var add func(name string)
	add = func(name string) {
		if _, ok := defs[name]; ok {
			return
		}
		d, ok := all[name]
		if !ok {
			return
		}
		defs[name] = f.fixRefs(toJSONObj(d.Schema))
		for _, dep := range d.Dependencies {
			add(dep)
		}
	}
	add(metav1.ObjectMeta{}.OpenAPIModelName())
	add(metav1.ListMeta{}.OpenAPIModelName())
	return defs, toJSONObj(all[metav1.TypeMeta{}.OpenAPIModelName()].Schema)
}

// fixRefs rewrites, for v3, every reference that has siblings (a
// description, a default) into allOf form, as kube-apiserver publishes it.
func (f openAPIFlavor) fixRefs(v jsonObj) jsonObj {
	var walk func(any) any
	walk = func(x any) any {
		switch t := x.(type) {
		case map[string]any:
			for k, c := range t {
				t[k] = walk(c)
			}
			if r, ok := t["$ref"]; ok && !f.v2 && len(t) > 1 {
				delete(t, "$ref")
				t["allOf"] = []any{jsonObj{"$ref": r}}
			}
			return t
		case []any:
			for i, c := range t {
				t[i] = walk(c)
			}
		}
		return x
	}
	return walk(v).(jsonObj)
}

// kindSchemas returns the schemas of res (which has a structural schema)
// and of its list, named with prefix.
func (f openAPIFlavor) kindSchemas(res *Resource, prefix string, typeMeta jsonObj) map[string]jsonObj {
	gv := res.GVR.GroupVersion()
	props := func(o jsonObj) jsonObj {
		p, _ := o["properties"].(map[string]any)
		if p == nil {
			p = jsonObj{}
			o["properties"] = p
		}
		return p
	}
	tm := props(typeMeta)
	setTypeMeta := func(p jsonObj) {
		p["apiVersion"] = tm["apiVersion"]
		p["kind"] = tm["kind"]
	}
	gvk := func(kind string) []any {
		return []any{jsonObj{"group": gv.Group, "version": gv.Version, "kind": kind}}
	}
	var selectable []any
	for _, sf := range res.schema.version.SelectableFields {
		selectable = append(selectable, jsonObj{"fieldPath": strings.TrimPrefix(sf.JSONPath, ".")})
	}

	obj := toJSONObj(res.schema.schema)
	p := props(obj)
	setTypeMeta(p)
	p["metadata"] = f.ref(metav1.ObjectMeta{}.OpenAPIModelName(), objectMetaDescription)
	obj["x-kubernetes-group-version-kind"] = gvk(res.Kind)

	list := jsonObj{
		"description": res.ListKind + " is a list of " + res.Kind,
		"type":        "object",
		"required":    []any{"items"},
		"properties": jsonObj{
			"items": jsonObj{
				"description": strings.Replace(listItemsDocFormat, "%s", res.GVR.Resource, 1),
				"type":        "array",
				"items":       jsonObj{"$ref": f.refPrefix() + prefix + res.Kind},
			},
			"metadata": f.ref(metav1.ListMeta{}.OpenAPIModelName(), listMetaDescription),
		},
		"x-kubernetes-group-version-kind": gvk(res.ListKind),
	}
	setTypeMeta(props(list))
	if len(selectable) > 0 {
		obj["x-kubernetes-selectable-fields"] = selectable
		list["x-kubernetes-selectable-fields"] = selectable
	}
	return map[string]jsonObj{prefix + res.Kind: obj, prefix + res.ListKind: list}
}

// toJSONObj returns v as a generic JSON object (a deep copy).
func toJSONObj(v any) jsonObj {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // static schemas: fails only on a programming error
	}
	var o jsonObj
	if err := json.Unmarshal(b, &o); err != nil {
		panic(err)
	}
	return o
}
