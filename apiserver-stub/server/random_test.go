package server_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
)

// change is one write as its HTTP answer reported it.
type change struct {
	typ      string
	ns, name string
	rv       int64
}

// TestRandomizedWatchersSeeTheServerSequence runs random writes through
// HTTP (create, update, patch, status update, delete; some no-ops) while
// watchers start at random resourceVersions over both transports, for one
// namespace or all. Each watcher must receive exactly the writes after its
// start, in order, with the answers' resourceVersions; one that starts from
// "0" must first see the state as of its initial-events-end bookmark.
func TestRandomizedWatchersSeeTheServerSequence(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	srv := stubtest.Start(t, stubtest.WithNamespaces("a", "b"))

	type started struct {
		w        *watcher
		from     int64 // 0: initial events
		ns       string
		tr       transport
		startRev int64
	}
	var log []change
	var watchers []started
	live := map[string]int64{} // "ns/name" -> rv
	nss := []string{"a", "b"}
	const writes = 200
	for i := 0; i < writes; i++ {
		if rng.IntN(12) == 0 {
			cur := srv.Store().CurrentRevision()
			from := int64(0)
			if cur > 0 && rng.IntN(3) > 0 {
				from = rng.Int64N(cur + 1)
			}
			ns := ""
			if rng.IntN(2) == 0 {
				ns = nss[rng.IntN(len(nss))]
			}
			tr := transports[rng.IntN(2)]
			path := tasksAll
			if ns != "" {
				path = "/apis/kunos.io/v1/namespaces/" + ns + "/tasks"
			}
			q := "watch=true&allowWatchBookmarks=true&resourceVersion=" + rvq(from)
			if from == 0 && rng.IntN(2) == 0 {
				q = "watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
			}
			w, r := startWatch(t, srv, tr, path, q)
			if w == nil {
				t.Fatalf("watch %s: %d %s", q, r.code, r.body)
			}
			watchers = append(watchers, started{w: w, from: from, ns: ns, tr: tr, startRev: cur})
		}
		ns := nss[rng.IntN(len(nss))]
		name := fmt.Sprintf("t%d", rng.IntN(6))
		key := ns + "/" + name
		coll := "/apis/kunos.io/v1/namespaces/" + ns + "/tasks"
		rv, exists := live[key]
		img := fmt.Sprintf("img%d", rng.IntN(3))
		var r resp
		typ := "MODIFIED"
		switch op := rng.IntN(5); {
		case !exists:
			typ = "ADDED"
			r = post(t, srv, coll, `{"metadata":{"name":"`+name+`"},"spec":{"image":"`+img+`"}}`)
		case op == 0:
			r = do(t, srv, http.MethodPut, coll+"/"+name, "application/json",
				`{"metadata":{"name":"`+name+`","resourceVersion":"`+rvq(rv)+`"},"spec":{"image":"`+img+`"}}`)
		case op == 1:
			r = do(t, srv, http.MethodPatch, coll+"/"+name, "application/merge-patch+json", `{"spec":{"image":"`+img+`"}}`)
		case op == 2:
			r = do(t, srv, http.MethodPatch, coll+"/"+name+"/status", "application/merge-patch+json", `{"status":{"message":"`+img+`"}}`)
		default:
			typ = "DELETED"
			r = do(t, srv, http.MethodDelete, coll+"/"+name, "", "")
		}
		if r.code != 200 && r.code != 201 {
			t.Fatalf("write %d (%s %s): %d %s", i, typ, key, r.code, r.body)
		}
		var newRV int64
		if typ == "DELETED" {
			newRV = srv.Store().CurrentRevision() // writes are sequential
			delete(live, key)
		} else {
			newRV = rvOf(t, r.obj(t))
			if newRV == rv {
				continue // a no-op write: no revision, no event
			}
			live[key] = newRV
		}
		log = append(log, change{typ: typ, ns: ns, name: name, rv: newRV})
	}
	if len(watchers) == 0 {
		t.Skip("no watcher started with this seed")
	}
	final := srv.Store().CurrentRevision()
	for i, s := range watchers {
		var want []change
		var got []change
		from := s.from
		if from == 0 {
			// Initial events: the state as of the end bookmark.
			state := map[string]change{}
			var end int64
			for {
				e := s.w.next(t)
				if e.Type == "BOOKMARK" {
					end = e.rv(t)
					break
				}
				m := e.meta(t)
				state[m.Namespace+"/"+m.Name] = change{typ: e.Type, ns: m.Namespace, name: m.Name, rv: e.rv(t)}
			}
			wantState := map[string]change{}
			for _, c := range log {
				if c.rv > end {
					break
				}
				if s.ns != "" && c.ns != s.ns {
					continue
				}
				if c.typ == "DELETED" {
					delete(wantState, c.ns+"/"+c.name)
				} else {
					wantState[c.ns+"/"+c.name] = change{typ: "ADDED", ns: c.ns, name: c.name, rv: c.rv}
				}
			}
			if fmt.Sprint(sorted(state)) != fmt.Sprint(sorted(wantState)) {
				t.Fatalf("watcher %d (%s, ns %q, initial events): state\n%v\nwant\n%v", i, s.tr, s.ns, sorted(state), sorted(wantState))
			}
			from = end
		}
		for _, c := range log {
			if c.rv > from && (s.ns == "" || c.ns == s.ns) {
				want = append(want, c)
			}
		}
		for len(got) < len(want) {
			e := s.w.next(t)
			if e.Type == "BOOKMARK" {
				continue
			}
			m := e.meta(t)
			got = append(got, change{typ: e.Type, ns: m.Namespace, name: m.Name, rv: e.rv(t)})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("watcher %d (%s, ns %q, from %d, final %d):\n got %v\nwant %v", i, s.tr, s.ns, from, final, got, want)
		}
		s.w.quietExceptBookmarks(t, 20*time.Millisecond)
		s.w.close()
	}
}

func sorted(m map[string]change) []change {
	out := make([]change, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ns+"/"+out[i].name < out[j].ns+"/"+out[j].name })
	return out
}

// quietExceptBookmarks checks that only bookmarks arrive for d.
func (w *watcher) quietExceptBookmarks(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case e, ok := <-w.events:
			if !ok {
				t.Fatalf("watch ended: %v", <-w.done)
			}
			if e.Type != "BOOKMARK" {
				t.Fatalf("unexpected event %s %s", e.Type, e.Object)
			}
		case <-deadline:
			return
		}
	}
}
