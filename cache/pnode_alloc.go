package cache

// Node allocation for the persistent trie.
//
// Every write copies a path of nodes, so the number of allocations per node
// is the main cost of a write. newNode puts a node's header and its slice
// backing array in one allocation when the node holds only entries or only
// children, which is every node but some near the leaves; a node holding
// both gets a second allocation for its entries. Arrays come in a few size
// classes (never more than a third unused) instead of one type per length.
//
// Sharing rule: an array that lives inside another node's allocation is
// never shared, so a replaced node is never kept alive by its successor.
// Only the separately allocated entries of a mixed node are shared, by the
// copy that changes one of its children.

// newNode returns a node with the given bitmaps and zeroed entries and
// children of lengths ne and nc, ready to be filled.
func newNode[V any](datamap, nodemap uint32, ne, nc int) *pnode[V] {
	var n *pnode[V]
	switch {
	case nc == 0:
		n = withEntries[V](ne)
	case ne == 0:
		n = withChildren[V](nc)
	default:
		n = withChildren[V](nc)
		n.setEntries(make([]pentry[V], ne))
	}
	n.datamap, n.nodemap = datamap, nodemap
	return n
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
		b.n.setEntries(b.a[:k:k])
		return &b.n
	case k == 2:
		b := new(struct {
			n pnode[V]
			a [2]pentry[V]
		})
		b.n.setEntries(b.a[:k:k])
		return &b.n
	case k == 3:
		b := new(struct {
			n pnode[V]
			a [3]pentry[V]
		})
		b.n.setEntries(b.a[:k:k])
		return &b.n
	case k == 4:
		b := new(struct {
			n pnode[V]
			a [4]pentry[V]
		})
		b.n.setEntries(b.a[:k:k])
		return &b.n
	case k <= 6:
		b := new(struct {
			n pnode[V]
			a [6]pentry[V]
		})
		b.n.setEntries(b.a[:k:k])
		return &b.n
	case k <= 8:
		b := new(struct {
			n pnode[V]
			a [8]pentry[V]
		})
		b.n.setEntries(b.a[:k:k])
		return &b.n
	case k <= 12:
		b := new(struct {
			n pnode[V]
			a [12]pentry[V]
		})
		b.n.setEntries(b.a[:k:k])
		return &b.n
	case k <= 16:
		b := new(struct {
			n pnode[V]
			a [16]pentry[V]
		})
		b.n.setEntries(b.a[:k:k])
		return &b.n
	default: // collision nodes only
		return withEntrySlice(make([]pentry[V], k))
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
		b.n.setChildren(b.a[:k:k])
		return &b.n
	case k == 2:
		b := new(struct {
			n pnode[V]
			a [2]*pnode[V]
		})
		b.n.setChildren(b.a[:k:k])
		return &b.n
	case k == 3:
		b := new(struct {
			n pnode[V]
			a [3]*pnode[V]
		})
		b.n.setChildren(b.a[:k:k])
		return &b.n
	case k == 4:
		b := new(struct {
			n pnode[V]
			a [4]*pnode[V]
		})
		b.n.setChildren(b.a[:k:k])
		return &b.n
	case k <= 6:
		b := new(struct {
			n pnode[V]
			a [6]*pnode[V]
		})
		b.n.setChildren(b.a[:k:k])
		return &b.n
	case k <= 8:
		b := new(struct {
			n pnode[V]
			a [8]*pnode[V]
		})
		b.n.setChildren(b.a[:k:k])
		return &b.n
	case k <= 12:
		b := new(struct {
			n pnode[V]
			a [12]*pnode[V]
		})
		b.n.setChildren(b.a[:k:k])
		return &b.n
	default:
		b := new(struct {
			n pnode[V]
			a [1 << pmapBits]*pnode[V]
		})
		b.n.setChildren(b.a[:k:k])
		return &b.n
	}
}

// copyNode returns a fresh copy of n with new bitmaps, entry i removed
// (delEntry >= 0) or e inserted at insEntry (insEntry >= 0), and likewise
// child j removed (delChild >= 0) or c inserted at insChild (insChild >= 0).
func (n *pnode[V]) copyNode(datamap, nodemap uint32, delEntry, insEntry int, e pentry[V], delChild, insChild int, c *pnode[V]) *pnode[V] {
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
	m := newNode[V](datamap, nodemap, ne, nc)
	spliceInto(m.entries(), n.entries(), delEntry, insEntry, e)
	spliceInto(m.children(), n.children(), delChild, insChild, c)
	return m
}

// withChild returns a copy of n with child j replaced by c.
func (n *pnode[V]) withChild(j int, c *pnode[V]) *pnode[V] {
	var m *pnode[V]
	if len(n.entries()) > 0 {
		// A mixed node's entries have an allocation of their own: share
		// them, since that keeps nothing else alive.
		m = withChildren[V](len(n.children()))
		m.datamap, m.nodemap = n.datamap, n.nodemap
		m.setEntries(n.entries())
		copy(m.children(), n.children())
	} else {
		m = n.copyNode(n.datamap, n.nodemap, -1, -1, pentry[V]{}, -1, -1, nil)
	}
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
