package storage_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/resource"
)

// testCodec is a minimal Codec over the kunos.io/v1 kinds: JSON with
// apiVersion and kind set, labels from metadata, fields from
// the kunosv1 descriptors.
type testCodec struct{}

// kunosResource returns the kunos.io/v1 descriptor of a plural name.
func kunosResource(plural string) (resource.Untyped, bool) {
	for _, d := range kunosv1.Resources {
		if d.ResourceInfo().GVR.Resource == plural {
			return d, true
		}
	}
	return nil, false
}

func (testCodec) Encode(obj runtime.Object) ([]byte, error) {
	gvks, _, err := kunosv1.Scheme.ObjectKinds(obj)
	if err != nil {
		return nil, err
	}
	obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	return json.Marshal(obj)
}

func (testCodec) Decode(key string, data []byte) (runtime.Object, error) {
	parts := strings.SplitN(strings.TrimPrefix(key, "/"), "/", 2)
	d, ok := kunosResource(parts[0])
	if !ok {
		return nil, fmt.Errorf("unknown resource in key %q", key)
	}
	obj := d.NewObject()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func (testCodec) Attributes(obj runtime.Object) (labels.Set, fields.Set, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, err
	}
	var f fields.Set
	for _, d := range kunosv1.Resources {
		if f, err = d.ObjectFields(obj); err == nil {
			break
		}
	}
	if f == nil {
		return nil, nil, errors.New("not a kunos.io/v1 object")
	}
	return labels.Set(acc.GetLabels()), f, nil
}

// task builds a Task for tests.
func task(ns, name, node string, lbls map[string]string) *kunosv1.Task {
	return &kunosv1.Task{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec:       kunosv1.TaskSpec{NodeName: node, Image: "busybox"},
	}
}

func taskKey(ns, name string) string { return "/tasks/" + ns + "/" + name }

// decodeTask parses a record's data.
func decodeTask(data []byte) (*kunosv1.Task, error) {
	var t kunosv1.Task
	err := json.Unmarshal(data, &t)
	return &t, err
}
