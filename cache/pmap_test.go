package cache

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkPmap verifies m against a reference map and the trie invariants.
func checkPmap(t *testing.T, m pmap[int], ref map[string]int) {
	t.Helper()
	if m.len() != len(ref) {
		t.Fatalf("len = %d, want %d", m.len(), len(ref))
	}
	for k, v := range ref {
		if got, ok := m.get(k); !ok || got != v {
			t.Fatalf("get(%q) = %d, %v; want %d", k, got, ok, v)
		}
	}
	seen := map[string]bool{}
	m.each(func(k string, v int) bool {
		if seen[k] {
			t.Fatalf("key %q visited twice", k)
		}
		seen[k] = true
		if ref[k] != v {
			t.Fatalf("each: %q = %d, want %d", k, v, ref[k])
		}
		return true
	})
	if len(seen) != len(ref) {
		t.Fatalf("each visited %d keys, want %d", len(seen), len(ref))
	}
	if m.root != nil {
		checkNode(t, m.root, 0, true)
	}
}

func checkNode(t *testing.T, n *pnode[int], shift uint, root bool) int {
	t.Helper()
	if shift >= hashWidth {
		if len(n.entries()) < 2 || len(n.children()) != 0 {
			t.Fatalf("collision node with %d entries, %d children", len(n.entries()), len(n.children()))
		}
		return len(n.entries())
	}
	if popcount(n.datamap) != len(n.entries()) || popcount(n.nodemap) != len(n.children()) || n.datamap&n.nodemap != 0 {
		t.Fatalf("bitmaps disagree with slices at shift %d", shift)
	}
	if !root && len(n.entries())+len(n.children()) == 0 || !root && n.isSingle() {
		t.Fatalf("non-canonical node at shift %d", shift)
	}
	total := len(n.entries())
	for _, e := range n.entries() {
		if bit := chunk(hashKey(e.key), shift); n.datamap&bit == 0 || index(n.datamap, bit) != indexOf(n.entries(), e.key) {
			t.Fatalf("entry %q misplaced at shift %d", e.key, shift)
		}
	}
	for _, c := range n.children() {
		total += checkNode(t, c, shift+pmapBits, false)
	}
	return total
}

func popcount(x uint32) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

func indexOf(es []pentry[int], key string) int {
	for i := range es {
		if es[i].key == key {
			return i
		}
	}
	return -1
}

func TestPmapRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var m pmap[int]
	ref := map[string]int{}
	// Old versions must stay intact while newer ones are written.
	type version struct {
		m   pmap[int]
		ref map[string]int
	}
	var versions []version
	// Writes modify the nodes of the current epoch in place; a version
	// kept aside is frozen by moving to a new epoch, as the indexer does
	// when it publishes a snapshot.
	edit := newEdit()
	for i := 0; i < 20000; i++ {
		k := fmt.Sprintf("k%d", r.IntN(3000))
		if r.IntN(3) == 0 {
			var removed bool
			var old int
			m, old, removed = m.dissoc(k, edit)
			want, had := ref[k]
			if removed != had || removed && old != want {
				t.Fatalf("delete(%q) = %d, %v; want %d, %v", k, old, removed, want, had)
			}
			delete(ref, k)
		} else {
			var replaced bool
			var old int
			m, old, replaced = m.assoc(k, i, edit)
			want, had := ref[k]
			if replaced != had || replaced && old != want {
				t.Fatalf("set(%q) = %d, %v; want %d, %v", k, old, replaced, want, had)
			}
			ref[k] = i
		}
		if i%2000 == 0 {
			checkPmap(t, m, ref)
			cp := make(map[string]int, len(ref))
			for k, v := range ref {
				cp[k] = v
			}
			versions = append(versions, version{m, cp})
			edit = newEdit()
		}
	}
	checkPmap(t, m, ref)
	for _, v := range versions {
		checkPmap(t, v.m, v.ref)
	}
	// Deleting everything gives the empty map.
	for k := range ref {
		m, _, _ = m.delete(k)
	}
	if m.root != nil || m.len() != 0 {
		t.Fatalf("map not empty after deleting all keys: %+v", m)
	}
	if _, _, removed := m.delete("nope"); removed {
		t.Fatal("delete on empty map removed something")
	}
}

func TestPmapBuild(t *testing.T) {
	for _, n := range []int{0, 1, 2, 31, 33, 1000, 5000} {
		ref := map[string]int{}
		var es []pentry[int]
		for i := 0; i < n; i++ {
			k := fmt.Sprintf("obj-%d", i)
			ref[k] = i
			es = append(es, pentry[int]{key: k, val: i})
		}
		m := buildPmap(es, 0)
		checkPmap(t, m, ref)
		// A built map behaves like any other under writes.
		m, _, _ = m.set("extra", -1)
		ref["extra"] = -1
		checkPmap(t, m, ref)
	}
}

// TestPmapCollisions drives the collision nodes below bit 64 by giving keys
// an identical hash through a test-only hook.
func TestPmapCollisions(t *testing.T) {
	var m pmap[int]
	ref := map[string]int{}
	// Build a collision node by hand via pair at the bottom of the trie and
	// exercise the node-level operations on it.
	h := hashKey("a")
	n := pair("a", h, 1, "b", h, 2, 0, 0)
	m = pmap[int]{root: n, size: 2}
	ref["a"], ref["b"] = 1, 2
	got := 0
	m.each(func(string, int) bool { got++; return true })
	if got != 2 {
		t.Fatalf("each visited %d", got)
	}
	// set/get/del through a path of equal hashes.
	root, _, replaced := n.set("c", h, 0, 3, 0)
	if replaced {
		t.Fatal("c replaced")
	}
	root, old, replaced := root.set("a", h, 0, 10, 0)
	if !replaced || old != 1 {
		t.Fatalf("replace a: %d %v", old, replaced)
	}
	root, old, removed := root.del("b", h, 0, 0)
	if !removed || old != 2 {
		t.Fatalf("del b: %d %v", old, removed)
	}
	root, _, removed = root.del("zz", h, 0, 0)
	if removed {
		t.Fatal("removed absent key")
	}
	root, _, _ = root.del("c", h, 0, 0)
	// Only "a" is left: it must have been pulled up to the root.
	if len(root.entries()) != 1 || root.entries()[0].key != "a" || root.entries()[0].val != 10 || len(root.children()) != 0 {
		t.Fatalf("not canonical after deletes: %+v", root)
	}
	_ = ref
}

func BenchmarkPmapSet5000(b *testing.B) {
	var m pmap[int]
	keys := make([]string, 5000)
	for i := range keys {
		keys[i] = fmt.Sprintf("default/object-number-%d", i)
		m, _, _ = m.set(keys[i], i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m, _, _ = m.set(keys[i%len(keys)], i)
		i++
	}
}

func BenchmarkPmapGet5000(b *testing.B) {
	var m pmap[int]
	keys := make([]string, 5000)
	for i := range keys {
		keys[i] = fmt.Sprintf("default/object-number-%d", i)
		m, _, _ = m.set(keys[i], i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := m.get(keys[i%len(keys)]); !ok {
			b.Fatal("missing")
		}
		i++
	}
}

// TestPmapCollisionLookupAndBuild covers lookups in, and bulk builds of,
// collision nodes, with hashes forced equal.
func TestPmapCollisionLookupAndBuild(t *testing.T) {
	h := hashKey("x")
	var hs []hashed[int]
	for i, k := range []string{"x", "y", "z"} {
		hs = append(hs, hashed[int]{order: trieOrder(h), hash: h, e: pentry[int]{key: k, val: i}})
	}
	// A different hash alongside, so the root holds an entry and a path.
	h2 := ^h
	hs = append(hs, hashed[int]{order: trieOrder(h2), hash: h2, e: pentry[int]{key: "w", val: 9}})
	slices.SortFunc(hs, func(a, b hashed[int]) int { return cmp.Compare(a.order, b.order) })
	n := buildNode(hs, 0, 0)
	for i, k := range []string{"x", "y", "z"} {
		if v, ok := n.get(k, h); !ok || v != i {
			t.Fatalf("get(%s) = %d %v", k, v, ok)
		}
	}
	if v, ok := n.get("w", h2); !ok || v != 9 {
		t.Fatalf("get(w) = %d %v", v, ok)
	}
	if _, ok := n.get("nope", h); ok {
		t.Fatal("found absent key in collision node")
	}
}

// FuzzPmapOps reads the input as a sequence of (op, key) bytes, applies it
// to a pmap and a Go map, and checks that they agree, that the trie stays
// canonical and that every earlier version is unchanged.
func FuzzPmapOps(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 1, 1, 0, 3})
	f.Add([]byte("\x00a\x00b\x00c\x01a\x01b\x01c\x02z"))
	f.Add([]byte("\x00a\x80b\x00c\x82a\x01b\x81c\x02b\x00d\x80e\x02c"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		var m pmap[int]
		ref := map[string]int{}
		type version struct {
			m   pmap[int]
			ref map[string]int
		}
		var versions []version
		// Ops write in place (one edit epoch until a version is kept),
		// or persistently when their high bit is set.
		edit := newEdit()
		for i := 0; i+1 < len(ops); i += 2 {
			k := fmt.Sprintf("key-%d", ops[i+1]%64)
			e := edit
			if ops[i]&0x80 != 0 {
				e = 0
			}
			switch ops[i] % 3 {
			case 0, 1:
				m, _, _ = m.assoc(k, i, e)
				ref[k] = i
			case 2:
				m, _, _ = m.dissoc(k, e)
				delete(ref, k)
			}
			if i%16 == 0 {
				versions = append(versions, version{m, maps.Clone(ref)})
				edit = newEdit()
			}
		}
		checkPmap(t, m, ref)
		for _, v := range versions {
			checkPmap(t, v.m, v.ref)
		}
		// A bulk build of the same content is an equally valid trie.
		var es []pentry[int]
		for k, v := range ref {
			es = append(es, pentry[int]{key: k, val: v})
		}
		checkPmap(t, buildPmap(es, 0), ref)
		// A built map is writable in place in its own epoch.
		edit = newEdit()
		b := buildPmap(es, edit)
		for k := range ref {
			b, _, _ = b.dissoc(k, edit)
		}
		checkPmap(t, b, map[string]int{})
		checkPmap(t, m, ref)
	})
}

// TestPmapCollisionsInPlace writes to a collision node in place, in the
// epoch that made it, and checks that a version frozen before (by moving to
// a new epoch) is unchanged: the node's slice is its own.
func TestPmapCollisionsInPlace(t *testing.T) {
	h := hashKey("a")
	edit := newEdit()
	root := pair("a", h, 1, "b", h, 2, 0, edit)
	root, _, _ = root.set("c", h, 0, 3, edit) // appended in place
	frozen := pmap[int]{root: root, size: 3}
	frozenRef := map[string]int{"a": 1, "b": 2, "c": 3}
	edit = newEdit()
	root, _, _ = root.set("d", h, 0, 4, edit) // copied: the node is older
	root, _, _ = root.set("a", h, 0, 10, edit)
	root, _, _ = root.del("b", h, 0, edit) // in place in the copy
	root, _, _ = root.set("e", h, 0, 5, edit)
	got := map[string]int{}
	(pmap[int]{root: root, size: 4}).each(func(k string, v int) bool { got[k] = v; return true })
	if want := map[string]int{"a": 10, "c": 3, "d": 4, "e": 5}; !maps.Equal(got, want) {
		t.Fatalf("after in-place writes: %v, want %v", got, want)
	}
	for k, v := range got {
		if w, ok := root.get(k, h); !ok || w != v {
			t.Fatalf("get(%q) = %d, %v", k, w, ok)
		}
	}
	got = map[string]int{}
	frozen.each(func(k string, v int) bool { got[k] = v; return true })
	if !maps.Equal(got, frozenRef) {
		t.Fatalf("frozen version changed: %v, want %v", got, frozenRef)
	}
	// Deleting down to one key in place pulls it up to the root.
	for _, k := range []string{"a", "c", "d"} {
		root, _, _ = root.del(k, h, 0, edit)
	}
	if len(root.entries()) != 1 || root.entries()[0].key != "e" || len(root.children()) != 0 {
		t.Fatalf("not canonical after deletes: %d entries, %d children", len(root.entries()), len(root.children()))
	}
}

// TestPmapInPlaceSizeClasses runs random inserts and deletes on a small key
// space, so that nodes written in place grow and shrink through their size
// classes and pull entries up, freezing a version (a new epoch) at random
// points: every version must stay as it was, and the trie canonical.
func TestPmapInPlaceSizeClasses(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	type version struct {
		m   pmap[int]
		ref map[string]int
	}
	for round := range 20 {
		var m pmap[int]
		ref := map[string]int{}
		var versions []version
		edit := newEdit()
		keys := 20 + r.IntN(300)
		for i := range 3000 {
			k := fmt.Sprintf("key-%d", r.IntN(keys))
			// Bias toward growth, then toward shrinking, to sweep sizes.
			if r.IntN(100) < 60 == (i < 1500) {
				m, _, _ = m.assoc(k, i, edit)
				ref[k] = i
			} else {
				m, _, _ = m.dissoc(k, edit)
				delete(ref, k)
			}
			if r.IntN(50) == 0 {
				checkPmap(t, m, ref)
				versions = append(versions, version{m, maps.Clone(ref)})
				edit = newEdit()
			}
		}
		checkPmap(t, m, ref)
		for _, v := range versions {
			checkPmap(t, v.m, v.ref)
		}
		if t.Failed() {
			t.Fatalf("round %d", round)
		}
	}
}
