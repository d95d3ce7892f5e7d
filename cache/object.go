package cache

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Object is what a cache holds: a Kubernetes object with metadata, such as
// *kunosv1.Task. Objects in a cache are shared and read-only; deep-copy one
// before changing it.
type Object interface {
	metav1.Object
	runtime.Object
}
