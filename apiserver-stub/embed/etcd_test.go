package embed_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kunos-io/listwatch/apiserver-stub/embed"
	"github.com/kunos-io/listwatch/internal/etcdrun"
	"github.com/kunos-io/listwatch/internal/etcdtest"
)

// A server with a data dir keeps its objects, at the same resourceVersion,
// across a stop and a new start on the same directory.
func TestDataDirKeepsObjects(t *testing.T) {
	dir := t.TempDir()
	start := func() *embed.Server {
		srv, err := embed.Start(context.Background(), embed.Options{Listen: "127.0.0.1:0", Etcd: embed.EtcdOptions{DataDir: dir}})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	get := func(srv *embed.Server) (int, string) {
		resp, err := http.Get(srv.URL + "/apis/kunos.io/v1/namespaces/default/tasks/keep")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	srv := start()
	body := `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"keep"},"spec":{"command":["true"]}}`
	resp, err := http.Post(srv.URL+"/apis/kunos.io/v1/namespaces/default/tasks", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %s", resp.Status)
	}
	code, before := get(srv)
	if code != 200 {
		t.Fatalf("get: %d %s", code, before)
	}
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv = start()
	defer srv.Stop(context.Background())
	code, after := get(srv)
	if code != 200 || after != before {
		t.Fatalf("after restart: %d %s\nbefore: %s", code, after, before)
	}
}

// With etcd gone, requests get a 503 Status that says so, and the server
// itself stays up; etcd unreachable at start is an error, not a hang.
func TestEtcdLostAnswers503(t *testing.T) {
	m := etcdtest.Start(t)
	srv, err := embed.Start(context.Background(), embed.Options{
		Listen: "127.0.0.1:0",
		Etcd:   embed.EtcdOptions{Servers: []string{m.ClientURL}, RequestTimeout: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	m.Close()
	for _, path := range []string{"/apis/kunos.io/v1/namespaces/default/tasks", "/apis/kunos.io/v1/namespaces/default/tasks/x"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var st metav1.Status
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable || st.Kind != "Status" ||
			st.Reason != metav1.StatusReasonServiceUnavailable || !strings.Contains(st.Message, "storage is unavailable") {
			t.Fatalf("GET %s with etcd gone: %d %+v (%v)", path, resp.StatusCode, st, err)
		}
	}

	_, err = embed.Start(context.Background(), embed.Options{
		Listen: "127.0.0.1:0",
		Etcd:   embed.EtcdOptions{Servers: []string{m.ClientURL}, RequestTimeout: time.Second},
	})
	if err == nil || !strings.Contains(err.Error(), m.ClientURL) {
		t.Fatalf("start with etcd unreachable: %v, want an error naming %s", err, m.ClientURL)
	}
}

// The etcd TLS options (--etcd-cafile, --etcd-certfile, --etcd-keyfile)
// reach an etcd that requires client certificates.
func TestEtcdTLS(t *testing.T) {
	dir := t.TempDir()
	certs := etcdtest.WriteCerts(t, dir)
	m, err := etcdrun.Start(etcdrun.Options{DataDir: filepath.Join(dir, "data"), FastElection: true, LogLevel: "fatal",
		TLS: etcdrun.TLSFiles{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, CAFile: certs.CA}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	srv, err := embed.Start(context.Background(), embed.Options{
		Listen: "127.0.0.1:0",
		Etcd: embed.EtcdOptions{
			Servers: []string{m.ClientURL}, CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	body := `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"tls"},"spec":{"command":["true"]}}`
	resp, err := http.Post(srv.URL+"/apis/kunos.io/v1/namespaces/default/tasks", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create over etcd TLS: %s", resp.Status)
	}
}
