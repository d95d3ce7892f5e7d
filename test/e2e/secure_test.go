package e2e

// End-to-end security: package client, configured only from kubeconfig
// files, against a real apiserver-stub (package embed) serving TLS with a
// generated CA, a token file, client certificates and RBAC.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apis/kube"
	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/certs"
	"github.com/kunos-io/listwatch/apiserver-stub/embed"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/client"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

func TestSecureClientFromKubeconfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte("bob-token,bob,1001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	adminKC := filepath.Join(dir, "admin.kubeconfig")
	srv, err := embed.Start(ctx, embed.Options{
		Listen: "127.0.0.1:0",
		Config: server.Config{Logger: slog.New(slog.DiscardHandler)},
		Secure: embed.SecureOptions{
			CertDir: filepath.Join(dir, "pki"), TokenAuthFile: tokens,
			AuthorizationMode: embed.AuthorizationRBAC, WriteKubeconfig: adminKC,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = srv.Stop(stopCtx)
	}()
	if !strings.HasPrefix(srv.URL, "https://") || len(srv.CAData) == 0 {
		t.Fatalf("not TLS: %s", srv.URL)
	}
	load := func(path string, tr client.Transport) *client.Client {
		t.Helper()
		cfg, err := client.LoadKubeconfig(path, "")
		if err != nil {
			t.Fatal(err)
		}
		cfg.WatchTransport = tr
		c, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	task := func(name string) *kunosv1.Task {
		return &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kunosv1.TaskSpec{Image: "busybox"}}
	}

	// The admin: a client certificate (system:masters) from the
	// kubeconfig the server wrote, the server verified with its CA.
	admin := load(adminKC, client.TransportHTTP)
	tasks := client.For(admin, kunosv1.Tasks)
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := client.For(admin, kube.Namespaces).Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("admin creates namespace %s: %v", ns, err)
		}
		if _, err := tasks.Namespace(ns).Create(ctx, task("t1"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("admin create in %s: %v", ns, err)
		}
	}
	rb := &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: "bob-view", Namespace: "team-a"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "bob"}},
	}
	if _, err := client.Dynamic(admin, kube.RoleBindings.Info).Namespace("team-a").
		Create(ctx, toUnstructured(t, rb), metav1.CreateOptions{}); err != nil {
		t.Fatalf("admin create rolebinding: %v", err)
	}

	// Bob: a bearer token, in a kubeconfig with the CA data.
	bobKC := filepath.Join(dir, "bob.kubeconfig")
	if err := (certs.Kubeconfig{Server: srv.URL, CAPEM: srv.CAData, User: "bob", Token: "bob-token"}).Write(bobKC); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []client.Transport{client.TransportHTTP, client.TransportWebSocket} {
		t.Run(tr.String(), func(t *testing.T) {
			bob := client.For(load(bobKC, tr), kunosv1.Tasks)
			items, _, err := bob.Namespace("team-a").List(ctx, metav1.ListOptions{})
			if err != nil || len(items) != 1 {
				t.Fatalf("bob lists team-a: %d %v", len(items), err)
			}
			w, err := bob.Namespace("team-a").Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
			if err != nil {
				t.Fatalf("bob watches team-a: %v", err)
			}
			select {
			case e := <-w.ResultChan():
				if e.Type != watch.Added || e.Object.(*kunosv1.Task).Namespace != "team-a" {
					t.Fatalf("event %v %v", e.Type, e.Object)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no event")
			}
			w.Stop()
			if _, _, err := bob.Namespace("team-b").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
				t.Fatalf("bob lists team-b: %v", err)
			}
			if _, err := bob.Watch(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
				t.Fatalf("bob watches all namespaces: %v", err)
			}
			if _, err := bob.Namespace("team-a").Create(ctx, task("bobs"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
				t.Fatalf("bob creates: %v", err)
			}
		})
	}

	// A wrong token is 401; a client certificate of another CA is 401; a
	// kubeconfig without the CA fails the TLS handshake.
	badKC := filepath.Join(dir, "bad.kubeconfig")
	_ = (certs.Kubeconfig{Server: srv.URL, CAPEM: srv.CAData, Token: "nope"}).Write(badKC)
	if _, _, err := client.For(load(badKC, client.TransportHTTP), kunosv1.Tasks).Namespace("team-a").
		List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Fatalf("wrong token: %v", err)
	}
	other, _ := certs.NewCA("other")
	p, _ := other.IssueClient("mallory", []string{"system:masters"})
	_ = (certs.Kubeconfig{Server: srv.URL, CAPEM: srv.CAData, ClientCert: &p}).Write(badKC)
	if _, _, err := client.For(load(badKC, client.TransportHTTP), kunosv1.Tasks).Namespace("team-a").
		List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Fatalf("certificate of another CA: %v", err)
	}
	_ = (certs.Kubeconfig{Server: srv.URL, Token: "bob-token"}).Write(badKC)
	if _, _, err := client.For(load(badKC, client.TransportHTTP), kunosv1.Tasks).Namespace("team-a").
		List(ctx, metav1.ListOptions{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("no CA: %v", err)
	}
}

// TestNonLoopbackRefused: a server on every interface without TLS and
// authentication does not start, and says which flag would let it.
func TestNonLoopbackRefused(t *testing.T) {
	_, err := embed.Start(context.Background(), embed.Options{Listen: "0.0.0.0:0", Config: server.Config{Logger: slog.New(slog.DiscardHandler)}})
	if err == nil || !strings.Contains(err.Error(), "--insecure-allow-unauthenticated-non-loopback") {
		t.Fatalf("started, or without naming the flag: %v", err)
	}
	_, err = embed.Start(context.Background(), embed.Options{Listen: "0.0.0.0:0", Config: server.Config{Logger: slog.New(slog.DiscardHandler)},
		Secure: embed.SecureOptions{TokenAuthFile: "/dev/null"}})
	if err == nil {
		t.Fatal("authentication without TLS beyond loopback started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := embed.Start(ctx, embed.Options{Listen: "0.0.0.0:0", Config: server.Config{Logger: slog.New(slog.DiscardHandler)},
		Secure: embed.SecureOptions{InsecureAllowUnauthenticatedNonLoopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	_ = srv.Stop(ctx)
	// --cert-dir alone is TLS plus client certificates of its CA: it
	// starts, and a request without credentials is 401 (no anonymous
	// access under AlwaysAllow once something authenticates).
	srv, err = embed.Start(ctx, embed.Options{Listen: "0.0.0.0:0", Config: server.Config{Logger: slog.New(slog.DiscardHandler)},
		Secure: embed.SecureOptions{CertDir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(ctx)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAData)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	res, err := hc.Get(srv.URL + "/apis/kunos.io/v1/tasks")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous request: %d", res.StatusCode)
	}
}

func toUnstructured(t *testing.T, obj any) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// TestTLSWatchesShareOneHTTP2Connection: over TLS the server speaks
// HTTP/2, as kube-apiserver does, so a client's watches share one
// connection, and each still receives its events.
func TestTLSWatchesShareOneHTTP2Connection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	kc := filepath.Join(dir, "admin.kubeconfig")
	srv, err := embed.Start(ctx, embed.Options{
		Listen: "127.0.0.1:0",
		Config: server.Config{Logger: slog.New(slog.DiscardHandler)},
		Secure: embed.SecureOptions{CertDir: filepath.Join(dir, "pki"), WriteKubeconfig: kc},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = srv.Stop(stopCtx)
	}()
	cfg, err := client.LoadKubeconfig(kc, "")
	if err != nil {
		t.Fatal(err)
	}
	// A plain net/http client with the kubeconfig's credentials, to see
	// the protocol and the connections.
	cert, err := tls.X509KeyPair(cfg.TLS.CertData, cfg.TLS.KeyData)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAData)
	var dials atomic.Int32
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	const watches = 5
	type frame struct {
		Type   string       `json:"type"`
		Object kunosv1.Task `json:"object"`
	}
	got := make(chan string, watches)
	for range watches {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/apis/kunos.io/v1/namespaces/default/tasks?watch=true", nil)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.ProtoMajor != 2 || res.StatusCode != http.StatusOK {
			t.Fatalf("watch: %s %s, want HTTP/2 200", res.Proto, res.Status)
		}
		go func() {
			var f frame
			if err := json.NewDecoder(res.Body).Decode(&f); err != nil {
				got <- err.Error()
				return
			}
			got <- f.Type + " " + f.Object.Name
		}()
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.For(c, kunosv1.Tasks).Namespace("default").Create(ctx,
		&kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "h2"}, Spec: kunosv1.TaskSpec{Image: "busybox"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for range watches {
		select {
		case s := <-got:
			if s != "ADDED h2" {
				t.Fatalf("a watch got %q", s)
			}
		case <-ctx.Done():
			t.Fatal("a watch got nothing")
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d watches opened %d connections, want 1", watches, n)
	}
}
