package authn

// This file combines the authenticators as kube-apiserver's union does.
// Invariants: the first authenticator that accepts the request decides;
// a request whose credentials are all refused is refused (ErrUnauthorized)
// even when anonymous requests are enabled; an authenticated user is in
// system:authenticated; the anonymous user never is.

import (
	"errors"
	"net/http"
	"slices"
)

// Authenticator checks one kind of credential. ok is false when the
// request carries no credential of that kind; err is set when it carries
// one that is not valid.
type Authenticator interface {
	Authenticate(r *http.Request) (u *User, ok bool, err error)
}

// ErrUnauthorized is the error of a request that is not authenticated.
var ErrUnauthorized = errors.New("Unauthorized")

// Chain tries its authenticators in order, then falls back to anonymous.
type Chain struct {
	auths     []Authenticator
	anonymous bool
}

// Options select the authenticators of a Chain.
type Options struct {
	// ClientCert authenticates TLS client certificates; nil for none.
	ClientCert *X509
	// Tokens authenticates bearer tokens; nil for none.
	Tokens *TokenFile
	// Anonymous lets requests without credentials through as
	// system:anonymous, for the authorizer to judge.
	Anonymous bool
}

// New returns the chain of opts: client certificate, then token, then
// anonymous.
func New(opts Options) *Chain {
	c := &Chain{anonymous: opts.Anonymous}
	if opts.ClientCert != nil {
		c.auths = append(c.auths, opts.ClientCert)
	}
	if opts.Tokens != nil {
		c.auths = append(c.auths, opts.Tokens)
	}
	return c
}

// Authenticate returns the user of r, or an error wrapping
// ErrUnauthorized (and the reasons each authenticator refused it).
func (c *Chain) Authenticate(r *http.Request) (*User, error) {
	var errs []error
	for _, a := range c.auths {
		u, ok, err := a.Authenticate(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			return withAuthenticated(u), nil
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(append([]error{ErrUnauthorized}, errs...)...)
	}
	if c.anonymous {
		return AnonymousUser(), nil
	}
	return nil, ErrUnauthorized
}

// withAuthenticated returns u with system:authenticated among its groups
// (a copy when it had to be added: u is shared).
func withAuthenticated(u *User) *User {
	if u.Name == Anonymous || slices.Contains(u.Groups, AllAuthenticated) || slices.Contains(u.Groups, AllUnauthenticated) {
		return u
	}
	cp := *u
	cp.Groups = append(slices.Clip(u.Groups), AllAuthenticated)
	return &cp
}
