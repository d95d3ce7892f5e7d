package server

import (
	"encoding/json"
	"fmt"
	"strings"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// Codec is the storage.Codec for the kinds of kunos.io/v1. It encodes objects
// as JSON with apiVersion and kind set, decodes stored bytes by the resource
// named in the key, and exposes the object's labels plus
// kunosv1.SelectableFieldSet to selectors.
type Codec struct{}

// NewCodec returns the kunos.io/v1 codec.
func NewCodec() storage.Codec { return Codec{} }

var _ storage.Codec = Codec{}

// Encode returns the JSON of obj with apiVersion and kind set. It sets them on
// obj itself, which is the server's own copy.
func (Codec) Encode(obj runtime.Object) ([]byte, error) {
	gvks, _, err := kunosv1.Scheme.ObjectKinds(obj)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("codec: encode %s: %w", gvks[0].Kind, err)
	}
	return b, nil
}

// Decode parses data stored under key ("/<resource>/...") into a new object
// of the resource's kind.
func (Codec) Decode(key string, data []byte) (runtime.Object, error) {
	info, ok := resourceOfKey(key)
	if !ok {
		return nil, fmt.Errorf("codec: key %q names no kunos.io/v1 resource", key)
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
	fs := kunosv1.SelectableFieldSet(obj)
	if fs == nil {
		return nil, nil, fmt.Errorf("codec: %T is not a kunos.io/v1 kind", obj)
	}
	return labels.Set(acc.GetLabels()), fs, nil
}

// resourceOfKey returns the resource named by the first segment of a key.
func resourceOfKey(key string) (kunosv1.ResourceInfo, bool) {
	rest, ok := strings.CutPrefix(key, "/")
	if !ok {
		return kunosv1.ResourceInfo{}, false
	}
	res, _, _ := strings.Cut(rest, "/")
	return kunosv1.ResourceFor(res)
}
