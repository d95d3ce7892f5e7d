package cache

import (
	"math/bits"
	"unsafe"
)

// Node allocation for the persistent trie.
//
// Every write copies a path of nodes, so the number of allocations per node
// is the main cost of a write. newNode puts a node's header and one array
// in one allocation: its entries when it has no children, else its
// children; a node holding both gets a second allocation for its entries.
// Arrays come in a few size classes (never more than a third unused)
// instead of one type per length.
//
// Invariant: an array holding k entries (children) has room for at least
// entryClass(k) (childClass(k)) of them. The lengths are not stored (they
// are the bitmaps' bit counts), so the capacity is known from the length
// alone: a node its epoch owns can insert in place while k < class(k),
// which keeps the invariant (class(k+1) == class(k) then), and removing
// keeps it too (class never grows as k shrinks).
//
// Sharing rule: arrays are never shared between nodes, so a replaced node
// is never kept alive by its successor, and a node its epoch owns can grow
// or shrink its arrays in place.

// sizeClasses are the array lengths allocated, for both kinds of array.
var sizeClasses = [...]int{1, 2, 3, 4, 6, 8, 12, 16, 24, 32}

// classOf[k] is the smallest size class >= k, for k <= 1<<pmapBits.
var classOf = func() (c [1<<pmapBits + 1]uint8) {
	for k := 1; k < len(c); k++ {
		for _, s := range sizeClasses {
			if s >= k {
				c[k] = uint8(s)
				break
			}
		}
	}
	return c
}()

// entryClass is the number of entries an array holding k has room for.
func entryClass(k int) int { return int(classOf[k]) }

// childClass is the number of children an array holding k has room for.
func childClass(k int) int { return int(classOf[k]) }

// newNode returns a node of epoch edit with the given bitmaps and zeroed
// entries and children (as many as the bitmaps have bits), ready to be
// filled. datamap and nodemap must be disjoint; if both are zero the node
// is empty.
func newNode[V any](datamap, nodemap uint32, edit uint64) *pnode[V] {
	ne, nc := bits.OnesCount32(datamap), bits.OnesCount32(nodemap)
	var n *pnode[V]
	switch {
	case nc == 0:
		n = withEntries[V](ne)
	case ne == 0:
		n = withChildren[V](nc)
	default:
		n = withChildren[V](nc)
		n.ent = unsafe.Pointer(&make([]pentry[V], entryClass(ne))[0])
	}
	n.datamap, n.nodemap, n.edit = datamap, nodemap, edit
	return n
}

// canInsertEntry reports whether an entry fits in n's entries array.
func (n *pnode[V]) canInsertEntry() bool {
	k := bits.OnesCount32(n.datamap)
	return k < entryClass(k)
}

// canInsertChild reports whether a child fits in n's children array.
func (n *pnode[V]) canInsertChild() bool {
	k := bits.OnesCount32(n.nodemap)
	return k < childClass(k)
}

// insertEntry inserts e at i in place; canInsertEntry must hold. The caller
// then sets e's bit in the datamap.
func (n *pnode[V]) insertEntry(i int, e pentry[V]) {
	k := bits.OnesCount32(n.datamap)
	s := unsafe.Slice((*pentry[V])(n.ent), k+1)
	copy(s[i+1:], s[i:k])
	s[i] = e
}

// removeEntry removes entry i in place, clearing the freed slot. The caller
// then clears its bit in the datamap. A node left without entries drops
// its array, so that an empty node is never taken for a collision node.
func (n *pnode[V]) removeEntry(i int) {
	s := n.entries()
	copy(s[i:], s[i+1:])
	s[len(s)-1] = pentry[V]{}
	if len(s) == 1 {
		n.ent = nil
	}
}

// insertChild inserts c at j in place; canInsertChild must hold. The caller
// then sets c's bit in the nodemap.
func (n *pnode[V]) insertChild(j int, c *pnode[V]) {
	k := bits.OnesCount32(n.nodemap)
	s := unsafe.Slice(n.kids, k+1)
	copy(s[j+1:], s[j:k])
	s[j] = c
}

// removeChild removes child j in place, clearing the freed slot. The
// caller then clears its bit in the nodemap.
func (n *pnode[V]) removeChild(j int) {
	s := n.children()
	copy(s[j:], s[j+1:])
	s[len(s)-1] = nil
}

// withEntries allocates a node and room for entryClass(k) entries together.
func withEntries[V any](k int) *pnode[V] {
	var n *pnode[V]
	var p unsafe.Pointer
	switch roomFor(k) {
	case 0:
		return &pnode[V]{}
	case 1:
		n, p = nodeWith[V, [1]pentry[V]]()
	case 2:
		n, p = nodeWith[V, [2]pentry[V]]()
	case 3:
		n, p = nodeWith[V, [3]pentry[V]]()
	case 4:
		n, p = nodeWith[V, [4]pentry[V]]()
	case 6:
		n, p = nodeWith[V, [6]pentry[V]]()
	case 8:
		n, p = nodeWith[V, [8]pentry[V]]()
	case 12:
		n, p = nodeWith[V, [12]pentry[V]]()
	case 16:
		n, p = nodeWith[V, [16]pentry[V]]()
	case 24:
		n, p = nodeWith[V, [24]pentry[V]]()
	case 32:
		n, p = nodeWith[V, [32]pentry[V]]()
	default: // wider than any node
		return &pnode[V]{ent: unsafe.Pointer(&make([]pentry[V], k)[0])}
	}
	n.ent = p
	return n
}

// withChildren allocates a node and room for childClass(k) children
// together; k >= 1.
func withChildren[V any](k int) *pnode[V] {
	var n *pnode[V]
	var p unsafe.Pointer
	switch roomFor(k) {
	case 1:
		n, p = nodeWith[V, [1]*pnode[V]]()
	case 2:
		n, p = nodeWith[V, [2]*pnode[V]]()
	case 3:
		n, p = nodeWith[V, [3]*pnode[V]]()
	case 4:
		n, p = nodeWith[V, [4]*pnode[V]]()
	case 6:
		n, p = nodeWith[V, [6]*pnode[V]]()
	case 8:
		n, p = nodeWith[V, [8]*pnode[V]]()
	case 12:
		n, p = nodeWith[V, [12]*pnode[V]]()
	case 16:
		n, p = nodeWith[V, [16]*pnode[V]]()
	case 24:
		n, p = nodeWith[V, [24]*pnode[V]]()
	case 32:
		n, p = nodeWith[V, [32]*pnode[V]]()
	default: // wider than any node
		return &pnode[V]{kids: &make([]*pnode[V], k)[0]}
	}
	n.kids = (**pnode[V])(p)
	return n
}

// roomFor is the size class of an array holding k, or k past the widest.
func roomFor(k int) int {
	if k < len(classOf) {
		return int(classOf[k])
	}
	return k
}

// nodeWith allocates a node and an array of type A (entries or children,
// one of the size classes) in one block, and returns the node and the
// array's first element.
func nodeWith[V, A any]() (*pnode[V], unsafe.Pointer) {
	b := new(struct {
		n pnode[V]
		a A
	})
	return &b.n, unsafe.Pointer(&b.a)
}

// copyNode returns a fresh copy of n with new bitmaps, entry i removed
// (delEntry >= 0) or e inserted at insEntry (insEntry >= 0), and likewise
// child j removed (delChild >= 0) or c inserted at insChild (insChild >= 0).
// The new bitmaps must have the bit counts these changes give.
func (n *pnode[V]) copyNode(datamap, nodemap uint32, delEntry, insEntry int, e pentry[V], delChild, insChild int, c *pnode[V], edit uint64) *pnode[V] {
	m := newNode[V](datamap, nodemap, edit)
	spliceInto(m.entries(), n.entries(), delEntry, insEntry, e)
	spliceInto(m.children(), n.children(), delChild, insChild, c)
	return m
}

// withChild returns a copy of n, of epoch edit, with child j replaced by c.
func (n *pnode[V]) withChild(j int, c *pnode[V], edit uint64) *pnode[V] {
	m := n.copyNode(n.datamap, n.nodemap, -1, -1, pentry[V]{}, -1, -1, nil, edit)
	m.children()[j] = c
	return m
}

// spliceInto copies src into dst, either without index del (del >= 0)
// or with v inserted at index ins (ins >= 0), or as is. The trie never
// removes and inserts in one array in one step.
func spliceInto[E any](dst, src []E, del, ins int, v E) {
	switch {
	case del >= 0:
		copy(dst[copy(dst, src[:del]):], src[del+1:])
	case ins >= 0:
		copy(dst, src[:ins])
		dst[ins] = v
		copy(dst[ins+1:], src[ins:])
	default:
		copy(dst, src)
	}
}
