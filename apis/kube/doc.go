// Package kube holds resource descriptors for the Kubernetes built-in kinds
// that listwatch itself uses, with the Go types of k8s.io/api:
// coordination.k8s.io/v1 Leases (leader election) and core v1 Events (the
// controller's event recorder). The API server serves them from these
// descriptors, and a real kube-apiserver serves them the same way, so
// controllers written with them run against either.
package kube
