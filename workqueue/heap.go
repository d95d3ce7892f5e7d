package workqueue

// This file holds the storage shared by the delaying and priority queues: a
// slab of entries addressed by int32 slot, and min-heaps of nodes that point
// into it.
//
// Entries live in one slice and freed slots are reused, so a queue in steady
// state allocates nothing per item. A heap node carries its own sort key, so
// sifting reads only the heap array (no pointer chasing), and the heaps are
// lazy: when an entry's key changes it is pushed again with a fresh seq and
// the old node becomes stale (its seq no longer matches the entry's), to be
// skipped when it surfaces. Nothing tracks heap positions, so a sift writes
// only the heap array.

// entry is one item known to a delaying or priority queue.
type entry[T comparable] struct {
	item    T
	readyAt int64  // ns since the queue's epoch: when it is (or became) due
	seq     uint64 // seq of the entry's live heap node; 0 when released
	prio    int    // priority as given by the user (priority queue only)
	flags   uint8  // priority queue state (pq* constants)
}

// slabChunk is the number of entries per chunk. Chunks never move, so the
// slab grows without copying (a growing slice would allocate about five
// times its final size on the way up).
const slabChunk = 256

// slab stores entries; index maps an item to its slot.
type slab[T comparable] struct {
	chunks [][]entry[T]
	size   int32 // slots handed out so far (free ones included)
	free   int32 // first free slot + 1 (0: none); a free entry's readyAt links to the next
	index  map[T]int32
	seq    uint64
}

func newSlab[T comparable]() *slab[T] {
	return &slab[T]{index: map[T]int32{}}
}

// at returns the entry in slot i.
func (s *slab[T]) at(i int32) *entry[T] {
	return &s.chunks[i/slabChunk][i%slabChunk]
}

// valid reports whether slot i exists (a stale node may outlive a reset).
func (s *slab[T]) valid(i int32) bool {
	return i < s.size
}

// alloc creates an entry for item and returns its slot.
func (s *slab[T]) alloc(item T) int32 {
	var i int32
	if s.free != 0 {
		// The free list is threaded through the free entries themselves,
		// so releasing a burst allocates nothing.
		i = s.free - 1
		s.free = int32(s.at(i).readyAt)
	} else {
		i = s.size
		switch {
		case i == 0:
			// A small queue stays small: the first chunk grows by append.
			s.chunks = append(s.chunks, make([]entry[T], 1, 4))
		case int(i/slabChunk) == len(s.chunks):
			s.chunks = append(s.chunks, make([]entry[T], slabChunk))
		case i < slabChunk:
			s.chunks[0] = append(s.chunks[0], entry[T]{})
		}
		s.size++
	}
	*s.at(i) = entry[T]{item: item}
	s.index[item] = i
	return i
}

// release frees slot i; any heap node still pointing at it becomes stale.
func (s *slab[T]) release(i int32) {
	e := s.at(i)
	delete(s.index, e.item)
	*e = entry[T]{readyAt: int64(s.free)} // seq 0: no node matches it
	s.free = i + 1
	// Give memory back once the queue has emptied after a burst.
	if len(s.index) == 0 && s.size > 4*slabChunk {
		s.chunks = nil
		s.size = 0
		s.free = 0
		s.index = map[T]int32{}
	}
}

// nextSeq returns a fresh, never-zero sequence number.
func (s *slab[T]) nextSeq() uint64 {
	s.seq++
	return s.seq
}

// node is a heap element: ordered by key, then seq (FIFO among equal keys).
type node struct {
	key  int64
	seq  uint64
	slot int32
}

func (a node) less(b node) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return a.seq < b.seq
}

// nodeHeap is a binary min-heap of nodes. It may hold stale nodes; the
// owner decides liveness and calls compact when they pile up.
type nodeHeap struct {
	h []node
}

func (h *nodeHeap) len() int { return len(h.h) }

func (h *nodeHeap) peek() node { return h.h[0] }

// push adds n and reports whether it is now the head.
func (h *nodeHeap) push(n node) bool {
	if len(h.h) == cap(h.h) {
		// Double, rather than append's 1.25x for large slices, to allocate
		// about twice the final size instead of five times.
		grown := make([]node, len(h.h), max(8, 2*cap(h.h)))
		copy(grown, h.h)
		h.h = grown
	}
	h.h = append(h.h, n)
	i := len(h.h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !n.less(h.h[parent]) {
			break
		}
		h.h[i] = h.h[parent]
		i = parent
	}
	h.h[i] = n
	return i == 0
}

// pop removes and returns the head.
func (h *nodeHeap) pop() node {
	top := h.h[0]
	last := len(h.h) - 1
	n := h.h[last]
	h.h = h.h[:last]
	if last > 0 {
		h.siftDown(0, n)
	}
	if cap(h.h) > 1024 && len(h.h) < cap(h.h)/4 {
		h.h = append([]node(nil), h.h...)
	}
	return top
}

// siftDown places n at or below position i.
func (h *nodeHeap) siftDown(i int, n node) {
	size := len(h.h)
	for {
		c := 2*i + 1
		if c >= size {
			break
		}
		if r := c + 1; r < size && h.h[r].less(h.h[c]) {
			c = r
		}
		if !h.h[c].less(n) {
			break
		}
		h.h[i] = h.h[c]
		i = c
	}
	h.h[i] = n
}

// compact drops the nodes live rejects and restores the heap order. Owners
// call it when stale nodes outnumber live ones, which bounds the heap at
// about twice the live entries.
func (h *nodeHeap) compact(live func(node) bool) {
	kept := h.h[:0]
	for _, n := range h.h {
		if live(n) {
			kept = append(kept, n)
		}
	}
	clear(h.h[len(kept):])
	h.h = kept
	for i := len(h.h)/2 - 1; i >= 0; i-- {
		h.siftDown(i, h.h[i])
	}
}
