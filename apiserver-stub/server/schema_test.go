package server

import (
	"slices"
	"strings"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TestSchemaRatcheting: on an update, a value the update leaves unchanged
// is not judged again (an object stored before a rule existed stays
// writable), as with kube-apiserver's validation ratcheting.
func TestSchemaRatcheting(t *testing.T) {
	ks := kunosSchemas["Job"]
	old := map[string]any{"spec": map[string]any{"completions": int64(-1), "template": map[string]any{}}}
	same := map[string]any{"spec": map[string]any{"completions": int64(-1), "parallelism": int64(2), "template": map[string]any{}}}
	worse := map[string]any{"spec": map[string]any{"completions": int64(-2), "template": map[string]any{}}}
	if errs := ks.validateValue(same, nil); len(errs) != 1 {
		t.Fatalf("create: %v, want one error", errs)
	}
	if errs := ks.validateValue(same, old); len(errs) != 0 {
		t.Fatalf("update leaving completions as stored: %v, want none", errs)
	}
	if errs := ks.validateValue(worse, old); len(errs) != 1 || errs[0].Field != "spec.completions" {
		t.Fatalf("update changing completions: %v, want spec.completions", errs)
	}
	noTemplate := map[string]any{"spec": map[string]any{}}
	if errs := ks.validateValue(map[string]any{"spec": map[string]any{}}, noTemplate); len(errs) != 0 {
		t.Fatalf("required field missing in both: %v, want none", errs)
	}
	if errs := ks.validateValue(map[string]any{"spec": map[string]any{"completions": int64(1)}}, noTemplate); len(errs) != 1 || errs[0].Type != field.ErrorTypeRequired {
		t.Fatalf("required field missing, object changed: %v", errs)
	}
}

// TestGeneratedCRDs: the embedded CRDs agree with apis/kunos/v1.Resources
// (names, scope, short names, selectable fields, status subresource), and
// the descriptions are the Go doc comments.
func TestGeneratedCRDs(t *testing.T) {
	for _, d := range kunosv1.Resources {
		info := d.ResourceInfo()
		ks := kunosSchemas[info.Kind]
		if ks == nil {
			t.Fatalf("no CRD for %s", info.Kind)
		}
		n := ks.crd.Spec.Names
		if ks.crd.Spec.Group != kunosv1.GroupName || n.Plural != info.GVR.Resource || n.Singular != info.Singular || n.ListKind != info.ListKind {
			t.Errorf("%s: CRD names %+v", info.Kind, n)
		}
		if namespaced := ks.crd.Spec.Scope == "Namespaced"; namespaced != info.Namespaced {
			t.Errorf("%s: scope %s", info.Kind, ks.crd.Spec.Scope)
		}
		// Node's "no" stays out of the CRD: on a real cluster kubectl
		// resolves it to core Nodes.
		wantShort := slices.DeleteFunc(slices.Clone(info.ShortNames), func(s string) bool { return s == "no" })
		if !slices.Equal(n.ShortNames, wantShort) {
			t.Errorf("%s: short names %v, want %v", info.Kind, n.ShortNames, wantShort)
		}
		var sel []string
		for _, f := range ks.version.SelectableFields {
			sel = append(sel, strings.TrimPrefix(f.JSONPath, "."))
		}
		if !slices.Equal(sel, info.SelectableFields) {
			t.Errorf("%s: selectable fields %v, want %v", info.Kind, sel, info.SelectableFields)
		}
		if (ks.version.Subresources != nil && ks.version.Subresources.Status != nil) != info.HasStatus {
			t.Errorf("%s: status subresource mismatch", info.Kind)
		}
		if len(ks.version.AdditionalPrinterColumns) == 0 {
			t.Errorf("%s: no printer columns", info.Kind)
		}
	}
	got := kunosSchemas["Task"].schema.Properties["spec"].Properties["nodeName"].Description
	if got != "NodeName is set by the scheduler; empty means unscheduled." {
		t.Errorf("Task spec.nodeName description %q", got)
	}
}

func TestFieldPathOf(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "<nil>",
		"spec":                      "spec",
		"spec.template.spec.x":      "spec.template.spec.x",
		"status.conditions[2].type": "status.conditions[2].type",
	} {
		if got := fieldPathOf(in).String(); got != want {
			t.Errorf("fieldPathOf(%q) = %q, want %q", in, got, want)
		}
	}
	v := map[string]any{"status": map[string]any{"conditions": []any{map[string]any{"type": "Ready"}}}}
	if got, ok := lookupJSON(v, "status.conditions[0].type"); !ok || got != "Ready" {
		t.Errorf("lookupJSON: %v %v", got, ok)
	}
	if _, ok := lookupJSON(v, "status.conditions[1].type"); ok {
		t.Error("lookupJSON found an index out of range")
	}
}
