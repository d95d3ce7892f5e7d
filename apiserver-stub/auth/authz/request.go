package authz

// This file derives Attributes from an HTTP request, as kube-apiserver's
// RequestInfoFactory does. Invariant: it reads the path, the method and
// the watch and fieldSelector parameters only, never the body, so it runs
// before anything is decoded.

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/kunos-io/listwatch/apiserver-stub/auth/authn"
	"k8s.io/apimachinery/pkg/fields"
)

// namespaceSubresources are the subresources of a Namespace object itself.
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// RequestAttributes returns the attributes of r for user u.
func RequestAttributes(r *http.Request, u *authn.User) Attributes {
	a := Attributes{User: u, Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	if r.Method == http.MethodHead {
		a.Verb = "get"
	}
	var parts []string
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/"):
		parts = split(strings.TrimPrefix(r.URL.Path, "/api/"))
		if len(parts) < 2 { // /api/v1 is discovery
			return a
		}
		a.APIVersion, parts = parts[0], parts[1:]
	case strings.HasPrefix(r.URL.Path, "/apis/"):
		parts = split(strings.TrimPrefix(r.URL.Path, "/apis/"))
		if len(parts) < 3 { // /apis/GROUP[/VERSION] is discovery
			return a
		}
		a.APIGroup, a.APIVersion, parts = parts[0], parts[1], parts[2:]
	default:
		return a
	}
	a.ResourceRequest = true
	switch r.Method {
	case http.MethodPost:
		a.Verb = "create"
	case http.MethodGet, http.MethodHead:
		a.Verb = "get"
	case http.MethodPut:
		a.Verb = "update"
	case http.MethodPatch:
		a.Verb = "patch"
	case http.MethodDelete:
		a.Verb = "delete"
	default:
		a.Verb = ""
	}
	if parts[0] == "watch" {
		a.Verb, parts = "watch", parts[1:]
		if len(parts) == 0 {
			return a
		}
	}
	if parts[0] == "namespaces" {
		if len(parts) > 1 {
			a.Namespace = parts[1]
			if len(parts) > 2 && !namespaceSubresources[parts[2]] {
				parts = parts[2:]
			}
		}
	}
	a.Resource = parts[0]
	if len(parts) > 1 {
		a.Name = parts[1]
	}
	if len(parts) > 2 {
		a.Subresource = parts[2]
	}
	if a.Resource == "namespaces" && a.Name == "" && a.Namespace != "" {
		// /api/v1/namespaces/NS is the Namespace NS.
		a.Name, a.Namespace = a.Namespace, ""
	} else if a.Resource == "namespaces" {
		a.Namespace = ""
	}
	if a.Name == "" {
		switch a.Verb {
		case "get":
			a.Verb = "list"
			if watchParam(r.URL.Query()) {
				a.Verb = "watch"
			}
		case "delete":
			a.Verb = "deletecollection"
		}
		if a.Verb == "list" || a.Verb == "watch" {
			// A list or watch of one name, by field selector, is
			// authorized as for that name.
			if sel, err := fields.ParseSelector(r.URL.Query().Get("fieldSelector")); err == nil {
				if name, ok := sel.RequiresExactMatch("metadata.name"); ok {
					a.Name = name
				}
			}
		}
	}
	return a
}

// split splits a path, dropping empty segments at either end.
func split(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// watchParam reads ?watch= as kube-apiserver does: present and not "0"
// or "false".
func watchParam(q url.Values) bool {
	v, ok := q["watch"]
	if !ok || len(v) == 0 {
		return false
	}
	return v[0] != "0" && !strings.EqualFold(v[0], "false")
}
