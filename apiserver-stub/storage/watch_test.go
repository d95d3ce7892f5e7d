package storage_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
)

const recvTimeout = 10 * time.Second

func recv(t testing.TB, w storage.Watcher) storage.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(recvTimeout):
		t.Fatal("no event within timeout")
	}
	return storage.Event{}
}

// expectQuiet asserts that nothing but a progress Bookmark at rev is
// pending: RequestProgress is delivered in order, so anything queued
// before it would arrive first.
func expectQuiet(t testing.TB, w storage.Watcher, rev int64) {
	t.Helper()
	w.RequestProgress()
	ev := recv(t, w)
	if ev.Type != watch.Bookmark || ev.Revision != rev || ev.InitialEventsEnd {
		t.Fatalf("expected only a progress bookmark at %d, got %s@%d %v", rev, ev.Type, ev.Revision, key(ev))
	}
}

func key(ev storage.Event) string {
	if ev.Object == nil {
		return ""
	}
	return ev.Object.Key
}

func expect(t testing.TB, w storage.Watcher, typ watch.EventType, k string, rev int64) storage.Event {
	t.Helper()
	ev := recv(t, w)
	if ev.Type != typ || key(ev) != k || ev.Revision != rev {
		t.Fatalf("got %s %q @%d, want %s %q @%d", ev.Type, key(ev), ev.Revision, typ, k, rev)
	}
	if ev.Object != nil && ev.Type != watch.Added && ev.Object.Revision != rev {
		t.Fatalf("object revision %d, event revision %d", ev.Object.Revision, rev)
	}
	return ev
}

func TestWatchStarts(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, storage.MemoryConfig{})
	base := s.CurrentRevision()           // the empty store's revision; write n is at base+n
	mustCreate(t, s, "a", "t1", "", nil)  // base+1
	mustCreate(t, s, "b", "t1", "", nil)  // base+2
	mustUpdate(t, s, "a", "t1", "x", nil) // base+3

	t.Run("from past revision replays after it", func(t *testing.T) {
		w, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: base + 1})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		expect(t, w, watch.Added, "/tasks/b/t1", base+2)
		expect(t, w, watch.Modified, "/tasks/a/t1", base+3)
		expectQuiet(t, w, base+3)
	})
	t.Run("from revision 0 starts now", func(t *testing.T) {
		w, err := s.Watch(ctx, "/tasks/a/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		expectQuiet(t, w, base+3)
	})
	t.Run("from current revision", func(t *testing.T) {
		w, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: base + 3})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		expectQuiet(t, w, base+3)
	})
	t.Run("future revision fails", func(t *testing.T) {
		if _, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: base + 4}); !storage.IsFutureRevision(err) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("initial events then end bookmark", func(t *testing.T) {
		w, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{SendInitialEvents: true, Revision: base + 2})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		expect(t, w, watch.Added, "/tasks/a/t1", base+3)
		ev := recv(t, w)
		if ev.Type != watch.Added || key(ev) != "/tasks/b/t1" || ev.Object.Revision != base+2 {
			t.Fatalf("second initial event: %+v", ev)
		}
		ev = recv(t, w)
		if ev.Type != watch.Bookmark || !ev.InitialEventsEnd || ev.Revision != base+3 {
			t.Fatalf("end bookmark: %+v", ev)
		}
		expectQuiet(t, w, base+3)
	})
	// Then live events reach all of them.
	live := make([]storage.Watcher, 0, 4)
	for _, opts := range []storage.WatchOptions{{}, {Revision: base + 2}, {SendInitialEvents: true}} {
		w, err := s.Watch(ctx, "/tasks/a/", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		live = append(live, w)
	}
	mustCreate(t, s, "a", "t2", "", nil)                            // base+4
	mustCreate(t, s, "b", "t2", "", nil)                            // base+5: other namespace
	if _, err := s.Delete(ctx, taskKey("a", "t1"), 0); err != nil { // base+6
		t.Fatal(err)
	}
	for i, w := range live {
		switch i {
		case 1:
			expect(t, w, watch.Modified, "/tasks/a/t1", base+3)
		case 2:
			expect(t, w, watch.Added, "/tasks/a/t1", base+3)
			if ev := recv(t, w); ev.Type != watch.Bookmark || !ev.InitialEventsEnd {
				t.Fatalf("want end bookmark, got %+v", ev)
			}
		}
		expect(t, w, watch.Added, "/tasks/a/t2", base+4)
		ev := expect(t, w, watch.Deleted, "/tasks/a/t1", base+6)
		if rvOf(t, ev.Object) != fmt.Sprint(base+6) || ev.Object.Fields().Get("spec.nodeName") != "x" {
			t.Fatalf("deleted object: RV %s fields %v", rvOf(t, ev.Object), ev.Object.Fields().Set())
		}
		expectQuiet(t, w, base+6)
	}
	t.Run("compacted revision fails, compacted+0 works", func(t *testing.T) {
		if err := s.Compact(ctx, base+4); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: base + 3}); !storage.IsCompacted(err) {
			t.Fatalf("got %v", err)
		}
		w, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: base + 4})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		expect(t, w, watch.Added, "/tasks/b/t2", base+5)
		expect(t, w, watch.Deleted, "/tasks/a/t1", base+6)
		// Initial events do not depend on history.
		w2, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{SendInitialEvents: true, Revision: base + 1})
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Stop()
		expect(t, w2, watch.Added, "/tasks/a/t2", base+4)
	})
}

func TestWatchStopAndContext(t *testing.T) {
	s := newStore(t, storage.MemoryConfig{MaxWatchers: 2})
	ctx, cancel := context.WithCancel(context.Background())
	w1, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w2, err := s.Watch(context.Background(), "/tasks/", storage.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Watch(context.Background(), "/tasks/", storage.WatchOptions{}); !storage.IsTooManyWatchers(err) {
		t.Fatalf("third watcher: %v", err)
	}
	cancel()
	if _, ok := <-w1.ResultChan(); ok {
		t.Fatal("watcher open after context cancel")
	}
	w2.Stop()
	w2.Stop() // idempotent
	if _, ok := <-w2.ResultChan(); ok {
		t.Fatal("watcher open after Stop")
	}
	w3, err := s.Watch(context.Background(), "/tasks/", storage.WatchOptions{})
	if err != nil {
		t.Fatalf("watcher slots not released: %v", err)
	}
	s.Close()
	if _, ok := <-w3.ResultChan(); ok {
		t.Fatal("watcher open after store Close")
	}
	if _, err := s.Watch(context.Background(), "/tasks/", storage.WatchOptions{}); err != storage.ErrClosed {
		t.Fatalf("watch after Close: %v", err)
	}
	w3.RequestProgress() // no panic on a closed watcher
}

func TestWatchSelectorTransitions(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, storage.MemoryConfig{})
	red := map[string]string{"color": "red"}
	blue := map[string]string{"color": "blue"}
	byLabel, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{Predicate: storage.Predicate{Label: labels.SelectorFromSet(red)}})
	if err != nil {
		t.Fatal(err)
	}
	defer byLabel.Stop()
	// spec.nodeName=n1 is served from the watcher index.
	byNode, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{Predicate: storage.Predicate{Field: fields.OneTermEqualSelector("spec.nodeName", "n1")}})
	if err != nil {
		t.Fatal(err)
	}
	defer byNode.Stop()

	base := s.CurrentRevision()                                    // the empty store's revision; write n is at base+n
	mustCreate(t, s, "a", "t", "", blue)                           // base+1: neither
	mustUpdate(t, s, "a", "t", "n1", red)                          // base+2: both start matching
	mustUpdate(t, s, "a", "t", "n1", red)                          // base+3: both still match
	mustUpdate(t, s, "a", "t", "n2", blue)                         // base+4: both stop matching
	mustUpdate(t, s, "a", "t", "n2", blue)                         // base+5: neither
	mustUpdate(t, s, "a", "t", "n1", red)                          // base+6: both match again
	if _, err := s.Delete(ctx, taskKey("a", "t"), 0); err != nil { // base+7
		t.Fatal(err)
	}
	mustCreate(t, s, "a", "u", "n2", red) // base+8: label only

	var stopped [2]*storage.Record
	for i, w := range []storage.Watcher{byLabel, byNode} {
		expect(t, w, watch.Added, "/tasks/a/t", base+2)
		expect(t, w, watch.Modified, "/tasks/a/t", base+3)
		ev := expect(t, w, watch.Deleted, "/tasks/a/t", base+4)
		// The previous state (the one that matched), at the new revision.
		obj, err := decodeTask(ev.Object.Data)
		if err != nil {
			t.Fatal(err)
		}
		if obj.ResourceVersion != fmt.Sprint(base+4) || obj.Spec.NodeName != "n1" || obj.Labels["color"] != "red" || ev.Object.Labels().Get("color") != "red" {
			t.Fatalf("stop-matching Deleted carries %s/%s %v, want previous state at revision %d", obj.ResourceVersion, obj.Spec.NodeName, obj.Labels, base+4)
		}
		stopped[i] = ev.Object
		expect(t, w, watch.Added, "/tasks/a/t", base+6)
		expect(t, w, watch.Deleted, "/tasks/a/t", base+7)
	}
	if stopped[0] != stopped[1] {
		t.Error("the re-encoded previous state is not shared between watchers")
	}
	expect(t, byLabel, watch.Added, "/tasks/a/u", base+8)
	expectQuiet(t, byLabel, base+8)
	expectQuiet(t, byNode, base+8)
}

func TestWatcherCountHook(t *testing.T) {
	var last atomic.Int64
	last.Store(-1)
	s := storage.NewMemoryStore(storage.MemoryConfig{Codec: testCodec{}, Hooks: storage.Hooks{OnWatcherCount: func(n int) { last.Store(int64(n)) }}})
	waitFor := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(recvTimeout)
		for last.Load() != want {
			if time.Now().After(deadline) {
				t.Fatalf("OnWatcherCount reported %d, want %d", last.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	var ws []storage.Watcher
	for range 3 {
		w, err := s.Watch(context.Background(), "/tasks/", storage.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	waitFor(3)
	ws[0].Stop()
	waitFor(2)
	s.Close()
	if last.Load() != 0 {
		t.Fatalf("after Close, reported %d", last.Load())
	}
}
