package authn

// This file authenticates TLS client certificates. Invariant: a user comes
// only from a leaf certificate whose chain verifies against the client CA
// pool for client authentication; its common name is the user name and its
// organizations are the groups.

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// X509 authenticates client certificates against a CA pool.
type X509 struct {
	roots *x509.CertPool
	now   func() time.Time
}

// NewX509 returns an authenticator trusting roots.
func NewX509(roots *x509.CertPool) *X509 { return &X509{roots: roots, now: time.Now} }

// LoadClientCA reads a PEM bundle of CA certificates (kube's --client-ca-file).
func LoadClientCA(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("client CA: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// Authenticate implements Authenticator for the request's client
// certificate. The TLS listener must request (not verify) client
// certificates, so that a bad one is a 401 rather than a failed handshake.
func (a *X509) Authenticate(r *http.Request) (*User, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: a.roots, Intermediates: inter, CurrentTime: a.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, false, fmt.Errorf("client certificate: %w", err)
	}
	if leaf.Subject.CommonName == "" {
		return nil, false, errors.New("client certificate: empty common name")
	}
	return &User{Name: leaf.Subject.CommonName, Groups: append([]string(nil), leaf.Subject.Organization...)}, true, nil
}
