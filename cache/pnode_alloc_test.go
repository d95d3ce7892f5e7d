package cache

import (
	"fmt"
	"strconv"
	"testing"
	"unsafe"
)

// TestNewNodeShapes allocates a node of every shape a trie node can have
// and checks the arrays' lengths, that they do not overlap, that their
// room is what canInsertEntry and canInsertChild assume, and that copyNode
// and withChild leave the source node unchanged.
func TestNewNodeShapes(t *testing.T) {
	const width = 1 << pmapBits
	for ne := 0; ne <= width; ne++ {
		for nc := 0; ne+nc <= width; nc++ {
			datamap := uint32(1)<<ne - 1         // the low ne bits
			nodemap := (uint32(1)<<nc - 1) << ne // the next nc bits
			n := newNode[int](datamap, nodemap, 0)
			if n.datamap != datamap || n.nodemap != nodemap || len(n.entries()) != ne || len(n.children()) != nc {
				t.Fatalf("newNode(%d, %d): bitmaps %x %x, lengths %d %d", ne, nc, n.datamap, n.nodemap, len(n.entries()), len(n.children()))
			}
			if ne > 0 && n.ent == nil || nc > 0 && n.kids == nil {
				t.Fatalf("newNode(%d, %d): missing arrays", ne, nc)
			}
			kid := &pnode[int]{}
			for i := range n.entries() {
				n.entries()[i] = pentry[int]{key: strconv.Itoa(i), val: i}
			}
			for i := range n.children() {
				n.children()[i] = kid
			}
			// Fill the room left by the size class in place, as an owned
			// node does; neither array may overwrite the other.
			for n.canInsertEntry() {
				k := len(n.entries())
				n.insertEntry(k, pentry[int]{key: strconv.Itoa(k), val: k})
				n.datamap |= ^n.datamap & -^n.datamap // the lowest free bit
			}
			for n.canInsertChild() {
				n.insertChild(0, kid)
				n.nodemap |= ^n.nodemap & -^n.nodemap
			}
			for i, e := range n.entries() {
				if e.key != strconv.Itoa(i) || e.val != i {
					t.Fatalf("newNode(%d, %d): entry %d overwritten: %+v", ne, nc, i, e)
				}
			}
			for _, c := range n.children() {
				if c != kid {
					t.Fatalf("newNode(%d, %d): child overwritten", ne, nc)
				}
			}
			n = newNode[int](datamap, nodemap, 0)
			for i := range n.entries() {
				n.entries()[i] = pentry[int]{key: strconv.Itoa(i), val: i}
			}
			for i := range n.children() {
				n.children()[i] = kid
			}
			if nc > 0 {
				other := &pnode[int]{}
				c := n.withChild(nc-1, other, 0)
				if n.children()[nc-1] != kid || c.children()[nc-1] != other || len(c.entries()) != ne {
					t.Fatalf("withChild(%d, %d) changed its source or lost entries", ne, nc)
				}
			}
			if ne > 0 {
				c := n.copyNode(n.datamap&^1, n.nodemap, 0, -1, pentry[int]{}, -1, -1, nil, 0)
				if len(c.entries()) != ne-1 || n.entries()[0].val != 0 || len(n.entries()) != ne {
					t.Fatalf("copyNode(%d, %d) deleting an entry changed its source", ne, nc)
				}
				if ne > 1 && c.entries()[0].val != 1 {
					t.Fatalf("copyNode(%d, %d) deleted the wrong entry", ne, nc)
				}
			}
		}
	}
}

// TestNodeHeaderSize guards the header size: a node's header is paid once
// per few entries in every trie.
func TestNodeHeaderSize(t *testing.T) {
	if got := unsafe.Sizeof(pnode[int]{}); got != 32 {
		t.Errorf("node header is %d bytes, want 32", got)
	}
	if got := unsafe.Sizeof(pentry[struct{}]{}); got != 16 {
		t.Errorf("key-set entry is %d bytes, want 16", got)
	}
}

// TestSpliceInto covers copying with a removal, an insertion, or neither.
func TestSpliceInto(t *testing.T) {
	src := []int{1, 2, 3}
	del := make([]int, 2)
	spliceInto(del, src, 1, -1, 0)
	ins := make([]int, 4)
	spliceInto(ins, src, -1, 3, 9)
	same := make([]int, 3)
	spliceInto(same, src, -1, -1, 0)
	if got := fmt.Sprint([][]int{del, ins, same}); got != "[[1 3] [1 2 3 9] [1 2 3]]" {
		t.Fatalf("spliceInto: %v", got)
	}
}
