package cache

import "slices"

// Node allocation for the persistent trie.
//
// Every write copies a path of nodes, so the number of allocations per node
// is the main cost of a write. newNode puts a node's header and its slice
// backing array in one allocation when the node holds only entries or only
// children, which is every node but some near the leaves; a node holding
// both gets a second allocation for its entries. Arrays come in a few size
// classes (never more than a third unused) instead of one type per length.
//
// Sharing rule: arrays are never shared between nodes, so a replaced node
// is never kept alive by its successor, and a node its epoch owns can grow
// or shrink its arrays in place: each array's capacity is its whole size
// class, and an insertion that fits takes no allocation.

// newNode returns a node of epoch edit with the given bitmaps and zeroed
// entries and children of lengths ne and nc, ready to be filled.
func newNode[V any](datamap, nodemap uint32, ne, nc int, edit uint64) *pnode[V] {
	var n *pnode[V]
	switch {
	case nc == 0:
		n = withEntries[V](ne)
	case ne == 0:
		n = withChildren[V](nc)
	default:
		n = withChildren[V](nc)
		n.setEntries(slices.Grow([]pentry[V](nil), ne)[:ne])
	}
	n.datamap, n.nodemap, n.edit = datamap, nodemap, edit
	return n
}

// canInsertEntry reports whether an entry fits in n's entries array.
func (n *pnode[V]) canInsertEntry() bool { return len(n.ent) < cap(n.ent) }

// canInsertChild reports whether a child fits in n's children array.
func (n *pnode[V]) canInsertChild() bool { return len(n.kids) < cap(n.kids) }

// insertEntry inserts e at i in place; canInsertEntry must hold.
func (n *pnode[V]) insertEntry(i int, e pentry[V]) {
	n.ent = n.ent[:len(n.ent)+1]
	copy(n.ent[i+1:], n.ent[i:])
	n.ent[i] = e
}

// removeEntry removes entry i in place, clearing the freed slot.
func (n *pnode[V]) removeEntry(i int) {
	copy(n.ent[i:], n.ent[i+1:])
	n.ent[len(n.ent)-1] = pentry[V]{}
	n.ent = n.ent[:len(n.ent)-1]
}

// insertChild inserts c at j in place; canInsertChild must hold.
func (n *pnode[V]) insertChild(j int, c *pnode[V]) {
	n.kids = n.kids[:len(n.kids)+1]
	copy(n.kids[j+1:], n.kids[j:])
	n.kids[j] = c
}

// removeChild removes child j in place, clearing the freed slot.
func (n *pnode[V]) removeChild(j int) {
	copy(n.kids[j:], n.kids[j+1:])
	n.kids[len(n.kids)-1] = nil
	n.kids = n.kids[:len(n.kids)-1]
}

// withEntries allocates a node and room for k entries together.
func withEntries[V any](k int) *pnode[V] {
	switch {
	case k == 0:
		return &pnode[V]{}
	case k == 1:
		b := new(struct {
			n pnode[V]
			a [1]pentry[V]
		})
		b.n.setEntries(b.a[:k])
		return &b.n
	case k == 2:
		b := new(struct {
			n pnode[V]
			a [2]pentry[V]
		})
		b.n.setEntries(b.a[:k])
		return &b.n
	case k == 3:
		b := new(struct {
			n pnode[V]
			a [3]pentry[V]
		})
		b.n.setEntries(b.a[:k])
		return &b.n
	case k == 4:
		b := new(struct {
			n pnode[V]
			a [4]pentry[V]
		})
		b.n.setEntries(b.a[:k])
		return &b.n
	case k <= 6:
		b := new(struct {
			n pnode[V]
			a [6]pentry[V]
		})
		b.n.setEntries(b.a[:k])
		return &b.n
	case k <= 8:
		b := new(struct {
			n pnode[V]
			a [8]pentry[V]
		})
		b.n.setEntries(b.a[:k])
		return &b.n
	case k <= 12:
		b := new(struct {
			n pnode[V]
			a [12]pentry[V]
		})
		b.n.setEntries(b.a[:k])
		return &b.n
	case k <= 16:
		b := new(struct {
			n pnode[V]
			a [16]pentry[V]
		})
		b.n.setEntries(b.a[:k])
		return &b.n
	default: // collision nodes only
		return withEntrySlice(make([]pentry[V], k), 0)
	}
}

// withChildren allocates a node and room for k children together.
func withChildren[V any](k int) *pnode[V] {
	switch {
	case k == 1:
		b := new(struct {
			n pnode[V]
			a [1]*pnode[V]
		})
		b.n.setChildren(b.a[:k])
		return &b.n
	case k == 2:
		b := new(struct {
			n pnode[V]
			a [2]*pnode[V]
		})
		b.n.setChildren(b.a[:k])
		return &b.n
	case k == 3:
		b := new(struct {
			n pnode[V]
			a [3]*pnode[V]
		})
		b.n.setChildren(b.a[:k])
		return &b.n
	case k == 4:
		b := new(struct {
			n pnode[V]
			a [4]*pnode[V]
		})
		b.n.setChildren(b.a[:k])
		return &b.n
	case k <= 6:
		b := new(struct {
			n pnode[V]
			a [6]*pnode[V]
		})
		b.n.setChildren(b.a[:k])
		return &b.n
	case k <= 8:
		b := new(struct {
			n pnode[V]
			a [8]*pnode[V]
		})
		b.n.setChildren(b.a[:k])
		return &b.n
	case k <= 12:
		b := new(struct {
			n pnode[V]
			a [12]*pnode[V]
		})
		b.n.setChildren(b.a[:k])
		return &b.n
	default:
		b := new(struct {
			n pnode[V]
			a [1 << pmapBits]*pnode[V]
		})
		b.n.setChildren(b.a[:k])
		return &b.n
	}
}

// copyNode returns a fresh copy of n with new bitmaps, entry i removed
// (delEntry >= 0) or e inserted at insEntry (insEntry >= 0), and likewise
// child j removed (delChild >= 0) or c inserted at insChild (insChild >= 0).
func (n *pnode[V]) copyNode(datamap, nodemap uint32, delEntry, insEntry int, e pentry[V], delChild, insChild int, c *pnode[V], edit uint64) *pnode[V] {
	ne, nc := len(n.entries()), len(n.children())
	if delEntry >= 0 {
		ne--
	}
	if insEntry >= 0 {
		ne++
	}
	if delChild >= 0 {
		nc--
	}
	if insChild >= 0 {
		nc++
	}
	m := newNode[V](datamap, nodemap, ne, nc, edit)
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
