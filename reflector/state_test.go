package reflector

import (
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"k8s.io/apimachinery/pkg/watch"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestTransitionTable checks decide against the table in state.go for every
// phase and outcome, so the table and the code cannot drift apart.
func TestTransitionTable(t *testing.T) {
	phases := []phase{phaseSync, phaseWatchList, phaseList, phaseWatch, phaseStream, phaseWait}
	outcomes := []outcome{ok, ended, short, stalled, expired, tooLarge, throttled, unsupported, failed, broken}
	// want[phase][outcome] = next phase, or "wait:<then>".
	want := map[phase]map[outcome]string{
		phaseWatchList: {ok: "stream", expired: "watch-list", tooLarge: "watch-list", throttled: "wait:watch-list",
			unsupported: "list", failed: "list", broken: "list", short: "list", ended: "list", stalled: "list"},
		phaseList: {ok: "watch", expired: "list", tooLarge: "list", throttled: "wait:list",
			failed: "wait:sync", broken: "wait:sync", short: "wait:sync", ended: "wait:sync", stalled: "wait:sync", unsupported: "wait:sync"},
		phaseWatch: {ok: "stream", expired: "wait:sync", tooLarge: "sync", throttled: "wait:watch",
			failed: "wait:watch", broken: "wait:watch", short: "wait:watch", ended: "wait:watch", stalled: "wait:watch", unsupported: "wait:watch"},
		phaseStream: {ended: "watch", stalled: "watch", short: "wait:watch", throttled: "wait:watch",
			expired: "wait:sync", tooLarge: "sync", broken: "wait:sync", failed: "wait:sync", unsupported: "wait:sync", ok: "wait:sync"},
	}
	for _, p := range phases {
		for _, o := range outcomes {
			for _, on := range []bool{true, false} {
				r := New[*kunosv1.Task](nil, nil, Options[*kunosv1.Task]{WatchList: &on, Clock: clocktesting.NewFakeClock(time.Unix(0, 0))})
				// rv "5": a sync that asked for an RV retries consistently at once.
				got := r.decide(state{phase: p, then: phaseList}, result{outcome: o, rv: "5", stream: &stream{w: watch.NewEmptyWatch()}})
				name := got.phase.String()
				if got.phase == phaseWait {
					name = "wait:" + got.then.String()
					if got.delay <= 0 {
						t.Errorf("%v/%v: wait without a delay", p, o)
					}
				}
				var exp string
				switch p {
				case phaseSync:
					exp = map[bool]string{true: "watch-list", false: "list"}[on]
				case phaseWait:
					exp = "list" // its then
				default:
					exp = want[p][o]
				}
				if name != exp {
					t.Errorf("WatchList=%v: %v/%v -> %s, want %s", on, p, o, name, exp)
				}
			}
		}
	}
}

// TestExpiredSyncWithoutRVWaits: a consistent sync that gets 410 must not
// spin; it waits before retrying.
func TestExpiredSyncWithoutRVWaits(t *testing.T) {
	r := New[*kunosv1.Task](nil, nil, Options[*kunosv1.Task]{Clock: clocktesting.NewFakeClock(time.Unix(0, 0))})
	for _, p := range []phase{phaseList, phaseWatchList} {
		got := r.decide(state{phase: p}, result{outcome: expired, rv: ""})
		if got.phase != phaseWait || got.then != p {
			t.Errorf("%v/expired at RV \"\" -> %v (then %v), want a wait", p, got.phase, got.then)
		}
		if !r.rvUnavailable {
			t.Errorf("%v/expired did not mark the RV unavailable", p)
		}
	}
}

// TestUnsupportedWatchListIsSticky: after a watch-list without the end
// bookmark, every later sync lists.
func TestUnsupportedWatchListIsSticky(t *testing.T) {
	r := New[*kunosv1.Task](nil, nil, Options[*kunosv1.Task]{})
	r.decide(state{phase: phaseWatchList}, result{outcome: unsupported})
	if got := r.decide(state{phase: phaseSync}, result{}); got.phase != phaseList {
		t.Fatalf("sync after unsupported -> %v", got.phase)
	}
}
