package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, all PEM encoded.
type testPKI struct {
	caPEM, serverCert, serverKey, clientCert, clientKey []byte
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	p := &testPKI{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	p.serverCert, p.serverKey = issue(2, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey = issue(3, "alice", x509.ExtKeyUsageClientAuth, nil)
	return p
}

// mtlsServer requires a client certificate from the test CA and the given
// bearer token, and answers a Task list.
func mtlsServer(t *testing.T, p *testPKI, token string) *httptest.Server {
	t.Helper()
	cert, err := tls.X509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caPEM)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "alice" {
			http.Error(w, "no client cert", http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		writeJSON(w, 200, &kunosv1.TaskList{TypeMeta: metav1.TypeMeta{Kind: "TaskList", APIVersion: "kunos.io/v1"},
			ListMeta: metav1.ListMeta{ResourceVersion: "77"}})
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestKubeconfigTLSData(t *testing.T) {
	p := newTestPKI(t)
	srv := mtlsServer(t, p, "s3cret")
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	kc := `apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: other
  cluster: {server: "https://example.invalid"}
- name: test
  cluster:
    server: ` + srv.URL + `
    certificate-authority-data: ` + b64(p.caPEM) + `
users:
- name: alice
  user:
    token: s3cret
    client-certificate-data: ` + b64(p.clientCert) + `
    client-key-data: ` + b64(p.clientKey) + `
contexts:
- name: dev
  context: {cluster: test, user: alice, namespace: ns}
- name: broken
  context: {cluster: nope, user: alice}
`
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadKubeconfig(path, "")
	if err != nil {
		t.Fatal(err)
	}
	c := mustClient(t, cfg)
	_, meta, err := For(c, kunosv1.Tasks).List(testCtx(t), metav1.ListOptions{})
	if err != nil || meta.ResourceVersion != "77" {
		t.Fatalf("list over mTLS: %+v %v", meta, err)
	}

	// Through $KUBECONFIG, with an explicit context that is broken.
	t.Setenv("KUBECONFIG", path+string(os.PathListSeparator)+"/ignored")
	if _, err := LoadKubeconfig("", "broken"); err == nil || !strings.Contains(err.Error(), `cluster "nope" not found`) {
		t.Fatalf("broken context: %v", err)
	}
	if _, err := LoadKubeconfig("", "missing"); err == nil || !strings.Contains(err.Error(), `context "missing" not found`) {
		t.Fatalf("missing context: %v", err)
	}

	// Without the client certificate the server refuses the handshake.
	cfg.TLS.CertData, cfg.TLS.KeyData = nil, nil
	c = mustClient(t, cfg)
	if _, _, err := For(c, kunosv1.Tasks).List(testCtx(t), metav1.ListOptions{}); err == nil {
		t.Fatal("list without client certificate succeeded")
	}
}

func TestKubeconfigFilesRelative(t *testing.T) {
	p := newTestPKI(t)
	srv := mtlsServer(t, p, "from-file")
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"ca.crt": p.caPEM, "client.crt": p.clientCert, "client.key": p.clientKey, "token": []byte("from-file\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kc := `current-context: c
clusters:
- name: k
  cluster: {server: "` + srv.URL + `", certificate-authority: ca.crt}
users:
- name: u
  user: {tokenFile: token, client-certificate: client.crt, client-key: ` + filepath.Join(dir, "client.key") + `}
contexts:
- name: c
  context: {cluster: k, user: u}
`
	path := filepath.Join(dir, "kc.yaml")
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadKubeconfig(path, "c")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BearerToken != "from-file" || cfg.TLS.CAFile != filepath.Join(dir, "ca.crt") {
		t.Fatalf("cfg = %+v", cfg)
	}
	c := mustClient(t, cfg)
	if _, _, err := For(c, kunosv1.Tasks).List(testCtx(t), metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestKubeconfigInsecureAndErrors(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, &kunosv1.TaskList{TypeMeta: metav1.TypeMeta{Kind: "TaskList", APIVersion: "kunos.io/v1"}})
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshake is expected
	srv.StartTLS()
	defer srv.Close()
	cfg, err := parseKubeconfig([]byte(`
current-context: x
clusters: [{name: k, cluster: {server: "`+srv.URL+`", insecure-skip-tls-verify: true}}]
contexts: [{name: x, context: {cluster: k}}]
`), "", "")
	if err != nil {
		t.Fatal(err)
	}
	c := mustClient(t, cfg)
	if _, _, err := For(c, kunosv1.Tasks).List(testCtx(t), metav1.ListOptions{}); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	// Verification on: the unknown CA is rejected.
	cfg.TLS.Insecure = false
	c = mustClient(t, cfg)
	if _, _, err := For(c, kunosv1.Tasks).List(testCtx(t), metav1.ListOptions{}); err == nil {
		t.Fatal("unverified server accepted")
	}

	for name, doc := range map[string]string{
		"not yaml":          "{{{",
		"no context":        "clusters: []",
		"bad base64":        "current-context: x\nclusters: [{name: k, cluster: {server: s, certificate-authority-data: '!!'}}]\ncontexts: [{name: x, context: {cluster: k}}]",
		"no server":         "current-context: x\nclusters: [{name: k, cluster: {}}]\ncontexts: [{name: x, context: {cluster: k}}]",
		"missing user":      "current-context: x\nclusters: [{name: k, cluster: {server: s}}]\ncontexts: [{name: x, context: {cluster: k, user: u}}]",
		"missing tokenFile": "current-context: x\nclusters: [{name: k, cluster: {server: s}}]\nusers: [{name: u, user: {tokenFile: /nope}}]\ncontexts: [{name: x, context: {cluster: k, user: u}}]",
	} {
		if _, err := parseKubeconfig([]byte(doc), "", ""); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := LoadKubeconfig(filepath.Join(t.TempDir(), "none"), ""); err == nil {
		t.Error("missing file: no error")
	}
}

// TestWatchOverMutualTLS runs both watch transports over TLS with a client
// certificate (HTTP/2 is negotiated for the chunked watch; the WebSocket
// dialer must not offer h2).
func TestWatchOverMutualTLS(t *testing.T) {
	p := newTestPKI(t)
	cert, _ := tls.X509KeyPair(p.serverCert, p.serverKey)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caPEM)
	var protos []string
	var mu sync.Mutex
	h := frameHandler([]string{taskAdded, taskModified}, false)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos = append(protos, r.Proto)
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	for _, tr := range []Transport{TransportHTTP, TransportWebSocket} {
		c := mustClient(t, &Config{Host: srv.URL, WatchTransport: tr,
			TLS: TLSConfig{CAData: p.caPEM, CertData: p.clientCert, KeyData: p.clientKey}})
		w, err := For(c, kunosv1.Tasks).Watch(testCtx(t), metav1.ListOptions{})
		if err != nil {
			t.Fatalf("%v: %v", tr, err)
		}
		if evs := collect(t, w); len(evs) != 2 {
			t.Fatalf("%v: %d events", tr, len(evs))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(protos) != 2 || protos[0] != "HTTP/2.0" || protos[1] != "HTTP/1.1" {
		t.Fatalf("protocols = %v, want [HTTP/2.0 HTTP/1.1]", protos)
	}
}
