package rbac

// This file matches one PolicyRule against request attributes and one
// Subject against a user, with kube's semantics. Invariant: these are pure
// functions of their arguments.

import (
	"slices"
	"strings"

	"github.com/kunos-io/listwatch/apiserver-stub/auth/authn"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authz"
	rbacv1 "k8s.io/api/rbac/v1"
)

// RuleAllows reports whether rule allows a.
func RuleAllows(a authz.Attributes, rule *rbacv1.PolicyRule) bool {
	if a.ResourceRequest {
		combined := a.Resource
		if a.Subresource != "" {
			combined += "/" + a.Subresource
		}
		return verbMatches(rule, a.Verb) &&
			groupMatches(rule, a.APIGroup) &&
			resourceMatches(rule, combined, a.Subresource) &&
			nameMatches(rule, a.Name)
	}
	return verbMatches(rule, a.Verb) && urlMatches(rule, a.Path)
}

func verbMatches(rule *rbacv1.PolicyRule, verb string) bool {
	return slices.Contains(rule.Verbs, rbacv1.VerbAll) || slices.Contains(rule.Verbs, verb)
}

func groupMatches(rule *rbacv1.PolicyRule, group string) bool {
	return slices.Contains(rule.APIGroups, rbacv1.APIGroupAll) || slices.Contains(rule.APIGroups, group)
}

func resourceMatches(rule *rbacv1.PolicyRule, combined, subresource string) bool {
	for _, r := range rule.Resources {
		switch {
		case r == rbacv1.ResourceAll, r == combined:
			return true
		case subresource != "" && r == "*/"+subresource:
			return true
		}
	}
	return false
}

func nameMatches(rule *rbacv1.PolicyRule, name string) bool {
	return len(rule.ResourceNames) == 0 || slices.Contains(rule.ResourceNames, name)
}

func urlMatches(rule *rbacv1.PolicyRule, path string) bool {
	for _, u := range rule.NonResourceURLs {
		switch {
		case u == rbacv1.NonResourceAll, u == path:
			return true
		case strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimSuffix(u, "*")):
			return true
		}
	}
	return false
}

// SubjectMatches reports whether subject s (of a binding in namespace
// bindingNS) names u.
func SubjectMatches(s *rbacv1.Subject, bindingNS string, u *authn.User) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return u.Name == s.Name
	case rbacv1.GroupKind:
		return u.InGroup(s.Name)
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNS
		}
		return ns != "" && u.Name == "system:serviceaccount:"+ns+":"+s.Name
	}
	return false
}

func anySubject(subjects []rbacv1.Subject, ns string, u *authn.User) (*rbacv1.Subject, bool) {
	for i := range subjects {
		if SubjectMatches(&subjects[i], ns, u) {
			return &subjects[i], true
		}
	}
	return nil, false
}
