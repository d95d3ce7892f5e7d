// Package bench holds side-by-side benchmarks and compatibility tests that
// compare listwatch with k8s.io/client-go in one process run. It is its own
// module so that client-go never enters the main module.
package bench
