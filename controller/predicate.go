package controller

// This file holds predicates. Invariant: a predicate only filters the
// notifications of one source, before they are mapped to Requests; it
// never changes an object and never sees a Request. A notification is
// enqueued only if every predicate of its source returns true.

import (
	"maps"

	"github.com/kunos-io/listwatch/cache"
)

// EventType says what happened to an object.
type EventType int

// The kinds of Event.
const (
	// Create: an object the source had not seen (including, on start, every
	// object in the cache).
	Create EventType = iota + 1
	// Update: an object changed. During a resync Old and Object are the same
	// object.
	Update
	// Delete: an object is gone; Object is its last known state.
	Delete
)

// String returns the type's name.
func (t EventType) String() string {
	switch t {
	case Create:
		return "Create"
	case Update:
		return "Update"
	case Delete:
		return "Delete"
	}
	return "EventType(?)"
}

// Event is one informer notification, as a predicate sees it. Objects are
// shared with the cache: read-only.
type Event[T cache.Object] struct {
	Type EventType
	// Object is the object (Create), its new state (Update) or its last
	// known state (Delete). Never nil.
	Object T
	// Old is the state before an Update; zero for other types.
	Old T
	// InInitialList is true for a Create that comes from the cache's
	// contents when the controller started, rather than from a change.
	InInitialList bool
	// FinalStateUnknown is true for a Delete learnt from a relist, so
	// Object may be older than the object's real final state.
	FinalStateUnknown bool
}

// Predicate filters the events of a source: false drops the event. It is
// called from the informer's delivery goroutine for the controller's
// handler, so it must be quick and must not block.
//
// Any function of this shape is a predicate; the generic ones below are
// passed without type arguments, which Go infers:
//
//	For(jobs, controller.GenerationChanged)
//	Owns(controller.Owned(tasks, func(e controller.Event[*kunosv1.Task]) bool {
//		return e.Type != controller.Update || e.Old.Status.Phase != e.Object.Status.Phase
//	}))
type Predicate[T cache.Object] func(e Event[T]) bool

// GenerationChanged passes an Update only when metadata.generation changed,
// which the server bumps on spec changes only: status writes and resyncs
// are dropped. Creates and deletes pass. It is controller-runtime's
// GenerationChangedPredicate. Do not use it on kinds whose server does not
// set generation (their updates would all be dropped).
func GenerationChanged[T cache.Object](e Event[T]) bool {
	if e.Type != Update {
		return true
	}
	return e.Old.GetGeneration() != e.Object.GetGeneration()
}

// LabelsChanged passes an Update only when the labels changed. Creates and
// deletes pass.
func LabelsChanged[T cache.Object](e Event[T]) bool {
	if e.Type != Update {
		return true
	}
	return !maps.Equal(e.Old.GetLabels(), e.Object.GetLabels())
}

// AnnotationsChanged passes an Update only when the annotations changed.
// Creates and deletes pass.
func AnnotationsChanged[T cache.Object](e Event[T]) bool {
	if e.Type != Update {
		return true
	}
	return !maps.Equal(e.Old.GetAnnotations(), e.Object.GetAnnotations())
}

// Or passes an event that any of preds passes; with no predicate it passes
// nothing. A source's own predicates combine with and; Or is for "spec or
// labels changed":
//
//	For(jobs, controller.Or[*kunosv1.Job](controller.GenerationChanged, controller.LabelsChanged))
func Or[T cache.Object](preds ...Predicate[T]) Predicate[T] {
	return func(e Event[T]) bool {
		for _, p := range preds {
			if p(e) {
				return true
			}
		}
		return false
	}
}

// Not inverts p.
func Not[T cache.Object](p Predicate[T]) Predicate[T] {
	return func(e Event[T]) bool { return !p(e) }
}

// passes reports whether every predicate passes e.
func passes[T cache.Object](preds []Predicate[T], e Event[T]) bool {
	for _, p := range preds {
		if !p(e) {
			return false
		}
	}
	return true
}
