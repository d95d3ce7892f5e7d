package informer

import (
	"context"
	"time"
)

// WaitForCacheSync waits until every synced function returns true or ctx
// is done, and reports which happened. Pass informers' or registrations'
// HasSynced methods.
func WaitForCacheSync(ctx context.Context, synced ...func() bool) bool {
	all := func() bool {
		for _, f := range synced {
			if !f() {
				return false
			}
		}
		return true
	}
	// Poll quickly at first (a sync often completes within milliseconds),
	// then settle at client-go's 100ms.
	delay := time.Millisecond
	for !all() {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		if delay *= 2; delay > 100*time.Millisecond {
			delay = 100 * time.Millisecond
		}
	}
	return true
}
