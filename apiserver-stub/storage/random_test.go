package storage_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
)

// write is one successful write as its writer saw it.
type write struct {
	typ watch.EventType
	rec *storage.Record
}

// model replays the writes in revision order.
type model struct {
	base   int64                        // the empty store's revision
	writes []write                      // index = revision-base-1
	prev   []*storage.Record            // state of the key before writes[i]
	states map[string][]*storage.Record // per key: record per version, nil for deleted
	revs   map[string][]int64           // per key: revision of each version
}

func newModel(t *testing.T, base int64, ws []write) *model {
	slices.SortFunc(ws, func(a, b write) int { return int(a.rec.Revision - b.rec.Revision) })
	m := &model{base: base, writes: ws, states: map[string][]*storage.Record{}, revs: map[string][]int64{}}
	cur := map[string]*storage.Record{}
	for i, w := range ws {
		if w.rec.Revision != base+int64(i+1) {
			t.Fatalf("revisions not contiguous: write %d has revision %d", i, w.rec.Revision)
		}
		k := w.rec.Key
		p := cur[k]
		if (w.typ == watch.Added) != (p == nil) {
			t.Fatalf("revision %d: %s of %s with previous state %v", w.rec.Revision, w.typ, k, p != nil)
		}
		m.prev = append(m.prev, p)
		st := w.rec
		if w.typ == watch.Deleted {
			st = nil
		}
		cur[k] = st
		m.states[k] = append(m.states[k], st)
		m.revs[k] = append(m.revs[k], w.rec.Revision)
	}
	return m
}

// liveAt returns the matching objects under prefix at rev, in key order.
func (m *model) liveAt(rev int64, prefix string, pred storage.Predicate) []*storage.Record {
	var out []*storage.Record
	for k, revs := range m.revs {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		var st *storage.Record
		for i, r := range revs {
			if r <= rev {
				st = m.states[k][i]
			}
		}
		if st != nil && pred.Matches(st) {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b *storage.Record) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// expected is an event a watcher must see; prev marks a stop-matching
// Deleted, whose object is the previous state at the new revision.
type expected struct {
	typ  watch.EventType
	rev  int64
	obj  *storage.Record
	prev bool
}

// after returns what a watcher of prefix with pred must see after rev.
func (m *model) after(rev int64, prefix string, pred storage.Predicate) []expected {
	var out []expected
	for i := int(rev - m.base); i < len(m.writes); i++ {
		w, p := m.writes[i], m.prev[i]
		if !strings.HasPrefix(w.rec.Key, prefix) {
			continue
		}
		now := w.typ != watch.Deleted && pred.Matches(w.rec)
		before := p != nil && pred.Matches(p)
		r := w.rec.Revision
		switch {
		case w.typ == watch.Deleted && before:
			out = append(out, expected{watch.Deleted, r, w.rec, false})
		case now && before:
			out = append(out, expected{watch.Modified, r, w.rec, false})
		case now:
			out = append(out, expected{watch.Added, r, w.rec, false})
		case before:
			out = append(out, expected{watch.Deleted, r, p, true})
		}
	}
	return out
}

type randomWatcher struct {
	w       storage.Watcher
	prefix  string
	pred    storage.Predicate
	initial bool
	start   int64
	slow    bool

	mu     sync.Mutex
	events []storage.Event
	lastBM int64
}

func (rw *randomWatcher) consume(r *rand.Rand) {
	for ev := range rw.w.ResultChan() {
		rw.mu.Lock()
		rw.events = append(rw.events, ev)
		if ev.Type == watch.Bookmark && !ev.InitialEventsEnd {
			rw.lastBM = ev.Revision
		}
		rw.mu.Unlock()
		if rw.slow && r.IntN(50) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

func (rw *randomWatcher) lastBookmark() int64 {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.lastBM
}

func (rw *randomWatcher) expired() bool {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	n := len(rw.events)
	return n > 0 && rw.events[n-1].Type == watch.Error
}

func TestRandomizedWatchersSeeExactHistory(t *testing.T) {
	for _, tc := range []struct {
		name         string
		historyLimit int
	}{
		{"no compaction", 1 << 20},
		{"with compaction", 300},
	} {
		t.Run(tc.name, func(t *testing.T) { runRandomized(t, tc.historyLimit) })
	}
}

func runRandomized(t *testing.T, historyLimit int) {
	ctx := context.Background()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	writers, ops, nWatchers := 4, 1500, 40
	if testing.Short() {
		ops, nWatchers = 300, 12
	}
	s := newStore(t, storage.MemoryConfig{HistoryLimit: historyLimit, WatcherBufferSize: 8})
	base := s.CurrentRevision() // the empty store's revision; write n is at base+n

	prefixes := []string{"/tasks/", "/tasks/a/", "/tasks/b/", "/tasks/c/k1"}
	preds := []storage.Predicate{
		{},
		{Label: labels.SelectorFromSet(labels.Set{"color": "red"})},
		{Field: fields.OneTermEqualSelector("spec.nodeName", "n1")},
		{Field: fields.OneTermEqualSelector("spec.nodeName", "")},
		{Field: fields.OneTermEqualSelector("status.phase", "Running")},
		{Label: labels.SelectorFromSet(labels.Set{"color": "blue"}), Field: fields.OneTermEqualSelector("spec.nodeName", "n2")},
	}

	var (
		wmu    sync.Mutex
		writes []write
		wg     sync.WaitGroup
	)
	for g := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(seed), uint64(g)))
			var mine []write
			for range ops {
				ns := []string{"a", "b", "c"}[r.IntN(3)]
				name := fmt.Sprintf("k%d", r.IntN(15))
				k := taskKey(ns, name)
				obj := task(ns, name, []string{"", "n1", "n2"}[r.IntN(3)], map[string]string{"color": []string{"red", "blue"}[r.IntN(2)]})
				obj.Status.Phase = []kunosv1.TaskPhase{kunosv1.TaskPending, kunosv1.TaskRunning}[r.IntN(2)]
				var (
					rec *storage.Record
					err error
					typ watch.EventType
				)
				switch r.IntN(4) {
				case 0:
					typ = watch.Added
					rec, err = s.Create(ctx, k, obj)
				case 1, 2:
					typ = watch.Modified
					pre := int64(0)
					if r.IntN(2) == 0 {
						if cur, gerr := s.Get(ctx, k, 0); gerr == nil {
							pre = cur.Revision // may be stale by now: Conflict
						}
					}
					rec, err = s.Update(ctx, k, pre, obj)
				case 3:
					typ = watch.Deleted
					rec, err = s.Delete(ctx, k, 0)
				}
				switch {
				case err == nil:
					mine = append(mine, write{typ, rec})
				case storage.IsAlreadyExists(err), storage.IsNotFound(err), storage.IsConflict(err):
				default:
					t.Error(err)
					return
				}
			}
			wmu.Lock()
			writes = append(writes, mine...)
			wmu.Unlock()
		})
	}

	// Start watchers at random moments and revisions while writes happen.
	r := rand.New(rand.NewPCG(uint64(seed), 99))
	var watchers []*randomWatcher
	var cwg sync.WaitGroup
	for i := 0; i < nWatchers; i++ {
		rw := &randomWatcher{prefix: prefixes[r.IntN(len(prefixes))], pred: preds[r.IntN(len(preds))], slow: r.IntN(3) == 0}
		opts := storage.WatchOptions{Predicate: rw.pred}
		if r.IntN(4) == 0 {
			rw.initial, opts.SendInitialEvents = true, true
		} else {
			// Revision 0 would mean "from now"; pick a real revision,
			// at least the empty store's (every write comes after it).
			lo, hi := max(s.CompactedRevision(), base), s.CurrentRevision()
			rw.start = lo + r.Int64N(hi-lo+1)
			opts.Revision = rw.start
		}
		w, err := s.Watch(ctx, rw.prefix, opts)
		if storage.IsCompacted(err) {
			continue // compaction moved between reading the bounds and watching
		}
		if err != nil {
			t.Fatal(err)
		}
		rw.w = w
		watchers = append(watchers, rw)
		cr := rand.New(rand.NewPCG(uint64(seed), uint64(1000+i)))
		cwg.Go(func() { rw.consume(cr) })
		time.Sleep(time.Duration(r.IntN(15)) * time.Millisecond)
	}
	wg.Wait()
	final := s.CurrentRevision()

	// Wait until each watcher has been sent everything, via in-order
	// progress bookmarks, or has expired behind compaction.
	deadline := time.Now().Add(15 * time.Second)
	for _, rw := range watchers {
		for rw.lastBookmark() < final && !rw.expired() {
			if time.Now().After(deadline) {
				t.Fatalf("watcher %s did not catch up: bookmark %d, final %d, stats %+v", rw.prefix, rw.lastBookmark(), final, s.Stats())
			}
			rw.w.RequestProgress()
			time.Sleep(time.Millisecond)
		}
		rw.w.Stop()
	}
	cwg.Wait()

	m := newModel(t, base, writes)
	if base+int64(len(m.writes)) != final {
		t.Fatalf("%d writes recorded, revision %d", len(m.writes), final)
	}
	expiredCount := 0
	for i, rw := range watchers {
		name := fmt.Sprintf("watcher %d (%s, pred %v/%v, initial %v, start %d)", i, rw.prefix, rw.pred.Label, rw.pred.Field, rw.initial, rw.start)
		evs := rw.events
		var initial []*storage.Record
		start := rw.start
		if rw.initial {
			// ADDED for the snapshot, then the end bookmark with its revision.
			j := slices.IndexFunc(evs, func(e storage.Event) bool { return e.Type == watch.Bookmark && e.InitialEventsEnd })
			if j < 0 {
				if len(evs) > 0 && evs[len(evs)-1].Type == watch.Error {
					expiredCount++
					continue
				}
				t.Fatalf("%s: no initial-events-end bookmark", name)
			}
			start = evs[j].Revision
			for _, e := range evs[:j] {
				if e.Type != watch.Added {
					t.Fatalf("%s: %s among initial events", name, e.Type)
				}
				initial = append(initial, e.Object)
			}
			want := m.liveAt(start, rw.prefix, rw.pred)
			if len(initial) != len(want) {
				t.Fatalf("%s: %d initial events, want %d", name, len(initial), len(want))
			}
			for k := range want {
				if initial[k] != want[k] {
					t.Fatalf("%s: initial event %d is %s@%d, want %s@%d", name, k, initial[k].Key, initial[k].Revision, want[k].Key, want[k].Revision)
				}
			}
			evs = evs[j+1:]
		}
		want := m.after(start, rw.prefix, rw.pred)
		got := 0
		for _, e := range evs {
			switch e.Type {
			case watch.Bookmark:
				// Everything up to the bookmark was sent before it.
				if e.InitialEventsEnd {
					t.Fatalf("%s: second end bookmark", name)
				}
				if got < len(want) && want[got].rev <= e.Revision {
					t.Fatalf("%s: bookmark %d before event %d", name, e.Revision, want[got].rev)
				}
				if got > 0 && want[got-1].rev > e.Revision {
					t.Fatalf("%s: bookmark %d after event %d", name, e.Revision, want[got-1].rev)
				}
				continue
			case watch.Error:
				if !storage.IsCompacted(e.Err) {
					t.Fatalf("%s: error %v", name, e.Err)
				}
				expiredCount++
				continue
			}
			if got >= len(want) {
				t.Fatalf("%s: unexpected extra event %s %s@%d", name, e.Type, key(e), e.Revision)
			}
			x := want[got]
			got++
			if e.Type != x.typ || e.Revision != x.rev {
				t.Fatalf("%s: event %d is %s@%d, want %s@%d", name, got, e.Type, e.Revision, x.typ, x.rev)
			}
			if x.prev {
				if e.Object.Key != x.obj.Key || e.Object.Revision != x.rev || rvOf(t, e.Object) != fmt.Sprint(x.rev) ||
					!labels.Equals(e.Object.Labels().Set(), x.obj.Labels().Set()) || !maps.Equal(e.Object.Fields().Set(), x.obj.Fields().Set()) {
					t.Fatalf("%s: stop-matching Deleted at %d carries the wrong state", name, x.rev)
				}
			} else if e.Object != x.obj {
				t.Fatalf("%s: event at %d carries another record", name, x.rev)
			}
		}
		if got != len(want) && !rw.expired() {
			t.Fatalf("%s: got %d of %d events", name, got, len(want))
		}
	}
	t.Logf("%d writes, %d watchers checked, %d expired behind compaction", final, len(watchers), expiredCount)
}
