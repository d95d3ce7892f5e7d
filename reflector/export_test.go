package reflector

import (
	"time"

	"github.com/kunos-io/listwatch/cache"
)

// Transition is one step of the state machine, as seen by tests.
type Transition struct {
	From, Outcome, To string
	// Then and Delay describe a "wait" state.
	Then  string
	Delay time.Duration
	Err   error
}

func (t Transition) String() string {
	s := t.From + "/" + t.Outcome + "->" + t.To
	if t.To == "wait" {
		s += "(" + t.Then + ")"
	}
	return s
}

// TraceTransitions makes r call fn on every transition. Call before Run.
func TraceTransitions[T cache.Object](r *Reflector[T], fn func(Transition)) {
	r.trace = func(from state, res result, to state) {
		fn(Transition{From: from.phase.String(), Outcome: res.outcome.String(), To: to.phase.String(),
			Then: to.then.String(), Delay: to.delay, Err: res.err})
	}
}
