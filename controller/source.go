package controller

// This file turns informer notifications into Requests. Invariants: a
// source runs its predicates first and maps only what passed; it adds
// Requests only to the queue of the controller's current run; it is
// registered on its informer only while the controller runs (once per
// leadership term) and removed when the run ends, so a replica that does
// not lead keeps warm caches but queues nothing.

import (
	"context"
	"errors"
	"fmt"

	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/informer"
)

// OwnedSource is an informer whose objects are mapped to their controller
// owner. Build one with Owned; pass it to Builder.Owns.
type OwnedSource interface {
	source
	isOwned()
}

// MappedSource is an informer whose objects are mapped to Requests by a
// function. Build one with Mapped; pass it to Builder.Watches.
type MappedSource interface {
	source
	isMapped()
}

// source is what the controller needs of a source, whatever its object
// type.
type source interface {
	// prepare checks the source and returns it with its mapping fixed;
	// owner maps owned objects to the For type. The receiver is not
	// changed, so one source value can serve several controllers.
	prepare(owner *ownerMapper) (source, error)
	// register adds a handler called name that passes each Request to add.
	register(name string, add func(Request)) (*registration, error)
	// synced reports that the informer has synced and is not known to be
	// stale (the server was found behind its cache).
	synced() bool
}

// registration is one handler of a source on its informer.
type registration struct {
	reg    informer.Registration
	remove func(ctx context.Context) error
}

// typedSource is a source over objects of type O.
type typedSource[O cache.Object] struct {
	inf   informer.SharedIndexInformer[O]
	preds []Predicate[O]
	// requests passes the Requests obj maps to to add.
	requests func(obj O, add func(Request))
	// mapOld: on Update, map the old object too (its mapping may differ).
	mapOld bool
	owned  bool
	err    error
}

func (*typedSource[O]) isOwned()  {}
func (*typedSource[O]) isMapped() {}

// Owned returns inf as an owned source for Builder.Owns: each of its
// objects (that the predicates pass) enqueues the Request of its
// controller owner, on update both the old and the new owner. Owns also
// adds OwnerUIDIndex to inf's cache, which ListOwned reads.
func Owned[O cache.Object](inf informer.SharedIndexInformer[O], preds ...Predicate[O]) OwnedSource {
	s := newSource(inf, preds)
	s.owned, s.mapOld = true, true
	return s
}

// Mapped returns inf as a source for Builder.Watches: each of its objects
// (that the predicates pass) enqueues the Requests fn returns for it, on
// update for both the old and the new object. fn runs on the informer's
// delivery goroutine: keep it quick, read caches, never the server.
func Mapped[O cache.Object](inf informer.SharedIndexInformer[O], fn func(obj O) []Request, preds ...Predicate[O]) MappedSource {
	s := newSource(inf, preds)
	s.mapOld = true
	if fn == nil {
		s.err = errors.Join(s.err, errors.New("nil map function"))
	}
	s.requests = func(obj O, add func(Request)) {
		for _, r := range fn(obj) {
			add(r)
		}
	}
	return s
}

// forSource is the source of the For type: each object enqueues its own
// Request.
func forSource[T cache.Object](inf informer.SharedIndexInformer[T], preds []Predicate[T]) *typedSource[T] {
	s := newSource(inf, preds)
	s.requests = func(obj T, add func(Request)) {
		add(Request{Namespace: obj.GetNamespace(), Name: obj.GetName()})
	}
	return s
}

func newSource[O cache.Object](inf informer.SharedIndexInformer[O], preds []Predicate[O]) *typedSource[O] {
	s := &typedSource[O]{inf: inf, preds: preds}
	if inf == nil {
		s.err = errors.New("nil informer")
	}
	for i, p := range preds {
		if p == nil {
			s.err = errors.Join(s.err, fmt.Errorf("predicate %d is nil", i))
		}
	}
	return s
}

func (s *typedSource[O]) prepare(owner *ownerMapper) (source, error) {
	if s.err != nil {
		return nil, s.err
	}
	p := *s
	if p.owned {
		if err := ensureOwnerIndex(p.inf.Indexer()); err != nil {
			return nil, fmt.Errorf("add the %s index: %w", OwnerUIDIndex, err)
		}
		p.requests = func(obj O, add func(Request)) {
			if r, ok := owner.request(obj); ok {
				add(r)
			}
		}
	}
	return &p, nil
}

func (s *typedSource[O]) synced() bool { return s.inf.HasSynced() && !s.inf.Stale() }

func (s *typedSource[O]) register(name string, add func(Request)) (*registration, error) {
	h := informer.HandlerFuncs[O]{
		AddFunc: func(obj O, isInInitialList bool) {
			if passes(s.preds, Event[O]{Type: Create, Object: obj, InInitialList: isInInitialList}) {
				s.requests(obj, add)
			}
		},
		UpdateFunc: func(old, obj O) {
			if passes(s.preds, Event[O]{Type: Update, Object: obj, Old: old}) {
				s.requests(obj, add)
				if s.mapOld {
					s.requests(old, add) // the queue folds duplicates
				}
			}
		},
		DeleteFunc: func(obj O, finalStateUnknown bool) {
			if passes(s.preds, Event[O]{Type: Delete, Object: obj, FinalStateUnknown: finalStateUnknown}) {
				s.requests(obj, add)
			}
		},
	}
	reg, err := s.inf.AddEventHandler(h, informer.WithName(name))
	if err != nil {
		return nil, err
	}
	return &registration{
		reg:    reg,
		remove: func(ctx context.Context) error { return s.inf.RemoveEventHandlerAndWait(ctx, reg) },
	}, nil
}
