// Package namespace finishes the deletion of Namespaces, as
// kube-controller-manager's namespace controller does: for every Namespace
// marked for deletion (Terminating) it deletes every object in it, in the
// background, waits until none is left (objects with finalizers leave
// when their finalizers are done), then removes the "kubernetes"
// finalizer from the Namespace's spec.finalizers, which removes the
// Namespace when nothing else holds it.
//
// It works on the server's store directly (a watch of Namespaces and
// consistent lists), never through the HTTP layer, with the deletion rules
// of package deletion.
package namespace
