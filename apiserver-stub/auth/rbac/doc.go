// Package rbac authorizes requests with Kubernetes RBAC
// (rbac.authorization.k8s.io/v1): Roles and ClusterRoles hold rules, and
// RoleBindings and ClusterRoleBindings grant them to users, groups and
// service accounts. The rules are kube's: "*" matches any verb, API group,
// resource or non-resource URL; "resource/subresource" names a
// subresource and "*/subresource" that subresource of every resource;
// resourceNames restrict to names; a non-resource URL ending in "*" is a
// prefix. A RoleBinding grants only in its namespace (its roleRef may
// name a ClusterRole, whose rules then apply there); a ClusterRoleBinding
// grants everywhere, and only it can grant cluster-scoped resources,
// non-resource URLs and all-namespaces lists and watches. Aggregated
// ClusterRoles are not evaluated (aggregationRule is ignored).
//
// Members of system:masters may do everything, without reading any
// binding (so a broken policy cannot lock the administrator out).
//
// The authorizer reads bindings and roles through a PolicySource on every
// decision, so a change applies at once: the server's source reads its
// store; StaticSource serves fixed objects. Bootstrap returns the
// ClusterRoles and ClusterRoleBindings a server creates at start.
//
// Not done: escalation prevention (a user who may create RoleBindings may
// bind any role, including one with more rights than their own).
package rbac
