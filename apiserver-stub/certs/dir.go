package certs

// This file keeps a CA and a serving certificate in a directory.
// Invariant: the CA in the directory is never replaced once written; the
// serving certificate always chains to it and covers the hosts asked for.

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Dir names the files of a certificate directory.
type Dir struct {
	Path string
	CA   *CA
	// CertFile and KeyFile are the serving certificate and key.
	CertFile, KeyFile string
	// CAFile is the CA certificate clients trust.
	CAFile string
}

// EnsureDir loads or creates, in dir, a CA and a serving certificate for
// hosts. It reports whether it created the CA.
func EnsureDir(dir string, hosts []string) (*Dir, bool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("certs: %w", err)
	}
	d := &Dir{
		Path:     dir,
		CAFile:   filepath.Join(dir, "ca.crt"),
		CertFile: filepath.Join(dir, "apiserver.crt"),
		KeyFile:  filepath.Join(dir, "apiserver.key"),
	}
	caKey := filepath.Join(dir, "ca.key")
	created := false
	certPEM, err1 := os.ReadFile(d.CAFile)
	keyPEM, err2 := os.ReadFile(caKey)
	switch {
	case err1 == nil && err2 == nil:
		ca, err := ParseCA(certPEM, keyPEM)
		if err != nil {
			return nil, false, fmt.Errorf("certs: %s: %w", dir, err)
		}
		d.CA = ca
	case errors.Is(err1, fs.ErrNotExist) && errors.Is(err2, fs.ErrNotExist):
		ca, err := NewCA(fmt.Sprintf("listwatch-ca@%d", time.Now().Unix()))
		if err != nil {
			return nil, false, err
		}
		if err := writeFile(caKey, ca.KeyPEM, 0o600); err != nil {
			return nil, false, err
		}
		if err := writeFile(d.CAFile, ca.CertPEM, 0o644); err != nil {
			return nil, false, err
		}
		d.CA, created = ca, true
	default:
		return nil, false, fmt.Errorf("certs: %s must hold both ca.crt and ca.key, or neither", dir)
	}
	if d.servingOK(hosts) {
		return d, created, nil
	}
	p, err := d.CA.IssueServing("listwatch-apiserver", hosts)
	if err != nil {
		return nil, false, err
	}
	if err := writeFile(d.KeyFile, p.KeyPEM, 0o600); err != nil {
		return nil, false, err
	}
	if err := writeFile(d.CertFile, p.CertPEM, 0o644); err != nil {
		return nil, false, err
	}
	return d, created, nil
}

// servingOK reports whether the stored serving certificate chains to the
// CA, covers hosts and is valid for at least a day more.
func (d *Dir) servingOK(hosts []string) bool {
	b, err := os.ReadFile(d.CertFile)
	if err != nil {
		return false
	}
	if _, err := os.Stat(d.KeyFile); err != nil {
		return false
	}
	c, err := ParseCert(b)
	if err != nil || time.Until(c.NotAfter) < 24*time.Hour {
		return false
	}
	roots := x509.NewCertPool()
	roots.AddCert(d.CA.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return false
	}
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if err := c.VerifyHostname(h); err != nil {
			return false
		}
	}
	return true
}

// Hosts returns the names a serving certificate for listenHost should
// cover: localhost and the loopback addresses, the host name, and
// listenHost itself when it is a specific address or name.
func Hosts(listenHost string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	if listenHost != "" {
		if ip := net.ParseIP(listenHost); ip == nil || !ip.IsUnspecified() {
			hosts = append(hosts, listenHost)
		}
	}
	if ip := net.ParseIP(listenHost); ip != nil && ip.IsUnspecified() {
		// Every address of this machine may be dialled.
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
					hosts = append(hosts, n.IP.String())
				}
			}
		}
	}
	return hosts
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}
