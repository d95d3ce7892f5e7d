// Package v1 holds the kunos.io/v1 API: Node (cluster-scoped), Task and Job
// (namespaced), their list types, deep-copy functions, scheme registration and
// the resource descriptors (Nodes, Tasks, Jobs) that clients, informers,
// controllers and the API server share.
//
// Objects handed out by informers and listers are shared and read-only: call
// DeepCopy before mutating one.
//
// +k8s:deepcopy-gen=package
// +groupName=kunos.io
package v1
