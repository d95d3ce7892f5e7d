// Package authz decides whether an authenticated user may make a request,
// with kube-apiserver's request attributes: for a resource request the
// verb (get, list, watch, create, update, patch, delete, deletecollection),
// API group, resource, subresource, namespace and name; for any other path
// the verb (the lowercased HTTP method) and the path.
//
// RequestAttributes derives the attributes from an HTTP request as
// kube-apiserver's request-info resolver does, from the path alone, so that
// the decision does not depend on what the server serves (an unknown
// resource is forbidden to whoever may not use it, and a 404 only for the
// others). An all-namespaces list or watch has an empty namespace: only a
// cluster-wide grant allows it.
//
// AlwaysAllow is the zero-configuration authorizer; package rbac holds the
// RBAC one. The server calls the Authorizer in its filter, before anything
// reaches storage.
package authz
