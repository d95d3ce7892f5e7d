package stubtest

import (
	"context"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/audit"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authz"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/rbac"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
)

// WithAuthentication authenticates every request with a (an
// *authn.Chain, say); a request it refuses is answered 401. Without it
// every request is system:anonymous.
func WithAuthentication(a server.Authenticator) Option {
	return func(c *config) { c.authenticator = a }
}

// WithRBAC authorizes every request with RBAC over the server's own
// store, which starts with the bootstrap policy (system:masters may do
// everything; see rbac.Bootstrap). Without it everything is allowed.
func WithRBAC() Option { return func(c *config) { c.rbac = true } }

// WithAudit writes one audit event per request to l.
func WithAudit(l *audit.Log) Option { return func(c *config) { c.audit = l } }

// authorizer returns the authorizer of cfg over store, creating the
// bootstrap policy for RBAC.
func (c *config) authorizer(store storage.Interface) (authz.Authorizer, error) {
	if !c.rbac {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := server.EnsureBootstrapPolicy(ctx, store); err != nil {
		return nil, err
	}
	return rbac.New(server.NewStorePolicy(store)), nil
}
