package storage

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// randomAttrs returns labels and fields drawn from small pools, so that
// names repeat, values often equal a key segment or are empty, and some
// names are too odd to be worth sharing with other tests (they still round
// trip, interned or not).
func randomAttrs(rng *rand.Rand, key string) (labels.Set, fields.Set) {
	segs := strings.Split(strings.Trim(key, "/"), "/")
	value := func() string {
		switch rng.IntN(5) {
		case 0:
			return ""
		case 1:
			return segs[len(segs)-1]
		case 2:
			return segs[rng.IntN(len(segs))]
		case 3:
			return strings.Repeat("v", rng.IntN(200)) // long: multi-byte lengths
		}
		return fmt.Sprintf("val-%d", rng.IntN(20))
	}
	var l labels.Set
	if n := rng.IntN(6); n > 0 {
		l = labels.Set{}
		for range n {
			l[fmt.Sprintf("l%d.example.com/k-%d", rng.IntN(3), rng.IntN(8))] = value()
		}
	}
	var f fields.Set
	if n := rng.IntN(6); n > 0 {
		f = fields.Set{}
		for range n {
			f[[]string{"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "a", "zz.z"}[rng.IntN(6)]] = value()
		}
	}
	return l, f
}

// TestAttrsRoundTrip: random label and field sets read back exactly, and
// random selectors match the record as they match the maps.
func TestAttrsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"/tasks/ns/name", "/nodes/n1", "/tasks/a/b", "/x/y/z/w", "/tasks/ns-1/" + strings.Repeat("n", 300)}
	for i := range 5000 {
		key := keys[rng.IntN(len(keys))]
		l, f := randomAttrs(rng, key)
		r := newRecord(key, 1, nil, l, f)
		if got := r.Labels().Set(); !maps.Equal(got, map[string]string(l)) {
			t.Fatalf("%d: labels %v, want %v (key %q)", i, got, l, key)
		}
		if got := r.Fields().Set(); !maps.Equal(got, map[string]string(f)) {
			t.Fatalf("%d: fields %v, want %v (key %q)", i, got, f, key)
		}
		if r.Labels().Len() != len(l) || r.Fields().Len() != len(f) {
			t.Fatalf("%d: Len %d/%d, want %d/%d", i, r.Labels().Len(), r.Fields().Len(), len(l), len(f))
		}
		// Every name either side, and one that is absent.
		for _, name := range []string{"l0.example.com/k-1", "l2.example.com/k-7", "spec.nodeName", "a", "zz.z", "absent", ""} {
			lv, lok := r.Labels().Lookup(name)
			wv, wok := l[name]
			if lv != wv || lok != wok || r.Labels().Has(name) != wok || r.Labels().Get(name) != wv {
				t.Fatalf("%d: label %q = %q,%v; want %q,%v", i, name, lv, lok, wv, wok)
			}
			fv, fok := r.Fields().Lookup(name)
			wv, wok = f[name]
			if fv != wv || fok != wok || r.Fields().Has(name) != wok || r.Fields().Get(name) != wv {
				t.Fatalf("%d: field %q = %q,%v; want %q,%v", i, name, fv, fok, wv, wok)
			}
		}
		// Selectors built from another random draw match as on the maps.
		sl, sf := randomAttrs(rng, key)
		for _, ls := range []labels.Selector{labels.SelectorFromSet(sl), labels.Everything(), mustParseLabels(t, "l0.example.com/k-1 in (val-1,val-2)"), mustParseLabels(t, "!l1.example.com/k-3")} {
			if got, want := ls.Matches(r.Labels()), ls.Matches(l); got != want {
				t.Fatalf("%d: label selector %q on %v: %v, want %v", i, ls, l, got, want)
			}
		}
		for _, fs := range []fields.Selector{fields.SelectorFromSet(sf), fields.Everything(), fields.OneTermNotEqualSelector("status.phase", "")} {
			if got, want := fs.Matches(r.Fields()), fs.Matches(f); got != want {
				t.Fatalf("%d: field selector %q on %v: %v, want %v", i, fs, f, got, want)
			}
		}
		if rng.IntN(2) == 0 { // equal attributes encode equally
			if again := newRecord(key, 2, nil, maps.Clone(l), maps.Clone(f)); again.attrs != r.attrs {
				t.Fatalf("%d: two encodings of %v %v", i, l, f)
			}
		}
	}
}

// TestAttrsUninterned: names past the table's limit are spelled out and
// still read back. It fills a copy of the table, not the shared one.
func TestAttrsUninterned(t *testing.T) {
	names.mu.Lock()
	saved, savedIDs := names.list.Load(), names.ids
	full := make([]string, maxInternedNames)
	ids := make(map[string]uint64, maxInternedNames)
	for i := range full {
		full[i] = fmt.Sprintf("filler-%d", i)
		ids[full[i]] = uint64(i + 1)
	}
	names.list.Store(&full)
	names.ids = ids
	names.mu.Unlock()
	defer func() {
		names.mu.Lock()
		names.list.Store(saved)
		names.ids = savedIDs
		names.mu.Unlock()
	}()
	l := labels.Set{"never-seen-label": "x", "filler-7": "y"}
	f := fields.Set{"never.seen.field": "name", "filler-9": ""}
	r := newRecord("/r/ns/name", 1, nil, l, f)
	if !maps.Equal(r.Labels().Set(), l) || !maps.Equal(r.Fields().Set(), f) {
		t.Fatalf("got %v %v, want %v %v", r.Labels().Set(), r.Fields().Set(), l, f)
	}
	if len(*names.list.Load()) != maxInternedNames {
		t.Fatalf("the table grew past its limit")
	}
}

// TestAttrsEmpty: a record without attributes, as the server builds for
// its own use, has empty views.
func TestAttrsEmpty(t *testing.T) {
	r := &Record{Key: "/tasks/ns/a"}
	if r.Labels().Len() != 0 || r.Fields().Len() != 0 || r.Labels().Set() != nil || r.Fields().Has("metadata.name") {
		t.Fatal("empty record has attributes")
	}
	if !labels.Everything().Matches(r.Labels()) || labels.SelectorFromSet(labels.Set{"a": "b"}).Matches(r.Labels()) {
		t.Fatal("selectors on an empty record")
	}
}

func mustParseLabels(t *testing.T, s string) labels.Selector {
	sel, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}
