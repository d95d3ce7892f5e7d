package cache

import (
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// The indexer publishes immutable snapshots through an atomic pointer, lazily.
//
// Readers: take the current snapshot once and read it alone; no waiting on
// user code, and a multi-step read (ByIndex then GetByKey for each key) is
// consistent. A snapshot is published when a reader asks for one after a
// write: the reader takes the writer mutex for that O(1) step (it copies
// the writer's roots and starts a new edit epoch), never for a walk.
//
// Writers: run all user code (key function, index functions) before taking
// the writer mutex, then, under it, update the persistent maps. Nodes made
// since the last publication belong to the writer's edit epoch and are
// modified in place (see pmap.go); published nodes are copied along the
// path, as a reader may hold them. So a write with no reader in between
// costs a hash-trie update in place, and a write after a reader's snapshot
// pays the path copy once per path. The mutex orders writers among
// themselves and with publication. A write computed for one set of index
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

// record is one stored object with its index values, inline in the items
// map's entry. vals holds the values of all indices, encoded (see
// index_vals.go).
type record[T Object] struct {
	obj  T
	vals string
}

// keySet is a persistent set of store keys.
type keySet = pmap[struct{}]

// valueIndex maps each index value to the keys indexed under it; values
// whose set becomes empty are removed.
type valueIndex = pmap[keySet]

// state is the content of a snapshot.
type state[T Object] struct {
	defs    *indexDefs[T]
	items   pmap[record[T]]
	indices []valueIndex // parallel to defs.funcs
	rv      string
	seq     uint64 // sequence number of the write that produced this state
}

type snapshot[T Object] struct {
	state[T]
	lists atomic.Pointer[listCache[T]] // allocated by the first reader
}

type indexer[T Object] struct {
	keyFunc KeyFunc
	// objIdentity: T is a pointer type, so two records hold the same object
	// version exactly when their objects are equal pointers.
	objIdentity bool

	mu      sync.Mutex // serializes writers and publication
	w       state[T]   // the writer's state; guarded by mu
	edit    uint64     // w's nodes of this epoch are the writer's own; guarded by mu
	changed bool       // w's content changed since the last publication; guarded by mu

	seq  atomic.Uint64 // w.seq, stored after each write
	want atomic.Bool   // a reader waits for a snapshot newer than pub
	size atomic.Int64  // w.items.len(), stored with seq
	defs atomic.Pointer[indexDefs[T]]
	pub  atomic.Pointer[snapshot[T]] // the last published snapshot
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
	x := &indexer[T]{keyFunc: keyFunc, objIdentity: reflect.TypeFor[T]().Kind() == reflect.Pointer}
	x.w = state[T]{defs: defs, indices: make([]valueIndex, len(defs.funcs))}
	x.defs.Store(defs)
	x.pub.Store(&snapshot[T]{state: state[T]{defs: defs, indices: slices.Clone(x.w.indices)}})
	x.edit = newEdit()
	return x
}

// snap returns a snapshot holding every write that completed before the
// call, publishing one if needed. It never parks on the writer mutex: it
// asks the writer to publish (want), and takes the mutex only when it is
// free, to publish itself. A writer holding the mutex publishes as it
// commits, so the wait is one write's in-memory update at most.
func (x *indexer[T]) snap() *snapshot[T] {
	s := x.pub.Load()
	target := x.seq.Load()
	if s.seq == target {
		return s
	}
	x.want.Store(true)
	for {
		if x.mu.TryLock() {
			s = x.publishLocked()
			x.mu.Unlock()
			return s
		}
		if s = x.pub.Load(); s.seq >= target {
			return s
		}
		runtime.Gosched()
	}
}

// writerSpins bounds how often a writer retries the mutex before parking.
const writerSpins = 64

// lockWriter takes the writer mutex for a write. Besides other writers,
// only readers publishing a snapshot hold it, for O(1) work, so a writer
// retries for a moment before it parks: with many runnable readers a parked
// writer waits for the scheduler far longer than the publication took
// (sync.Mutex does not spin while other goroutines are runnable).
func (x *indexer[T]) lockWriter() {
	for range writerSpins {
		if x.mu.TryLock() {
			return
		}
		for range 30 {
			spinSink.Add(0) // a short pause that the compiler keeps
		}
	}
	x.mu.Lock()
}

var spinSink atomic.Uint32

// publishLocked publishes the writer's state unless the last snapshot
// already holds it, and returns the current snapshot. Afterwards the writer
// works in a new epoch: no node of the snapshot is modified again.
func (x *indexer[T]) publishLocked() *snapshot[T] {
	p := x.pub.Load()
	if p.seq == x.w.seq {
		return p
	}
	s := &snapshot[T]{state: x.w}
	s.indices = slices.Clone(x.w.indices)
	if !x.changed && p.defs == s.defs {
		s.lists.Store(p.lists.Load()) // same content, same results
	}
	x.changed = false
	x.want.Store(false)
	x.pub.Store(s)
	x.edit = newEdit()
	return s
}

// commitLocked records that the writer's state changed, and publishes it
// if a reader is waiting for it.
func (x *indexer[T]) commitLocked(content bool) {
	x.w.seq++
	if content {
		x.changed = true
	}
	x.size.Store(int64(x.w.items.len()))
	x.seq.Store(x.w.seq)
	if x.want.Load() {
		x.publishLocked()
	}
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

// computeIndexVals runs every index function on obj and encodes the
// results (see index_vals.go). It is called without any lock held.
func computeIndexVals[T Object](defs *indexDefs[T], key string, obj T) (string, error) {
	return computeMore(defs, 0, key, obj, "")
}

// computeMore runs funcs[from:] on obj and encodes the values of the first
// from indices, decoded from prev, followed by the new ones.
func computeMore[T Object](defs *indexDefs[T], from int, key string, obj T, prev string) (string, error) {
	n := len(defs.funcs)
	var small [4][]string
	res := small[:0]
	if n > len(small) {
		res = make([][]string, 0, n)
	}
	for i := 0; i < from; i++ {
		res = append(res, appendIndexVals(nil, prev, from, i))
	}
	for i := from; i < n; i++ {
		v, err := defs.funcs[i](obj)
		if err != nil {
			return "", &IndexError{Index: defs.names[i], Key: key, Err: err}
		}
		res = append(res, v)
	}
	return encodeIndexVals(res), nil
}

// Add inserts or replaces obj.
func (x *indexer[T]) Add(obj T) error { _, _, err := x.Swap(obj); return err }

// Update inserts or replaces obj.
func (x *indexer[T]) Update(obj T) error { _, _, err := x.Swap(obj); return err }

// Swap inserts or replaces obj and returns the object it replaced.
func (x *indexer[T]) Swap(obj T) (old T, existed bool, err error) {
	key, err := x.key(obj)
	if err != nil {
		return old, false, err
	}
	rv := obj.GetResourceVersion()
	for {
		defs := x.defs.Load()
		vals, err := computeIndexVals(defs, key, obj)
		if err != nil {
			return old, false, err
		}
		x.lockWriter()
		if x.w.defs != defs {
			// AddIndexers ran meanwhile; index with the new set.
			x.mu.Unlock()
			continue
		}
		prev, existed := x.putLocked(key, record[T]{obj: obj, vals: vals}, rv)
		x.mu.Unlock()
		return prev.obj, existed, nil
	}
}

func (x *indexer[T]) putLocked(key string, rec record[T], rv string) (old record[T], existed bool) {
	w := &x.w
	w.items, old, existed = w.items.assoc(key, rec, x.edit)
	if rv != "" {
		w.rv = rv
	}
	if !existed || old.vals != rec.vals { // equal: the common case, nothing to re-index
		n := len(w.indices)
		var oldBuf, newBuf [2]string
		for i := range w.indices {
			var oldVals []string
			newVals := appendIndexVals(newBuf[:0], rec.vals, n, i)
			if existed {
				oldVals = appendIndexVals(oldBuf[:0], old.vals, n, i)
				if slices.Equal(oldVals, newVals) {
					continue
				}
			}
			w.indices[i] = reindex(w.indices[i], key, oldVals, newVals, x.edit)
		}
	}
	x.commitLocked(true)
	return old, existed
}

// Delete removes the object stored under obj's key.
func (x *indexer[T]) Delete(obj T) error { _, _, err := x.Remove(obj); return err }

// Remove removes the object stored under obj's key and returns it.
func (x *indexer[T]) Remove(obj T) (T, bool, error) {
	key, err := x.key(obj)
	if err != nil {
		var zero T
		return zero, false, err
	}
	rv := obj.GetResourceVersion()
	x.lockWriter()
	defer x.mu.Unlock()
	w := &x.w
	var old record[T]
	var existed bool
	w.items, old, existed = w.items.dissoc(key, x.edit)
	if rv != "" {
		w.rv = rv
	}
	if existed {
		n := len(w.indices)
		var buf [2]string
		for i := range w.indices {
			w.indices[i] = reindex(w.indices[i], key, appendIndexVals(buf[:0], old.vals, n, i), nil, x.edit)
		}
	}
	x.commitLocked(existed)
	return old.obj, existed, nil
}

// Bookmark records rv without changing the content.
func (x *indexer[T]) Bookmark(rv string) {
	x.lockWriter()
	defer x.mu.Unlock()
	x.w.rv = rv
	x.commitLocked(false)
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
		defs := x.defs.Load()
		recs := make([]record[T], len(items))
		for i, obj := range items {
			vals, err := computeIndexVals(defs, keys[i], obj)
			if err != nil {
				return err
			}
			recs[i] = record[T]{obj: obj, vals: vals}
		}
		edit := newEdit()
		next := buildState(defs, keys, recs, rv, edit)
		x.lockWriter()
		if x.w.defs != defs {
			x.mu.Unlock()
			continue
		}
		next.seq = x.w.seq
		x.w, x.edit = next, edit // the built nodes are the writer's own
		x.commitLocked(true)
		x.mu.Unlock()
		return nil
	}
}

// buildState builds a state from scratch, its nodes in epoch edit; the last
// record of a repeated key wins. It calls no user code.
func buildState[T Object](defs *indexDefs[T], keys []string, recs []record[T], rv string, edit uint64) state[T] {
	last := make(map[string]int, len(keys))
	for i, k := range keys {
		last[k] = i
	}
	entries := make([]pentry[record[T]], 0, len(last))
	for i, k := range keys {
		if last[k] != i {
			continue
		}
		entries = append(entries, pentry[record[T]]{key: k, val: recs[i]})
	}
	s := state[T]{defs: defs, rv: rv, indices: make([]valueIndex, len(defs.funcs))}
	for i := range defs.funcs {
		s.indices[i] = buildIndex(entries, i, len(defs.funcs), edit)
	}
	s.items = buildPmap(entries, edit)
	return s
}

// buildIndex builds index i of n from records' stored values.
func buildIndex[T Object](entries []pentry[record[T]], i, n int, edit uint64) valueIndex {
	byValue := map[string][]pentry[struct{}]{}
	var buf []string
	for _, e := range entries {
		buf = appendIndexVals(buf[:0], e.val.vals, n, i)
		for _, v := range buf {
			ks := byValue[v]
			if k := len(ks); k > 0 && ks[k-1].key == e.key {
				continue // the index function repeated a value
			}
			byValue[v] = append(ks, pentry[struct{}]{key: e.key})
		}
	}
	values := make([]pentry[keySet], 0, len(byValue))
	for v, ks := range byValue {
		values = append(values, pentry[keySet]{key: v, val: buildPmap(ks, edit)})
	}
	return buildPmap(values, edit)
}

// reindex moves key from the values in oldVals to those in newVals.
func reindex(ix valueIndex, key string, oldVals, newVals []string, edit uint64) valueIndex {
	for _, v := range oldVals {
		if !slices.Contains(newVals, v) {
			ix = removeFromIndex(ix, v, key, edit)
		}
	}
	for _, v := range newVals {
		if !slices.Contains(oldVals, v) {
			ix = addToIndex(ix, v, key, edit)
		}
	}
	return ix
}

func addToIndex(ix valueIndex, value, key string, edit uint64) valueIndex {
	set, _ := ix.get(value)
	if _, ok := set.get(key); ok {
		return ix
	}
	set, _, _ = set.assoc(key, struct{}{}, edit)
	ix, _, _ = ix.assoc(value, set, edit)
	return ix
}

func removeFromIndex(ix valueIndex, value, key string, edit uint64) valueIndex {
	set, ok := ix.get(value)
	if !ok {
		return ix
	}
	set, _, removed := set.dissoc(key, edit)
	if !removed {
		return ix
	}
	if set.len() == 0 {
		ix, _, _ = ix.dissoc(value, edit)
		return ix
	}
	ix, _, _ = ix.assoc(value, set, edit)
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

	// computed holds every index value, old and new, for each object
	// version (key, object) seen so far; versions stay valid across rounds.
	type computedVals struct {
		obj  T
		vals string
	}
	computed := map[string]computedVals{}
	var defs *indexDefs[T]
	catchUp := func(s *snapshot[T]) error {
		var err error
		from := len(s.defs.funcs)
		s.items.each(func(key string, rec record[T]) bool {
			if c, ok := computed[key]; ok && x.sameObject(c.obj, rec.obj) {
				return true
			}
			var vals string
			vals, err = computeMore(defs, from, key, rec.obj, rec.vals)
			computed[key] = computedVals{obj: rec.obj, vals: vals}
			return err == nil
		})
		return err
	}

	s := x.snap()
	var err error
	defs, err = newDefs(s.defs)
	if err != nil {
		return err
	}
	for round := 0; ; round++ {
		if err := catchUp(s); err != nil {
			return err
		}
		x.lockWriter()
		cur := x.publishLocked()
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
		// cur's objects are all in computed: build the extended state.
		// Records are shared with published snapshots: new ones, never
		// modified ones.
		from := len(cur.defs.funcs)
		entries := make([]pentry[record[T]], 0, cur.items.len())
		cur.items.each(func(key string, rec record[T]) bool {
			entries = append(entries, pentry[record[T]]{key: key, val: record[T]{obj: rec.obj, vals: computed[key].vals}})
			return true
		})
		edit := newEdit()
		next := state[T]{defs: defs, rv: cur.rv, seq: cur.seq, indices: slices.Clone(cur.indices)}
		for i := from; i < len(defs.funcs); i++ {
			next.indices = append(next.indices, buildIndex(entries, i, len(defs.funcs), edit))
		}
		next.items = buildPmap(entries, edit)
		x.w, x.edit = next, edit
		x.defs.Store(defs)
		x.commitLocked(true)
		x.mu.Unlock()
		return nil
	}
}

// sameObject reports whether a and b are known to be the same object, so
// that index values computed for one hold for the other.
func (x *indexer[T]) sameObject(a, b T) bool {
	return x.objIdentity && any(a) == any(b)
}

// GetIndexers returns a copy of the index functions.
func (x *indexer[T]) GetIndexers() Indexers[T] {
	defs := x.defs.Load()
	out := make(Indexers[T], len(defs.names))
	for i, name := range defs.names {
		out[name] = defs.funcs[i]
	}
	return out
}
