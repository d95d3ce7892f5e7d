package cache

// Reads: each method loads the current snapshot once and works on it alone.

// Get returns the object stored under obj's key.
func (x *indexer[T]) Get(obj T) (T, bool, error) {
	key, err := x.key(obj)
	if err != nil {
		var zero T
		return zero, false, err
	}
	return x.GetByKey(key)
}

// GetByKey returns the object stored under key.
func (x *indexer[T]) GetByKey(key string) (T, bool, error) {
	rec, ok := x.snap().items.get(key)
	if !ok {
		var zero T
		return zero, false, nil
	}
	return rec.obj, true, nil
}

// List returns every object.
func (x *indexer[T]) List() []T { return x.snap().list() }

// listObjects walks s into a new slice.
func (s *snapshot[T]) listObjects() []T {
	out := make([]T, 0, s.items.len())
	s.items.each(func(_ string, rec record[T]) bool {
		out = append(out, rec.obj)
		return true
	})
	return out
}

// ListKeys returns every key.
func (x *indexer[T]) ListKeys() []string {
	s := x.snap()
	return s.items.keys(make([]string, 0, s.items.len()))
}

// Len returns the number of objects.
// It reads the writer's count, not a snapshot: it never causes one to be
// published.
func (x *indexer[T]) Len() int { return int(x.size.Load()) }

// LastStoreSyncResourceVersion returns the last recorded resource version.
func (x *indexer[T]) LastStoreSyncResourceVersion() string { return x.snap().rv }

// index returns the named index of s.
func (s *snapshot[T]) index(name string) (valueIndex, error) {
	i, ok := s.defs.pos[name]
	if !ok {
		return valueIndex{}, errNoIndex(name)
	}
	return s.indices[i], nil
}

// objects resolves keys to objects in s.
func (s *snapshot[T]) objects(keys keySet, out []T) []T {
	keys.each(func(key string, _ struct{}) bool {
		if rec, ok := s.items.get(key); ok {
			out = append(out, rec.obj)
		}
		return true
	})
	return out
}

// scanRatio: when more than 1/scanRatio of all objects match an index
// value, scanning every record's stored values beats one trie lookup per
// matching key (a lookup costs roughly ten times a record check).
const scanRatio = 8

// ByIndex returns the objects indexed under value.
func (x *indexer[T]) ByIndex(indexName, value string) ([]T, error) {
	s := x.snap()
	i, ok := s.defs.pos[indexName]
	if !ok {
		return nil, errNoIndex(indexName)
	}
	return s.byIndex(i, value), nil
}

// byIndexObjects collects the objects of s indexed under value in index i
// into a new slice.
func (s *snapshot[T]) byIndexObjects(i int, value string) []T {
	keys, _ := s.indices[i].get(value)
	out := make([]T, 0, keys.len())
	if keys.len()*scanRatio <= s.items.len() {
		return s.objects(keys, out)
	}
	n := len(s.indices)
	s.items.each(func(_ string, rec record[T]) bool {
		if hasIndexVal(rec.vals, n, i, value) {
			out = append(out, rec.obj)
		}
		return true
	})
	return out
}

// IndexKeys returns the keys indexed under value.
func (x *indexer[T]) IndexKeys(indexName, value string) ([]string, error) {
	ix, err := x.snap().index(indexName)
	if err != nil {
		return nil, err
	}
	keys, _ := ix.get(value)
	return keys.keys(make([]string, 0, keys.len())), nil
}

// ListIndexFuncValues returns every value of the index; nil for an unknown
// index.
func (x *indexer[T]) ListIndexFuncValues(indexName string) []string {
	ix, err := x.snap().index(indexName)
	if err != nil {
		return nil
	}
	return ix.keys(make([]string, 0, ix.len()))
}

// Index returns the objects sharing a value of index indexName with obj.
// The index function runs on obj without any lock held.
func (x *indexer[T]) Index(indexName string, obj T) ([]T, error) {
	s := x.snap()
	i, ok := s.defs.pos[indexName]
	if !ok {
		return nil, errNoIndex(indexName)
	}
	vals, err := s.defs.funcs[i](obj)
	if err != nil {
		key, _ := x.keyFunc(obj)
		return nil, &IndexError{Index: indexName, Key: key, Err: err}
	}
	ix := s.indices[i]
	if len(vals) == 1 {
		keys, _ := ix.get(vals[0])
		return s.objects(keys, make([]T, 0, keys.len())), nil
	}
	seen := map[string]struct{}{}
	var out []T
	for _, v := range vals {
		keys, _ := ix.get(v)
		keys.each(func(key string, _ struct{}) bool {
			if _, dup := seen[key]; dup {
				return true
			}
			seen[key] = struct{}{}
			if rec, ok := s.items.get(key); ok {
				out = append(out, rec.obj)
			}
			return true
		})
	}
	return out, nil
}
