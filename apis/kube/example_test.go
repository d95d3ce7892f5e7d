package kube_test

import (
	"fmt"

	"github.com/kunos-io/listwatch/apis/kube"
)

// The descriptors name the built-in resources as kubectl does and say
// their scope.
func Example() {
	for _, d := range kube.Resources {
		info := d.ResourceInfo()
		fmt.Println(info, info.GVR.Version, info.Kind, info.Namespaced)
	}
	// Output:
	// namespaces v1 Namespace false
	// pods v1 Pod true
	// configmaps v1 ConfigMap true
	// leases.coordination.k8s.io v1 Lease true
	// events v1 Event true
	// roles.rbac.authorization.k8s.io v1 Role true
	// clusterroles.rbac.authorization.k8s.io v1 ClusterRole false
	// rolebindings.rbac.authorization.k8s.io v1 RoleBinding true
	// clusterrolebindings.rbac.authorization.k8s.io v1 ClusterRoleBinding false
}
