package metrics

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/watch"
)

// TestRandomLifecyclesMatchModel drives random reports, handler removals,
// stops, re-creations and queue deletions over a few names, and after
// every step compares which (metric family, name, handler) series exist
// with a model of which components are live. Invariants: a live component
// that reported has its series; a removed handler, stopped informer or
// reflector, or deleted queue has none; nothing else appears.
func TestRandomLifecyclesMatchModel(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runModel(t, seed) })
	}
}

type modelKey struct{ family, name, handler string }

func runModel(t *testing.T, seed uint64) {
	rnd := rand.New(rand.NewPCG(seed, 7))
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	names := []string{"a", "b", "c"}
	handlers := []string{"h1", "h2"}

	// Model: which series families each live component has exported.
	informers := map[string]map[string]bool{} // name -> handlers with series
	informerBase := map[string]bool{}         // name -> objects/synced exported
	reflectors := map[string]bool{}           // name -> reported
	queues := map[string]bool{}               // name -> created

	want := func() []modelKey {
		var out []modelKey
		for n := range informerBase {
			out = append(out, modelKey{"informer_store_objects", n, ""})
		}
		for n, hs := range informers {
			for h := range hs {
				out = append(out, modelKey{"informer_handler_panics_total", n, h})
			}
		}
		for n := range reflectors {
			out = append(out, modelKey{"reflector_watch_events_total", n, ""})
		}
		for n := range queues {
			out = append(out, modelKey{"workqueue_adds_total", n, ""})
		}
		return out
	}

	for step := range 200 {
		n := names[rnd.IntN(len(names))]
		h := handlers[rnd.IntN(len(handlers))]
		op := rnd.IntN(8)
		switch op {
		case 0:
			m.Informer(n).SetStoreObjects(rnd.IntN(10))
			informerBase[n] = true
		case 1:
			m.Informer(n).HandlerPanicked(h)
			if informers[n] == nil {
				informers[n] = map[string]bool{}
			}
			informers[n][h] = true
		case 2:
			m.Informer(n).HandlerRemoved(h)
			delete(informers[n], h)
		case 3:
			m.Informer(n).Stopped() // cascades to the reflector of that name
			delete(informers, n)
			delete(informerBase, n)
			delete(reflectors, n)
		case 4:
			m.Reflector(n).ObserveEvent(watch.Modified)
			reflectors[n] = true
		case 5:
			m.Reflector(n).Stopped()
			delete(reflectors, n)
		case 6:
			m.WorkqueueProvider().NewAddsMetric(n).Inc()
			m.WorkqueueProvider().NewDepthMetric(n).Inc()
			queues[n] = true
		case 7:
			m.WorkqueueProvider().DeleteQueueMetrics(n)
			delete(queues, n)
		}
		got := observed(t, reg)
		exp := want()
		slices.SortFunc(exp, cmpKey)
		if !slices.Equal(got, exp) {
			t.Fatalf("step %d (op %d on %s/%s):\n got  %v\n want %v", step, op, n, h, got, exp)
		}
		checkConsistent(t, reg, step)
	}
}

// observed reduces the registry to one key per component: the family that
// stands for it, as in the model.
func observed(t *testing.T, reg *prometheus.Registry) []modelKey {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []modelKey
	for _, mf := range mfs {
		switch mf.GetName() {
		case "informer_store_objects", "informer_handler_panics_total", "reflector_watch_events_total", "workqueue_adds_total":
		default:
			continue
		}
		seen := map[modelKey]bool{}
		for _, s := range mf.GetMetric() {
			k := modelKey{family: mf.GetName()}
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "name":
					k.name = l.GetValue()
				case "handler":
					k.handler = l.GetValue()
				}
			}
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	slices.SortFunc(out, cmpKey)
	return out
}

// checkConsistent: every family of a component is present exactly when its
// representative is (e.g. a reflector with events also has lists_total and
// its since-last-event sample; a handler with panics has all four handler
// families).
func checkConsistent(t *testing.T, reg *prometheus.Registry, step int) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]string{
		"reflector": {"reflector_lists_total", "reflector_watches_total", "reflector_watch_events_total", "reflector_relists_total", "reflector_list_duration_seconds", "reflector_seconds_since_last_event", "reflector_last_event_timestamp_seconds"},
		"handler":   {"informer_pending_notifications", "informer_handler_duration_seconds", "informer_coalesced_notifications_total", "informer_handler_panics_total"},
		"queue":     {"workqueue_adds_total", "workqueue_depth"},
	}
	for g, fams := range groups {
		var ref []string
		for i, f := range fams {
			keys := map[string]bool{}
			for _, mf := range mfs {
				if mf.GetName() != f {
					continue
				}
				for _, s := range mf.GetMetric() {
					k := ""
					for _, l := range s.GetLabel() {
						if l.GetName() == "name" || l.GetName() == "handler" {
							k += l.GetName() + "=" + l.GetValue() + ","
						}
					}
					keys[k] = true
				}
			}
			var ks []string
			for k := range keys {
				ks = append(ks, k)
			}
			slices.Sort(ks)
			if i == 0 {
				ref = ks
			} else if !slices.Equal(ks, ref) {
				t.Fatalf("step %d: %s families disagree: %s has %v, %s has %v", step, g, fams[0], ref, f, ks)
			}
		}
	}
}

func cmpKey(a, b modelKey) int {
	if a.family != b.family {
		if a.family < b.family {
			return -1
		}
		return 1
	}
	if a.name != b.name {
		if a.name < b.name {
			return -1
		}
		return 1
	}
	switch {
	case a.handler < b.handler:
		return -1
	case a.handler > b.handler:
		return 1
	}
	return 0
}
