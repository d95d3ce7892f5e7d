package v1

import (
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// +k8s:deepcopy-gen=false

// ResourceInfo describes one resource of kunos.io/v1: what the API server
// serves in discovery and what clients need to address and decode it.
type ResourceInfo struct {
	GVR        schema.GroupVersionResource
	Kind       string
	ListKind   string
	Singular   string
	ShortNames []string
	Namespaced bool
	// HasStatus says the resource has a /status subresource.
	HasStatus bool
	// SelectableFields are the field-selector keys beyond metadata.name and
	// metadata.namespace.
	SelectableFields []string
	// New returns an empty object of the kind.
	New func() runtime.Object
	// NewList returns an empty list of the kind.
	NewList func() runtime.Object
}

// GVK returns the GroupVersionKind of the resource.
func (r ResourceInfo) GVK() schema.GroupVersionKind { return r.GVR.GroupVersion().WithKind(r.Kind) }

// Resources lists every resource of kunos.io/v1.
var Resources = []ResourceInfo{
	{
		GVR: NodesResource, Kind: "Node", ListKind: "NodeList", Singular: "node",
		ShortNames: []string{"no"}, Namespaced: false, HasStatus: true,
		New: func() runtime.Object { return &Node{} }, NewList: func() runtime.Object { return &NodeList{} },
	},
	{
		GVR: TasksResource, Kind: "Task", ListKind: "TaskList", Singular: "task",
		ShortNames: []string{"tk"}, Namespaced: true, HasStatus: true,
		SelectableFields: []string{"spec.nodeName", "status.phase"},
		New:              func() runtime.Object { return &Task{} }, NewList: func() runtime.Object { return &TaskList{} },
	},
	{
		GVR: JobsResource, Kind: "Job", ListKind: "JobList", Singular: "job",
		ShortNames: []string{"kj"}, Namespaced: true, HasStatus: true,
		New: func() runtime.Object { return &Job{} }, NewList: func() runtime.Object { return &JobList{} },
	},
}

// ResourceFor returns the ResourceInfo of a plural resource name.
func ResourceFor(resource string) (ResourceInfo, bool) {
	for _, r := range Resources {
		if r.GVR.Resource == resource {
			return r, true
		}
	}
	return ResourceInfo{}, false
}

// SelectableFieldSet returns the fields a field selector can match on obj:
// metadata.name, metadata.namespace and the kind's own selectable fields.
// It returns nil for an object that is not a kunos.io/v1 kind.
func SelectableFieldSet(obj runtime.Object) fields.Set {
	switch o := obj.(type) {
	case *Task:
		return fields.Set{
			"metadata.name":      o.Name,
			"metadata.namespace": o.Namespace,
			"spec.nodeName":      o.Spec.NodeName,
			"status.phase":       string(o.Status.Phase),
		}
	case *Job:
		return fields.Set{"metadata.name": o.Name, "metadata.namespace": o.Namespace}
	case *Node:
		return fields.Set{"metadata.name": o.Name, "metadata.namespace": ""}
	}
	return nil
}
