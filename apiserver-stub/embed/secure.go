package embed

// This file turns SecureOptions into the server's TLS configuration,
// authenticator, authorizer and audit log. Invariants: a server that
// listens beyond loopback serves TLS and authenticates, unless the options
// say InsecureAllowUnauthenticatedNonLoopback; nothing here is required
// for a loopback server, which keeps its zero-configuration defaults.

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/kunos-io/listwatch/apiserver-stub/audit"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authn"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/authz"
	"github.com/kunos-io/listwatch/apiserver-stub/auth/rbac"
	"github.com/kunos-io/listwatch/apiserver-stub/certs"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
)

// Authorization modes (kube-apiserver's --authorization-mode values).
const (
	AuthorizationAlwaysAllow = "AlwaysAllow"
	AuthorizationRBAC        = "RBAC"
)

// AdminUser is the user of the client certificate in the kubeconfig that
// WriteKubeconfig writes; it is in group system:masters.
const AdminUser = "listwatch-admin"

// SecureOptions secure the server, with kube-apiserver's flags. The zero
// value serves plain HTTP with no authentication, everything allowed:
// right for loopback only, and refused elsewhere.
type SecureOptions struct {
	// TLSCertFile and TLSKeyFile serve TLS with this certificate.
	TLSCertFile, TLSKeyFile string
	// CertDir, without TLSCertFile, serves TLS with a certificate signed by
	// a CA generated (once) into CertDir, whose CA also verifies client
	// certificates.
	CertDir string
	// ClientCAFile verifies client certificates (common name = user,
	// organizations = groups).
	ClientCAFile string
	// TokenAuthFile holds bearer tokens: token,user,uid,"group1,group2".
	TokenAuthFile string
	// AuthorizationMode is AlwaysAllow (default) or RBAC.
	AuthorizationMode string
	// DisableAnonymous refuses (401) requests without credentials. As in
	// kube-apiserver, anonymous requests are also refused under
	// AlwaysAllow once an authenticator is configured.
	DisableAnonymous bool
	// AuditLogPath, when set, appends one JSON line per request ("-":
	// standard output).
	AuditLogPath string
	// WriteKubeconfig, when set, writes a kubeconfig for this server
	// there: its URL, the CA of CertDir, and a client certificate for
	// AdminUser in system:masters (with CertDir only).
	WriteKubeconfig string
	// InsecureAllowUnauthenticatedNonLoopback serves a non-loopback
	// address without TLS or authentication.
	InsecureAllowUnauthenticatedNonLoopback bool
}

// security is what SecureOptions become.
type security struct {
	tls           *tls.Config
	caPEM         []byte    // the CA clients trust, when known
	ca            *certs.CA // the CA of CertDir, which can issue client certificates
	authenticator server.Authenticator
	rbac          bool
	audit         *audit.Log
}

// loopback reports whether the listen address is a loopback one.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newSecurity checks o against the listen address and loads what it names.
func newSecurity(o SecureOptions, listen string, log *slog.Logger) (*security, error) {
	sec := &security{}
	switch o.AuthorizationMode {
	case "", AuthorizationAlwaysAllow:
	case AuthorizationRBAC:
		sec.rbac = true
	default:
		return nil, fmt.Errorf("embed: authorization mode %q is not %s or %s", o.AuthorizationMode, AuthorizationAlwaysAllow, AuthorizationRBAC)
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return nil, errors.New("embed: --tls-cert-file and --tls-private-key-file go together")
	}
	host, _, _ := net.SplitHostPort(listen)
	var clientCAs *x509.CertPool
	var serving tls.Certificate
	var err error
	switch {
	case o.TLSCertFile != "":
		if serving, err = tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile); err != nil {
			return nil, fmt.Errorf("embed: TLS certificate: %w", err)
		}
	case o.CertDir != "":
		d, created, err := certs.EnsureDir(o.CertDir, certs.Hosts(host))
		if err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		if created {
			log.Info("generated a self-signed CA", "file", d.CAFile)
		}
		if serving, err = tls.LoadX509KeyPair(d.CertFile, d.KeyFile); err != nil {
			return nil, fmt.Errorf("embed: TLS certificate: %w", err)
		}
		sec.ca, sec.caPEM = d.CA, d.CA.CertPEM
		clientCAs = x509.NewCertPool()
		clientCAs.AddCert(d.CA.Cert)
	}
	if o.ClientCAFile != "" {
		pool, err := authn.LoadClientCA(o.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		if clientCAs != nil {
			// Both the given CAs and that of CertDir verify clients.
			pool.AddCert(sec.ca.Cert)
		}
		clientCAs = pool
	}
	tlsOn := o.TLSCertFile != "" || o.CertDir != ""
	if clientCAs != nil && !tlsOn {
		return nil, errors.New("embed: client certificates need TLS: set --tls-cert-file or --cert-dir")
	}
	if tlsOn {
		sec.tls = &tls.Config{
			Certificates: []tls.Certificate{serving},
			MinVersion:   tls.VersionTLS12,
			// HTTP/2 first, as kube-apiserver: a client's watches then
			// share one connection, as client-go's do.
			NextProtos: []string{"h2", "http/1.1"},
		}
		if clientCAs != nil {
			// Requested, not verified by the handshake: the authenticator
			// verifies, so a bad certificate is a 401 as in kube-apiserver.
			sec.tls.ClientAuth = tls.RequestClientCert
		}
	}
	var tokens *authn.TokenFile
	if o.TokenAuthFile != "" {
		tf, warnings, err := authn.LoadTokenFile(o.TokenAuthFile)
		if err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		for _, w := range warnings {
			log.Warn(w)
		}
		tokens = tf
	}
	authenticates := tokens != nil || clientCAs != nil
	if !loopback(listen) && !(tlsOn && authenticates) && !o.InsecureAllowUnauthenticatedNonLoopback {
		return nil, fmt.Errorf("embed: refusing to serve %s without TLS and authentication: anyone who can reach it could read and write everything. "+
			"Set --cert-dir (or --tls-cert-file and --tls-private-key-file) and --token-auth-file or --client-ca-file, with --authorization-mode=RBAC; "+
			"or pass --insecure-allow-unauthenticated-non-loopback (SecureOptions.InsecureAllowUnauthenticatedNonLoopback) to serve it anyway", listen)
	}
	if !loopback(listen) && !sec.rbac {
		log.Warn("serving beyond loopback with --authorization-mode=AlwaysAllow: every authenticated user may do everything")
	}
	if authenticates || sec.rbac || o.DisableAnonymous {
		anonymous := !o.DisableAnonymous && (sec.rbac || !authenticates)
		var x *authn.X509
		if clientCAs != nil {
			x = authn.NewX509(clientCAs)
		}
		sec.authenticator = authn.New(authn.Options{ClientCert: x, Tokens: tokens, Anonymous: anonymous})
	}
	if o.AuditLogPath != "" {
		l, err := audit.Open(o.AuditLogPath, func(err error) { log.Error("audit log", "err", err) })
		if err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		sec.audit = l
	}
	return sec, nil
}

// authorizer returns the authorizer over store, with the bootstrap policy
// created for RBAC; nil for AlwaysAllow.
func (sec *security) authorizer(ctx context.Context, store storage.Interface) (authz.Authorizer, error) {
	if !sec.rbac {
		return nil, nil
	}
	if err := server.EnsureBootstrapPolicy(ctx, store); err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	return rbac.New(server.NewStorePolicy(store)), nil
}

// writeKubeconfig writes a kubeconfig for url to path.
func (sec *security) writeKubeconfig(path, url string) error {
	k := certs.Kubeconfig{Server: url, CAPEM: sec.caPEM, User: AdminUser}
	if sec.tls != nil && sec.ca == nil {
		return errors.New("embed: writing a kubeconfig needs the CA of --cert-dir (with --tls-cert-file, write your own)")
	}
	if sec.ca != nil {
		p, err := sec.ca.IssueClient(AdminUser, []string{authn.SystemPrivilegedGroup})
		if err != nil {
			return fmt.Errorf("embed: %w", err)
		}
		k.ClientCert = &p
	}
	if err := k.Write(path); err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	return nil
}

// clientURL is the URL clients dial: an unspecified listen address is
// reached on loopback.
func clientURL(scheme string, addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Fingerprint is the SHA-256 fingerprint of a PEM certificate, as
// openssl x509 -fingerprint -sha256 prints it, or "" if it does not parse.
func Fingerprint(certPEM []byte) string {
	c, err := certs.ParseCert(certPEM)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(c.Raw)
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(hex, ":")
}
