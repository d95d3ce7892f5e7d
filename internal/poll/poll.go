package poll

import (
	"testing"
	"time"
)

// Until polls cond until it holds, or fails t after timeout naming what
// it waited for. The first polls come within a fraction of a millisecond
// (most conditions hold almost at once), later ones every 10 ms at most.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for pause := 100 * time.Microsecond; !cond(); pause = min(2*pause, 10*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pause)
	}
}
