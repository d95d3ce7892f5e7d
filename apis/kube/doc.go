// Package kube holds resource descriptors for the Kubernetes built-in kinds
// that listwatch itself uses, with the Go types of k8s.io/api:
// coordination.k8s.io/v1 Leases (leader election), core v1 Events (the
// controller's event recorder), the rbac.authorization.k8s.io/v1 kinds
// (what RBAC authorization reads) and the self reviews (kubectl auth can-i
// and whoami). The API server serves them from these descriptors, and a
// real kube-apiserver serves them the same way, so controllers written
// with them run against either.
package kube
