package server

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// Codec is the storage.Codec for the resources the server serves (see
// Resources). It encodes objects as JSON with apiVersion and kind set,
// decodes stored bytes by the resource named in the key, and exposes the
// object's labels and its resource's selectable fields (Resource.Fields)
// to selectors: the store itself knows no field.
type Codec struct{}

// NewCodec returns the codec of the server's resources.
func NewCodec() storage.Codec { return Codec{} }

var _ storage.Codec = Codec{}

// resourceOf returns the resource of obj's Go type.
func resourceOf(obj runtime.Object) (*Resource, error) {
	r, ok := resources.byType[reflect.TypeOf(obj)]
	if !ok {
		return nil, fmt.Errorf("codec: %T is the type of no served resource", obj)
	}
	return r, nil
}

// Encode returns the JSON of obj with apiVersion and kind set. It sets them on
// obj itself, which is the server's own copy.
func (Codec) Encode(obj runtime.Object) ([]byte, error) {
	r, err := resourceOf(obj)
	if err != nil {
		return nil, err
	}
	obj.GetObjectKind().SetGroupVersionKind(r.GVK())
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("codec: encode %s: %w", r.Kind, err)
	}
	return b, nil
}

// Decode parses data stored under key ("/<resource>/...") into a new object
// of the resource's kind.
func (Codec) Decode(key string, data []byte) (runtime.Object, error) {
	info, ok := resourceOfKey(key)
	if !ok {
		return nil, fmt.Errorf("codec: key %q names no served resource", key)
	}
	obj := info.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("codec: decode %s at %q: %w", info.Kind, key, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(info.GVK())
	return obj, nil
}

// Attributes returns the object's labels and its selectable fields.
func (Codec) Attributes(obj runtime.Object) (labels.Set, fields.Set, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, fmt.Errorf("codec: %w", err)
	}
	r, err := resourceOf(obj)
	if err != nil {
		return nil, nil, err
	}
	return labels.Set(acc.GetLabels()), r.Fields(obj), nil
}

// resourceOfKey returns the resource named by the first segment of a key.
func resourceOfKey(key string) (*Resource, bool) {
	rest, ok := strings.CutPrefix(key, "/")
	if !ok {
		return nil, false
	}
	res, _, _ := strings.Cut(rest, "/")
	r, ok := resources.byStorage[res]
	return r, ok
}
