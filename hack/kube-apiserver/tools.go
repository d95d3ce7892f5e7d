//go:build tools

// Package kubeapiserver pins a real kube-apiserver, built from the Go module
// proxy for hack/lib/kube-apiserver.sh. It is a module of its own, outside
// the main module: k8s.io/kubernetes replaces its staging modules (k8s.io/api,
// apimachinery, apiserver, client-go, ...) with local directories, so it cannot
// be `go install`ed; this go.mod requires it and replaces each staging module
// with its published v0.X.Y twin instead. Build with
//
//	go build -o kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
//
// from this directory (kube_apiserver_build does that, once per version).
package kubeapiserver

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
