package server_test

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// causes returns the "reason field" pairs of a Status, sorted: the order of
// kube-openapi's errors follows map iteration, in kube-apiserver too.
func causes(st metav1.Status) []string {
	if st.Details == nil {
		return nil
	}
	var out []string
	for _, c := range st.Details.Causes {
		out = append(out, string(c.Type)+" "+c.Field)
	}
	sort.Strings(out)
	return out
}

func TestSchemaValidation(t *testing.T) {
	srv := stubtest.Start(t)
	jobs := jobsNS
	cases := []struct {
		name, path, body string
		want             []string // causes; nil: accepted (201)
	}{
		{"negative counts", jobs, `{"metadata":{"name":"neg"},"spec":{"completions":-1,"parallelism":-2,"backoffLimit":-3,"template":{}}}`,
			[]string{"FieldValueInvalid spec.backoffLimit", "FieldValueInvalid spec.completions", "FieldValueInvalid spec.parallelism"}},
		{"zero counts", jobs, `{"metadata":{"name":"zero"},"spec":{"completions":0,"parallelism":0,"backoffLimit":0,"template":{}}}`, nil},
		{"type error", jobs, `{"metadata":{"name":"type"},"spec":{"parallelism":"x","template":{}}}`,
			[]string{"FieldValueTypeInvalid spec.parallelism"}},
		{"template required", jobs, `{"metadata":{"name":"notemplate"},"spec":{"completions":1}}`,
			[]string{"FieldValueRequired spec.template"}},
		{"template timeout", jobs, `{"metadata":{"name":"tmo"},"spec":{"template":{"spec":{"timeoutSeconds":0}}}}`,
			[]string{"FieldValueInvalid spec.template.spec.timeoutSeconds"}},
		{"negative capacity", nodes, `{"metadata":{"name":"n"},"spec":{"capacity":-1}}`,
			[]string{"FieldValueInvalid spec.capacity"}},
		{"metadata and schema together", nodes, `{"metadata":{"name":"Bad_Name"},"spec":{"capacity":-1}}`,
			[]string{"FieldValueInvalid metadata.name", "FieldValueInvalid spec.capacity"}},
		// .status of a create is dropped before validation, even of the
		// wrong type: kube-apiserver never looks at it.
		{"status ignored on create", tasksNS, `{"metadata":{"name":"st"},"status":{"phase":"Bogus","exitCode":"x"}}`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := post(t, srv, c.path, c.body)
			if c.want == nil {
				if r.code != http.StatusCreated {
					t.Fatalf("code %d, want 201: %s", r.code, r.body)
				}
				return
			}
			st := wantStatus(t, r, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
			if got := causes(st); !slices.Equal(got, c.want) {
				t.Fatalf("causes %q, want %q: %s", got, c.want, r.body)
			}
			// Nothing was stored.
			if g := get(t, srv, c.path+"/"+st.Details.Name); g.code != http.StatusNotFound {
				t.Fatalf("GET after a 422: code %d: %s", g.code, g.body)
			}
		})
	}

	// /status is validated: a negative count and an unknown phase.
	mustCreate(t, srv, "s")
	cur := get(t, srv, tasksNS+"/s").obj(t)
	rv := cur["metadata"].(map[string]any)["resourceVersion"].(string)
	body := `{"metadata":{"name":"s","resourceVersion":"` + rv + `"},"status":{"phase":"Bogus"}}`
	st := wantStatus(t, do(t, srv, http.MethodPut, tasksNS+"/s/status", "application/json", body), 422, metav1.StatusReasonInvalid)
	if got := causes(st); !slices.Equal(got, []string{"FieldValueNotSupported status.phase"}) {
		t.Fatalf("causes %q: %s", got, st.Message)
	}
	if !strings.Contains(st.Message, `supported values: "Pending", "Running", "Succeeded", "Failed"`) {
		t.Fatalf("message: %s", st.Message)
	}
	if r := post(t, srv, nodes, `{"metadata":{"name":"n1"},"spec":{"capacity":2}}`); r.code != 201 {
		t.Fatalf("create node: %d %s", r.code, r.body)
	}
	st = wantStatus(t, do(t, srv, http.MethodPatch, nodes+"/n1/status", "application/merge-patch+json", `{"status":{"runningTasks":-1}}`), 422, metav1.StatusReasonInvalid)
	if got := causes(st); !slices.Equal(got, []string{"FieldValueInvalid status.runningTasks"}) {
		t.Fatalf("causes %q: %s", got, st.Message)
	}
	// A main-resource write ignores .status, even of the wrong type.
	if r := do(t, srv, http.MethodPatch, nodes+"/n1", "application/merge-patch+json", `{"spec":{"capacity":3},"status":{"runningTasks":-1}}`); r.code != 200 {
		t.Fatalf("patch node: %d %s", r.code, r.body)
	}
	st = wantStatus(t, do(t, srv, http.MethodPatch, nodes+"/n1", "application/merge-patch+json", `{"spec":{"capacity":-3}}`), 422, metav1.StatusReasonInvalid)
	if got := causes(st); !slices.Equal(got, []string{"FieldValueInvalid spec.capacity"}) {
		t.Fatalf("causes %q: %s", got, st.Message)
	}
}
