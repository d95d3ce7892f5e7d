package controllers

import "github.com/kunos-io/listwatch/controller"

// SetReconcilerWrapper makes the wiring functions wrap every reconciler
// with f until restore is called. Tests only; not safe while wiring.
func SetReconcilerWrapper(f func(name string, r controller.Reconciler) controller.Reconciler) (restore func()) {
	old := wrapReconciler
	wrapReconciler = f
	return func() { wrapReconciler = old }
}
