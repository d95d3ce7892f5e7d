package certs_test

import (
	"fmt"

	"github.com/kunos-io/listwatch/apiserver-stub/certs"
)

// Make a CA, a serving certificate for localhost, and a client
// certificate that kube-apiserver (and apiserver-stub) read as user
// "admin" in group system:masters.
func Example() {
	ca, err := certs.NewCA("example-ca")
	if err != nil {
		panic(err)
	}
	if _, err := ca.IssueServing("apiserver", []string{"localhost", "127.0.0.1"}); err != nil {
		panic(err)
	}
	p, err := ca.IssueClient("admin", []string{"system:masters"})
	if err != nil {
		panic(err)
	}
	c, _ := certs.ParseCert(p.CertPEM)
	fmt.Println(c.Subject.CommonName, c.Subject.Organization, c.Issuer.CommonName)
	// Output: admin [system:masters] example-ca
}
