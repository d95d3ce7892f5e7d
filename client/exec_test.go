package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// writeKubeconfig writes a kubeconfig for server whose user runs the exec
// plugin script (relative to the kubeconfig) and returns its path.
func writeKubeconfig(t *testing.T, dir, server, user string) string {
	t.Helper()
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: c
clusters:
- name: k
  cluster:
    server: %s
contexts:
- name: c
  context:
    cluster: k
    user: u
users:
- name: u
  user:
%s
`, server, user)
	p := filepath.Join(dir, "config")
	if err := os.WriteFile(p, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A kubeconfig with an exec plugin (a shell script printing an
// ExecCredential): its token is sent and cached; when the server answers
// 401, the client runs the plugin again and retries with the new token.
func TestExecPluginTokenAndRefreshOn401(t *testing.T) {
	dir := t.TempDir()
	script := `#!/bin/sh
# Each run prints the next token: tok-1, tok-2, ...
n=$(cat "$COUNTER" 2>/dev/null || echo 0); n=$((n+1)); echo "$n" > "$COUNTER"
case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) echo "bad exec info: $KUBERNETES_EXEC_INFO" >&2; exit 3;; esac
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-%s","expirationTimestamp":"2999-01-01T00:00:00Z"}}' "$n"
`
	if err := os.WriteFile(filepath.Join(dir, "plugin.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	valid := "tok-1"
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		auth := r.Header.Get("Authorization")
		seen = append(seen, auth)
		if auth != "Bearer "+valid {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"a","namespace":"default","resourceVersion":"1"}}`)
	}))
	defer srv.Close()
	counter := filepath.Join(dir, "counter")
	kc := writeKubeconfig(t, dir, srv.URL, `    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin.sh
      interactiveMode: IfAvailable
      env:
      - name: COUNTER
        value: `+counter)
	cfg, err := client.LoadKubeconfig(kc, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tasks := client.For(c, kunosv1.Tasks).Namespace("default")
	ctx := context.Background()
	for range 3 {
		if _, err := tasks.Get(ctx, "a", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	runs := func() string { b, _ := os.ReadFile(counter); return strings.TrimSpace(string(b)) }
	if runs() != "1" {
		t.Fatalf("the plugin ran %s times for three requests with an unexpired token, want 1", runs())
	}
	mu.Lock()
	valid = "tok-2" // tok-1 is revoked
	mu.Unlock()
	if _, err := tasks.Get(ctx, "a", metav1.GetOptions{}); err != nil {
		t.Fatalf("after a 401: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs() != "2" || seen[len(seen)-2] != "Bearer tok-1" || seen[len(seen)-1] != "Bearer tok-2" {
		t.Fatalf("runs %s, sent %v", runs(), seen)
	}
}

// A plugin that fails, one that is missing, an interactive one and the
// removed auth-provider are clear errors.
func TestExecPluginErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fail.sh"), []byte("#!/bin/sh\necho 'no credentials for you' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request reached the server: %s", r.URL)
	}))
	defer srv.Close()
	for _, c := range []struct{ name, user, want string }{
		{"fails", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./fail.sh\n      interactiveMode: Never\n", "no credentials for you"},
		{"missing", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: no-such-plugin-xyz\n      installHint: install it with make\n", "executable no-such-plugin-xyz not found\n\ninstall it with make"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := client.LoadKubeconfig(writeKubeconfig(t, dir, srv.URL, c.user), "")
			if err != nil {
				t.Fatal(err)
			}
			cl, err := client.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = client.For(cl, kunosv1.Tasks).Namespace("default").Get(context.Background(), "a", metav1.GetOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one with %q", err, c.want)
			}
		})
	}
	for _, c := range []struct{ name, user, want string }{
		{"interactive", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: x\n      interactiveMode: Always\n", "interactiveMode Always is not supported"},
		{"auth-provider", "    auth-provider:\n      name: gcp\n", `auth-provider plugin "gcp" was removed`},
		{"v1alpha1", "    exec:\n      apiVersion: client.authentication.k8s.io/v1alpha1\n      command: x\n", "was removed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := client.LoadKubeconfig(writeKubeconfig(t, dir, srv.URL, c.user), "")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one with %q", err, c.want)
			}
		})
	}
}

// $KUBECONFIG is a list merged as kubectl merges it: the first file to set
// current-context or an entry wins; missing files are skipped; relative
// paths resolve against the file that holds them.
func TestKubeconfigEnvListMerged(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(a, "config"), []byte(`current-context: second
clusters:
- name: k
  cluster: {server: "https://first.example"}
users:
- name: u
  user: {tokenFile: tok}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, "tok"), []byte("from-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, "config"), []byte(`current-context: ignored
clusters:
- name: k
  cluster: {server: "https://shadowed.example"}
contexts:
- name: second
  context: {cluster: k, user: u}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", strings.Join([]string{filepath.Join(a, "config"), filepath.Join(t.TempDir(), "missing"), filepath.Join(b, "config")}, string(filepath.ListSeparator)))
	cfg, err := client.LoadKubeconfig("", "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://first.example" || cfg.BearerToken != "from-a" {
		t.Fatalf("merged: host %q token %q", cfg.Host, cfg.BearerToken)
	}
	if got := client.DefaultKubeconfigPath(); !strings.Contains(got, string(filepath.ListSeparator)) {
		t.Fatalf("DefaultKubeconfigPath %q", got)
	}
}
