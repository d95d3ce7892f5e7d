package storage_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"github.com/kunos-io/listwatch/internal/etcdrun"
)

func TestEtcdSmoke(t *testing.T) {
	ctx := context.Background()
	st := newEtcdStore(t, storage.EtcdConfig{})
	a := mustCreate(t, st, "ns", "a", "n1", nil)
	w, err := st.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: a.Revision})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	b := mustUpdate(t, st, "ns", "a", "n2", nil)
	d, err := st.Delete(ctx, taskKey("ns", "a"), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		typ watch.EventType
		rev int64
	}{{watch.Modified, b.Revision}, {watch.Deleted, d.Revision}} {
		ev := recv(t, w)
		if ev.Type != want.typ || ev.Revision != want.rev {
			t.Fatalf("got %s@%d, want %s@%d", ev.Type, ev.Revision, want.typ, want.rev)
		}
	}
	res, err := st.List(ctx, "/tasks/", storage.ListOptions{Revision: b.Revision})
	if err != nil || len(res.Items) != 1 || res.Items[0].Revision != b.Revision {
		t.Fatalf("list at %d: %+v %v", b.Revision, res, err)
	}
	if rvOf(t, d) != strconv.FormatInt(d.Revision, 10) {
		t.Fatalf("deletion record rv %s, want %d", rvOf(t, d), d.Revision)
	}
}

// Two stores over one etcd and prefix are two replicas of one API: a write
// through one is read consistently and watched, at the same revision,
// through the other, and an RV from one is a valid start on the other.
func TestEtcdReplicasShareOneAPI(t *testing.T) {
	ctx := context.Background()
	a := newEtcdStore(t, storage.EtcdConfig{})
	b := newEtcdStore(t, storage.EtcdConfig{Prefix: a.Prefix()})
	first := mustCreate(t, a, "ns", "x", "n1", nil)
	// A consistent read on B sees A's acknowledged write at once.
	got, err := b.Get(ctx, taskKey("ns", "x"), 0)
	if err != nil || got.Revision != first.Revision {
		t.Fatalf("B get: %v %v", got, err)
	}
	res, err := b.List(ctx, "/tasks/", storage.ListOptions{})
	if err != nil || len(res.Items) != 1 || res.Items[0].Revision != first.Revision {
		t.Fatalf("B consistent list: %+v %v", res, err)
	}
	// A watch on B from A's revision, opened before B's cache may have it.
	w, err := b.Watch(ctx, "/tasks/ns/", storage.WatchOptions{Revision: first.Revision})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var revs []int64
	for i := range 20 {
		revs = append(revs, mustUpdate(t, a, "ns", "x", fmt.Sprintf("n%d", i), nil).Revision)
	}
	for _, want := range revs {
		ev := recv(t, w)
		if ev.Type != watch.Modified || ev.Revision != want || rvOf(t, ev.Object) != strconv.FormatInt(want, 10) {
			t.Fatalf("B saw %s@%d, want MODIFIED@%d", ev.Type, ev.Revision, want)
		}
	}
	if err := b.WaitForRevision(ctx, "/tasks/", revs[len(revs)-1]); err != nil {
		t.Fatalf("B wait for A's revision: %v", err)
	}
	if err := b.WaitForRevision(ctx, "/tasks/", revs[len(revs)-1]+1000); !storage.IsFutureRevision(err) {
		t.Fatalf("wait for a future revision: %v, want ErrFutureRevision", err)
	}
}

// A watch from a revision older than the cache's window, but not compacted
// in etcd, is served from etcd's history: every change, in order, with the
// selector rules.
func TestEtcdWatchOlderThanCacheWindow(t *testing.T) {
	ctx := context.Background()
	st := newEtcdStore(t, storage.EtcdConfig{MemoryConfig: storage.MemoryConfig{HistoryLimit: 5}})
	start := mustCreate(t, st, "ns", "a", "n0", nil).Revision
	var want []storage.Event
	for i := 1; i <= 30; i++ {
		r := mustUpdate(t, st, "ns", "a", fmt.Sprintf("n%d", i%3), nil)
		want = append(want, storage.Event{Type: watch.Modified, Revision: r.Revision})
	}
	// Let the cache take in (and age out) those events.
	if err := st.WaitForRevision(ctx, "/tasks/", want[len(want)-1].Revision); err != nil {
		t.Fatal(err)
	}
	w, err := st.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: start})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, wv := range want {
		ev := recv(t, w)
		if ev.Type != wv.Type || ev.Revision != wv.Revision {
			t.Fatalf("got %s@%d, want %s@%d", ev.Type, ev.Revision, wv.Type, wv.Revision)
		}
	}
	// The same from history with a selector: n1 enters and leaves.
	sel := fields.OneTermEqualSelector("spec.nodeName", "n1")
	ws, err := st.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: start, Predicate: storage.Predicate{Field: sel}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Stop()
	for i, wv := range want {
		var typ watch.EventType
		switch (i + 1) % 3 {
		case 1:
			typ = watch.Added
		case 2:
			typ = watch.Deleted
		default:
			continue
		}
		ev := recv(t, ws)
		if ev.Type != typ || ev.Revision != wv.Revision || rvOf(t, ev.Object) != strconv.FormatInt(wv.Revision, 10) {
			t.Fatalf("selector watch: got %s@%d, want %s@%d", ev.Type, ev.Revision, typ, wv.Revision)
		}
	}
}

// A stored value that does not decode is an error naming its key; every
// other object is still listed and watched.
func TestEtcdCorruptValue(t *testing.T) {
	ctx := context.Background()
	st := newEtcdStore(t, storage.EtcdConfig{})
	cli, err := etcdrun.NewClient(etcdrun.ClientOptions{Endpoints: []string{etcdMember(t).ClientURL}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	mustCreate(t, st, "ns", "good", "n1", nil)
	if _, err := cli.Put(ctx, st.Prefix()+taskKey("ns", "bad"), "{not json"); err != nil {
		t.Fatal(err)
	}
	after := mustCreate(t, st, "ns", "later", "n1", nil)
	_, err = st.Get(ctx, taskKey("ns", "bad"), 0)
	if !storage.IsCorrupt(err) || !containsStr(err.Error(), taskKey("ns", "bad")) {
		t.Fatalf("get of the bad key: %v, want a corrupt-object error naming it", err)
	}
	for _, lo := range []storage.ListOptions{{}, {Stale: true}, {Revision: after.Revision}} {
		res, err := st.List(ctx, "/tasks/", lo)
		if err != nil || len(res.Items) != 2 {
			t.Fatalf("list %+v: %d items, %v; want the 2 good ones", lo, len(res.Items), err)
		}
	}
}

func containsStr(s, sub string) bool { return strings.Contains(s, sub) }

// A new store over the same etcd finds everything at the same revisions.
func TestEtcdRestartKeepsObjectsAndRevisions(t *testing.T) {
	ctx := context.Background()
	a := newEtcdStore(t, storage.EtcdConfig{})
	var want []*storage.Record
	for i := range 10 {
		want = append(want, mustCreate(t, a, "ns", fmt.Sprintf("t%02d", i), "n1", nil))
	}
	prefix := a.Prefix()
	a.Close()
	b := newEtcdStore(t, storage.EtcdConfig{Prefix: prefix})
	res, err := b.List(ctx, "/tasks/", storage.ListOptions{Stale: true})
	if err != nil || len(res.Items) != len(want) {
		t.Fatalf("after restart: %d items, %v", len(res.Items), err)
	}
	for i, r := range res.Items {
		if r.Key != want[i].Key || r.Revision != want[i].Revision || rvOf(t, r) != rvOf(t, want[i]) {
			t.Fatalf("item %d: %s@%d, want %s@%d", i, r.Key, r.Revision, want[i].Key, want[i].Revision)
		}
	}
}

// Kill the leader of a 3-member cluster under a steady writer and a
// watcher: writes continue after the election and the watch delivers every
// acknowledged write, in order, with no gap.
func TestEtcdLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-member etcd cluster")
	}
	c, err := etcdrun.StartCluster(etcdrun.ClusterOptions{Dir: t.TempDir(), Member: etcdrun.Options{FastElection: true, LogLevel: "fatal"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after the store's own cleanup
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := newEtcdStore(t, storage.EtcdConfig{RequestTimeout: 2 * time.Second}, c.Endpoints()...)
	seed := mustCreate(t, st, "ns", "w", "n0", nil)
	w, err := st.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: seed.Revision})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	var mu sync.Mutex
	var acked []int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r, err := st.Update(ctx, taskKey("ns", "w"), 0, task("ns", "w", fmt.Sprintf("n%d", i), nil))
			if err != nil {
				if !storage.IsUnavailable(err) {
					t.Errorf("write %d: %v", i, err)
					return
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			mu.Lock()
			acked = append(acked, r.Revision)
			mu.Unlock()
		}
	}()
	time.Sleep(300 * time.Millisecond)
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Stop(leader)
	mu.Lock()
	atKill := len(acked)
	mu.Unlock()
	// Writes must continue after the election.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= atKill+50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes after killing the leader (had %d)", n-atKill, atKill)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	last := acked[len(acked)-1]
	i := 0
	for i < len(acked) {
		ev := recv(t, w)
		if ev.Type != watch.Modified {
			t.Fatalf("event %s@%d", ev.Type, ev.Revision)
		}
		if ev.Revision > acked[i] {
			t.Fatalf("watch skipped acknowledged write at %d (got %d)", acked[i], ev.Revision)
		}
		if ev.Revision == acked[i] {
			i++
		}
		if ev.Revision >= last {
			break
		}
	}
	if i != len(acked) {
		t.Fatalf("watch delivered %d of %d acknowledged writes", i, len(acked))
	}
	t.Logf("leader m%d killed after %d writes; %d writes in all, every one watched in order", leader, atKill, len(acked))
}

// With etcd gone, requests fail with Unavailable within the request
// timeout; when it returns, writes succeed and an open watch resumes
// without losing anything acknowledged.
func TestEtcdUnavailableAndBack(t *testing.T) {
	dir := t.TempDir()
	m, err := etcdrun.Start(etcdrun.Options{DataDir: dir, FastElection: true, LogLevel: "fatal"})
	if err != nil {
		t.Fatal(err)
	}
	u := m.ClientURL
	closed := false
	defer func() {
		if !closed {
			m.Close()
		}
	}()
	ctx := context.Background()
	st := newEtcdStore(t, storage.EtcdConfig{RequestTimeout: time.Second}, u)
	before := mustCreate(t, st, "ns", "a", "n1", nil)
	w, err := st.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: before.Revision})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	m.Close()
	closed = true
	t0 := time.Now()
	_, err = st.Update(ctx, taskKey("ns", "a"), 0, task("ns", "a", "n2", nil))
	if !storage.IsUnavailable(err) {
		t.Fatalf("update with etcd down: %v, want Unavailable", err)
	}
	if _, err := st.List(ctx, "/tasks/", storage.ListOptions{}); !storage.IsUnavailable(err) {
		t.Fatalf("consistent list with etcd down: %v, want Unavailable", err)
	}
	t.Logf("etcd down: errors after %s", time.Since(t0).Round(time.Millisecond))
	port, _ := strconv.Atoi(u[len("http://127.0.0.1:"):])
	m, err = etcdrun.Start(etcdrun.Options{DataDir: dir, ClientPort: port, PeerPort: 0, FastElection: true, LogLevel: "fatal"})
	if err != nil {
		t.Fatal(err)
	}
	closed = false
	var r *storage.Record
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err = st.Update(ctx, taskKey("ns", "a"), 0, task("ns", "a", "n3", nil))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write after etcd came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ev := recv(t, w)
	if ev.Type != watch.Modified || ev.Revision != r.Revision {
		t.Fatalf("after etcd returned the watch got %s@%d, want MODIFIED@%d", ev.Type, ev.Revision, r.Revision)
	}
}

// Bookmarks of an idle resource keep up with etcd's revision: writes to
// another resource move the revision a bookmark carries.
func TestEtcdBookmarksMoveWhileIdle(t *testing.T) {
	ctx := context.Background()
	st := newEtcdStore(t, storage.EtcdConfig{})
	w, err := st.Watch(ctx, "/tasks/", storage.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var last int64
	for i := range 5 {
		n := &kunosv1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i)}}
		r, err := st.Create(ctx, "/nodes/"+n.Name, n)
		if err != nil {
			t.Fatal(err)
		}
		last = r.Revision
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.RequestProgress()
		ev := recv(t, w)
		if ev.Type != watch.Bookmark {
			t.Fatalf("got %s, want only bookmarks", ev.Type)
		}
		if ev.Revision >= last {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bookmark stuck at %d, etcd at %d", ev.Revision, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
