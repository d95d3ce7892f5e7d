package server

import (
	"encoding/json"
	"testing"
)

// FuzzStrategicMergePatch applies strategic merge patches to a stored
// Lease and Event, as PATCH does for the built-in kinds: no panic, every
// rejection a Status, every result JSON that decodes as the kind or is
// refused as a Status.
func FuzzStrategicMergePatch(f *testing.F) {
	docs := map[bool][]byte{
		false: []byte(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l","namespace":"d","labels":{"a":"b"},"finalizers":["x"],"ownerReferences":[{"apiVersion":"v1","kind":"Pod","name":"p","uid":"u"}]},"spec":{"holderIdentity":"h","leaseDurationSeconds":15}}`),
		true:  []byte(`{"apiVersion":"v1","kind":"Event","metadata":{"name":"e","namespace":"d"},"involvedObject":{"kind":"Task","name":"t"},"reason":"R","message":"m","count":2}`),
	}
	for _, p := range []string{
		`{"metadata":{"labels":{"x":"y"}}}`, `{"spec":{"holderIdentity":null}}`, `{"count":3,"message":"again"}`,
		`{"metadata":{"finalizers":["y"],"$setElementOrder/finalizers":["y","x"]}}`, `{"$patch":"replace"}`, `{"$patch":"delete"}`,
		`{"metadata":{"ownerReferences":[{"uid":"u","$patch":"delete"}]}}`, `{"metadata":{"$retainKeys":["name"]}}`,
		`{"spec":{"$patch":"merge","leaseDurationSeconds":"x"}}`, `[]`, `{"a":`,
	} {
		f.Add([]byte(p), false)
		f.Add([]byte(p), true)
	}
	f.Fuzz(func(t *testing.T, patch []byte, event bool) {
		if !json.Valid(patch) {
			return
		}
		res := resources.byStorage["leases"]
		if event {
			res = resources.byStorage["events"]
		}
		out, err := applyPatch(strategicPatchType, nil, patch, docs[event], res.New())
		if err != nil {
			if !isStatusError(err) {
				t.Fatalf("not a Status: %v", err)
			}
			return
		}
		if _, _, err := decodeObject(res, out, fieldValidationStrict); err != nil && !isStatusError(err) {
			t.Fatalf("patched document: %v", err)
		}
	})
}
