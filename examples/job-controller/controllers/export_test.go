package controllers

import (
	"github.com/kunos-io/listwatch/controller"
	"k8s.io/apimachinery/pkg/util/wait"
)

// SetReconcilerWrapper makes the wiring functions wrap every reconciler
// with f until restore is called. Tests only; not safe while wiring.
func SetReconcilerWrapper(f func(name string, r controller.Reconciler) controller.Reconciler) (restore func()) {
	old := wrapReconciler
	wrapReconciler = f
	return func() { wrapReconciler = old }
}

// SetCreateRetry makes Task creations of unknown outcome retried with b
// within one run, until restore is called. Tests only.
func SetCreateRetry(b wait.Backoff) (restore func()) {
	old := createRetry
	createRetry = b
	return func() { createRetry = old }
}
