package storage

import (
	"sort"
	"strings"
)

// Invariant: keyIndex holds every key that has at least one version in the
// store (live or tombstone), each once, in ascending byte order. It is a
// list of sorted chunks of at most maxChunk entries; no chunk is empty, and
// every key of chunk i sorts before every key of chunk i+1. A chunked list
// keeps inserts O(maxChunk + n/maxChunk) instead of O(n) for one flat slice,
// and ordered scans are plain slice walks.
type keyIndex struct {
	chunks [][]*keyHistory
	n      int
}

const maxChunk = 512

// chunkFor returns the chunk that holds key, or would hold it.
func (x *keyIndex) chunkFor(key string) int {
	// The first chunk whose first key is greater than key, minus one.
	i := sort.Search(len(x.chunks), func(i int) bool { return x.chunks[i][0].key > key })
	if i > 0 {
		i--
	}
	return i
}

func searchChunk(c []*keyHistory, key string) int {
	return sort.Search(len(c), func(i int) bool { return c[i].key >= key })
}

// insert adds h, whose key must not be in the index yet.
func (x *keyIndex) insert(h *keyHistory) {
	x.n++
	if len(x.chunks) == 0 {
		x.chunks = append(x.chunks, []*keyHistory{h})
		return
	}
	ci := x.chunkFor(h.key)
	c := x.chunks[ci]
	i := searchChunk(c, h.key)
	c = append(c, nil)
	copy(c[i+1:], c[i:])
	c[i] = h
	if len(c) <= maxChunk {
		x.chunks[ci] = c
		return
	}
	// Split in two halves; the right half gets its own backing array so
	// that appends to the left one never overwrite it.
	half := len(c) / 2
	right := make([]*keyHistory, len(c)-half, maxChunk+1)
	copy(right, c[half:])
	clear(c[half:])
	x.chunks[ci] = c[:half]
	x.chunks = append(x.chunks, nil)
	copy(x.chunks[ci+2:], x.chunks[ci+1:])
	x.chunks[ci+1] = right
}

// remove deletes the entry for key, if present.
func (x *keyIndex) remove(key string) {
	if len(x.chunks) == 0 {
		return
	}
	ci := x.chunkFor(key)
	c := x.chunks[ci]
	i := searchChunk(c, key)
	if i == len(c) || c[i].key != key {
		return
	}
	x.n--
	copy(c[i:], c[i+1:])
	c[len(c)-1] = nil
	c = c[:len(c)-1]
	if len(c) > 0 {
		x.chunks[ci] = c
		return
	}
	copy(x.chunks[ci:], x.chunks[ci+1:])
	x.chunks[len(x.chunks)-1] = nil
	x.chunks = x.chunks[:len(x.chunks)-1]
}

// ascend calls fn for every entry whose key is >= from, in order, until fn
// returns false.
func (x *keyIndex) ascend(from string, fn func(h *keyHistory) bool) {
	if len(x.chunks) == 0 {
		return
	}
	ci := x.chunkFor(from)
	i := searchChunk(x.chunks[ci], from)
	for ; ci < len(x.chunks); ci++ {
		for _, h := range x.chunks[ci][i:] {
			if !fn(h) {
				return
			}
		}
		i = 0
	}
}

// ascendPrefix calls fn for every entry under prefix whose key is >= from.
func (x *keyIndex) ascendPrefix(prefix, from string, fn func(h *keyHistory) bool) {
	if from < prefix {
		from = prefix
	}
	x.ascend(from, func(h *keyHistory) bool {
		if !strings.HasPrefix(h.key, prefix) {
			return false
		}
		return fn(h)
	})
}
