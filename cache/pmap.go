package cache

// A persistent (immutable) hash array mapped trie from string keys to values.
//
// Invariant: a node is never modified once it is reachable from a published
// pmap. A write copies the path from the root to the changed slot (O(log32 n)
// nodes) and shares everything else, so any number of readers can walk an old
// root without locks while a writer builds the next one.
//
// Ownership (transients, as in Clojure; the lazy copy-on-write of
// google/btree's Clone): every node records the edit epoch it was made in. A
// write under epoch e (e != 0) modifies nodes of epoch e in place and copies
// only the others. The owner of a map (the indexer's writer) takes a new
// epoch whenever it publishes the map, so every node a reader can reach is of
// an older epoch and is copied, never modified. Edit 0 never owns anything:
// set and delete are purely persistent.
//
// Layout (after Steindorfer's CHAMP): each node splits its 32 slots into inline
// entries (datamap) and sub-nodes (nodemap), each kept compact and in bit
// order. Below bit 64 of the hash a node is a collision node: a plain list of
// entries whose hashes are equal. Deletes keep the trie canonical: a sub-node
// left with one entry and no children is pulled up into its parent.

import (
	"hash/maphash"
	"math/bits"
	"slices"
	"sync/atomic"
	"unsafe"
)

const (
	// pmapBits = 5, 32-way: fewer, fuller nodes than 16-way (0.23-0.34
	// nodes per entry against 0.31-0.39, for 1k to 100k keys), so less
	// header and child-pointer memory per entry; a path copy moves more
	// bytes (BenchmarkPmapSet5000: 786 against 626 B/op), which was the
	// reason for 16-way when node headers were 64 bytes.
	pmapBits  = 5
	pmapMask  = 1<<pmapBits - 1
	hashWidth = 64
)

// hashSeed is per process so that hash flooding cannot be planned ahead.
var hashSeed = maphash.MakeSeed()

func hashKey(key string) uint64 { return maphash.String(hashSeed, key) }

// pentry is one key and its value. The value comes first: a struct whose
// last field has size zero is padded (so that a pointer to that field cannot
// point past the allocation), and key sets store struct{} values, so key
// first would make their entries 24 bytes instead of 16.
type pentry[V any] struct {
	val V
	key string
}

// pnode is a trie node: a 32-byte header, usually followed in the same
// allocation by its entries or its children (newNode). The lengths of the
// two arrays are not stored: they are the bitmaps' bit counts, and their
// capacities follow from their lengths (see pnode_alloc.go). There is one
// header per few entries: a 64-byte header (two slice headers) cost about
// 11 bytes more per entry of every trie.
//
// Invariants: ent points to the first of popcount(datamap) entries when
// datamap != 0, and kids to the first of popcount(nodemap) children when
// nodemap != 0. A collision node (below bit 64 of the hash) has both
// bitmaps zero and ent pointing to a []pentry[V] of its own; any other node
// with both bitmaps zero is empty and has ent == nil.
type pnode[V any] struct {
	datamap uint32
	nodemap uint32
	edit    uint64         // the epoch of the write that made it; see above
	ent     unsafe.Pointer // *pentry[V], or *[]pentry[V] in a collision node
	kids    **pnode[V]
}

// isCollision reports whether n is a collision node.
func (n *pnode[V]) isCollision() bool {
	return n.datamap|n.nodemap == 0 && n.ent != nil
}

// entries returns n's entries, in bit order (in no order in a collision
// node). The slice aliases the node: write to it only while building n.
func (n *pnode[V]) entries() []pentry[V] {
	if n.datamap == 0 {
		if n.isCollision() {
			return *(*[]pentry[V])(n.ent)
		}
		return nil
	}
	return unsafe.Slice((*pentry[V])(n.ent), bits.OnesCount32(n.datamap))
}

// children returns n's sub-nodes in bit order, aliasing n like entries.
func (n *pnode[V]) children() []*pnode[V] {
	if n.nodemap == 0 {
		return nil
	}
	return unsafe.Slice(n.kids, bits.OnesCount32(n.nodemap))
}

// entryAt returns entry i of a node that is not a collision node, which the
// caller knows to exist (the datamap has its bit).
func (n *pnode[V]) entryAt(i int) *pentry[V] {
	return (*pentry[V])(unsafe.Add(n.ent, uintptr(i)*unsafe.Sizeof(pentry[V]{})))
}

// childAt returns child i, which the caller knows to exist, like entryAt.
func (n *pnode[V]) childAt(i int) *pnode[V] {
	return *(**pnode[V])(unsafe.Add(unsafe.Pointer(n.kids), uintptr(i)*unsafe.Sizeof(n)))
}

// setCollision makes s, which n now owns, the entries of collision node n.
func (n *pnode[V]) setCollision(s []pentry[V]) { *(*[]pentry[V])(n.ent) = s }

// withEntrySlice returns a collision node whose entries are s.
func withEntrySlice[V any](s []pentry[V], edit uint64) *pnode[V] {
	return &pnode[V]{edit: edit, ent: unsafe.Pointer(&s)}
}

// owns reports whether a write under epoch edit may modify n in place.
func (n *pnode[V]) owns(edit uint64) bool { return edit != 0 && n.edit == edit }

// editEpochs hands out edit epochs, unique in the process.
var editEpochs atomic.Uint64

// newEdit returns a fresh edit epoch: no node exists in it yet.
func newEdit() uint64 { return editEpochs.Add(1) }

// pmap is a persistent map value; the zero value is an empty map. Copying a
// pmap is O(1) and the copies are independent.
type pmap[V any] struct {
	root *pnode[V]
	size int
}

func (m pmap[V]) len() int { return m.size }

func chunk(h uint64, shift uint) uint32 { return uint32(1) << ((h >> shift) & pmapMask) }

func index(bitmap, bit uint32) int { return bits.OnesCount32(bitmap & (bit - 1)) }

// get returns the value stored under key.
func (m pmap[V]) get(key string) (V, bool) {
	if m.root == nil {
		var zero V
		return zero, false
	}
	return m.root.get(key, hashKey(key))
}

func (n *pnode[V]) get(key string, h uint64) (V, bool) {
	for shift := uint(0); ; shift += pmapBits {
		if shift >= hashWidth {
			for i := range n.entries() {
				if n.entries()[i].key == key {
					return n.entries()[i].val, true
				}
			}
			break
		}
		bit := chunk(h, shift)
		if n.datamap&bit != 0 {
			e := n.entryAt(index(n.datamap, bit))
			if e.key == key {
				return e.val, true
			}
			break
		}
		if n.nodemap&bit == 0 {
			break
		}
		n = n.childAt(index(n.nodemap, bit))
	}
	var zero V
	return zero, false
}

// set returns a map with key bound to val, the previous value and whether
// there was one. m is unchanged.
func (m pmap[V]) set(key string, val V) (pmap[V], V, bool) { return m.assoc(key, val, 0) }

// assoc is set under edit epoch edit: nodes of that epoch are modified in
// place, so m must not be used afterwards unless edit is 0.
func (m pmap[V]) assoc(key string, val V, edit uint64) (pmap[V], V, bool) {
	h := hashKey(key)
	if m.root == nil {
		var zero V
		root := newNode[V](chunk(h, 0), 0, edit)
		root.entries()[0] = pentry[V]{key: key, val: val}
		return pmap[V]{root: root, size: 1}, zero, false
	}
	root, old, replaced := m.root.set(key, h, 0, val, edit)
	size := m.size
	if !replaced {
		size++
	}
	return pmap[V]{root: root, size: size}, old, replaced
}

func (n *pnode[V]) set(key string, h uint64, shift uint, val V, edit uint64) (*pnode[V], V, bool) {
	var zero V
	owned := n.owns(edit)
	if shift >= hashWidth {
		for i := range n.entries() {
			if n.entries()[i].key == key {
				c := n
				if !owned {
					c = withEntrySlice(slices.Clone(n.entries()), edit)
				}
				old := c.entries()[i].val
				c.entries()[i].val = val
				return c, old, true
			}
		}
		if owned {
			n.setCollision(append(n.entries(), pentry[V]{key: key, val: val}))
			return n, zero, false
		}
		c := withEntrySlice(append(slices.Clip(n.entries()), pentry[V]{key: key, val: val}), edit)
		return c, zero, false
	}
	bit := chunk(h, shift)
	switch {
	case n.datamap&bit != 0:
		i := index(n.datamap, bit)
		e := n.entries()[i]
		if e.key == key {
			c := n
			if !owned {
				c = n.copyNode(n.datamap, n.nodemap, -1, -1, pentry[V]{}, -1, -1, nil, edit)
			}
			c.entries()[i].val = val
			return c, e.val, true
		}
		// Two keys share this slot: push both into a new sub-node.
		sub := pair(e.key, hashKey(e.key), e.val, key, h, val, shift+pmapBits, edit)
		j := index(n.nodemap, bit)
		if owned && n.canInsertChild() {
			n.removeEntry(i)
			n.insertChild(j, sub)
			n.datamap, n.nodemap = n.datamap&^bit, n.nodemap|bit
			return n, zero, false
		}
		return n.copyNode(n.datamap&^bit, n.nodemap|bit, i, -1, pentry[V]{}, -1, j, sub, edit), zero, false
	case n.nodemap&bit != 0:
		j := index(n.nodemap, bit)
		child, old, replaced := n.children()[j].set(key, h, shift+pmapBits, val, edit)
		if owned {
			n.children()[j] = child
			return n, old, replaced
		}
		return n.withChild(j, child, edit), old, replaced
	default:
		i := index(n.datamap, bit)
		if owned && n.canInsertEntry() {
			n.insertEntry(i, pentry[V]{key: key, val: val})
			n.datamap |= bit
			return n, zero, false
		}
		return n.copyNode(n.datamap|bit, n.nodemap, -1, i, pentry[V]{key: key, val: val}, -1, -1, nil, edit), zero, false
	}
}

// pair builds the smallest sub-trie holding two distinct keys.
func pair[V any](k1 string, h1 uint64, v1 V, k2 string, h2 uint64, v2 V, shift uint, edit uint64) *pnode[V] {
	if shift >= hashWidth {
		return withEntrySlice([]pentry[V]{{key: k1, val: v1}, {key: k2, val: v2}}, edit)
	}
	b1, b2 := chunk(h1, shift), chunk(h2, shift)
	if b1 == b2 {
		n := newNode[V](0, b1, edit)
		n.children()[0] = pair(k1, h1, v1, k2, h2, v2, shift+pmapBits, edit)
		return n
	}
	if b1 > b2 {
		k1, v1, k2, v2 = k2, v2, k1, v1
	}
	n := newNode[V](b1|b2, 0, edit)
	n.entries()[0], n.entries()[1] = pentry[V]{key: k1, val: v1}, pentry[V]{key: k2, val: v2}
	return n
}

// delete returns a map without key, the removed value and whether key was
// present. A map that does not hold key is returned unchanged. m is
// unchanged.
func (m pmap[V]) delete(key string) (pmap[V], V, bool) { return m.dissoc(key, 0) }

// dissoc is delete under edit epoch edit, like assoc.
func (m pmap[V]) dissoc(key string, edit uint64) (pmap[V], V, bool) {
	if m.root == nil {
		var zero V
		return m, zero, false
	}
	root, old, removed := m.root.del(key, hashKey(key), 0, edit)
	if !removed {
		return m, old, false
	}
	if root != nil && root.datamap == 0 && root.nodemap == 0 && len(root.entries()) == 0 {
		root = nil
	}
	return pmap[V]{root: root, size: m.size - 1}, old, true
}

// isSingle reports whether n holds exactly one entry and no sub-nodes, so its
// parent can hold the entry inline instead.
func (n *pnode[V]) isSingle() bool { return len(n.children()) == 0 && len(n.entries()) == 1 }

func (n *pnode[V]) del(key string, h uint64, shift uint, edit uint64) (*pnode[V], V, bool) {
	var zero V
	owned := n.owns(edit)
	if shift >= hashWidth {
		for i := range n.entries() {
			if n.entries()[i].key == key {
				old := n.entries()[i].val
				if owned {
					n.setCollision(slices.Delete(n.entries(), i, i+1))
					return n, old, true
				}
				return withEntrySlice(slices.Delete(slices.Clone(n.entries()), i, i+1), edit), old, true
			}
		}
		return n, zero, false
	}
	bit := chunk(h, shift)
	switch {
	case n.datamap&bit != 0:
		i := index(n.datamap, bit)
		if n.entries()[i].key != key {
			return n, zero, false
		}
		old := n.entries()[i].val
		if owned {
			n.removeEntry(i)
			n.datamap &^= bit
			return n, old, true
		}
		return n.copyNode(n.datamap&^bit, n.nodemap, i, -1, pentry[V]{}, -1, -1, nil, edit), old, true
	case n.nodemap&bit != 0:
		j := index(n.nodemap, bit)
		child, old, removed := n.children()[j].del(key, h, shift+pmapBits, edit)
		if !removed {
			return n, zero, false
		}
		if child.isSingle() {
			// Pull the lone entry up so the trie stays canonical.
			i := index(n.datamap, bit)
			if owned && n.canInsertEntry() {
				e := child.entries()[0]
				n.removeChild(j)
				n.insertEntry(i, e)
				n.datamap, n.nodemap = n.datamap|bit, n.nodemap&^bit
				return n, old, true
			}
			return n.copyNode(n.datamap|bit, n.nodemap&^bit, -1, i, child.entries()[0], j, -1, nil, edit), old, true
		}
		if owned {
			n.children()[j] = child
			return n, old, true
		}
		return n.withChild(j, child, edit), old, true
	default:
		return n, zero, false
	}
}

// each calls fn for every entry until fn returns false. The order is stable
// for one map value but otherwise unspecified.
func (m pmap[V]) each(fn func(key string, val V) bool) bool {
	if m.root == nil {
		return true
	}
	return m.root.each(fn)
}

func (n *pnode[V]) each(fn func(key string, val V) bool) bool {
	for i := range n.entries() {
		if !fn(n.entries()[i].key, n.entries()[i].val) {
			return false
		}
	}
	for _, c := range n.children() {
		if !c.each(fn) {
			return false
		}
	}
	return true
}

// keys returns every key, appended to dst.
func (m pmap[V]) keys(dst []string) []string {
	m.each(func(k string, _ V) bool {
		dst = append(dst, k)
		return true
	})
	return dst
}

// buildPmap builds a map from entries whose keys must be distinct, in
// O(n log n) without the garbage of n persistent inserts. entries is
// reordered.
func buildPmap[V any](entries []pentry[V], edit uint64) pmap[V] {
	if len(entries) == 0 {
		return pmap[V]{}
	}
	hs := make([]hashed[V], len(entries))
	for i := range entries {
		h := hashKey(entries[i].key)
		hs[i] = hashed[V]{order: trieOrder(h), hash: h, e: entries[i]}
	}
	slices.SortFunc(hs, func(a, b hashed[V]) int {
		switch {
		case a.order < b.order:
			return -1
		case a.order > b.order:
			return 1
		default:
			return 0
		}
	})
	return pmap[V]{root: buildNode(hs, 0, edit), size: len(entries)}
}

type hashed[V any] struct {
	order uint64
	hash  uint64
	e     pentry[V]
}

// trieOrder permutes a hash so that sorting by it lays entries out in trie
// order: the 5-bit chunk used at depth 0 becomes the most significant.
func trieOrder(h uint64) uint64 {
	var o uint64
	for shift := uint(0); shift < hashWidth; shift += pmapBits {
		width := min(pmapBits, hashWidth-shift)
		o |= ((h >> shift) & (1<<width - 1)) << (hashWidth - shift - width)
	}
	return o
}

// buildNode builds the node at depth shift for hs, which is sorted in trie
// order and whose hashes agree on all chunks above shift.
func buildNode[V any](hs []hashed[V], shift uint, edit uint64) *pnode[V] {
	if shift >= hashWidth {
		n := withEntrySlice(make([]pentry[V], len(hs)), edit)
		for i := range hs {
			n.entries()[i] = hs[i].e
		}
		return n
	}
	// First pass: the bitmaps, so the node is allocated once at its size.
	var datamap, nodemap uint32
	for i := 0; i < len(hs); {
		bit := chunk(hs[i].hash, shift)
		j := i + 1
		for j < len(hs) && chunk(hs[j].hash, shift) == bit {
			j++
		}
		if j-i == 1 {
			datamap |= bit
		} else {
			nodemap |= bit
		}
		i = j
	}
	n := newNode[V](datamap, nodemap, edit)
	ne, nc := 0, 0
	for i := 0; i < len(hs); {
		bit := chunk(hs[i].hash, shift)
		j := i + 1
		for j < len(hs) && chunk(hs[j].hash, shift) == bit {
			j++
		}
		if j-i == 1 {
			n.entries()[ne] = hs[i].e
			ne++
		} else {
			n.children()[nc] = buildNode(hs[i:j], shift+pmapBits, edit)
			nc++
		}
		i = j
	}
	return n
}
