package rbac

// This file evaluates the policy for one request. Invariants: a request is
// allowed only by a rule of a role bound to the user, in the request's
// namespace or cluster-wide; cluster-scoped requests (empty namespace,
// which includes all-namespaces lists and watches) and non-resource URLs
// are allowed only through ClusterRoleBindings; system:masters is allowed
// everything. An error reading one binding or role does not stop the
// evaluation of the others; it is reported only when nothing allowed.

import (
	"context"
	"errors"
	"fmt"

	"github.com/kunos-io/listwatch/apiserver-stub/auth/authn"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authz"
	rbacv1 "k8s.io/api/rbac/v1"
)

// Authorizer is the RBAC authorizer.
type Authorizer struct {
	src PolicySource
}

var _ authz.Authorizer = (*Authorizer)(nil)

// New returns an authorizer reading its policy from src.
func New(src PolicySource) *Authorizer { return &Authorizer{src: src} }

// Authorize implements authz.Authorizer.
func (az *Authorizer) Authorize(ctx context.Context, a authz.Attributes) (authz.Decision, string, error) {
	if a.User == nil {
		return authz.NoOpinion, "no user", nil
	}
	if a.User.InGroup(authn.SystemPrivilegedGroup) {
		return authz.Allow, "RBAC: allowed as a member of " + authn.SystemPrivilegedGroup, nil
	}
	var reason string
	errs := az.visit(ctx, a.User, a.Namespace, func(where string, rule *rbacv1.PolicyRule) bool {
		if RuleAllows(a, rule) {
			reason = "RBAC: allowed by " + where
			return true
		}
		return false
	})
	if reason != "" {
		return authz.Allow, reason, nil
	}
	if len(errs) > 0 {
		return authz.NoOpinion, "", errors.Join(errs...)
	}
	return authz.NoOpinion, "", nil
}

// RulesFor returns every rule that applies to u in namespace ns ("" for
// cluster-wide rules only), and the errors met while gathering them.
func (az *Authorizer) RulesFor(ctx context.Context, u *authn.User, ns string) ([]rbacv1.PolicyRule, []error) {
	if u.InGroup(authn.SystemPrivilegedGroup) {
		return []rbacv1.PolicyRule{
			{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
		}, nil
	}
	var rules []rbacv1.PolicyRule
	errs := az.visit(ctx, u, ns, func(_ string, r *rbacv1.PolicyRule) bool {
		rules = append(rules, *r)
		return false
	})
	return rules, errs
}

// visit calls f with every rule bound to u, cluster-wide then in ns, until
// f returns true.
func (az *Authorizer) visit(ctx context.Context, u *authn.User, ns string, f func(where string, r *rbacv1.PolicyRule) bool) []error {
	var errs []error
	crbs, err := az.src.ListClusterRoleBindings(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("list clusterrolebindings: %w", err))
	}
	for _, b := range crbs {
		s, ok := anySubject(b.Subjects, "", u)
		if !ok {
			continue
		}
		if b.RoleRef.Kind != "ClusterRole" {
			continue
		}
		role, err := az.src.GetClusterRole(ctx, b.RoleRef.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("clusterrolebinding %q: %w", b.Name, err))
			continue
		}
		where := fmt.Sprintf("ClusterRoleBinding %q of ClusterRole %q to %s %q", b.Name, role.Name, s.Kind, s.Name)
		for i := range role.Rules {
			if f(where, &role.Rules[i]) {
				return nil
			}
		}
	}
	if ns == "" {
		return errs
	}
	rbs, err := az.src.ListRoleBindings(ctx, ns)
	if err != nil {
		errs = append(errs, fmt.Errorf("list rolebindings in %q: %w", ns, err))
	}
	for _, b := range rbs {
		s, ok := anySubject(b.Subjects, ns, u)
		if !ok {
			continue
		}
		var rules []rbacv1.PolicyRule
		switch b.RoleRef.Kind {
		case "Role":
			role, err := az.src.GetRole(ctx, ns, b.RoleRef.Name)
			if err != nil {
				errs = append(errs, fmt.Errorf("rolebinding %s/%s: %w", ns, b.Name, err))
				continue
			}
			rules = role.Rules
		case "ClusterRole":
			role, err := az.src.GetClusterRole(ctx, b.RoleRef.Name)
			if err != nil {
				errs = append(errs, fmt.Errorf("rolebinding %s/%s: %w", ns, b.Name, err))
				continue
			}
			rules = role.Rules
		default:
			continue
		}
		where := fmt.Sprintf("RoleBinding \"%s/%s\" of %s %q to %s %q", ns, b.Name, b.RoleRef.Kind, b.RoleRef.Name, s.Kind, s.Name)
		for i := range rules {
			if f(where, &rules[i]) {
				return nil
			}
		}
	}
	return errs
}
