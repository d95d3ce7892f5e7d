// Package resource describes the resources a client, an informer, a
// controller and the API server address, once per resource, typed by the Go
// type of its objects.
//
// A Descriptor[T] is the one source of truth about a resource: its
// GroupVersionResource, kind, list kind, scope (namespaced or
// cluster-scoped), whether it has a /status subresource, and which fields a
// field selector may use. Because T is part of the descriptor's type, every
// API that takes one infers T from it:
//
//	tasks := client.For(c, kunosv1.Tasks)          // *client.Resource[*kunosv1.Task]
//	inf, err := informer.For(f, kunosv1.Tasks)     // SharedIndexInformer[*kunosv1.Task]
//
// so pairing a Go type with another resource's name (a *Job decoded from
// /tasks) does not compile, and asking for a namespace of a cluster-scoped
// resource fails when the client or informer is built, with an error that
// wraps ErrScope, instead of as a stream of 404s retried with backoff.
//
// The package sits at the bottom of the import graph (it imports only
// k8s.io/apimachinery), so the API packages (apis/kunos/v1, apis/kube), the
// client side and the server can all share it.
package resource
