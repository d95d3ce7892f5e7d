package cache

import (
	"encoding/binary"
	"strings"
)

// The index values of a record, encoded in one string.
//
// Every stored object keeps the values its index functions returned, so
// that an update or delete can remove exactly the index entries it was
// added under. They are kept in one string per record, not a []string:
// the record then costs a 16-byte string header and at most one small
// allocation, instead of a 24-byte slice header and an array of 16-byte
// string headers (for two indices, 24 bytes in all instead of 56).
//
// Encoding, for the n indices of the record's index definitions:
//
//   - n == 0: "".
//   - n == 1 and the function returned exactly one value v whose first
//     byte is not valsTag: v itself (shared with the caller, no copy).
//   - otherwise: valsTag, then for each index in order the number of its
//     values, then each value as its length and its bytes; numbers are
//     unsigned varints.
//
// Invariant: a record's encoding depends only on the values, so two
// records hold the same values exactly when their encodings are equal
// (for one n). Decoding never copies: decoded values are substrings.

// valsTag starts every encoding that is not a lone raw value.
const valsTag = 0xff

// encodeIndexVals encodes res, the values of each of len(res) indices.
func encodeIndexVals(res [][]string) string {
	if len(res) == 0 {
		return ""
	}
	if len(res) == 1 && len(res[0]) == 1 && (res[0][0] == "" || res[0][0][0] != valsTag) {
		return res[0][0]
	}
	size := 1
	for _, vs := range res {
		size += uvarintLen(uint64(len(vs)))
		for _, v := range vs {
			size += uvarintLen(uint64(len(v))) + len(v)
		}
	}
	var b strings.Builder
	b.Grow(size)
	var num [binary.MaxVarintLen64]byte
	b.WriteByte(valsTag)
	for _, vs := range res {
		b.Write(binary.AppendUvarint(num[:0], uint64(len(vs))))
		for _, v := range vs {
			b.Write(binary.AppendUvarint(num[:0], uint64(len(v))))
			b.WriteString(v)
		}
	}
	return b.String()
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// appendIndexVals appends index i's values, out of n, from vals to dst.
// vals must be an encoding made by encodeIndexVals for n indices.
func appendIndexVals(dst []string, vals string, n, i int) []string {
	eachIndexVal(vals, n, i, func(v string) bool {
		dst = append(dst, v)
		return true
	})
	return dst
}

// hasIndexVal reports whether value is one of index i's values in vals.
func hasIndexVal(vals string, n, i int, value string) bool {
	found := false
	eachIndexVal(vals, n, i, func(v string) bool {
		found = v == value
		return !found
	})
	return found
}

// eachIndexVal calls fn with each of index i's values in vals, encoded for
// n indices, until fn returns false.
func eachIndexVal(vals string, n, i int, fn func(string) bool) {
	if n == 0 {
		return
	}
	if n == 1 && (vals == "" || vals[0] != valsTag) {
		fn(vals)
		return
	}
	p := 1
	for j := 0; j <= i && j < n; j++ {
		count, k := uvarintAt(vals, p)
		p = k
		for range count {
			l, k := uvarintAt(vals, p)
			v := vals[k : k+int(l)]
			p = k + int(l)
			if j == i && !fn(v) {
				return
			}
		}
	}
}

// uvarintAt decodes the unsigned varint at s[p:] and returns it and the
// offset after it. s is a valid encoding, so the varint is complete.
func uvarintAt(s string, p int) (uint64, int) {
	var x uint64
	var shift uint
	for {
		b := s[p]
		p++
		if b < 0x80 {
			return x | uint64(b)<<shift, p
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
}
