package certs_test

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/certs"
	"sigs.k8s.io/yaml"
)

func TestEnsureDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	d, created, err := certs.EnsureDir(dir, []string{"localhost", "127.0.0.1"})
	if err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	st, err := os.Stat(filepath.Join(dir, "ca.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key: %v %v", st, err)
	}
	certPEM, _ := os.ReadFile(d.CertFile)
	c, err := certs.ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(d.CA.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
		t.Fatalf("serving cert: %v", err)
	}
	// Reused as is when it fits; reissued (same CA) for a new host.
	d2, created, err := certs.EnsureDir(dir, []string{"localhost"})
	if err != nil || created || !bytes.Equal(d2.CA.CertPEM, d.CA.CertPEM) {
		t.Fatalf("second: %v %v", created, err)
	}
	if again, _ := os.ReadFile(d.CertFile); !bytes.Equal(again, certPEM) {
		t.Fatal("serving certificate reissued though it fits")
	}
	if _, _, err := certs.EnsureDir(dir, []string{"10.9.8.7"}); err != nil {
		t.Fatal(err)
	}
	c3, _ := os.ReadFile(d.CertFile)
	cc, _ := certs.ParseCert(c3)
	if err := cc.VerifyHostname("10.9.8.7"); err != nil {
		t.Fatalf("not reissued for the new host: %v", err)
	}
	// Half a CA is an error, not a silent new CA.
	os.Remove(filepath.Join(dir, "ca.key"))
	if _, _, err := certs.EnsureDir(dir, nil); err == nil {
		t.Fatal("a CA without its key was accepted")
	}
}

func TestClientCertAndKubeconfig(t *testing.T) {
	ca, err := certs.NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.IssueClient("admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := certs.ParseCert(p.CertPEM)
	if c.Subject.CommonName != "admin" || len(c.Subject.Organization) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Fatalf("client cert: %+v", c.Subject)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := (certs.Kubeconfig{Server: "https://127.0.0.1:6443", CAPEM: ca.CertPEM, User: "admin", ClientCert: &p}).Write(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	var kc struct {
		CurrentContext string `json:"current-context"`
		Clusters       []struct {
			Cluster map[string]string `json:"cluster"`
		} `json:"clusters"`
		Users []struct {
			Name string            `json:"name"`
			User map[string]string `json:"user"`
		} `json:"users"`
	}
	if err := yaml.Unmarshal(b, &kc); err != nil || kc.CurrentContext != "listwatch" || kc.Clusters[0].Cluster["server"] != "https://127.0.0.1:6443" ||
		kc.Users[0].Name != "admin" || kc.Users[0].User["client-key-data"] == "" {
		t.Fatalf("kubeconfig: %v\n%s", err, b)
	}
	if _, err := ca.IssueClient("", nil); err == nil {
		t.Fatal("client cert without a user")
	}
}
