package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
)

// buildTLS turns TLSConfig into a *tls.Config, shared by all of bases. It
// returns nil (Go's defaults) when nothing is configured.
func buildTLS(t *TLSConfig, bases []*url.URL) (*tls.Config, error) {
	caData, err := dataOrFile(t.CAData, t.CAFile, "CA")
	if err != nil {
		return nil, err
	}
	certData, err := dataOrFile(t.CertData, t.CertFile, "client certificate")
	if err != nil {
		return nil, err
	}
	keyData, err := dataOrFile(t.KeyData, t.KeyFile, "client key")
	if err != nil {
		return nil, err
	}
	if len(caData) == 0 && len(certData) == 0 && len(keyData) == 0 && !t.Insecure && t.ServerName == "" {
		return nil, nil
	}
	for _, base := range bases {
		if base.Scheme == "http" {
			return nil, fmt.Errorf("client: TLS settings given for plain-http host %q", base.Host)
		}
	}
	if t.Insecure && len(caData) > 0 {
		// client-go rejects this combination too: it is almost always a
		// mistake that silently disables the CA the user provided.
		return nil, errors.New("client: TLS.Insecure and a CA are mutually exclusive")
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: t.Insecure, //nolint:gosec // explicit user choice (insecure-skip-tls-verify)
		ServerName:         t.ServerName,
	}
	if len(caData) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caData) {
			return nil, errors.New("client: TLS CA: no PEM certificate found")
		}
		cfg.RootCAs = pool
	}
	switch {
	case len(certData) > 0 && len(keyData) > 0:
		cert, err := tls.X509KeyPair(certData, keyData)
		if err != nil {
			return nil, fmt.Errorf("client: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case len(certData) > 0:
		return nil, errors.New("client: TLS client certificate given without a key")
	case len(keyData) > 0:
		return nil, errors.New("client: TLS client key given without a certificate")
	}
	return cfg, nil
}

func dataOrFile(data []byte, file, what string) ([]byte, error) {
	if len(data) > 0 || file == "" {
		return data, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("client: read TLS %s: %w", what, err)
	}
	return b, nil
}
