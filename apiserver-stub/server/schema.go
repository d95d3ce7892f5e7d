package server

// This file turns the generated CustomResourceDefinitions of kunos.io/v1
// (apis/kunos/v1/zz_generated.crds.yaml) into what the server does with
// them: one structural schema per kind, which /openapi/v2 and /openapi/v3
// publish and which every write is validated against before anything is
// stored. Invariant: the schema a real kube-apiserver gets from the same
// file and the one this server validates with are the same document, so
// both servers accept and refuse the same objects, with the same field
// causes (the rules live in the Go types' +kubebuilder markers and nowhere
// else).
//
// The validator is kube-openapi's, as in kube-apiserver; its results become
// field errors the way apiextensions-apiserver maps them (required →
// FieldValueRequired, enum → FieldValueNotSupported, type → FieldValueTypeInvalid,
// anything else → FieldValueInvalid), so a 422 carries the same causes.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
)

// kindSchema is the structural schema of one kind, from its CRD.
type kindSchema struct {
	// crd is the CustomResourceDefinition and version the schema is from.
	crd     *apiextensionsv1.CustomResourceDefinition
	version *apiextensionsv1.CustomResourceDefinitionVersion
	// schema is the version's openAPIV3Schema as a kube-openapi schema.
	schema *spec.Schema
	// validator checks a JSON value (maps, slices, strings, int64,
	// float64, bools) against schema; safe for concurrent use.
	validator *validate.SchemaValidator
	// required is where schema requires properties, for a quick check
	// that a body lacks none (nil: nothing is required anywhere).
	required *requiredTree
	// typedValidator checks an object decoded into its Go type against
	// the schema's constraints only (nil: the schema has none). The Go
	// types and the schema are generated from one another, so such an
	// object already has every type the schema names: only the
	// constraints (required, bounds, lengths, patterns, enums) can fail,
	// and walking the parts of the schema without any is wasted work.
	typedValidator *validate.SchemaValidator
}

// kunosSchemas are the schemas of the kunos.io/v1 kinds, by kind.
var kunosSchemas = mustParseCRDs(kunosv1.CustomResourceDefinitionsYAML, kunosv1.SchemeGroupVersion.Version)

func mustParseCRDs(doc []byte, version string) map[string]*kindSchema {
	m, err := parseCRDs(doc, version)
	if err != nil {
		panic(fmt.Sprintf("server: the generated CRDs of apis/kunos/v1: %v", err)) // generated, embedded file
	}
	return m
}

// parseCRDs reads a YAML stream of CustomResourceDefinitions and returns
// the schema of version of each, by kind.
func parseCRDs(doc []byte, version string) (map[string]*kindSchema, error) {
	out := map[string]*kindSchema{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(doc), 4096)
	for {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := dec.Decode(crd); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if crd.Spec.Names.Kind == "" {
			continue // an empty document
		}
		var v *apiextensionsv1.CustomResourceDefinitionVersion
		for i := range crd.Spec.Versions {
			if crd.Spec.Versions[i].Name == version {
				v = &crd.Spec.Versions[i]
			}
		}
		if v == nil || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return nil, fmt.Errorf("%s: no schema for version %s", crd.Name, version)
		}
		s, err := toOpenAPISchema(v.Schema.OpenAPIV3Schema)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", crd.Name, err)
		}
		ks := &kindSchema{
			crd: crd, version: v, schema: s,
			validator: validate.NewSchemaValidator(s, nil, "", strfmt.Default),
			required:  newRequiredTree(s),
		}
		if c := constraintsOnly(s); c != nil {
			ks.typedValidator = validate.NewSchemaValidator(c, nil, "", strfmt.Default)
		}
		out[crd.Spec.Names.Kind] = ks
	}
	return out, nil
}

// toOpenAPISchema converts a CRD schema to kube-openapi's type. Both are
// the same JSON document (OpenAPI v3 schema keywords and x-kubernetes-*
// extensions), so the conversion is a JSON round trip.
func toOpenAPISchema(p *apiextensionsv1.JSONSchemaProps) (*spec.Schema, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	s := &spec.Schema{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, err
	}
	return s, nil
}

// toJSONValue turns a typed object into the JSON value the validator
// checks, the value a JSON round trip gives (integers int64, other numbers
// float64), without the round trip.
func toJSONValue(obj runtime.Object) (any, error) {
	return runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
}

// validateValue checks a JSON value against the schema. With old set (an
// update), errors at a place whose value the update did not change are
// dropped, as kube-apiserver's validation ratcheting does, so an object
// stored before a rule existed can still be updated elsewhere.
func (ks *kindSchema) validateValue(v, old any) field.ErrorList {
	return validateWith(ks.validator, v, old)
}

// validateTyped is validateValue for the value of an object decoded into
// its Go type (see typedValidator).
func (ks *kindSchema) validateTyped(v, old any) field.ErrorList {
	if ks.typedValidator == nil {
		return nil
	}
	return validateWith(ks.typedValidator, v, old)
}

func validateWith(validator *validate.SchemaValidator, v, old any) field.ErrorList {
	res := validator.Validate(v)
	if res == nil || res.IsValid() {
		return nil
	}
	var errs field.ErrorList
	for _, e := range res.Errors {
		var ve *openapierrors.Validation
		if !errors.As(e, &ve) {
			errs = append(errs, field.Invalid(nil, "", e.Error()))
			continue
		}
		name := strings.TrimPrefix(ve.Name, ".")
		if name == "." {
			name = ""
		}
		if old != nil && ratchets(ve, name, v, old) {
			continue
		}
		errs = append(errs, schemaFieldError(ve, fieldPathOf(name)))
	}
	return errs
}

// ratchets reports whether the error at name is about a value the update
// left unchanged: the value itself or, for a missing required field, the
// object that lacks it.
func ratchets(ve *openapierrors.Validation, name string, v, old any) bool {
	if ve.Code() == openapierrors.RequiredFailCode {
		if i := strings.LastIndexAny(name, ".["); i >= 0 {
			name = name[:i]
		} else {
			name = ""
		}
	}
	a, okA := lookupJSON(v, name)
	b, okB := lookupJSON(old, name)
	return okA && okB && reflect.DeepEqual(a, b)
}

// schemaFieldError maps one kube-openapi validation error to a field error.
func schemaFieldError(ve *openapierrors.Validation, path *field.Path) *field.Error {
	value := ve.Value
	if value == nil {
		value = ""
	}
	switch ve.Code() {
	case openapierrors.RequiredFailCode:
		return field.Required(path, "")
	case openapierrors.EnumFailCode:
		allowed := make([]string, 0, len(ve.Values))
		for _, a := range ve.Values {
			if s, ok := a.(string); ok {
				allowed = append(allowed, s)
				continue
			}
			b, _ := json.Marshal(a)
			allowed = append(allowed, string(b))
		}
		return field.NotSupported(path, ve.Value, allowed)
	case openapierrors.TooLongFailCode:
		maxLen, _ := ve.Valid.(int64)
		return field.TooLong(path, "", int(maxLen))
	case openapierrors.MaxItemsFailCode, openapierrors.TooManyPropertiesCode:
		n, _ := ve.Value.(int64)
		maxN, _ := ve.Valid.(int64)
		return field.TooMany(path, int(n), int(maxN))
	case openapierrors.InvalidTypeCode:
		return field.TypeInvalid(path, value, ve.Error())
	}
	return field.Invalid(path, value, ve.Error())
}

// fieldPathOf parses a validator's dotted name ("spec.a[0].b") into a
// field path; "" is the root (nil).
func fieldPathOf(name string) *field.Path {
	var p *field.Path
	for _, seg := range strings.Split(name, ".") {
		if seg == "" {
			continue
		}
		key, rest, _ := strings.Cut(seg, "[")
		if key != "" {
			if p == nil {
				p = field.NewPath(key)
			} else {
				p = p.Child(key)
			}
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			if i, err := strconv.Atoi(idx); err == nil && p != nil {
				p = p.Index(i)
			} else if p != nil {
				p = p.Key(idx)
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return p
}

// lookupJSON returns the value at a validator's dotted name in v.
func lookupJSON(v any, name string) (any, bool) {
	cur := v
	for _, seg := range strings.Split(name, ".") {
		if seg == "" {
			continue
		}
		key, rest, _ := strings.Cut(seg, "[")
		if key != "" {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[key]; !ok {
				return nil, false
			}
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			switch c := cur.(type) {
			case []any:
				i, err := strconv.Atoi(idx)
				if err != nil || i < 0 || i >= len(c) {
					return nil, false
				}
				cur = c[i]
			case map[string]any:
				var ok bool
				if cur, ok = c[idx]; !ok {
					return nil, false
				}
			default:
				return nil, false
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return cur, true
}

// requiredTree is the part of a schema that names required properties:
// each node has the properties required of an object at that place, and
// children only where something below is required. complex marks a schema
// whose requirements it does not follow (allOf, anyOf, oneOf, not, tuple
// items), where only the validator can tell.
type requiredTree struct {
	required   []string
	props      map[string]*requiredTree
	items      *requiredTree // each element of an array
	additional *requiredTree // each value of a map
	complex    bool
}

// newRequiredTree returns s's requirements, or nil when s requires nothing
// at any depth.
func newRequiredTree(s *spec.Schema) *requiredTree {
	if s == nil {
		return nil
	}
	t := &requiredTree{required: s.Required}
	t.complex = len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 || s.Not != nil ||
		(s.Items != nil && len(s.Items.Schemas) > 0)
	for name := range s.Properties {
		p := s.Properties[name]
		if c := newRequiredTree(&p); c != nil {
			if t.props == nil {
				t.props = map[string]*requiredTree{}
			}
			t.props[name] = c
		}
	}
	if s.Items != nil {
		t.items = newRequiredTree(s.Items.Schema)
	}
	if s.AdditionalProperties != nil {
		t.additional = newRequiredTree(s.AdditionalProperties.Schema)
	}
	if !t.complex && len(t.required) == 0 && t.props == nil && t.items == nil && t.additional == nil {
		return nil
	}
	return t
}

// mayLack reports whether the JSON value v may lack a property its schema
// requires: false means it lacks none, so that the validator need not run
// to find one. It errs towards true (a null where an object is required of
// its properties, a schema it does not follow).
func (t *requiredTree) mayLack(v any) bool {
	if t == nil {
		return false
	}
	if t.complex {
		return true
	}
	switch x := v.(type) {
	case map[string]any:
		for _, r := range t.required {
			if _, ok := x[r]; !ok {
				return true
			}
		}
		for k, val := range x {
			// A property without requirements is not in props; checking it
			// against additional's errs towards true, as it must.
			c := t.props[k]
			if c == nil {
				c = t.additional
			}
			if c.mayLack(val) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if t.items.mayLack(e) {
				return true
			}
		}
	case nil:
		return len(t.required) > 0
	}
	return false
}

// constraintsOnly returns the part of s that can refuse a value of the
// right types: the nodes with constraints (required, bounds, lengths,
// patterns, enums, item and property counts, combinators) and the path to
// them, each node keeping its type and format; nil when there is none. A
// node whose additionalProperties is false is kept whole, since leaving
// out its properties would make them refused.
func constraintsOnly(s *spec.Schema) *spec.Schema {
	if s == nil {
		return nil
	}
	if s.AdditionalProperties != nil && !s.AdditionalProperties.Allows {
		c := *s
		return &c
	}
	out := &spec.Schema{}
	out.Type, out.Format, out.Nullable = s.Type, s.Format, s.Nullable
	out.Required = s.Required
	out.Maximum, out.ExclusiveMaximum, out.Minimum, out.ExclusiveMinimum = s.Maximum, s.ExclusiveMaximum, s.Minimum, s.ExclusiveMinimum
	out.MaxLength, out.MinLength, out.Pattern = s.MaxLength, s.MinLength, s.Pattern
	out.MaxItems, out.MinItems, out.UniqueItems, out.MultipleOf = s.MaxItems, s.MinItems, s.UniqueItems, s.MultipleOf
	out.Enum, out.MaxProperties, out.MinProperties = s.Enum, s.MaxProperties, s.MinProperties
	out.AllOf, out.AnyOf, out.OneOf, out.Not = s.AllOf, s.AnyOf, s.OneOf, s.Not
	keep := len(out.Required) > 0 || out.Maximum != nil || out.Minimum != nil ||
		out.MaxLength != nil || out.MinLength != nil || out.Pattern != "" ||
		out.MaxItems != nil || out.MinItems != nil || out.UniqueItems || out.MultipleOf != nil ||
		len(out.Enum) > 0 || out.MaxProperties != nil || out.MinProperties != nil ||
		len(out.AllOf)+len(out.AnyOf)+len(out.OneOf) > 0 || out.Not != nil ||
		(s.Type.Contains("string") && s.Format != "")
	for name := range s.Properties {
		p := s.Properties[name]
		if c := constraintsOnly(&p); c != nil {
			if out.Properties == nil {
				out.Properties = map[string]spec.Schema{}
			}
			out.Properties[name] = *c
			keep = true
		}
	}
	if s.Items != nil {
		if len(s.Items.Schemas) > 0 {
			out.Items, keep = s.Items, true
		} else if c := constraintsOnly(s.Items.Schema); c != nil {
			out.Items, keep = &spec.SchemaOrArray{Schema: c}, true
		}
	}
	if s.AdditionalProperties != nil {
		if c := constraintsOnly(s.AdditionalProperties.Schema); c != nil {
			out.AdditionalProperties, keep = &spec.SchemaOrBool{Allows: true, Schema: c}, true
		}
	}
	if !keep {
		return nil
	}
	return out
}
