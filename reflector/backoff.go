package reflector

import (
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
)

// backoff is a jittered exponential backoff that starts over after a quiet
// period. Unlike wait.Backoff.DelayWithReset, which resets a fixed interval
// after it was created whether or not failures continue, the quiet period is
// measured from the last delay handed out, so a persistent failure stays at
// the cap. Used from the reflector's goroutine only.
type backoff struct {
	initial wait.Backoff
	current wait.Backoff
	reset   time.Duration
	clock   clock.PassiveClock
	last    time.Time
}

func newBackoff(initial, max, reset time.Duration, c clock.PassiveClock) *backoff {
	b := wait.Backoff{
		Duration: initial,
		Factor:   2,
		Jitter:   1, // each delay is in [d, 2d)
		Steps:    1 << 30,
		Cap:      max,
	}
	return &backoff{initial: b, current: b, reset: reset, clock: c}
}

// next returns the delay before the next attempt.
func (b *backoff) next() time.Duration {
	now := b.clock.Now()
	if !b.last.IsZero() && now.Sub(b.last) > b.reset {
		b.current = b.initial
	}
	b.last = now
	// At the cap the delay stays jittered, in [max, 2*max), like client-go.
	return b.current.Step()
}
