package garbagecollector

// This file holds the collector's work queue. Invariant: an item is in
// the queue at most once and is processed by one worker at a time; an item
// added while it is processed is queued again when Done is called.

import (
	"sync"
	"time"
)

type queue[T comparable] struct {
	mu         sync.Mutex
	cond       *sync.Cond
	items      []T
	queued     map[T]bool
	processing map[T]bool
	dirty      map[T]bool
	failures   map[T]int
	timers     map[*time.Timer]struct{}
	closed     bool
}

func newQueue[T comparable]() *queue[T] {
	q := &queue[T]{
		queued: map[T]bool{}, processing: map[T]bool{}, dirty: map[T]bool{},
		failures: map[T]int{}, timers: map[*time.Timer]struct{}{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *queue[T]) add(item T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if q.processing[item] {
		q.dirty[item] = true
		return
	}
	if q.queued[item] {
		return
	}
	q.queued[item] = true
	q.items = append(q.items, item)
	q.cond.Signal()
}

// retry adds item after a delay that doubles with its consecutive
// failures, from 5ms to 2s.
func (q *queue[T]) retry(item T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	n := q.failures[item]
	q.failures[item] = n + 1
	d := 5 * time.Millisecond << min(n, 9)
	d = min(d, 2*time.Second)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		q.mu.Lock()
		delete(q.timers, t)
		q.mu.Unlock()
		q.add(item)
	})
	q.timers[t] = struct{}{}
}

func (q *queue[T]) forget(item T) {
	q.mu.Lock()
	delete(q.failures, item)
	q.mu.Unlock()
}

// get blocks until an item is ready or the queue is closed (ok false).
func (q *queue[T]) get() (item T, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return item, false
	}
	item = q.items[0]
	q.items = q.items[1:]
	delete(q.queued, item)
	q.processing[item] = true
	return item, true
}

func (q *queue[T]) done(item T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, item)
	if q.dirty[item] {
		delete(q.dirty, item)
		if !q.closed && !q.queued[item] {
			q.queued[item] = true
			q.items = append(q.items, item)
			q.cond.Signal()
		}
	}
}

// idle reports that nothing is queued, processing or waiting to retry.
func (q *queue[T]) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) == 0 && len(q.processing) == 0 && len(q.timers) == 0
}

func (q *queue[T]) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for t := range q.timers {
		t.Stop()
	}
	clear(q.timers)
	q.cond.Broadcast()
}
