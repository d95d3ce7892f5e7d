package controllers

import (
	"sync"
	"time"
)

// expectationTTL bounds how long a controller waits for its own writes to
// show up in the cache before it trusts the cache again anyway.
const expectationTTL = 5 * time.Minute

// Expectations remember, per owner key, how many creations and deletions a
// controller has issued but not yet seen in its informer cache. While any are
// outstanding the cache is known to be stale for that owner, and the
// controller must not act on it: acting would create a Task twice.
type Expectations struct {
	mu    sync.Mutex
	items map[string]*expectation
	now   func() time.Time
}

type expectation struct {
	adds, deletes int
	setAt         time.Time
}

// NewExpectations returns an empty set of expectations.
func NewExpectations() *Expectations {
	return &Expectations{items: map[string]*expectation{}, now: time.Now}
}

// ExpectCreations records that n creations for key are about to be issued.
func (e *Expectations) ExpectCreations(key string, n int) { e.expect(key, n, 0) }

// ExpectDeletions records that n deletions for key are about to be issued.
func (e *Expectations) ExpectDeletions(key string, n int) { e.expect(key, 0, n) }

func (e *Expectations) expect(key string, adds, deletes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[key]
	if !ok {
		x = &expectation{}
		e.items[key] = x
	}
	x.adds += adds
	x.deletes += deletes
	x.setAt = e.now()
}

// CreationObserved records that the cache saw one creation for key (or that
// a creation failed and will never be seen).
func (e *Expectations) CreationObserved(key string) { e.observe(key, 1, 0) }

// DeletionObserved records that the cache saw one deletion for key.
func (e *Expectations) DeletionObserved(key string) { e.observe(key, 0, 1) }

func (e *Expectations) observe(key string, adds, deletes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[key]; ok {
		x.adds -= adds
		x.deletes -= deletes
	}
}

// Satisfied reports whether the cache has caught up with every write issued
// for key, or the expectations expired.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && x.deletes <= 0 {
		return true
	}
	return e.now().Sub(x.setAt) > expectationTTL
}

// Forget drops what was expected for key (the owner is gone).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}
