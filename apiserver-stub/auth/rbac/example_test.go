package rbac_test

import (
	"context"
	"fmt"

	"github.com/kunos-io/listwatch/apiserver-stub/auth/authn"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authz"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/rbac"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Bind the bootstrap ClusterRole "view" to bob in namespace team-a: he may
// list Tasks there, and nowhere else.
func Example() {
	roles, bindings := rbac.Bootstrap()
	src := &rbac.StaticSource{ClusterRoles: roles, ClusterRoleBindings: bindings}
	src.RoleBindings = []*rbacv1.RoleBinding{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "bob-view"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bob"}},
	}}
	az := rbac.New(src)
	bob := &authn.User{Name: "bob", Groups: []string{authn.AllAuthenticated}}
	for _, ns := range []string{"team-a", "team-b", ""} {
		a := authz.Attributes{User: bob, ResourceRequest: true, Verb: "list", APIGroup: "kunos.io", Resource: "tasks", Namespace: ns}
		d, _, _ := az.Authorize(context.Background(), a)
		fmt.Printf("list tasks in %q: %v\n", ns, d == authz.Allow)
	}
	// Output:
	// list tasks in "team-a": true
	// list tasks in "team-b": false
	// list tasks in "": false
}
