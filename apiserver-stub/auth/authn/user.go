package authn

// This file holds the identity a request is authenticated as. Invariant: a
// User is never modified after an authenticator returns it; it is shared by
// the request's context, the authorizer and the audit log.

import (
	"context"
	"slices"
)

// Well-known user and group names, as Kubernetes has them.
const (
	// Anonymous is the user of a request without credentials.
	Anonymous = "system:anonymous"
	// AllUnauthenticated is the group of anonymous requests.
	AllUnauthenticated = "system:unauthenticated"
	// AllAuthenticated is the group every authenticated user is in.
	AllAuthenticated = "system:authenticated"
	// SystemPrivilegedGroup (system:masters) may do everything.
	SystemPrivilegedGroup = "system:masters"
)

// User is an authenticated identity.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// InGroup reports whether u is in group g.
func (u *User) InGroup(g string) bool { return u != nil && slices.Contains(u.Groups, g) }

// AnonymousUser returns the identity of a request without credentials.
func AnonymousUser() *User {
	return &User{Name: Anonymous, Groups: []string{AllUnauthenticated}}
}

type userKey struct{}

// WithUser returns ctx carrying u.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the user of ctx, if any.
func UserFrom(ctx context.Context) (*User, bool) {
	u, ok := ctx.Value(userKey{}).(*User)
	return u, ok && u != nil
}
