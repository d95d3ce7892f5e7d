package workqueue

import (
	"math"
	"time"

	"k8s.io/utils/clock"
)

// deadlineTimer is the one timer of a waiting goroutine. It is re-armed with
// Reset (never re-created) and only when the earliest deadline changes, so
// an AddAfter that does not change the head costs no timer work.
type deadlineTimer struct {
	clock clock.Clock
	epoch time.Time
	timer clock.Timer
	armed int64 // deadline (ns since epoch) the timer is set for; MaxInt64: none
}

func newDeadlineTimer(c clock.Clock, epoch time.Time) *deadlineTimer {
	return &deadlineTimer{clock: c, epoch: epoch, armed: math.MaxInt64}
}

// arm sets the timer for deadline next (ns since epoch; MaxInt64 means no
// deadline). It returns false if next is already due, in which case the
// caller must look at its heap again instead of sleeping: a fake clock never
// fires a timer set in the past.
func (t *deadlineTimer) arm(next int64) bool {
	if next == math.MaxInt64 || next == t.armed {
		return true
	}
	// Read the clock right before arming, so the timer is set relative to
	// the freshest time we can see.
	d := time.Duration(next - int64(t.clock.Now().Sub(t.epoch)))
	if d <= 0 {
		return false
	}
	if t.timer == nil {
		t.timer = t.clock.NewTimer(d)
	} else {
		t.timer.Reset(d)
	}
	t.armed = next
	return true
}

// C returns the channel that fires at the armed deadline (nil before the
// first arm, which blocks forever in a select).
func (t *deadlineTimer) C() <-chan time.Time {
	if t.timer == nil {
		return nil
	}
	return t.timer.C()
}

// fired records that the timer's value was received.
func (t *deadlineTimer) fired() { t.armed = math.MaxInt64 }

func (t *deadlineTimer) stop() {
	if t.timer != nil {
		t.timer.Stop()
	}
}

// satAdd returns a+b for b >= 0, saturating at MaxInt64.
func satAdd(a int64, b time.Duration) int64 {
	if s := a + int64(b); s >= a {
		return s
	}
	return math.MaxInt64
}
