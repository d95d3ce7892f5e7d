package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
)

// TestKubectl drives a stock kubectl (if one is on PATH; skipped
// otherwise) against the server: create -f, get (table, -o json, -w),
// label, annotate, patch, edit, apply, delete. No flag beyond --server.
func TestKubectl(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil || testing.Short() {
		t.Skip("kubectl not on PATH (or -short)")
	}
	srv := stubtest.Start(t)
	dir := t.TempDir()
	run := func(stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--server", srv.URL}, args...)...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "none"), "EDITOR=sed -i s/busybox/alpine/")
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	manifest := "apiVersion: kunos.io/v1\nkind: Task\nmetadata:\n  name: k1\n  labels: {app: demo}\nspec:\n  image: busybox\n"
	if out := run(manifest, "create", "-f", "-"); !strings.Contains(out, "task.kunos.io/k1 created") {
		t.Fatalf("create: %s", out)
	}
	if out := run("", "get", "tasks"); !strings.Contains(out, "NAME") || !strings.Contains(out, "k1") {
		t.Fatalf("get: %s", out)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(run("", "get", "tk", "k1", "-o", "json")), &obj); err != nil || obj["kind"] != "Task" {
		t.Fatalf("get -o json: %v %v", err, obj)
	}

	// get -w in the background while we write.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := exec.CommandContext(ctx, kubectl, "--server", srv.URL, "get", "tasks", "-w", "--output-watch-events")
	watch.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "none"))
	var wout syncBuffer
	watch.Stdout, watch.Stderr = &wout, &wout
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = watch.Wait() }()
	waitFor(t, func() bool { return strings.Contains(wout.String(), "k1") }, "get -w initial row")

	run("", "label", "task", "k1", "tier=web")
	run("", "annotate", "task", "k1", "note=hi")
	run("", "patch", "task", "k1", "--type=merge", "-p", `{"spec":{"nodeName":"n1"}}`)
	run("", "edit", "task", "k1")
	if out := run("", "get", "task", "k1", "-o", "jsonpath={.metadata.labels.tier} {.metadata.annotations.note} {.spec.nodeName} {.spec.image} {.metadata.generation}"); out != "web hi n1 alpine 3" {
		t.Fatalf("after label/annotate/patch/edit: %q", out)
	}
	run(strings.Replace(manifest, "k1", "k2", 1), "apply", "-f", "-")
	run("", "delete", "task", "k1")
	waitFor(t, func() bool { return strings.Contains(wout.String(), "DELETED") }, "get -w DELETED row")
	if out := run("", "get", "tasks", "-o", "name"); strings.TrimSpace(out) != "task.kunos.io/k2" {
		t.Fatalf("left: %q", out)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// syncBuffer is a bytes.Buffer safe for a writer process and a reader test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
