package controller

// This file holds the reconcile contract. Invariant: a Reconciler is called
// with a Request naming one object, never with the object itself, so it
// always reads the latest state from a cache; what it returns decides
// whether and when the Request comes back, and nothing else does.

import (
	"context"
	"errors"
	"time"
)

// Request names the object to reconcile. Namespace is empty for a
// cluster-scoped object. It is a value, comparable, and the workqueue's
// item: a Request queued many times before a worker takes it is reconciled
// once, and never by two workers at once.
type Request struct {
	Namespace, Name string
}

// String returns "namespace/name", or "name" for a cluster-scoped object:
// the key the object has in an informer's cache.
func (r Request) String() string {
	if r.Namespace == "" {
		return r.Name
	}
	return r.Namespace + "/" + r.Name
}

// Result says what to do with a Request after a successful Reconcile. The
// zero Result means done: the Request comes back only when an event
// names it again.
type Result struct {
	// RequeueAfter, if positive, reconciles the Request again after this
	// long, without counting a failure: for work that depends on time,
	// such as a TTL.
	RequeueAfter time.Duration
}

// Reconciler drives the object a Request names toward its desired state.
//
// Reconcile must be idempotent and level-based: it is called again after
// any change to the object, to the objects it owns or to what it watches,
// coalesced, and it cannot tell why. It reads from caches (the objects are
// shared and read-only: deep-copy before changing one) and writes through
// the client.
//
// A nil error and a zero Result: done. A nil error and RequeueAfter: again
// after that delay. An error: again after the rate limiter's backoff for
// that Request (5 ms doubling to 1000 s by default), unless it wraps a
// TerminalError. A panic is recovered, counted, logged with its stack and
// treated as an error.
//
// ctx is cancelled when the controller stops without grace (leadership
// lost) or when the manager's GracefulShutdownTimeout ran out; a reconcile
// in progress when the manager stops otherwise runs to its end.
type Reconciler interface {
	Reconcile(ctx context.Context, req Request) (Result, error)
}

// ReconcilerFunc adapts a function to a Reconciler.
type ReconcilerFunc func(ctx context.Context, req Request) (Result, error)

// Reconcile calls f.
func (f ReconcilerFunc) Reconcile(ctx context.Context, req Request) (Result, error) {
	return f(ctx, req)
}

// terminalError marks an error that retrying cannot fix.
type terminalError struct{ err error }

func (e *terminalError) Error() string { return "terminal error: " + e.err.Error() }
func (e *terminalError) Unwrap() error { return e.err }

// TerminalError wraps err so that the controller does not retry the
// Request: the error is logged and counted (reconcile_errors_total and
// terminal_reconcile_errors_total) and the Request waits for the next event
// that names it. Use it for errors that only a change to the object can
// fix, such as an invalid spec. TerminalError(nil) is nil.
func TerminalError(err error) error {
	if err == nil {
		return nil
	}
	return &terminalError{err: err}
}

// IsTerminal reports whether err, or an error it wraps, was made by
// TerminalError.
func IsTerminal(err error) bool {
	var t *terminalError
	return errors.As(err, &t)
}
