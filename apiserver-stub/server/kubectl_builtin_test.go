package server_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
)

// TestKubectlLeasesAndEvents drives a stock kubectl (if one is on PATH;
// skipped otherwise) over Leases and Events as a controller's operator
// would: get leases -A shows the holder; get events and describe show the
// events of a Task (describe finds them with a field selector on
// involvedObject); label and edit on a Lease use strategic merge patch.
func TestKubectlLeasesAndEvents(t *testing.T) {
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
		cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "none"), "EDITOR=sed -i s/replica-a/replica-b/")
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	row := func(out string, cells ...string) {
		t.Helper()
		re := regexp.MustCompile(`(?m)^` + strings.Join(cells, `\s+`) + `\s*$`)
		if !re.MatchString(out) {
			t.Fatalf("no row %q in:\n%s", cells, out)
		}
	}

	run("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: my-controller, namespace: kube-system}\nspec: {holderIdentity: replica-a, leaseDurationSeconds: 15}\n", "create", "-f", "-")
	out := run("", "get", "leases", "-A")
	row(out, "NAMESPACE", "NAME", "HOLDER", "AGE")
	row(out, "kube-system", "my-controller", "replica-a", `\d+s`)
	run("", "label", "lease", "-n", "kube-system", "my-controller", "tier=control")
	run("", "edit", "lease", "-n", "kube-system", "my-controller")
	if out := run("", "get", "lease", "-n", "kube-system", "my-controller", "-o", "jsonpath={.metadata.labels.tier} {.spec.holderIdentity}"); out != "control replica-b" {
		t.Fatalf("after label and edit: %q", out)
	}

	run("apiVersion: kunos.io/v1\nkind: Task\nmetadata: {name: k1, namespace: default}\nspec: {image: busybox}\n", "create", "-f", "-")
	uid := run("", "get", "task", "k1", "-o", "jsonpath={.metadata.uid}")
	now := time.Now().UTC().Format(time.RFC3339)
	event := func(name, task, uid, reason, msg string) string {
		return "apiVersion: v1\nkind: Event\nmetadata: {name: " + name + ", namespace: default}\n" +
			"involvedObject: {kind: Task, apiVersion: kunos.io/v1, name: " + task + ", namespace: default, uid: \"" + uid + "\"}\n" +
			"reason: " + reason + "\nmessage: " + msg + "\ntype: Normal\nsource: {component: scheduler}\n" +
			"firstTimestamp: " + now + "\nlastTimestamp: " + now + "\ncount: 3\n"
	}
	run(event("k1.1", "k1", uid, "Scheduled", "bound to node-1"), "create", "-f", "-")
	// An event about another Task of the same name (an older one, another
	// uid) and one about another Task: describe shows neither.
	run(event("k1.0", "k1", "0000", "Stale", "an older k1"), "create", "-f", "-")
	run(event("k2.1", "k2", "1111", "Other", "not k1"), "create", "-f", "-")

	out = run("", "get", "events", "-n", "default")
	row(out, "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")
	row(out, `\d+s`, "Normal", "Scheduled", "task/k1", "bound to node-1")
	out = run("", "get", "events", "-n", "default", "--field-selector", "involvedObject.name=k2")
	if strings.Contains(out, "task/k1") || !strings.Contains(out, "task/k2") {
		t.Fatalf("get events --field-selector involvedObject.name=k2:\n%s", out)
	}
	out = run("", "describe", "task", "k1", "-n", "default")
	row(out, "  Type", "Reason", "Age", "From", "Message")
	row(out, "  Normal", "Scheduled", `\d+s \(x3 over \d+s\)`, "scheduler", "bound to node-1")
	if strings.Contains(out, "Stale") || strings.Contains(out, "not k1") {
		t.Fatalf("describe shows another object's events:\n%s", out)
	}
}
