package cache

// A persistent (immutable) hash array mapped trie from string keys to values.
//
// Invariant: a node is never modified once it is reachable from a published
// pmap. Every write copies the path from the root to the changed slot
// (O(log16 n) nodes) and shares everything else, so any number of readers can
// walk an old root without locks while a writer builds the next one.
//
// Layout (after Steindorfer's CHAMP): each node splits its 16 slots into inline
// entries (datamap) and sub-nodes (nodemap), each kept compact and in bit
// order. Below bit 64 of the hash a node is a collision node: a plain list of
// entries whose hashes are equal. Deletes keep the trie canonical: a sub-node
// left with one entry and no children is pulled up into its parent.

import (
	"hash/maphash"
	"math/bits"
	"slices"
)

const (
	pmapBits  = 4 // 16-way: a write copies fewer bytes than with 32-way nodes (measured)
	pmapMask  = 1<<pmapBits - 1
	hashWidth = 64
)

// hashSeed is per process so that hash flooding cannot be planned ahead.
var hashSeed = maphash.MakeSeed()

func hashKey(key string) uint64 { return maphash.String(hashSeed, key) }

type pentry[V any] struct {
	key string
	val V
}

// pnode is a trie node. Its entries and children usually share the node's
// allocation (newNode): the slices point into the array allocated with it.
type pnode[V any] struct {
	datamap uint32
	nodemap uint32
	ent     []pentry[V]
	kids    []*pnode[V]
}

// entries returns n's entries, in bit order (in no order in a collision
// node). The slice aliases the node: write to it only while building n.
func (n *pnode[V]) entries() []pentry[V] { return n.ent }

// children returns n's sub-nodes in bit order, aliasing n like entries.
func (n *pnode[V]) children() []*pnode[V] { return n.kids }

// entryAt returns entry i, which the caller knows to exist (the bitmap
// has its bit).
func (n *pnode[V]) entryAt(i int) *pentry[V] { return &n.ent[i] }

// childAt returns child i, which the caller knows to exist, like entryAt.
func (n *pnode[V]) childAt(i int) *pnode[V] { return n.kids[i] }

// setEntries makes s, which n now owns, n's entries.
func (n *pnode[V]) setEntries(s []pentry[V]) { n.ent = s }

// setChildren makes s, which n now owns, n's children.
func (n *pnode[V]) setChildren(s []*pnode[V]) { n.kids = s }

// withEntrySlice returns a node without bitmaps whose entries are s.
func withEntrySlice[V any](s []pentry[V]) *pnode[V] {
	n := &pnode[V]{}
	n.setEntries(s)
	return n
}

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
// there was one.
func (m pmap[V]) set(key string, val V) (pmap[V], V, bool) {
	h := hashKey(key)
	if m.root == nil {
		var zero V
		root := newNode[V](chunk(h, 0), 0, 1, 0)
		root.entries()[0] = pentry[V]{key, val}
		return pmap[V]{root: root, size: 1}, zero, false
	}
	root, old, replaced := m.root.set(key, h, 0, val)
	size := m.size
	if !replaced {
		size++
	}
	return pmap[V]{root: root, size: size}, old, replaced
}

func (n *pnode[V]) set(key string, h uint64, shift uint, val V) (*pnode[V], V, bool) {
	var zero V
	if shift >= hashWidth {
		for i := range n.entries() {
			if n.entries()[i].key == key {
				c := withEntrySlice(slices.Clone(n.entries()))
				old := c.entries()[i].val
				c.entries()[i].val = val
				return c, old, true
			}
		}
		c := withEntrySlice(append(slices.Clip(n.entries()), pentry[V]{key, val}))
		return c, zero, false
	}
	bit := chunk(h, shift)
	switch {
	case n.datamap&bit != 0:
		i := index(n.datamap, bit)
		e := n.entries()[i]
		if e.key == key {
			c := n.copyNode(n.datamap, n.nodemap, -1, -1, pentry[V]{}, -1, -1, nil)
			c.entries()[i].val = val
			return c, e.val, true
		}
		// Two keys share this slot: push both into a new sub-node.
		sub := pair(e.key, hashKey(e.key), e.val, key, h, val, shift+pmapBits)
		j := index(n.nodemap, bit)
		return n.copyNode(n.datamap&^bit, n.nodemap|bit, i, -1, pentry[V]{}, -1, j, sub), zero, false
	case n.nodemap&bit != 0:
		j := index(n.nodemap, bit)
		child, old, replaced := n.children()[j].set(key, h, shift+pmapBits, val)
		return n.withChild(j, child), old, replaced
	default:
		i := index(n.datamap, bit)
		return n.copyNode(n.datamap|bit, n.nodemap, -1, i, pentry[V]{key, val}, -1, -1, nil), zero, false
	}
}

// pair builds the smallest sub-trie holding two distinct keys.
func pair[V any](k1 string, h1 uint64, v1 V, k2 string, h2 uint64, v2 V, shift uint) *pnode[V] {
	if shift >= hashWidth {
		return withEntrySlice([]pentry[V]{{k1, v1}, {k2, v2}})
	}
	b1, b2 := chunk(h1, shift), chunk(h2, shift)
	if b1 == b2 {
		n := newNode[V](0, b1, 0, 1)
		n.children()[0] = pair(k1, h1, v1, k2, h2, v2, shift+pmapBits)
		return n
	}
	if b1 > b2 {
		k1, v1, k2, v2 = k2, v2, k1, v1
	}
	n := newNode[V](b1|b2, 0, 2, 0)
	n.entries()[0], n.entries()[1] = pentry[V]{k1, v1}, pentry[V]{k2, v2}
	return n
}

// delete returns a map without key, the removed value and whether key was
// present. A map that does not hold key is returned unchanged.
func (m pmap[V]) delete(key string) (pmap[V], V, bool) {
	if m.root == nil {
		var zero V
		return m, zero, false
	}
	root, old, removed := m.root.del(key, hashKey(key), 0)
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

func (n *pnode[V]) del(key string, h uint64, shift uint) (*pnode[V], V, bool) {
	var zero V
	if shift >= hashWidth {
		for i := range n.entries() {
			if n.entries()[i].key == key {
				return withEntrySlice(slices.Delete(slices.Clone(n.entries()), i, i+1)), n.entries()[i].val, true
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
		return n.copyNode(n.datamap&^bit, n.nodemap, i, -1, pentry[V]{}, -1, -1, nil), n.entries()[i].val, true
	case n.nodemap&bit != 0:
		j := index(n.nodemap, bit)
		child, old, removed := n.children()[j].del(key, h, shift+pmapBits)
		if !removed {
			return n, zero, false
		}
		if child.isSingle() {
			// Pull the lone entry up so the trie stays canonical.
			i := index(n.datamap, bit)
			return n.copyNode(n.datamap|bit, n.nodemap&^bit, -1, i, child.entries()[0], j, -1, nil), old, true
		}
		return n.withChild(j, child), old, true
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
func buildPmap[V any](entries []pentry[V]) pmap[V] {
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
	return pmap[V]{root: buildNode(hs, 0), size: len(entries)}
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
func buildNode[V any](hs []hashed[V], shift uint) *pnode[V] {
	if shift >= hashWidth {
		n := withEntrySlice(make([]pentry[V], len(hs)))
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
	n := newNode[V](datamap, nodemap, bits.OnesCount32(datamap), bits.OnesCount32(nodemap))
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
			n.children()[nc] = buildNode(hs[i:j], shift+pmapBits)
			nc++
		}
		i = j
	}
	return n
}
