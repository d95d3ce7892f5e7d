package workqueue

// This file holds the storage shared by the delaying and priority queues: a
// slab of entries addressed by int32 index, and binary heaps of those
// indexes. Entries live in one slice and freed slots are reused, so a queue
// in steady state allocates nothing per item, and a heap swap moves two
// int32s instead of updating a map.

// entry is one item waiting in a delaying or priority queue.
type entry[T comparable] struct {
	item    T
	readyAt int64  // nanoseconds since the queue's epoch; ordering of waitHeap
	key     int64  // ordering of readyHeap (higher first); see priority_queue.go
	seq     uint64 // insertion order; breaks ties so equal keys stay FIFO
	prio    int    // priority as given by the user (priority queue only)

	waitPos  int32 // position in the wait heap, or -1
	readyPos int32 // position in the ready heap, or -1
	flags    uint8 // priority queue state (pq* constants)
}

// slab stores entries; index is the item's slot.
type slab[T comparable] struct {
	entries []entry[T]
	free    []int32
	index   map[T]int32
	seq     uint64
}

func newSlab[T comparable]() *slab[T] {
	return &slab[T]{index: map[T]int32{}}
}

// alloc creates an entry for item and returns its slot.
func (s *slab[T]) alloc(item T) int32 {
	var i int32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		s.entries = append(s.entries, entry[T]{})
		i = int32(len(s.entries) - 1)
	}
	s.seq++
	s.entries[i] = entry[T]{item: item, seq: s.seq, waitPos: -1, readyPos: -1}
	s.index[item] = i
	return i
}

// release frees slot i, which must be in no heap.
func (s *slab[T]) release(i int32) {
	delete(s.index, s.entries[i].item)
	s.entries[i] = entry[T]{}
	s.free = append(s.free, i)
	// Give memory back once the queue has emptied after a burst.
	if len(s.index) == 0 && len(s.entries) > 1024 {
		s.entries = nil
		s.free = nil
		s.index = map[T]int32{}
	}
}

// slotHeap is a binary min-heap of slab slots. A wait heap orders by
// (readyAt, seq); a ready heap orders by (key descending, seq).
type slotHeap[T comparable] struct {
	s     *slab[T]
	h     []int32
	ready bool // true: ready heap; false: wait heap
}

func (h *slotHeap[T]) len() int { return len(h.h) }

func (h *slotHeap[T]) peek() int32 { return h.h[0] }

func (h *slotHeap[T]) less(a, b int32) bool {
	x, y := &h.s.entries[a], &h.s.entries[b]
	if h.ready {
		if x.key != y.key {
			return x.key > y.key
		}
	} else if x.readyAt != y.readyAt {
		return x.readyAt < y.readyAt
	}
	return x.seq < y.seq
}

func (h *slotHeap[T]) setPos(slot int32, pos int) {
	if h.ready {
		h.s.entries[slot].readyPos = int32(pos)
	} else {
		h.s.entries[slot].waitPos = int32(pos)
	}
}

func (h *slotHeap[T]) pos(slot int32) int {
	if h.ready {
		return int(h.s.entries[slot].readyPos)
	}
	return int(h.s.entries[slot].waitPos)
}

// push adds slot and reports whether it became the head.
func (h *slotHeap[T]) push(slot int32) bool {
	h.h = append(h.h, slot)
	h.setPos(slot, len(h.h)-1)
	return h.up(len(h.h)-1) == 0
}

// pop removes and returns the head.
func (h *slotHeap[T]) pop() int32 {
	return h.remove(0)
}

// remove takes slot at heap position pos out of the heap.
func (h *slotHeap[T]) remove(pos int) int32 {
	slot := h.h[pos]
	last := len(h.h) - 1
	if pos != last {
		h.h[pos] = h.h[last]
		h.setPos(h.h[pos], pos)
	}
	h.h = h.h[:last]
	if pos != last {
		h.fix(pos)
	}
	h.setPos(slot, -1)
	if cap(h.h) > 1024 && len(h.h) < cap(h.h)/4 {
		h.h = append([]int32(nil), h.h...)
	}
	return slot
}

// fix restores the order after the entry at pos changed its key, and
// reports the entry's new position.
func (h *slotHeap[T]) fix(pos int) int {
	if p := h.up(pos); p != pos {
		return p
	}
	return h.down(pos)
}

func (h *slotHeap[T]) up(pos int) int {
	for pos > 0 {
		parent := (pos - 1) / 2
		if !h.less(h.h[pos], h.h[parent]) {
			break
		}
		h.swap(pos, parent)
		pos = parent
	}
	return pos
}

func (h *slotHeap[T]) down(pos int) int {
	n := len(h.h)
	for {
		l := 2*pos + 1
		if l >= n {
			return pos
		}
		c := l
		if r := l + 1; r < n && h.less(h.h[r], h.h[l]) {
			c = r
		}
		if !h.less(h.h[c], h.h[pos]) {
			return pos
		}
		h.swap(pos, c)
		pos = c
	}
}

func (h *slotHeap[T]) swap(i, j int) {
	h.h[i], h.h[j] = h.h[j], h.h[i]
	h.setPos(h.h[i], i)
	h.setPos(h.h[j], j)
}
