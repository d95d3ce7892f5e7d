package reflector_test

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// checkSink is a Sink that keeps the state it was given and checks, per
// key, that the states applied come in resourceVersion order: every ADDED,
// MODIFIED or DELETED carries a larger RV than anything applied before for
// that key, and a Replace never goes back in time. Violations are kept for
// the test to report.
type checkSink struct {
	mu         sync.Mutex
	objs       map[string]*kunosv1.Task
	last       map[string]uint64 // per key: RV of the last state applied (deletes included)
	rv         uint64            // RV of the last Replace or event
	replaces   int
	events     int
	violations []string
}

func newCheckSink() *checkSink {
	return &checkSink{objs: map[string]*kunosv1.Task{}, last: map[string]uint64{}}
}

func parseRV(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func (s *checkSink) violate(format string, args ...any) {
	if len(s.violations) < 20 {
		s.violations = append(s.violations, fmt.Sprintf(format, args...))
	}
}

func (s *checkSink) Replace(items []*kunosv1.Task, rv string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaces++
	r := parseRV(rv)
	if r < s.rv {
		s.violate("replace at %d after state %d", r, s.rv)
	}
	next := make(map[string]*kunosv1.Task, len(items))
	for _, it := range items {
		k := key(it)
		v := parseRV(it.ResourceVersion)
		if v > r {
			s.violate("replace at %d holds %s@%d", r, k, v)
		}
		if v < s.last[k] {
			s.violate("replace went back for %s: %d after %d", k, v, s.last[k])
		}
		s.last[k] = v
		next[k] = it
	}
	for k := range s.objs {
		if _, ok := next[k]; !ok {
			// Deleted at some RV in (last, r]: a later state must be newer
			// than r.
			s.last[k] = r
		}
	}
	s.objs = next
	s.rv = r
	return nil
}

func (s *checkSink) apply(verb string, o *kunosv1.Task) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events++
	k, v := key(o), parseRV(o.ResourceVersion)
	if prev, seen := s.last[k]; seen && v <= prev {
		s.violate("%s %s@%d after state @%d", verb, k, v, prev)
	}
	s.last[k] = v
	if v > s.rv {
		s.rv = v
	}
	if verb == "delete" {
		delete(s.objs, k)
	} else {
		s.objs[k] = o
	}
	return nil
}

func (s *checkSink) Add(o *kunosv1.Task) error    { return s.apply("add", o) }
func (s *checkSink) Update(o *kunosv1.Task) error { return s.apply("update", o) }
func (s *checkSink) Delete(o *kunosv1.Task) error { return s.apply("delete", o) }
func (s *checkSink) Bookmark(string)              {}

// versions returns key → resourceVersion of the current state.
func (s *checkSink) versions() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.objs))
	for k, o := range s.objs {
		out[k] = o.ResourceVersion
	}
	return out
}

func (s *checkSink) problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// diff describes how two key → RV maps differ, or returns "".
func diff(got, want map[string]string) string {
	if maps.Equal(got, want) {
		return ""
	}
	var out []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			out = append(out, "missing "+k+"@"+v)
		} else if g != v {
			out = append(out, "stale "+k+"@"+g+" want @"+v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			out = append(out, "extra "+k+"@"+v)
		}
	}
	slices.Sort(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("... %d more", len(out)-10))
	}
	return fmt.Sprint(out)
}

func (s *checkSink) counts() (replaces, events int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replaces, s.events
}
