package rbac

// This file holds the policy a server creates at start, a subset of
// kube-apiserver's bootstrap policy. Invariant: every ClusterRoleBinding
// returned names a ClusterRole returned.

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BootstrapLabel marks the objects Bootstrap returns, as kube's
// kubernetes.io/bootstrapping=rbac-defaults.
var BootstrapLabel = map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}

var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection"}
)

// namespacedResources are the namespaced resources users work with: what
// admin, edit and view grant.
var namespacedResources = []rbacv1.PolicyRule{
	{APIGroups: []string{"kunos.io"}, Resources: []string{"tasks", "tasks/status", "jobs", "jobs/status"}},
	{APIGroups: []string{""}, Resources: []string{"events"}},
	{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}},
}

func withVerbs(rules []rbacv1.PolicyRule, verbs ...[]string) []rbacv1.PolicyRule {
	var all []string
	for _, v := range verbs {
		all = append(all, v...)
	}
	out := make([]rbacv1.PolicyRule, len(rules))
	for i, r := range rules {
		r.Verbs = all
		out[i] = r
	}
	return out
}

// Bootstrap returns kube's default ClusterRoles cluster-admin, admin, edit,
// view, system:basic-user (self reviews), system:discovery and
// system:public-info-viewer, and the bindings that give cluster-admin to
// system:masters, the self reviews and discovery to every authenticated
// user, and health and version to everyone.
func Bootstrap() ([]*rbacv1.ClusterRole, []*rbacv1.ClusterRoleBinding) {
	role := func(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: BootstrapLabel}, Rules: rules}
	}
	view := withVerbs(namespacedResources, readVerbs)
	edit := withVerbs(namespacedResources, readVerbs, writeVerbs)
	admin := append(append([]rbacv1.PolicyRule(nil), edit...), rbacv1.PolicyRule{
		APIGroups: []string{rbacv1.GroupName}, Resources: []string{"roles", "rolebindings"},
		Verbs: append(append([]string(nil), readVerbs...), writeVerbs...),
	})
	roles := []*rbacv1.ClusterRole{
		role("cluster-admin",
			rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}),
		role("admin", admin...),
		role("edit", edit...),
		role("view", view...),
		role("system:basic-user",
			rbacv1.PolicyRule{Verbs: []string{"create"}, APIGroups: []string{"authorization.k8s.io"},
				Resources: []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews"}},
			rbacv1.PolicyRule{Verbs: []string{"create"}, APIGroups: []string{"authentication.k8s.io"},
				Resources: []string{"selfsubjectreviews"}}),
		role("system:discovery", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{
			"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/openapi", "/openapi/*", "/version", "/version/"}}),
		role("system:public-info-viewer", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{
			"/healthz", "/livez", "/readyz", "/version", "/version/"}}),
	}
	bind := func(name string, groups ...string) *rbacv1.ClusterRoleBinding {
		b := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: BootstrapLabel},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		}
		for _, g := range groups {
			b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
		}
		return b
	}
	bindings := []*rbacv1.ClusterRoleBinding{
		bind("cluster-admin", "system:masters"),
		bind("system:basic-user", "system:authenticated"),
		bind("system:discovery", "system:authenticated"),
		bind("system:public-info-viewer", "system:authenticated", "system:unauthenticated"),
	}
	return roles, bindings
}
