package controller_test

import (
	"context"
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/controller"
)

// MergePatch sends only what changed (and null for what was removed); the
// server applies it without a resourceVersion, so it does not conflict.
func TestMergePatch(t *testing.T) {
	e := newEnv(t, controller.ManagerOptions{})
	ctx := context.Background()
	before := e.createJob(t, "a", 1, map[string]string{"keep": "1", "drop": "1"})
	after := before.DeepCopy()
	delete(after.Labels, "drop")
	after.Labels["add"] = "1"
	patch, err := controller.MergePatch(before, after)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(patch, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"metadata": map[string]any{"labels": map[string]any{"add": "1", "drop": nil}}}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Fatalf("patch %s, want %s", g, w)
	}

	// Someone else writes first; the patch still applies on top.
	other := before.DeepCopy()
	other.Annotations = map[string]string{"by": "other"}
	if _, err := e.jobClient.Update(ctx, other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := e.jobClient.Patch(ctx, "a", types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Labels["keep"] != "1" || res.Labels["add"] != "1" || res.Labels["drop"] != "" || res.Annotations["by"] != "other" {
		t.Fatalf("after the patch: labels %v, annotations %v", res.Labels, res.Annotations)
	}

	// The status subresource takes a patch too.
	st := res.DeepCopy()
	st.Status.Active = 7
	if patch, err = controller.MergePatch(res, st); err != nil {
		t.Fatal(err)
	}
	if res, err = e.jobClient.Patch(ctx, "a", types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil || res.Status.Active != 7 {
		t.Fatalf("status patch %s: active %d, err %v", patch, res.Status.Active, err)
	}

	var nilJob *kunosv1.Job
	if _, err := controller.MergePatch(nilJob, after); err == nil {
		t.Error("nil before accepted")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
