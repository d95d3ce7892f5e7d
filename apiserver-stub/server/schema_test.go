package server

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
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

// TestRequiredTreeNeverMissesARequiredError: for random bodies made from
// full objects of every kind with random parts removed, whenever the
// validator reports a missing required field the quick check says the
// body may lack one (it may also say so when none is missing).
func TestRequiredTreeNeverMissesARequiredError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	full := map[string]map[string]any{
		"Job": {"apiVersion": "kunos.io/v1", "kind": "Job", "metadata": map[string]any{"name": "j"},
			"spec": map[string]any{"completions": int64(2), "parallelism": int64(1),
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"a": "b"}}, "spec": map[string]any{"command": []any{"x"}, "nodeName": "n"}}},
			"status": map[string]any{"succeeded": int64(1), "conditions": []any{map[string]any{"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "Done", "message": "m"}}}},
		"Task": {"apiVersion": "kunos.io/v1", "kind": "Task", "metadata": map[string]any{"name": "t"},
			"spec": map[string]any{"command": []any{"sleep", "1"}, "nodeName": "n"}, "status": map[string]any{"phase": "Pending", "conditions": []any{map[string]any{"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "Done", "message": "m"}}}},
		"Node": {"apiVersion": "kunos.io/v1", "kind": "Node", "metadata": map[string]any{"name": "n"},
			"spec": map[string]any{"capacity": int64(3)}, "status": map[string]any{"ready": true}},
	}
	var prune func(v any) any
	prune = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				switch rng.IntN(5) {
				case 0: // dropped
				case 1:
					out[k] = nil
				default:
					out[k] = prune(e)
				}
			}
			return out
		case []any:
			out := []any{}
			for _, e := range x {
				if rng.IntN(4) != 0 {
					out = append(out, prune(e))
				}
			}
			return out
		}
		return v
	}
	checked, lacking := 0, 0
	for kind, obj := range full {
		ks := kunosSchemas[kind]
		if ks == nil {
			t.Fatalf("no schema for %s", kind)
		}
		if ks.required.mayLack(obj) {
			t.Errorf("%s: the full object may lack a required field", kind)
		}
		for range 2000 {
			v := prune(obj).(map[string]any)
			missing := slices.ContainsFunc(ks.validateValue(v, nil), func(e *field.Error) bool { return e.Type == field.ErrorTypeRequired })
			if missing {
				lacking++
				if !ks.required.mayLack(v) {
					t.Fatalf("%s: the validator finds a required field missing in %v; the quick check does not", kind, v)
				}
			}
			checked++
		}
	}
	if lacking == 0 {
		t.Fatalf("none of %d bodies lacked a required field: the test checks nothing", checked)
	}
	t.Logf("%d bodies, %d lacking a required field", checked, lacking)
}

// TestTypedValidationMatchesFullValidation: for random objects of every
// kunos.io kind, many of them invalid, validating the typed object against
// the schema's constraints only gives exactly the errors the full schema
// gives for the object's JSON round trip.
func TestTypedValidationMatchesFullValidation(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	i32 := func() *int32 {
		if rng.IntN(3) == 0 {
			return nil
		}
		v := int32(rng.IntN(7) - 3)
		return &v
	}
	str := func() string {
		return []string{"", "a", "Complete", "bad type!", strings.Repeat("x", 400), "example.com/Ready"}[rng.IntN(6)]
	}
	conds := func() []metav1.Condition {
		var cs []metav1.Condition
		for range rng.IntN(3) {
			cs = append(cs, metav1.Condition{Type: str(), Status: metav1.ConditionStatus([]string{"True", "Maybe", ""}[rng.IntN(3)]),
				Reason: []string{"", "Done", "not a reason"}[rng.IntN(3)], Message: str(), ObservedGeneration: int64(rng.IntN(3) - 1)})
		}
		return cs
	}
	objs := func() []runtime.Object {
		to := int64(rng.IntN(4) - 1)
		task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "t"},
			Spec:   kunosv1.TaskSpec{Command: []string{str()}, NodeName: str(), TimeoutSeconds: &to},
			Status: kunosv1.TaskStatus{Phase: kunosv1.TaskPhase(str()), ExitCode: i32(), Message: str()}}
		job := &kunosv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j"},
			Spec:   kunosv1.JobSpec{Completions: i32(), Parallelism: i32(), BackoffLimit: i32(), Template: kunosv1.TaskTemplateSpec{Spec: task.Spec}},
			Status: kunosv1.JobStatus{Active: *cmpOr(i32()), Succeeded: *cmpOr(i32()), Failed: *cmpOr(i32()), Conditions: conds()}}
		node := &kunosv1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"},
			Spec:   kunosv1.NodeSpec{Capacity: *cmpOr(i32())},
			Status: kunosv1.NodeStatus{RunningTasks: *cmpOr(i32()), Conditions: conds()}}
		return []runtime.Object{task, job, node}
	}
	key := func(errs field.ErrorList) []string {
		var out []string
		for _, e := range errs {
			out = append(out, e.Error())
		}
		slices.Sort(out)
		return out
	}
	invalid := 0
	for range 500 {
		for _, obj := range objs() {
			kind := reflect.TypeOf(obj).Elem().Name()
			ks := kunosSchemas[kind]
			b, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			var full any
			if err := utiljson.Unmarshal(b, &full); err != nil {
				t.Fatal(err)
			}
			typed, err := toJSONValue(obj)
			if err != nil {
				t.Fatal(err)
			}
			want, got := key(ks.validateValue(full, nil)), key(ks.validateTyped(typed, nil))
			if !slices.Equal(want, got) {
				t.Fatalf("%s %s:\nfull schema:  %q\nconstraints:  %q", kind, b, want, got)
			}
			if len(want) > 0 {
				invalid++
			}
		}
	}
	if invalid == 0 {
		t.Fatal("no invalid object: the test checks nothing")
	}
	t.Logf("1500 objects, %d invalid", invalid)
}

func cmpOr(p *int32) *int32 {
	if p == nil {
		return new(int32)
	}
	return p
}
