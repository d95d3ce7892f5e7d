package reflector

import "github.com/kunos-io/listwatch/cache"

// NewStoreSink adapts an Indexer (or any cache.Store) to a Sink: Replace,
// Add, Update and Delete write to it and Bookmark records the
// resourceVersion it is up to date with.
func NewStoreSink[T cache.Object](idx cache.Indexer[T]) Sink[T] {
	return storeSink[T]{idx}
}

// storeSink is a named type, not idx itself, so that a Sink built here
// exposes nothing but the Sink methods.
type storeSink[T cache.Object] struct{ s cache.Store[T] }

func (s storeSink[T]) Replace(items []T, rv string) error { return s.s.Replace(items, rv) }
func (s storeSink[T]) Add(obj T) error                    { return s.s.Add(obj) }
func (s storeSink[T]) Update(obj T) error                 { return s.s.Update(obj) }
func (s storeSink[T]) Delete(obj T) error                 { return s.s.Delete(obj) }
func (s storeSink[T]) Bookmark(rv string)                 { s.s.Bookmark(rv) }
