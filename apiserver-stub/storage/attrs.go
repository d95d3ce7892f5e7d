package storage

import (
	"encoding/binary"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// Invariants of the attribute encoding:
//
//   - A Record's attrs string is written once, by encodeAttrs, and never
//     modified; it and the record's Key are all a lookup needs.
//   - An interned name's id never changes and its entry in the name table
//     is never rewritten: a reader holding an older (shorter) table sees a
//     prefix of the current one, and a record only refers to ids that were
//     in the table when it was encoded.
//
// Why: selector attributes were two maps per record (labels.Set and
// fields.Set), ~300 bytes each with their strings, more than the object's
// JSON for a typical Task. The names (label keys, field paths) repeat
// across every object, and metadata.name and metadata.namespace repeat the
// key, so one short string holds them: a name is a small id in a table
// shared by the process, a value equal to a segment of the key is a
// reference to it, and only the rest is spelled out.
//
// Format: uvarint(number of labels), then that many label entries, then
// field entries up to the end. An entry is a name then a value:
//
//	name:  uvarint(id) with id > 0 an interned name; 0 then uvarint(len) bytes
//	value: uvarint(x): x even: x/2 bytes follow; x odd: the key's segment
//	       x/2 counted from its end (0 = the last one)
//
// Entries are sorted by name within each section, so equal attributes
// encode to equal strings.

// maxInternedNames bounds the shared name table: label keys are chosen by
// users, so a process that saw too many distinct ones spells the rest out
// instead of growing the table without limit. Ids below 2^14 take at most
// two bytes.
const maxInternedNames = 1 << 14

// names is the process-wide table of interned attribute names.
var names struct {
	mu   sync.Mutex        // serializes additions
	ids  map[string]uint64 // name -> id; guarded by mu
	list atomic.Pointer[[]string]
}

// nameOf returns the interned name with the given id ("" and false for an
// id never handed out).
func nameOf(id uint64) (string, bool) {
	l := names.list.Load()
	if l == nil || id == 0 || id > uint64(len(*l)) {
		return "", false
	}
	return (*l)[id-1], true
}

// internName returns name's id, adding it to the table if there is room;
// 0 means the name must be spelled out.
func internName(name string) uint64 {
	names.mu.Lock()
	defer names.mu.Unlock()
	if id, ok := names.ids[name]; ok {
		return id
	}
	var cur []string
	if l := names.list.Load(); l != nil {
		cur = *l
	}
	if len(cur) >= maxInternedNames {
		return 0
	}
	if names.ids == nil {
		names.ids = make(map[string]uint64)
	}
	name = strings.Clone(name) // do not keep the caller's (decoded object's) memory
	// Appending may reuse cur's array past its length: readers of the old
	// slice never look there, and the elements they see are never rewritten.
	next := append(cur, name)
	names.list.Store(&next)
	id := uint64(len(next))
	names.ids[name] = id
	return id
}

// encodeAttrs returns the compact form of a record's labels and fields.
func encodeAttrs(key string, lbls labels.Set, flds fields.Set) string {
	if len(lbls) == 0 && len(flds) == 0 {
		return ""
	}
	b := make([]byte, 0, 64)
	b = binary.AppendUvarint(b, uint64(len(lbls)))
	for _, k := range slices.Sorted(maps.Keys(lbls)) {
		b = appendEntry(b, key, k, lbls[k])
	}
	for _, k := range slices.Sorted(maps.Keys(flds)) {
		b = appendEntry(b, key, k, flds[k])
	}
	return string(b)
}

func appendEntry(b []byte, key, name, value string) []byte {
	if id := internName(name); id > 0 {
		b = binary.AppendUvarint(b, id)
	} else {
		b = binary.AppendUvarint(b, 0)
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
	}
	if value != "" {
		for seg := range 2 {
			if s, ok := keySegment(key, seg); ok && s == value {
				return binary.AppendUvarint(b, uint64(seg)<<1|1)
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(len(value))<<1)
	return append(b, value...)
}

// keySegment returns the n-th '/'-separated segment of key counted from its
// end (0 = the last).
func keySegment(key string, n int) (string, bool) {
	end := len(key)
	for {
		i := strings.LastIndexByte(key[:end], '/')
		if i < 0 {
			return "", false
		}
		if n == 0 {
			return key[i+1 : end], true
		}
		n--
		end = i
	}
}

// attrReader walks one record's encoded attributes.
type attrReader struct {
	s, key string
	i      int
	labels int // label entries not yet read; -1 before the header
}

func newAttrReader(s, key string) attrReader { return attrReader{s: s, key: key, labels: -1} }

func (r *attrReader) uvarint() (uint64, bool) {
	v, n := uvarintString(r.s[r.i:])
	if n <= 0 {
		return 0, false
	}
	r.i += n
	return v, true
}

// next returns the next entry and whether it is a label. ok is false at the
// end (or on a malformed string, which encodeAttrs never writes).
func (r *attrReader) next() (name, value string, label, ok bool) {
	if r.labels < 0 {
		if r.s == "" {
			return "", "", false, false
		}
		n, ok := r.uvarint()
		if !ok {
			return "", "", false, false
		}
		r.labels = int(n)
	}
	if r.i >= len(r.s) {
		return "", "", false, false
	}
	label = r.labels > 0
	if label {
		r.labels--
	}
	id, ok := r.uvarint()
	if !ok {
		return "", "", false, false
	}
	if id > 0 {
		if name, ok = nameOf(id); !ok {
			return "", "", false, false
		}
	} else {
		l, ok := r.uvarint()
		if !ok {
			return "", "", false, false
		}
		if name, ok = r.bytes(l); !ok {
			return "", "", false, false
		}
	}
	x, ok := r.uvarint()
	if !ok {
		return "", "", false, false
	}
	if x&1 == 1 {
		value, ok = keySegment(r.key, int(x>>1))
	} else {
		value, ok = r.bytes(x >> 1)
	}
	return name, value, label, ok
}

// bytes reads the next n bytes.
func (r *attrReader) bytes(n uint64) (string, bool) {
	if n > uint64(len(r.s)-r.i) {
		return "", false
	}
	s := r.s[r.i : r.i+int(n)]
	r.i += int(n)
	return s, true
}

func uvarintString(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// lookup returns the value of a label (or field) of r.
func (r *Record) lookup(label bool, name string) (string, bool) {
	rd := newAttrReader(r.attrs, r.Key)
	for {
		n, v, l, ok := rd.next()
		switch {
		case !ok:
			return "", false
		case l != label:
			if label {
				return "", false // past the labels
			}
			continue // labels come first
		case n == name:
			return v, true
		case n > name:
			return "", false // entries are sorted by name
		}
	}
}

func (r *Record) all(label bool) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		rd := newAttrReader(r.attrs, r.Key)
		for {
			n, v, l, ok := rd.next()
			if !ok || (label && !l) {
				return
			}
			if l == label && !yield(n, v) {
				return
			}
		}
	}
}

func (r *Record) count(label bool) int {
	n := 0
	for range r.all(label) {
		n++
	}
	return n
}

// RecordLabels is the label view of a Record, what label selectors match
// (it implements labels.Labels). It reads the record's compact encoding:
// no map is kept per record.
type RecordLabels Record

// Labels returns the record's labels.
func (r *Record) Labels() *RecordLabels { return (*RecordLabels)(r) }

// Has reports whether the label is set.
func (l *RecordLabels) Has(name string) bool { _, ok := (*Record)(l).lookup(true, name); return ok }

// Get returns the label's value ("" if unset).
func (l *RecordLabels) Get(name string) string { v, _ := (*Record)(l).lookup(true, name); return v }

// Lookup returns the label's value and whether it is set.
func (l *RecordLabels) Lookup(name string) (string, bool) { return (*Record)(l).lookup(true, name) }

// Len is the number of labels.
func (l *RecordLabels) Len() int { return (*Record)(l).count(true) }

// All yields every label in name order.
func (l *RecordLabels) All() iter.Seq2[string, string] { return (*Record)(l).all(true) }

// Set returns the labels as a new map (nil if there are none).
func (l *RecordLabels) Set() labels.Set { return labels.Set(collect(l.All())) }

// RecordFields is the field view of a Record, what field selectors match
// (it implements fields.Fields).
type RecordFields Record

// Fields returns the record's selectable fields.
func (r *Record) Fields() *RecordFields { return (*RecordFields)(r) }

// Has reports whether the field is set.
func (f *RecordFields) Has(name string) bool { _, ok := (*Record)(f).lookup(false, name); return ok }

// Get returns the field's value ("" if unset).
func (f *RecordFields) Get(name string) string { v, _ := (*Record)(f).lookup(false, name); return v }

// Lookup returns the field's value and whether it is set.
func (f *RecordFields) Lookup(name string) (string, bool) { return (*Record)(f).lookup(false, name) }

// Len is the number of fields.
func (f *RecordFields) Len() int { return (*Record)(f).count(false) }

// All yields every field in name order.
func (f *RecordFields) All() iter.Seq2[string, string] { return (*Record)(f).all(false) }

// Set returns the fields as a new map (nil if there are none).
func (f *RecordFields) Set() fields.Set { return fields.Set(collect(f.All())) }

func collect(seq iter.Seq2[string, string]) map[string]string {
	var m map[string]string
	for k, v := range seq {
		if m == nil {
			m = make(map[string]string)
		}
		m[k] = v
	}
	return m
}

var (
	_ labels.Labels = (*RecordLabels)(nil)
	_ fields.Fields = (*RecordFields)(nil)
)
