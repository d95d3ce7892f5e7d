package storage_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"k8s.io/apimachinery/pkg/watch"
)

// A watcher that reads nothing while thousands of writes happen must not
// block the writers or delay another watcher, and must then receive every
// event, in order.
func TestSlowWatcherCatchesUpWithoutLoss(t *testing.T) {
	ctx := context.Background()
	var slowHooks atomic.Int64
	s := newStore(t, storage.MemoryConfig{
		HistoryLimit:      100000,
		WatcherBufferSize: 16,
		Hooks:             storage.Hooks{OnSlowWatcher: func() { slowHooks.Add(1) }},
	})
	base := s.CurrentRevision() // the empty store's revision; write n is at base+n
	slow, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	fast, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()

	const writers, perWriter = 2, 1500
	const total = writers * perWriter
	var fastGot atomic.Int64
	fastErr := make(chan error, 1)
	go func() {
		want := base + 1
		for ev := range fast.ResultChan() {
			if ev.Revision != want {
				fastErr <- fmt.Errorf("fast watcher: revision %d, want %d", ev.Revision, want)
				return
			}
			want++
			fastGot.Add(1)
		}
		fastErr <- nil
	}()

	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if _, err := s.Create(ctx, taskKey(fmt.Sprintf("ns%d", g), fmt.Sprintf("t%d", i)), task("x", "y", "", nil)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait() // returns although the slow watcher has not read anything

	deadline := time.Now().Add(recvTimeout)
	for fastGot.Load() < total {
		if time.Now().After(deadline) {
			t.Fatalf("fast watcher got %d of %d events while the slow one was stuck", fastGot.Load(), total)
		}
		time.Sleep(time.Millisecond)
	}
	if slowHooks.Load() == 0 {
		t.Error("OnSlowWatcher was not called")
	}
	if st := s.Stats(); st.Victims+st.Unsynced != 1 {
		t.Errorf("the slow watcher should be out of the synced group: %+v", st)
	}
	for want := base + 1; want <= base+total; want++ {
		ev := recv(t, slow)
		if ev.Type != watch.Added || ev.Revision != want {
			t.Fatalf("slow watcher: %s@%d, want ADDED@%d", ev.Type, ev.Revision, want)
		}
	}
	expectQuiet(t, slow, base+total)
	// Caught up, it is synced again and gets live events directly.
	mustCreate(t, s, "z", "last", "", nil)
	expect(t, slow, watch.Added, "/tasks/z/last", base+total+1)
	fast.Stop()
	if err := <-fastErr; err != nil {
		t.Fatal(err)
	}
}

// A slow watcher that falls behind compaction gets everything up to the
// gap, then an ErrCompacted Error event, then its channel closes.
func TestSlowWatcherBehindCompactionExpires(t *testing.T) {
	ctx := context.Background()
	var expired atomic.Int64
	s := newStore(t, storage.MemoryConfig{
		HistoryLimit:      100,
		WatcherBufferSize: 8,
		Hooks:             storage.Hooks{OnWatcherExpired: func() { expired.Add(1) }},
	})
	base := s.CurrentRevision() // the empty store's revision; write n is at base+n
	w, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		mustCreate(t, s, "a", fmt.Sprintf("t%d", i), "", nil)
	}
	want := base + 1
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			if !storage.IsCompacted(ev.Err) {
				t.Fatalf("error event: %v", ev.Err)
			}
			if _, ok := <-w.ResultChan(); ok {
				t.Fatal("channel open after the Error event")
			}
			break
		}
		if ev.Revision != want {
			t.Fatalf("revision %d, want %d", ev.Revision, want)
		}
		want++
	}
	if n := want - (base + 1); n == 0 || n > 19 {
		t.Fatalf("received %d events before expiring; want the buffered ones", n)
	}
	deadline := time.Now().Add(recvTimeout)
	for expired.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("OnWatcherExpired not called")
		}
		time.Sleep(time.Millisecond)
	}
}

// RequestProgress answers in order, after everything already queued, with
// the newest revision the watcher is known to have been sent everything up
// to.
func TestRequestProgressOrdering(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, storage.MemoryConfig{WatcherBufferSize: 4})
	base := s.CurrentRevision() // the empty store's revision; write n is at base+n
	for i := range 300 {
		mustCreate(t, s, "a", fmt.Sprintf("t%03d", i), "", nil)
	}
	init, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{SendInitialEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	defer init.Stop()
	behind, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer behind.Stop()

	init.RequestProgress() // while the 300 initial events are queued
	for i := range 100 {
		mustUpdate(t, s, "a", fmt.Sprintf("t%03d", i), "n", nil) // base+301..base+400: behind falls behind
	}
	behind.RequestProgress()
	for i := range 50 {
		mustUpdate(t, s, "a", fmt.Sprintf("t%03d", i), "m", nil) // base+401..base+450
	}
	behind.RequestProgress()

	for i := range 300 {
		if ev := recv(t, init); ev.Type != watch.Added {
			t.Fatalf("initial event %d: %s", i, ev.Type)
		}
	}
	if ev := recv(t, init); ev.Type != watch.Bookmark || !ev.InitialEventsEnd || ev.Revision != base+300 {
		t.Fatalf("end bookmark: %+v", ev)
	}
	if ev := recv(t, init); ev.Type != watch.Bookmark || ev.InitialEventsEnd || ev.Revision != base+300 {
		t.Fatalf("progress bookmark after initial events: %+v", ev)
	}
	for want := base + 301; want <= base+450; want++ {
		expect(t, init, watch.Modified, fmt.Sprintf("/tasks/a/t%03d", (want-base-301)%100), want)
	}

	last, bookmarks := base+300, 0
	for last < base+450 || bookmarks < 2 {
		ev := recv(t, behind)
		if ev.Type == watch.Bookmark {
			if ev.Revision != last {
				t.Fatalf("bookmark at %d after events up to %d", ev.Revision, last)
			}
			bookmarks++
			continue
		}
		if ev.Revision != last+1 {
			t.Fatalf("event %d after %d", ev.Revision, last)
		}
		last = ev.Revision
	}
	expectQuiet(t, behind, base+450)
}
