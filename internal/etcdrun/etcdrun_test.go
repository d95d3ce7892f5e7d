package etcdrun_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunos-io/listwatch/internal/etcdrun"
	"github.com/kunos-io/listwatch/internal/etcdtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, etcdtest.LeakOptions()...) }

// A member serving TLS with client-certificate authentication is reached
// with the CA and a client certificate, and refused without them.
func TestTLSClientCertificates(t *testing.T) {
	dir := t.TempDir()
	certs := etcdtest.WriteCerts(t, dir)
	m, err := etcdrun.Start(etcdrun.Options{
		DataDir: filepath.Join(dir, "data"), FastElection: true, LogLevel: "fatal",
		TLS: etcdrun.TLSFiles{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, CAFile: certs.CA},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := etcdrun.NewClient(etcdrun.ClientOptions{Endpoints: []string{m.ClientURL},
		CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "/k", "v"); err != nil {
		t.Fatalf("put over TLS with a client certificate: %v", err)
	}
	anon, err := etcdrun.NewClient(etcdrun.ClientOptions{Endpoints: []string{m.ClientURL}, CAFile: certs.CA})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	short, cancel2 := context.WithTimeout(ctx, time.Second)
	defer cancel2()
	if _, err := anon.Get(short, "/k"); err == nil {
		t.Fatal("a client without a certificate was served")
	}
}
