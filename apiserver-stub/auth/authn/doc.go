// Package authn authenticates requests to the API server as kube-apiserver
// does: a client certificate verified against a client CA (common name =
// user, organizations = groups), a bearer token from a static token file
// (kube's --token-auth-file CSV: token,user,uid,"group1,group2"), and, when
// enabled, anonymous requests (user system:anonymous, group
// system:unauthenticated). Every authenticated user also gets the group
// system:authenticated.
//
// A request that presents a credential no authenticator accepts is
// refused (the server answers 401 Unauthorized), even when anonymous
// requests are enabled: anonymous is only for requests with no credential.
//
// The package knows nothing of authorization or of the server: the server
// calls Chain.Authenticate in its filter and stores the User in the
// request's context (WithUser, UserFrom).
package authn
