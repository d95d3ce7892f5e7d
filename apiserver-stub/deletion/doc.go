// Package deletion holds the rules of deleting an object that every writer
// of the API server shares (the REST handlers, the garbage collector and
// the namespace controller), as kube-apiserver's generic registry applies
// them:
//
//   - A delete's propagation policy becomes a finalizer: Orphan adds
//     "orphan", Foreground adds "foregroundDeletion", Background removes
//     both (metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents).
//   - An object that still has finalizers afterwards (or that its kind's
//     own finalizers hold, such as a Namespace's spec.finalizers) is only
//     marked: deletionTimestamp is set (once), deletionGracePeriodSeconds
//     is 0 and metadata.generation, when the kind tracks it, is bumped.
//     Otherwise it is removed at once.
//   - A write that leaves an object marked for deletion without finalizers
//     removes it (Mutate).
//
// Every operation is a read-modify-write with the read revision as a
// precondition, retried on a concurrent write until it applies or ctx ends.
// The package knows storage keys, metadata and the Codec; it knows no HTTP
// and no field of any kind.
package deletion
