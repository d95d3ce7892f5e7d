package etcdtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/certs"
)

// Certs are PEM files of a test CA and of a server certificate for
// 127.0.0.1 and a client certificate it signed.
type Certs struct {
	CA                    string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
}

// WriteCerts writes a CA (ca.crt), a serving certificate for 127.0.0.1
// (server.crt, server.key) and a client certificate (client.crt,
// client.key) into dir, issued by package certs as the API server's own
// are.
func WriteCerts(t testing.TB, dir string) Certs {
	t.Helper()
	ca, err := certs.NewCA("etcdtest-ca")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServing("etcd", []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient("etcd-client", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := Certs{}
	for _, f := range []struct {
		path *string
		name string
		data []byte
	}{
		{&c.CA, "ca.crt", ca.CertPEM},
		{&c.ServerCert, "server.crt", server.CertPEM}, {&c.ServerKey, "server.key", server.KeyPEM},
		{&c.ClientCert, "client.crt", client.CertPEM}, {&c.ClientKey, "client.key", client.KeyPEM},
	} {
		*f.path = filepath.Join(dir, f.name)
		if err := os.WriteFile(*f.path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}
