package informer

import (
	"fmt"

	"github.com/kunos-io/listwatch/cache"
)

// This file implements reflector.Sink: the reflector calls these from its
// one goroutine, in order. Each call updates the cache first, then queues
// the notifications, so a handler that reads the cache sees a state at
// least as new as the notification it handles.

// Add implements reflector.Sink.
func (s *informer[T]) Add(obj T) error { return s.upsert(obj) }

// Update implements reflector.Sink.
func (s *informer[T]) Update(obj T) error { return s.upsert(obj) }

func (s *informer[T]) upsert(obj T) error {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return fmt.Errorf("informer %s: %w", s.name, err)
	}
	s.acquire()
	defer s.release()
	old, existed, err := s.swap(obj, key)
	if err != nil {
		return err
	}
	if existed {
		s.distribute(notification[T]{kind: kindUpdate, key: key, oldObj: old, obj: obj})
	} else {
		s.distribute(notification[T]{kind: kindAdd, key: key, obj: obj})
		s.metrics.SetStoreObjects(s.indexer.Len())
	}
	return nil
}

// Delete implements reflector.Sink. A delete of an object the cache does not
// hold notifies no one: no handler was told about it.
func (s *informer[T]) Delete(obj T) error {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return fmt.Errorf("informer %s: %w", s.name, err)
	}
	s.acquire()
	defer s.release()
	existed, err := s.remove(obj, key)
	if err != nil || !existed {
		return err
	}
	s.distribute(notification[T]{kind: kindDelete, key: key, obj: obj})
	s.metrics.SetStoreObjects(s.indexer.Len())
	return nil
}

// swap stores obj and returns the object it replaced. The cache's own
// indexer returns it from its writer state (cache.Swapper): reading it
// with GetByKey would make the cache publish a snapshot on every event and
// copy trie paths on every write.
func (s *informer[T]) swap(obj T, key string) (T, bool, error) {
	if sw, ok := s.indexer.(cache.Swapper[T]); ok {
		old, existed, err := sw.Swap(obj)
		if err != nil {
			return old, false, fmt.Errorf("informer %s: store %s: %w", s.name, key, err)
		}
		return old, existed, nil
	}
	old, existed, err := s.indexer.GetByKey(key)
	if err != nil {
		return old, false, fmt.Errorf("informer %s: get %s: %w", s.name, key, err)
	}
	if err := s.indexer.Update(obj); err != nil {
		return old, false, fmt.Errorf("informer %s: store %s: %w", s.name, key, err)
	}
	return old, existed, nil
}

// remove deletes obj's key from the cache and reports whether it held it.
func (s *informer[T]) remove(obj T, key string) (bool, error) {
	if sw, ok := s.indexer.(cache.Swapper[T]); ok {
		_, existed, err := sw.Remove(obj)
		if err != nil {
			return false, fmt.Errorf("informer %s: delete %s: %w", s.name, key, err)
		}
		return existed, nil
	}
	_, existed, err := s.indexer.GetByKey(key)
	if err != nil {
		return false, fmt.Errorf("informer %s: get %s: %w", s.name, key, err)
	}
	if !existed {
		return false, nil
	}
	if err := s.indexer.Delete(obj); err != nil {
		return false, fmt.Errorf("informer %s: delete %s: %w", s.name, key, err)
	}
	return true, nil
}

// Replace implements reflector.Sink. The cache is swapped atomically first;
// then handlers get a delete (finalStateUnknown) for every object that
// vanished, an add for every new one, and an update for every one whose
// resourceVersion changed. Unchanged objects are not notified (resync does
// that). Objects without a valid key are skipped and logged.
func (s *informer[T]) Replace(items []T, resourceVersion string) error {
	keys := make([]string, 0, len(items))
	valid := items[:0:0]
	last := make(map[string]int, len(items)) // key -> index in valid of its last occurrence
	for _, obj := range items {
		key, err := cache.MetaNamespaceKeyFunc(obj)
		if err != nil {
			s.log.Error("informer: skipping an object without a valid key", "err", err)
			continue
		}
		last[key] = len(valid)
		keys = append(keys, key)
		valid = append(valid, obj)
	}
	s.acquire()
	defer s.release()
	before := s.indexer.List()
	if err := s.indexer.Replace(valid, resourceVersion); err != nil {
		return fmt.Errorf("informer %s: replace: %w", s.name, err)
	}
	old := make(map[string]T, len(before))
	for _, obj := range before {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			old[key] = obj
		}
	}
	for key, obj := range old {
		if _, ok := last[key]; !ok {
			s.distribute(notification[T]{kind: kindDelete, flag: true, key: key, obj: obj})
		}
	}
	initial := !s.synced.Load()
	for i, obj := range valid {
		key := keys[i]
		if last[key] != i {
			continue // a later item has the same key and wins
		}
		prev, ok := old[key]
		switch {
		case !ok:
			s.distribute(notification[T]{kind: kindAdd, flag: initial, key: key, obj: obj})
		case prev.GetResourceVersion() != obj.GetResourceVersion():
			s.distribute(notification[T]{kind: kindUpdate, key: key, oldObj: prev, obj: obj})
		}
	}
	s.metrics.SetStoreObjects(s.indexer.Len())
	if initial {
		s.synced.Store(true)
		s.metrics.SetSynced(true)
	}
	return nil
}

// Bookmark implements reflector.Sink.
func (s *informer[T]) Bookmark(resourceVersion string) {
	s.indexer.Bookmark(resourceVersion)
}
