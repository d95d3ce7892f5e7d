package v1

import (
	"k8s.io/apimachinery/pkg/fields"

	"github.com/kunos-io/listwatch/resource"
)

// The resources of kunos.io/v1. Each descriptor is the one place that says
// where its objects live and how they are named; the client, the
// informers, the controllers and the API server all read it from here.
var (
	// Nodes are cluster-scoped: a Node has no namespace.
	Nodes = resource.Descriptor[*Node]{Info: resource.Info{
		GVR: SchemeGroupVersion.WithResource("nodes"), Kind: "Node", ListKind: "NodeList",
		Singular: "node", ShortNames: []string{"no"}, HasStatus: true,
	}}
	// Tasks are namespaced; a field selector may match spec.nodeName and
	// status.phase (how node agents watch only their own Tasks).
	Tasks = resource.Descriptor[*Task]{
		Info: resource.Info{
			GVR: SchemeGroupVersion.WithResource("tasks"), Kind: "Task", ListKind: "TaskList",
			Singular: "task", ShortNames: []string{"tk"}, Namespaced: true, HasStatus: true,
			SelectableFields: []string{"spec.nodeName", "status.phase"},
		},
		Fields: func(t *Task) fields.Set {
			return fields.Set{"spec.nodeName": t.Spec.NodeName, "status.phase": string(t.Status.Phase)}
		},
	}
	// Jobs are namespaced.
	Jobs = resource.Descriptor[*Job]{Info: resource.Info{
		GVR: SchemeGroupVersion.WithResource("jobs"), Kind: "Job", ListKind: "JobList",
		Singular: "job", ShortNames: []string{"kj"}, Namespaced: true, HasStatus: true,
	}}
)

// Resources lists the descriptors of kunos.io/v1 with their Go types
// hidden, for code that serves or tests all of them.
var Resources = []resource.Untyped{Nodes, Tasks, Jobs}
