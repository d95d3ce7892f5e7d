package server

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Fuzz targets for everything the server parses from a request. The
// invariants: no panic, every rejection is an API status error, and what
// is accepted is consistent (round-trips, re-encodes, validates).

func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{
		`{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"a","labels":{"x":"y"}},"spec":{"image":"i","command":["a"]}}`,
		`{"metadata":{"name":"n","generateName":"g-"},"spec":{"capacity":3}}`,
		`{"kind":"Job","metadata":{"name":"j"},"spec":{"template":{"spec":{}},"completions":2}}`,
		`{"metadata":{"name":"Bad_Name"}}`, `{"spec":{"unknown":1}}`, `[]`, `null`, `{"metadata":{"name":1}}`,
		`{"a":1,"a":2}`, `{"metadata":{"name":"x","annotations":{"":""}}}`,
	} {
		for r := range resources.all {
			f.Add([]byte(s), uint8(r), r == 1)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, ri uint8, strict bool) {
		res := resources.all[int(ri)%len(resources.all)]
		fv := fieldValidationWarn
		if strict {
			fv = fieldValidationStrict
		}
		obj, _, err := decodeObject(res, data, fv)
		if err != nil {
			if !isStatusError(err) {
				t.Fatalf("decode error is not a Status: %v", err)
			}
			return
		}
		if err := validateNew(res, obj); err != nil {
			if !apierrors.IsInvalid(err) {
				t.Fatalf("validation error is not Invalid: %v", err)
			}
			return
		}
		b, err := Codec{}.Encode(obj)
		if err != nil {
			t.Fatalf("accepted object does not encode: %v", err)
		}
		if _, err := (Codec{}).Decode("/"+res.GVR.Resource+"/x", b); err != nil {
			t.Fatalf("encoded object does not decode: %v", err)
		}
	})
}

func FuzzParseListOptions(f *testing.F) {
	for _, s := range []string{
		"", "watch=true", "watch=1&resourceVersion=0", "labelSelector=a%20in%20(b,c),!d",
		"fieldSelector=spec.nodeName%3Dn1,status.phase!%3DRunning", "fieldSelector=spec.image%3Dx",
		"limit=10&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mywic3RhcnQiOiJhIn0",
		"resourceVersion=5&resourceVersionMatch=Exact", "resourceVersionMatch=NotOlderThan",
		"sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&watch=true",
		"timeoutSeconds=-1&watch=true", "limit=-5", "resourceVersion=99999999999999999999",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	store := storage.NewMemoryStore(storage.MemoryConfig{Codec: NewCodec()})
	f.Cleanup(store.Close)
	s, err := New(Config{Store: store})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query string, watch bool) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		for _, res := range resources.all {
			opts, err := parseListOptions(q, res, watch)
			if err != nil {
				if !isStatusError(err) {
					t.Fatalf("error is not a Status: %v", err)
				}
				continue
			}
			if opts.FieldSelector != nil {
				for _, r := range opts.FieldSelector.Requirements() {
					if !fieldSupported(res, r.Field) {
						t.Fatalf("unsupported field %q accepted", r.Field)
					}
				}
			}
			prefix := "/" + res.GVR.Resource + "/"
			lo, err := s.storageListOptions(context.Background(), opts, prefix)
			if err != nil {
				if !isStatusError(err) {
					t.Fatalf("error is not a Status: %v", err)
				}
				continue
			}
			if _, err := store.List(context.Background(), prefix, lo); err != nil && !isStorageError(err) {
				t.Fatalf("list: %v", err)
			}
		}
	})
}

func FuzzContinueToken(f *testing.F) {
	f.Add(encodeContinue(5, "/tasks/", "/tasks/ns/a"))
	f.Add(encodeContinue(-1, "/nodes/", "/nodes/n1"))
	f.Add("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MCwic3RhcnQiOiJhIn0")
	f.Add("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mywic3RhcnQiOiIuLi9hIn0")
	f.Add("not base64!")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		rv, after, err := decodeContinue(tok, "/tasks/")
		if err != nil {
			if !apierrors.IsBadRequest(err) {
				t.Fatalf("bad token error is not BadRequest: %v", err)
			}
			return
		}
		if rv == 0 || rv < -1 || len(after) <= len("/tasks/") {
			t.Fatalf("accepted rv %d after %q", rv, after)
		}
		rv2, after2, err := decodeContinue(encodeContinue(rv, "/tasks/", after), "/tasks/")
		if err != nil || rv2 != rv || after2 != after {
			t.Fatalf("round trip: %d %q %v, want %d %q", rv2, after2, err, rv, after)
		}
	})
}

func FuzzPatch(f *testing.F) {
	doc := []byte(`{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"a","namespace":"d","resourceVersion":"3","labels":{"x":"y"}},"spec":{"image":"i","command":["a","b"]},"status":{}}`)
	for _, p := range []string{
		`{"metadata":{"labels":{"z":"w"}}}`, `{"spec":null}`, `[{"op":"add","path":"/spec/nodeName","value":"n"}]`,
		`[{"op":"copy","from":"/spec","path":"/status/x"},{"op":"copy","from":"/status","path":"/spec/y"}]`,
		`[{"op":"test","path":"/spec/image","value":"i"}]`, `[{"op":"move","from":"/spec/command/0","path":"/spec/command/-"}]`, `[`, `{`,
	} {
		f.Add([]byte(p), true)
		f.Add([]byte(p), false)
	}
	f.Fuzz(func(t *testing.T, patch []byte, jsonPatch bool) {
		mt := mergePatchType
		var jp jsonpatch.Patch
		if jsonPatch {
			mt = jsonPatchType
			var err error
			if jp, err = decodeJSONPatch(patch); err != nil {
				if !isStatusError(err) {
					t.Fatalf("not a Status: %v", err)
				}
				return
			}
		} else if !json.Valid(patch) {
			return
		}
		out, err := applyPatch(mt, jp, patch, doc, nil)
		if err != nil {
			if !isStatusError(err) {
				t.Fatalf("not a Status: %v", err)
			}
			return
		}
		if len(out) > len(doc)+len(patch)*2+maxCopyGrowth {
			t.Fatalf("patch grew the document to %d bytes", len(out))
		}
		if _, _, err := decodeObject(resources.byStorage["tasks"], out, fieldValidationStrict); err != nil && !isStatusError(err) {
			t.Fatalf("not a Status: %v", err)
		}
	})
}

func isStatusError(err error) bool {
	_, ok := err.(apierrors.APIStatus)
	return ok
}

func isStorageError(err error) bool {
	_, ok := err.(*storage.Error)
	return ok
}
