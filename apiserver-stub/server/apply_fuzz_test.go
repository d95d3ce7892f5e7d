package server

import (
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// FuzzApply: any apply configuration, against an existing Task and against
// none, is a result or an API error, never a panic.
func FuzzApply(f *testing.F) {
	f.Add([]byte("apiVersion: kunos.io/v1\nkind: Task\nmetadata:\n  name: a\nspec:\n  image: x\n"), false)
	f.Add([]byte(`{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"a","labels":{"k":"v"}},"spec":{"command":["a","b"]}}`), true)
	f.Add([]byte(`{"apiVersion":"v1","kind":"Task"}`), false)
	f.Add([]byte("a: [b"), true)
	fm, err := newFieldManagers(resources)
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{fields: fm}
	ri, err := parseResourcePath(kunosv1.SchemeGroupVersion, "namespaces/default/tasks/a")
	if err != nil {
		f.Fatal(err)
	}
	live := []byte(`{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"a","namespace":"default","uid":"u","resourceVersion":"3","managedFields":[{"manager":"m","operation":"Apply","apiVersion":"kunos.io/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:image":{}}}}]},"spec":{"image":"y"}}`)
	f.Fuzz(func(t *testing.T, patch []byte, force bool) {
		cfg, err := decodeApplyPatch(patch)
		if err != nil {
			return
		}
		for _, l := range [][]byte{nil, live} {
			_, _ = s.applyTo(ri, l, cfg, "fuzzer", force)
		}
	})
}
