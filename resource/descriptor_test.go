package resource_test

import (
	"errors"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestScope(t *testing.T) {
	for _, tc := range []struct {
		info       resource.Info
		ns         string
		collection bool // CheckNamespace passes
		object     bool // CheckObjectNamespace passes
	}{
		{kunosv1.Nodes.Info, "", true, true},
		{kunosv1.Nodes.Info, "x", false, false},
		{kunosv1.Tasks.Info, "", true, false},
		{kunosv1.Tasks.Info, "x", true, true},
	} {
		err := tc.info.CheckNamespace(tc.ns)
		if (err == nil) != tc.collection || (err != nil && !errors.Is(err, resource.ErrScope)) {
			t.Errorf("%s CheckNamespace(%q) = %v", tc.info, tc.ns, err)
		}
		err = tc.info.CheckObjectNamespace(tc.ns)
		if (err == nil) != tc.object || (err != nil && !errors.Is(err, resource.ErrScope)) {
			t.Errorf("%s CheckObjectNamespace(%q) = %v", tc.info, tc.ns, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, d := range kunosv1.Resources {
		if err := d.Validate(); err != nil {
			t.Error(err)
		}
	}
	if err := (resource.Descriptor[*kunosv1.Task]{}).Validate(); err == nil {
		t.Error("an empty descriptor validated")
	}
	dyn := resource.Descriptor[*unstructured.Unstructured]{Info: kunosv1.Tasks.Info}
	if err := dyn.Validate(); err != nil {
		t.Error(err)
	}
	if got := dyn.New(); got == nil || got.Object != nil {
		t.Errorf("New() = %#v", got)
	}
}

func TestFieldSet(t *testing.T) {
	node := &kunosv1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Namespace: "stray"}}
	if got := kunosv1.Nodes.FieldSet(node); got["metadata.namespace"] != "" || got["metadata.name"] != "n" {
		t.Errorf("node fields %v", got)
	}
	task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "ns"}, Status: kunosv1.TaskStatus{Phase: "Running"}}
	got, err := kunosv1.Tasks.ObjectFields(task)
	if err != nil || got["status.phase"] != "Running" || got["metadata.namespace"] != "ns" {
		t.Errorf("task fields %v, %v", got, err)
	}
	if _, err := kunosv1.Tasks.ObjectFields(node); err == nil {
		t.Error("ObjectFields took a Node for a Task")
	}
}
