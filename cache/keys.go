package cache

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KeyFunc computes the key an object is stored under.
type KeyFunc func(obj metav1.Object) (string, error)

// MetaNamespaceKeyFunc returns "namespace/name" for a namespaced object and
// "name" for a cluster-scoped one, like client-go's key function.
func MetaNamespaceKeyFunc(obj metav1.Object) (string, error) {
	if obj == nil {
		return "", fmt.Errorf("cache: key of a nil object")
	}
	name := obj.GetName()
	if name == "" {
		return "", fmt.Errorf("cache: object has no name")
	}
	if ns := obj.GetNamespace(); ns != "" {
		return ns + "/" + name, nil
	}
	return name, nil
}

// SplitMetaNamespaceKey splits a key made by MetaNamespaceKeyFunc into its
// namespace (empty for a cluster-scoped key) and name.
func SplitMetaNamespaceKey(key string) (namespace, name string, err error) {
	parts := strings.Split(key, "/")
	switch len(parts) {
	case 1:
		name = parts[0]
	case 2:
		namespace, name = parts[0], parts[1]
	default:
		return "", "", fmt.Errorf("cache: unexpected key format %q", key)
	}
	if name == "" {
		return "", "", fmt.Errorf("cache: key %q has no name", key)
	}
	return namespace, name, nil
}
