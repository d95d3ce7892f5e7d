package controller

// This file wires a controller. Invariants: every type is checked at
// compile time (the For informer and its predicates are of the Builder's
// type; each Owned or Mapped source is checked against its own informer);
// every wiring mistake the compiler cannot see (a nil informer, For twice
// or never, a duplicate name) is an error from Complete, never a panic;
// nothing runs before Manager.Start.

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/resource"
	"github.com/kunos-io/listwatch/workqueue"
)

// Options configure one controller. The zero value is one worker with
// client-go's default rate limiter.
type Options struct {
	// MaxConcurrentReconciles is how many Requests are reconciled at once
	// (default 1). One object is never reconciled by two workers at once,
	// whatever this is.
	MaxConcurrentReconciles int
	// RateLimiter sets the backoff of a Request whose Reconcile failed.
	// Default workqueue.DefaultTypedControllerRateLimiter: per Request 5 ms
	// doubling to 1000 s, and at most 10 retries a second overall (burst
	// 100).
	RateLimiter workqueue.TypedRateLimiter[Request]
	// Logger receives the controller's logs, with controller=<name>.
	// Default: the manager's.
	Logger *slog.Logger
}

// Builder wires a controller whose primary objects are those of a
// resource.Descriptor[T], e.g. kunosv1.Jobs. Build one with New and finish
// it with Complete.
//
// Go methods cannot have type parameters of their own, so the objects of
// other types come in through Owned and Mapped, generic functions that
// check them against their informer:
//
//	err := controller.New(mgr, "job", kunosv1.Jobs, controller.Options{MaxConcurrentReconciles: 4}).
//		For(jobs, controller.GenerationChanged).
//		Owns(controller.Owned(tasks)).
//		Watches(controller.Mapped(nodes, jobsOnNode)).
//		Complete(reconciler)
type Builder[T cache.Object] struct {
	mgr     *Manager
	name    string
	desc    resource.Descriptor[T]
	opts    Options
	forSrc  *typedSource[T]
	owns    []OwnedSource
	watches []MappedSource
	errs    []error
}

// New starts wiring a controller called name on mgr whose primary objects
// are those d describes; T is inferred from d. The name labels its
// metrics, its workqueue and its informer registrations: it must be unique
// in the manager.
func New[T cache.Object](mgr *Manager, name string, d resource.Descriptor[T], opts Options) *Builder[T] {
	return &Builder[T]{mgr: mgr, name: name, desc: d, opts: opts}
}

// For sets the informer of the primary objects and its predicates: each
// event of inf that every predicate passes enqueues that object's Request.
// Call it at most once; without it the controller watches every object of
// the descriptor through the manager's factory (all namespaces, no
// predicates).
func (b *Builder[T]) For(inf informer.SharedIndexInformer[T], preds ...Predicate[T]) *Builder[T] {
	if b.forSrc != nil {
		b.errs = append(b.errs, errors.New("For called twice"))
		return b
	}
	b.forSrc = forSource(inf, preds)
	return b
}

// Owns adds objects the primary objects control (through an
// ownerReference with controller: true, as metav1.NewControllerRef makes):
// each of their events enqueues the Request of their controller owner, so a
// Job is reconciled when one of its Tasks changes. It adds OwnerUIDIndex to
// the owned informer, for ListOwned.
func (b *Builder[T]) Owns(src OwnedSource) *Builder[T] {
	if src == nil {
		b.errs = append(b.errs, errors.New("Owns: nil source"))
		return b
	}
	b.owns = append(b.owns, src)
	return b
}

// Watches adds objects of any type, mapped to Requests by the function
// given to Mapped: e.g. a Node event to the Jobs with Tasks on that Node.
func (b *Builder[T]) Watches(src MappedSource) *Builder[T] {
	if src == nil {
		b.errs = append(b.errs, errors.New("Watches: nil source"))
		return b
	}
	b.watches = append(b.watches, src)
	return b
}

// Complete adds the controller, reconciled by r, to the manager; it starts
// with Manager.Start. It returns every wiring error found.
func (b *Builder[T]) Complete(r Reconciler) error {
	c, err := b.build(r)
	if err != nil {
		return fmt.Errorf("controller %q: %w", b.name, err)
	}
	return b.mgr.add(c)
}

func (b *Builder[T]) build(r Reconciler) (*ctrl, error) {
	errs := append([]error(nil), b.errs...)
	if b.mgr == nil {
		errs = append(errs, errors.New("nil manager"))
	}
	if b.name == "" {
		errs = append(errs, errors.New("empty name"))
	}
	if r == nil {
		errs = append(errs, errors.New("nil reconciler"))
	}
	if b.opts.MaxConcurrentReconciles < 0 {
		errs = append(errs, fmt.Errorf("negative MaxConcurrentReconciles %d", b.opts.MaxConcurrentReconciles))
	}
	if err := b.desc.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if b.forSrc == nil {
		inf, err := informer.For(b.mgr.factory, b.desc)
		if err != nil {
			return nil, fmt.Errorf("For: %w", err)
		}
		b.forSrc = forSource(inf, nil)
	}
	forSrc, err := b.forSrc.prepare(nil)
	if err != nil {
		return nil, fmt.Errorf("For: %w", err)
	}
	sources := []namedSource{{role: "for", src: forSrc}}
	owner := newOwnerMapper(b.forSrc.inf)
	add := func(role string, s source) {
		p, err := s.prepare(owner)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", role, err))
			return
		}
		sources = append(sources, namedSource{role: role, src: p})
	}
	for i, s := range b.owns {
		add(fmt.Sprintf("owns-%d", i), s)
	}
	for i, s := range b.watches {
		add(fmt.Sprintf("watches-%d", i), s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	workers := max(b.opts.MaxConcurrentReconciles, 1)
	limiter := b.opts.RateLimiter
	if limiter == nil {
		limiter = workqueue.DefaultTypedControllerRateLimiter[Request]()
	}
	log := b.opts.Logger
	if log == nil {
		log = b.mgr.log
	}
	return &ctrl{
		name:    b.name,
		r:       r,
		workers: workers,
		limiter: limiter,
		sources: sources,
		metrics: b.mgr.rm,
		queues:  b.mgr.lw.WorkqueueProvider(),
		log:     log.With("controller", b.name, "kind", b.desc.Kind),
		grace:   b.mgr.opts.GracefulShutdownTimeout,
	}, nil
}
