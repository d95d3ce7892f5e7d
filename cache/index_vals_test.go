package cache

import (
	"slices"
	"strings"
	"testing"
	"unsafe"
)

func TestIndexValsRoundTrip(t *testing.T) {
	long := strings.Repeat("x", 300) // a two-byte length
	cases := [][][]string{
		{},
		{{"a"}},
		{{""}},
		{{"\xffraw"}}, // a lone value that starts like an encoding
		{{}},
		{{"a", "b"}},
		{{"default"}, {"node-1"}},
		{{}, {"x", "", long}, {"\xff"}},
		{{long}, {}},
		{nil, nil},
	}
	seen := map[string][][]string{}
	for _, res := range cases {
		enc := encodeIndexVals(res)
		for i, want := range res {
			got := appendIndexVals(nil, enc, len(res), i)
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("%q: index %d: got %q, want %q", res, i, got, want)
			}
			for _, v := range want {
				if !hasIndexVal(enc, len(res), i, v) {
					t.Errorf("%q: index %d: hasIndexVal(%q) = false", res, i, v)
				}
			}
			if hasIndexVal(enc, len(res), i, "absent") {
				t.Errorf("%q: index %d: hasIndexVal(absent) = true", res, i)
			}
		}
		key := string(rune('0'+len(res))) + enc
		if prev, dup := seen[key]; dup {
			t.Errorf("%q and %q have one encoding %q", prev, res, enc)
		}
		seen[key] = res
	}
}

// A lone value is kept as is: the record shares the caller's string.
func TestIndexValsLoneValueNotCopied(t *testing.T) {
	v := strings.Repeat("v", 10)
	enc := encodeIndexVals([][]string{{v}})
	if unsafe.StringData(enc) != unsafe.StringData(v) {
		t.Errorf("lone value copied")
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = encodeIndexVals([][]string{{v}}) }); allocs != 0 {
		t.Errorf("encoding a lone value: %v allocations", allocs)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = encodeIndexVals([][]string{{v}, {v}}) }); allocs != 1 {
		t.Errorf("encoding two values: %v allocations, want 1", allocs)
	}
}
