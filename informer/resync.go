package informer

import (
	"context"
	"time"

	"github.com/kunos-io/listwatch/cache"
)

// resyncLoop gives every handler with a resync period an OnUpdate(obj, obj)
// for each cached object once per period. It takes the writer token, so a
// resync never interleaves with a change: a handler sees the resync of a key
// either before or after that key's change notification, never in between.
func (s *informer[T]) resyncLoop(ctx context.Context) {
	for {
		next, ok := s.nextResync()
		var fire <-chan time.Time
		var stop func() bool
		if ok {
			t := s.clock.NewTimer(next.Sub(s.clock.Now()))
			fire, stop = t.C(), t.Stop
		}
		select {
		case <-ctx.Done():
			if stop != nil {
				stop()
			}
			return
		case <-s.resyncWake:
		case <-fire:
		}
		if stop != nil {
			stop()
		}
		s.resyncDue()
	}
}

// nextResync returns the earliest time a listener is due.
func (s *informer[T]) nextResync() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	found := false
	for _, l := range *s.active.Load() {
		if l.resync > 0 && (!found || l.nextResync.Before(next)) {
			next, found = l.nextResync, true
		}
	}
	return next, found
}

// resyncDue resyncs the listeners whose time has come.
func (s *informer[T]) resyncDue() {
	s.acquire()
	defer s.release()
	now := s.clock.Now()
	var due []*listener[T]
	s.mu.Lock()
	for _, l := range *s.active.Load() {
		if l.resync > 0 && !now.Before(l.nextResync) {
			l.nextResync = now.Add(l.resync)
			due = append(due, l)
		}
	}
	s.mu.Unlock()
	if len(due) == 0 || !s.synced.Load() {
		return
	}
	for _, obj := range s.indexer.List() {
		key, err := cache.MetaNamespaceKeyFunc(obj)
		if err != nil {
			continue
		}
		n := notification[T]{kind: kindUpdate, flag: true, key: key, oldObj: obj, obj: obj}
		for _, l := range due {
			l.push(n, false, s.abort)
		}
	}
}
