package authz

// This file defines what an authorizer decides on. Invariant: an
// Authorizer only reads; Allow is the only decision that lets a request
// through.

import (
	"context"
	"fmt"

	"github.com/kunos-io/listwatch/apiserver-stub/auth/authn"
)

// Attributes are what a request asks to do.
type Attributes struct {
	User *authn.User
	// Verb: for resource requests get, list, watch, create, update,
	// patch, delete or deletecollection; otherwise the lowercased method.
	Verb string
	// ResourceRequest says the request names an API resource; Path is set
	// otherwise.
	ResourceRequest bool
	Namespace       string
	APIGroup        string
	APIVersion      string
	Resource        string
	Subresource     string
	Name            string
	Path            string
}

// Decision is an authorizer's answer.
type Decision int

const (
	// NoOpinion: nothing allows the request (it is denied unless another
	// authorizer allows it).
	NoOpinion Decision = iota
	// Allow lets the request through.
	Allow
	// Deny refuses it outright.
	Deny
)

// Authorizer decides on requests. reason explains the decision; err is
// set when the decision could not be fully evaluated (the request is then
// denied unless allowed anyway).
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (d Decision, reason string, err error)
}

// AlwaysAllow allows every request.
type AlwaysAllow struct{}

// Authorize implements Authorizer.
func (AlwaysAllow) Authorize(context.Context, Attributes) (Decision, string, error) {
	return Allow, "", nil
}

// ForbiddenMessage is kube-apiserver's explanation of a refused request,
// e.g. `User "bob" cannot list resource "tasks" in API group "kunos.io" in
// the namespace "other"`.
func ForbiddenMessage(a Attributes) string {
	name := "<unknown>"
	if a.User != nil {
		name = a.User.Name
	}
	if !a.ResourceRequest {
		return fmt.Sprintf("User %q cannot %s path %q", name, a.Verb, a.Path)
	}
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	scope := "at the cluster scope"
	if a.Namespace != "" {
		scope = fmt.Sprintf("in the namespace %q", a.Namespace)
	}
	return fmt.Sprintf("User %q cannot %s resource %q in API group %q %s", name, a.Verb, res, a.APIGroup, scope)
}
