// Package garbagecollector deletes objects whose owners are gone, as
// kube-controller-manager's garbage collector does for ownerReferences,
// working on the server's store directly (its watches and consistent
// reads), never through the HTTP layer.
//
// It keeps a graph of every object's ownerReferences from one watch per
// resource, and reacts to changes in it:
//
//   - An object none of whose owners exists any more (absent, or present
//     with another uid) is deleted, in the background unless its own
//     finalizers ask otherwise. An object that still has an owner loses
//     the references to the owners that are gone.
//   - Foreground: an owner marked for deletion with the foregroundDeletion
//     finalizer has its dependents deleted (in the foreground too, when
//     they have dependents of their own); the finalizer is removed, and so
//     the owner, once no dependent whose reference sets
//     blockOwnerDeletion remains.
//   - Orphan: an owner marked for deletion with the orphan finalizer has
//     its references removed from every dependent, then the finalizer.
//
// Deletes and writes use package deletion, with the uid and the
// resourceVersion the decision was made on as preconditions: a decision
// made on stale data is taken again. An ownerReference to a kind the
// server does not serve, or from a cluster-scoped object to a namespaced
// owner, cannot be resolved and keeps its dependent, as in Kubernetes.
package garbagecollector
