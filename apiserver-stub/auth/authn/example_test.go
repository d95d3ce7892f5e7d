package authn_test

import (
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/kunos-io/listwatch/apiserver-stub/auth/authn"
)

// Authenticate requests with a static token file, and let requests without
// credentials through as system:anonymous.
func Example() {
	tokens, _, err := authn.ParseTokenFile(strings.NewReader("s3cret,alice,1001,\"dev,ops\"\n"))
	if err != nil {
		panic(err)
	}
	chain := authn.New(authn.Options{Tokens: tokens, Anonymous: true})

	r := httptest.NewRequest("GET", "/api", nil)
	r.Header.Set("Authorization", "Bearer s3cret")
	u, err := chain.Authenticate(r)
	fmt.Println(u.Name, u.Groups, err)

	u, err = chain.Authenticate(httptest.NewRequest("GET", "/api", nil))
	fmt.Println(u.Name, u.Groups, err)

	r.Header.Set("Authorization", "Bearer wrong")
	_, err = chain.Authenticate(r)
	fmt.Println(err != nil)
	// Output:
	// alice [dev ops system:authenticated] <nil>
	// system:anonymous [system:unauthenticated] <nil>
	// true
}
