package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/kunos-io/listwatch/cache"
)

// codec encodes and decodes the objects of one resource as T. T is a
// pointer type (e.g. *kunosv1.Task); a typed T is decoded with Kubernetes'
// case-sensitive JSON, a runtime.Unstructured T into a generic map.
type codec[T cache.Object] struct {
	// gvk is the kind every object must have, from the resource's
	// descriptor; Kind is "" only for an invalid descriptor (the Resource
	// then fails before any use).
	gvk          schema.GroupVersionKind
	gv           string       // gvk's apiVersion, e.g. "v1", "coordination.k8s.io/v1"
	elem         reflect.Type // T's element type
	unstructured bool
	// proto says T has protobuf encoding (a k8s.io/api kind): the client
	// may then ask for protobuf, and decodes whichever the server sends.
	proto bool
}

// newCodec returns the codec of objects of kind gvk as T. A non-pointer T
// gets a codec that is never used: Descriptor.Validate refuses it first.
func newCodec[T cache.Object](gvk schema.GroupVersionKind) *codec[T] {
	t := reflect.TypeFor[T]()
	c := &codec[T]{gvk: gvk, gv: gvk.GroupVersion().String()}
	if t.Kind() != reflect.Pointer {
		return c
	}
	c.elem = t.Elem()
	zero := any(c.new())
	_, c.unstructured = zero.(runtime.Unstructured)
	_, c.proto = zero.(protoMessage)
	c.proto = c.proto && !c.unstructured
	return c
}

// new allocates an empty T.
func (c *codec[T]) new() T {
	return reflect.New(c.elem).Interface().(T)
}

// kindName names what is expected in messages: "kunos.io/v1 Task".
func (c *codec[T]) kindName() string {
	if c.gvk.Kind == "" {
		return c.gvk.GroupVersion().String() + " object"
	}
	return c.gvk.GroupVersion().String() + " " + c.gvk.Kind
}

// decode decodes one object. With strict set (watch events), kind and
// apiVersion must be present; otherwise a missing kind/apiVersion is
// filled in with the expected one (what clients do for list items). A
// present but different kind or apiVersion is an error either way.
func (c *codec[T]) decode(data []byte, strict bool) (T, error) {
	var zero T
	if c.unstructured {
		var m map[string]any
		if err := utiljson.Unmarshal(data, &m); err != nil {
			return zero, err
		}
		if m == nil {
			return zero, errors.New("object is null")
		}
		obj := c.new()
		any(obj).(runtime.Unstructured).SetUnstructuredContent(m)
		if err := c.checkKind(obj, strict); err != nil {
			return zero, err
		}
		return obj, nil
	}
	obj := c.new()
	if err := utiljson.Unmarshal(data, obj); err != nil {
		return zero, err
	}
	if err := c.checkKind(obj, strict); err != nil {
		return zero, err
	}
	return obj, nil
}

func (c *codec[T]) checkKind(obj T, strict bool) error {
	ok := obj.GetObjectKind()
	got := ok.GroupVersionKind()
	apiVersion, kind := got.GroupVersion().String(), got.Kind
	if got.Group == "" && got.Version == "" {
		apiVersion = ""
	}
	if kind == "" || apiVersion == "" {
		if strict {
			if kind == "" {
				return errors.New("object has no kind")
			}
			return errors.New("object has no apiVersion")
		}
		if c.gvk.Kind == "" && kind == "" {
			return errors.New("object has no kind, and none is known to infer")
		}
		if kind == "" {
			got.Kind = c.gvk.Kind
		}
		if apiVersion == "" {
			got.Group, got.Version = c.gvk.Group, c.gvk.Version
		}
		ok.SetGroupVersionKind(got)
	}
	if got.GroupVersion() != c.gvk.GroupVersion() || (c.gvk.Kind != "" && got.Kind != c.gvk.Kind) {
		return fmt.Errorf("got %s %s, want %s", got.GroupVersion(), got.Kind, c.kindName())
	}
	if c.gvk.Kind == "" && got.Kind == "Status" {
		return fmt.Errorf("got %s %s, want a single %s", got.GroupVersion(), got.Kind, c.kindName())
	}
	return nil
}

// encode marshals obj for a request body, adding apiVersion and kind when
// obj has neither, without modifying obj.
func (c *codec[T]) encode(obj T) ([]byte, error) {
	if isNil(obj) {
		return nil, errors.New("object is nil")
	}
	got := obj.GetObjectKind().GroupVersionKind()
	switch {
	case c.gvk.Kind == "" || got == c.gvk:
	case got.Empty():
		data, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		if len(data) < 2 || data[0] != '{' {
			return nil, fmt.Errorf("object encodes as %.20q, not a JSON object", data)
		}
		out := make([]byte, 0, len(data)+64)
		out = append(out, `{"kind":`...)
		out = strconv.AppendQuote(out, c.gvk.Kind)
		out = append(out, `,"apiVersion":`...)
		out = strconv.AppendQuote(out, c.gvk.GroupVersion().String())
		if len(data) > 2 {
			out = append(out, ',')
		}
		return append(out, data[1:]...), nil
	case got.Kind == "" || (got.Group == "" && got.Version == ""):
		// Half-set TypeMeta: complete it on a copy.
		cp := obj.DeepCopyObject()
		cp.GetObjectKind().SetGroupVersionKind(c.gvk)
		return json.Marshal(cp)
	}
	return json.Marshal(obj)
}

// isNil reports whether a pointer-typed T is nil.
func isNil[T any](v T) bool {
	rv := reflect.ValueOf(v)
	return !rv.IsValid() || (rv.Kind() == reflect.Pointer && rv.IsNil())
}
