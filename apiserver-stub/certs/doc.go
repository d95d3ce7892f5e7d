// Package certs makes the TLS material a secured API server needs when the
// operator brings none: a self-signed CA, a serving certificate it signs
// for the server's host names and addresses, client certificates (common
// name = user, organizations = groups, as kube-apiserver reads them), and a
// kubeconfig that kubectl and package client can use as is.
//
// EnsureDir keeps its files in a directory (kube-apiserver's --cert-dir):
// ca.crt, ca.key, apiserver.crt, apiserver.key. Existing files are reused,
// so clients keep trusting the CA across restarts; the serving certificate
// is reissued when it does not cover the requested hosts or expires soon.
// Keys are ECDSA P-256 and written with mode 0600.
package certs
