package cache

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// The indexer publishes immutable snapshots through an atomic pointer.
//
// Readers: load the pointer once and read that snapshot; no lock, no waiting,
// and a multi-step read (ByIndex then GetByKey for each key) is consistent.
//
// Writers: run all user code (key function, index functions) before taking
// the writer mutex, then, under it, path-copy the persistent maps (O(log n)
// new nodes, no user code) and publish the next snapshot. The mutex only
// orders writers among themselves. A write computed for one set of index
// functions is retried if AddIndexers changed that set meanwhile.
//
// Each object keeps the index values computed when it was written, so an
// update or delete removes exactly the index entries the object was added
// under, without calling the index functions on the old object again.

// indexDefs is the immutable set of index functions of a snapshot. Positions
// are stable: AddIndexers appends.
type indexDefs[T Object] struct {
	names []string
	funcs []IndexFunc[T]
	pos   map[string]int
}

// record is one stored object with its index values (parallel to the
// snapshot's indexDefs). Records are immutable and every write makes a new
// one, so a record's address identifies one version of an object.
type record[T Object] struct {
	obj  T
	vals [][]string
}

// keySet is a persistent set of store keys.
type keySet = pmap[struct{}]

// valueIndex maps each index value to the keys indexed under it; values
// whose set becomes empty are removed.
type valueIndex = pmap[keySet]

type snapshot[T Object] struct {
	defs    *indexDefs[T]
	items   pmap[*record[T]]
	indices []valueIndex // parallel to defs.funcs
	rv      string
	seq     uint64                       // sequence number of the write that produced this snapshot
	lists   atomic.Pointer[listCache[T]] // allocated by the first reader
}

type indexer[T Object] struct {
	keyFunc KeyFunc
	mu      sync.Mutex // serializes writers; readers never take it
	seq     atomic.Uint64
	cur     atomic.Pointer[snapshot[T]]
}

// NewIndexer returns an empty Indexer that stores objects under keyFunc's
// keys and maintains the given indices. Index names must be non-empty and
// functions non-nil; NewIndexer panics otherwise, as on any programming
// error in a constructor call.
func NewIndexer[T Object](keyFunc KeyFunc, indexers Indexers[T]) Indexer[T] {
	if keyFunc == nil {
		panic("cache: NewIndexer with a nil KeyFunc")
	}
	defs := &indexDefs[T]{pos: map[string]int{}}
	for _, name := range sortedNames(indexers) {
		if err := checkIndexFunc(name, indexers[name]); err != nil {
			panic(err)
		}
		defs.pos[name] = len(defs.names)
		defs.names = append(defs.names, name)
		defs.funcs = append(defs.funcs, indexers[name])
	}
	x := &indexer[T]{keyFunc: keyFunc}
	x.cur.Store(&snapshot[T]{defs: defs, indices: make([]valueIndex, len(defs.funcs))})
	return x
}

// NewStore returns an Indexer without indices, as a Store.
func NewStore[T Object](keyFunc KeyFunc) Store[T] { return NewIndexer[T](keyFunc, nil) }

func checkIndexFunc[T Object](name string, f IndexFunc[T]) error {
	if name == "" {
		return fmt.Errorf("cache: empty index name")
	}
	if f == nil {
		return fmt.Errorf("cache: index %q has a nil IndexFunc", name)
	}
	return nil
}

func sortedNames[T Object](ix Indexers[T]) []string {
	names := make([]string, 0, len(ix))
	for name := range ix {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (x *indexer[T]) key(obj T) (string, error) {
	key, err := x.keyFunc(obj)
	if err != nil {
		return "", &KeyError{Obj: obj, Err: err}
	}
	return key, nil
}

// indexValues runs funcs[from:] on obj. It is called without any lock held.
func indexValues[T Object](defs *indexDefs[T], from int, key string, obj T) ([][]string, error) {
	if len(defs.funcs) == from {
		return nil, nil
	}
	vals := make([][]string, len(defs.funcs)-from)
	for i := from; i < len(defs.funcs); i++ {
		v, err := defs.funcs[i](obj)
		if err != nil {
			return nil, &IndexError{Index: defs.names[i], Key: key, Err: err}
		}
		vals[i-from] = v
	}
	return vals, nil
}

// fillIndexValues runs every index function on rec.obj into rec.vals. It
// is called without any lock held.
func fillIndexValues[T Object](defs *indexDefs[T], key string, rec *record[T]) error {
	for i, f := range defs.funcs {
		v, err := f(rec.obj)
		if err != nil {
			return &IndexError{Index: defs.names[i], Key: key, Err: err}
		}
		rec.vals[i] = v
	}
	return nil
}

// newRecord allocates a record for obj with n index values; for up to four
// indices the values' slice shares the record's allocation.
func newRecord[T Object](obj T, n int) *record[T] {
	switch n {
	case 0:
		return &record[T]{obj: obj}
	case 1:
		b := new(struct {
			r record[T]
			a [1][]string
		})
		b.r.obj, b.r.vals = obj, b.a[:]
		return &b.r
	case 2:
		b := new(struct {
			r record[T]
			a [2][]string
		})
		b.r.obj, b.r.vals = obj, b.a[:]
		return &b.r
	case 3:
		b := new(struct {
			r record[T]
			a [3][]string
		})
		b.r.obj, b.r.vals = obj, b.a[:]
		return &b.r
	case 4:
		b := new(struct {
			r record[T]
			a [4][]string
		})
		b.r.obj, b.r.vals = obj, b.a[:]
		return &b.r
	default:
		return &record[T]{obj: obj, vals: make([][]string, n)}
	}
}

// Add inserts or replaces obj.
func (x *indexer[T]) Add(obj T) error { return x.put(obj) }

// Update inserts or replaces obj.
func (x *indexer[T]) Update(obj T) error { return x.put(obj) }

func (x *indexer[T]) put(obj T) error {
	key, err := x.key(obj)
	if err != nil {
		return err
	}
	rv := obj.GetResourceVersion()
	for {
		defs := x.cur.Load().defs
		rec := newRecord(obj, len(defs.funcs))
		if err := fillIndexValues(defs, key, rec); err != nil {
			return err
		}
		x.mu.Lock()
		cur := x.cur.Load()
		if cur.defs != defs {
			// AddIndexers ran meanwhile; index with the new set.
			x.mu.Unlock()
			continue
		}
		x.cur.Store(cur.put(key, rec, rv, x.seq.Add(1)))
		x.mu.Unlock()
		return nil
	}
}

// Delete removes the object stored under obj's key.
func (x *indexer[T]) Delete(obj T) error {
	key, err := x.key(obj)
	if err != nil {
		return err
	}
	rv := obj.GetResourceVersion()
	x.mu.Lock()
	defer x.mu.Unlock()
	x.cur.Store(x.cur.Load().del(key, rv, x.seq.Add(1)))
	return nil
}

// Bookmark records rv without changing the content.
func (x *indexer[T]) Bookmark(rv string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	cur := x.cur.Load()
	next := &snapshot[T]{defs: cur.defs, items: cur.items, indices: cur.indices, rv: rv, seq: cur.seq}
	next.lists.Store(cur.lists.Load()) // same content, same results
	x.cur.Store(next)
}

// Replace swaps the content for items in one atomic step.
func (x *indexer[T]) Replace(items []T, rv string) error {
	keys := make([]string, len(items))
	for i, obj := range items {
		key, err := x.key(obj)
		if err != nil {
			return err
		}
		keys[i] = key
	}
	for {
		defs := x.cur.Load().defs
		// One allocation for all records: faster, at the price of keeping
		// the array alive until its last record is replaced (at most one
		// record's size per object).
		recs := make([]record[T], len(items))
		for i, obj := range items {
			vals, err := indexValues(defs, 0, keys[i], obj)
			if err != nil {
				return err
			}
			recs[i] = record[T]{obj: obj, vals: vals}
		}
		seq := x.seq.Add(1)
		next := buildSnapshot(defs, keys, recs, rv, seq)
		x.mu.Lock()
		if x.cur.Load().defs != defs {
			x.mu.Unlock()
			continue
		}
		x.cur.Store(next)
		x.mu.Unlock()
		return nil
	}
}

// buildSnapshot builds a snapshot from scratch; the last record of a
// repeated key wins. It calls no user code.
func buildSnapshot[T Object](defs *indexDefs[T], keys []string, recs []record[T], rv string, seq uint64) *snapshot[T] {
	last := make(map[string]int, len(keys))
	for i, k := range keys {
		last[k] = i
	}
	entries := make([]pentry[*record[T]], 0, len(last))
	for i, k := range keys {
		if last[k] != i {
			continue
		}
		entries = append(entries, pentry[*record[T]]{key: k, val: &recs[i]})
	}
	s := &snapshot[T]{defs: defs, rv: rv, seq: seq, indices: make([]valueIndex, len(defs.funcs))}
	for i := range defs.funcs {
		s.indices[i] = buildIndex(entries, i)
	}
	s.items = buildPmap(entries)
	return s
}

// buildIndex builds index i from records' stored values.
func buildIndex[T Object](entries []pentry[*record[T]], i int) valueIndex {
	byValue := map[string][]pentry[struct{}]{}
	for _, e := range entries {
		for _, v := range e.val.vals[i] {
			ks := byValue[v]
			if n := len(ks); n > 0 && ks[n-1].key == e.key {
				continue // the index function repeated a value
			}
			byValue[v] = append(ks, pentry[struct{}]{key: e.key})
		}
	}
	values := make([]pentry[keySet], 0, len(byValue))
	for v, ks := range byValue {
		values = append(values, pentry[keySet]{key: v, val: buildPmap(ks)})
	}
	return buildPmap(values)
}

// put returns the snapshot with key bound to rec.
func (s *snapshot[T]) put(key string, rec *record[T], rv string, seq uint64) *snapshot[T] {
	items, old, existed := s.items.set(key, rec)
	next := &snapshot[T]{defs: s.defs, items: items, indices: s.indices, rv: s.rv, seq: seq}
	if rv != "" {
		next.rv = rv
	}
	copied := false
	for i := range s.indices {
		var oldVals []string
		if existed {
			oldVals = old.vals[i]
			if slices.Equal(oldVals, rec.vals[i]) {
				continue // the common case: nothing to re-index
			}
		}
		if !copied {
			next.indices = slices.Clone(s.indices)
			copied = true
		}
		next.indices[i] = reindex(next.indices[i], key, oldVals, rec.vals[i])
	}
	return next
}

// del returns the snapshot without key.
func (s *snapshot[T]) del(key, rv string, seq uint64) *snapshot[T] {
	items, old, existed := s.items.delete(key)
	next := &snapshot[T]{defs: s.defs, items: items, indices: s.indices, rv: s.rv, seq: seq}
	if rv != "" {
		next.rv = rv
	}
	if !existed {
		return next
	}
	if len(s.indices) > 0 {
		next.indices = slices.Clone(s.indices)
		for i := range next.indices {
			next.indices[i] = reindex(next.indices[i], key, old.vals[i], nil)
		}
	}
	return next
}

// reindex moves key from the values in oldVals to those in newVals.
func reindex(ix valueIndex, key string, oldVals, newVals []string) valueIndex {
	for _, v := range oldVals {
		if !slices.Contains(newVals, v) {
			ix = removeFromIndex(ix, v, key)
		}
	}
	for _, v := range newVals {
		if !slices.Contains(oldVals, v) {
			ix = addToIndex(ix, v, key)
		}
	}
	return ix
}

func addToIndex(ix valueIndex, value, key string) valueIndex {
	set, _ := ix.get(value)
	if _, ok := set.get(key); ok {
		return ix
	}
	set, _, _ = set.set(key, struct{}{})
	ix, _, _ = ix.set(value, set)
	return ix
}

func removeFromIndex(ix valueIndex, value, key string) valueIndex {
	set, ok := ix.get(value)
	if !ok {
		return ix
	}
	set, _, removed := set.delete(key)
	if !removed {
		return ix
	}
	if set.len() == 0 {
		ix, _, _ = ix.delete(value)
		return ix
	}
	ix, _, _ = ix.set(value, set)
	return ix
}

// maxAddIndexersRounds bounds how often AddIndexers recomputes, outside the
// writer lock, the objects written while it was computing. Past it, the few
// objects still stale are indexed while holding the writer lock (readers are
// still not blocked), so a steady writer cannot starve AddIndexers.
const maxAddIndexersRounds = 8

// testHookAddIndexersRetry, if set, runs whenever AddIndexers found that
// objects changed under it and goes around again (tests only).
var testHookAddIndexersRetry func()

// AddIndexers adds indices and back-fills them from the stored objects.
func (x *indexer[T]) AddIndexers(add Indexers[T]) error {
	if len(add) == 0 {
		return nil
	}
	names := sortedNames(add)
	for _, name := range names {
		if err := checkIndexFunc(name, add[name]); err != nil {
			return err
		}
	}
	newDefs := func(old *indexDefs[T]) (*indexDefs[T], error) {
		d := &indexDefs[T]{
			names: slices.Clone(old.names),
			funcs: slices.Clone(old.funcs),
			pos:   make(map[string]int, len(old.pos)+len(names)),
		}
		for name, i := range old.pos {
			d.pos[name] = i
		}
		for _, name := range names {
			if _, dup := d.pos[name]; dup {
				return nil, fmt.Errorf("cache: indexer conflict: index %q already exists", name)
			}
			d.pos[name] = len(d.names)
			d.names = append(d.names, name)
			d.funcs = append(d.funcs, add[name])
		}
		return d, nil
	}

	// computed holds the new indices' values for each object version
	// (key, record) seen so far; versions stay valid across rounds.
	type computedVals struct {
		rec  *record[T]
		vals [][]string
	}
	computed := map[string]computedVals{}
	var defs *indexDefs[T]
	catchUp := func(s *snapshot[T]) error {
		var err error
		s.items.each(func(key string, rec *record[T]) bool {
			if c, ok := computed[key]; ok && c.rec == rec {
				return true
			}
			var vals [][]string
			vals, err = indexValues(defs, len(s.defs.funcs), key, rec.obj)
			computed[key] = computedVals{rec: rec, vals: vals}
			return err == nil
		})
		return err
	}

	s := x.cur.Load()
	var err error
	defs, err = newDefs(s.defs)
	if err != nil {
		return err
	}
	for round := 0; ; round++ {
		if err := catchUp(s); err != nil {
			return err
		}
		x.mu.Lock()
		cur := x.cur.Load()
		if cur.defs != s.defs {
			// Another AddIndexers won the race: start over on its result.
			x.mu.Unlock()
			s = cur
			if defs, err = newDefs(s.defs); err != nil {
				return err
			}
			clear(computed)
			continue
		}
		if cur.seq != s.seq {
			if round < maxAddIndexersRounds {
				x.mu.Unlock()
				s = cur
				if testHookAddIndexersRetry != nil {
					testHookAddIndexersRetry()
				}
				continue
			}
			if err := catchUp(cur); err != nil {
				x.mu.Unlock()
				return err
			}
		}
		// cur's objects are all in computed: build the extended snapshot.
		from := len(cur.defs.funcs)
		entries := make([]pentry[*record[T]], 0, cur.items.len())
		recs := make([]record[T], 0, cur.items.len())
		cur.items.each(func(key string, rec *record[T]) bool {
			vals := make([][]string, len(defs.funcs))
			copy(vals, rec.vals)
			copy(vals[from:], computed[key].vals)
			// Records are shared with older snapshots: copy, never modify.
			recs = append(recs, record[T]{obj: rec.obj, vals: vals})
			entries = append(entries, pentry[*record[T]]{key: key, val: &recs[len(recs)-1]})
			return true
		})
		next := &snapshot[T]{defs: defs, rv: cur.rv, seq: x.seq.Add(1), indices: slices.Clone(cur.indices)}
		for i := from; i < len(defs.funcs); i++ {
			next.indices = append(next.indices, buildIndex(entries, i))
		}
		next.items = buildPmap(entries)
		x.cur.Store(next)
		x.mu.Unlock()
		return nil
	}
}

// GetIndexers returns a copy of the index functions.
func (x *indexer[T]) GetIndexers() Indexers[T] {
	defs := x.cur.Load().defs
	out := make(Indexers[T], len(defs.names))
	for i, name := range defs.names {
		out[name] = defs.funcs[i]
	}
	return out
}
