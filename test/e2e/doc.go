// Package e2e holds end-to-end tests and benchmarks that cross real sockets
// between the API server and clients: watch fan-out throughput and latency
// over loopback HTTP, and the effect of a slow watcher on everyone else, on
// the memory store, on etcd with one and two server replicas (and the etcd
// watches they cost), and on an external server such as a kube-apiserver.
// The process-level checks (kubectl, the demo, a controller killed mid-Job,
// Prometheus) are in hack/e2e.sh.
package e2e
