package v1

import (
	"encoding/json"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/randfill"
)

// TestDeepCopyRoundTrip fills every kind with random data and checks that the
// generated DeepCopy is equal to the original and shares no memory with it,
// and that JSON encoding round-trips.
func TestDeepCopyRoundTrip(t *testing.T) {
	f := randfill.New().NilChance(0.2).NumElements(1, 3).Funcs(
		func(tm *metav1.Time, c randfill.Continue) { *tm = metav1.Unix(c.Int63n(1<<31), 0) },
		func(m *metav1.ObjectMeta, c randfill.Continue) {
			m.Name = c.String(10)
			m.Namespace = c.String(5)
			m.Labels = map[string]string{c.String(3): c.String(3)}
			m.ResourceVersion = "42"
		},
		func(tm *metav1.TypeMeta, c randfill.Continue) {},
	)
	for _, d := range Resources {
		r := d.ResourceInfo()
		for i := 0; i < 50; i++ {
			obj := d.NewObject()
			f.Fill(obj)
			cp := obj.DeepCopyObject()
			if !reflect.DeepEqual(obj, cp) {
				t.Fatalf("%s: deep copy differs:\n%#v\n%#v", r.Kind, obj, cp)
			}
			data, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			back := d.NewObject()
			if err := json.Unmarshal(data, back); err != nil {
				t.Fatal(err)
			}
			data2, _ := json.Marshal(back)
			if string(data) != string(data2) {
				t.Fatalf("%s: JSON round trip differs:\n%s\n%s", r.Kind, data, data2)
			}
			// Mutating the copy must not touch the original.
			before, _ := json.Marshal(obj)
			mutate(cp)
			after, _ := json.Marshal(obj)
			if string(before) != string(after) {
				t.Fatalf("%s: mutating the copy changed the original", r.Kind)
			}
		}
	}
}

func mutate(obj runtime.Object) {
	switch o := obj.(type) {
	case *Task:
		o.Labels["x"] = "y"
		o.Spec.Command = append(o.Spec.Command[:0:0], "mutated")
		if o.Spec.TimeoutSeconds != nil {
			*o.Spec.TimeoutSeconds++
		}
		if o.Status.ExitCode != nil {
			*o.Status.ExitCode++
		}
	case *Job:
		o.Labels["x"] = "y"
		if o.Spec.Completions != nil {
			*o.Spec.Completions++
		}
		if len(o.Status.Conditions) > 0 {
			o.Status.Conditions[0].Reason = "mutated"
		}
		o.Spec.Template.Labels = map[string]string{"mut": "ated"}
	case *Node:
		o.Labels["x"] = "y"
		if len(o.Status.Conditions) > 0 {
			o.Status.Conditions[0].Reason = "mutated"
		}
		if o.Status.HeartbeatTime != nil {
			o.Status.HeartbeatTime.Time = o.Status.HeartbeatTime.Add(1)
		}
	}
}

func TestSchemeKnowsKinds(t *testing.T) {
	for _, d := range Resources {
		if err := d.Validate(); err != nil {
			t.Fatal(err)
		}
		r := d.ResourceInfo()
		gvks, _, err := Scheme.ObjectKinds(d.NewObject())
		if err != nil || len(gvks) == 0 || gvks[0] != r.GVK() {
			t.Fatalf("%s: scheme kinds %v, %v", r.Kind, gvks, err)
		}
		list, err := Scheme.New(r.GVR.GroupVersion().WithKind(r.ListKind))
		if err != nil || list == nil {
			t.Fatalf("%s: %v", r.ListKind, err)
		}
	}
}
