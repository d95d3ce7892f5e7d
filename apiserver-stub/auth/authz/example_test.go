package authz_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/kunos-io/listwatch/apiserver-stub/auth/authn"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authz"
)

// What a watch of one namespace asks for, and how a refusal reads.
func ExampleRequestAttributes() {
	r := httptest.NewRequest("GET", "/apis/kunos.io/v1/namespaces/team-b/tasks?watch=true", nil)
	a := authz.RequestAttributes(r, &authn.User{Name: "bob"})
	fmt.Println(a.Verb, a.APIGroup, a.Resource, a.Namespace)
	fmt.Println(authz.ForbiddenMessage(a))
	// Output:
	// watch kunos.io tasks team-b
	// User "bob" cannot watch resource "tasks" in API group "kunos.io" in the namespace "team-b"
}
