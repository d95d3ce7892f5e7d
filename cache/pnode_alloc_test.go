package cache

import (
	"fmt"
	"strconv"
	"testing"
)

// TestNewNodeShapes allocates a node of every shape a 16-way trie can hold
// (and collision-node sizes past it) and checks the arrays' lengths, that
// they do not overlap, and that copyNode and withChild leave the source
// node unchanged.
func TestNewNodeShapes(t *testing.T) {
	const width = 1 << pmapBits
	for ne := 0; ne <= width+3; ne++ {
		for nc := 0; nc <= width; nc++ {
			if ne+nc > width && nc > 0 {
				continue // only collision nodes exceed the width, and they have no children
			}
			n := newNode[int](7, 9, ne, nc, 0)
			if n.datamap != 7 || n.nodemap != 9 || len(n.entries()) != ne || len(n.children()) != nc {
				t.Fatalf("newNode(%d, %d): bitmaps %d %d, lengths %d %d", ne, nc, n.datamap, n.nodemap, len(n.entries()), len(n.children()))
			}
			kid := &pnode[int]{}
			for i := range n.entries() {
				n.entries()[i] = pentry[int]{key: strconv.Itoa(i), val: i}
			}
			for i := range n.children() {
				n.children()[i] = kid
			}
			for i, e := range n.entries() {
				if e.key != strconv.Itoa(i) || e.val != i {
					t.Fatalf("newNode(%d, %d): entry %d overwritten: %+v", ne, nc, i, e)
				}
			}
			if nc > 0 {
				other := &pnode[int]{}
				c := n.withChild(nc-1, other, 0)
				if n.children()[nc-1] != kid || c.children()[nc-1] != other || len(c.entries()) != ne {
					t.Fatalf("withChild(%d, %d) changed its source or lost entries", ne, nc)
				}
			}
			if ne > 0 {
				c := n.copyNode(n.datamap, n.nodemap, 0, -1, pentry[int]{}, -1, -1, nil, 0)
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
