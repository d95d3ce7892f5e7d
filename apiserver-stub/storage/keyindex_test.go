package storage

import (
	"fmt"
	"slices"
	"testing"
)

// FuzzKeyIndex drives the chunked key index with a random sequence of
// inserts, removes and scans, and checks it against a sorted slice. The
// chunk size is large, so the fuzzer is given a small key alphabet and
// many operations per input to reach splits and merges.
func FuzzKeyIndex(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 128, 129, 64})
	f.Add(make([]byte, 2000))
	seq := make([]byte, 3000)
	for i := range seq {
		seq[i] = byte(i * 7)
	}
	f.Add(seq)
	f.Fuzz(func(t *testing.T, ops []byte) {
		var x keyIndex
		var ref []string
		for i, op := range ops {
			// Spread keys over 2^11 values so inserts hit many chunks.
			k := fmt.Sprintf("/k/%04d", (int(op)*37+i*11)%2048)
			pos, found := slices.BinarySearch(ref, k)
			switch {
			case op%4 == 3 && found: // remove
				x.remove(k)
				ref = slices.Delete(ref, pos, pos+1)
			case !found:
				x.insert(&keyHistory{key: k})
				ref = slices.Insert(ref, pos, k)
			}
		}
		if x.n != len(ref) {
			t.Fatalf("index holds %d keys, want %d", x.n, len(ref))
		}
		for _, c := range x.chunks {
			if len(c) == 0 || len(c) > maxChunk {
				t.Fatalf("chunk of %d entries", len(c))
			}
		}
		var got []string
		x.ascend("", func(h *keyHistory) bool { got = append(got, h.key); return true })
		if !slices.Equal(got, ref) {
			t.Fatalf("ascend = %d keys, want %d (first mismatch in order)", len(got), len(ref))
		}
		// A scan from an arbitrary key starts at the first key >= it.
		if len(ops) > 0 {
			from := fmt.Sprintf("/k/%04d", int(ops[0])*8)
			pos, _ := slices.BinarySearch(ref, from)
			var first string
			x.ascend(from, func(h *keyHistory) bool { first = h.key; return false })
			if pos < len(ref) && first != ref[pos] || pos == len(ref) && first != "" {
				t.Fatalf("ascend(%q) starts at %q, want index %d of %d", from, first, pos, len(ref))
			}
		}
	})
}

// TestKeyIndexManyKeys exercises splits and removals at scale.
func TestKeyIndexManyKeys(t *testing.T) {
	var x keyIndex
	const n = 6000
	for i := range n {
		x.insert(&keyHistory{key: fmt.Sprintf("/k/%08d", (i*7919)%n)})
	}
	if len(x.chunks) < n/maxChunk {
		t.Fatalf("%d chunks for %d keys", len(x.chunks), n)
	}
	for i := 0; i < n; i += 2 {
		x.remove(fmt.Sprintf("/k/%08d", i))
	}
	x.remove("/k/absent")
	i := 1
	x.ascend("", func(h *keyHistory) bool {
		if want := fmt.Sprintf("/k/%08d", i); h.key != want {
			t.Fatalf("got %s, want %s", h.key, want)
		}
		i += 2
		return true
	})
	if i != n+1 || x.n != n/2 {
		t.Fatalf("scanned to %d, n=%d", i, x.n)
	}
}
