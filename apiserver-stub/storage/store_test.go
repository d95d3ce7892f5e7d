package storage_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
)

func newStore(t testing.TB, cfg storage.MemoryConfig) *storage.MemoryStore {
	t.Helper()
	cfg.Codec = testCodec{}
	s := storage.NewMemoryStore(cfg)
	t.Cleanup(s.Close)
	return s
}

func mustCreate(t testing.TB, s storage.Interface, ns, name, node string, lbls map[string]string) *storage.Record {
	t.Helper()
	r, err := s.Create(context.Background(), taskKey(ns, name), task(ns, name, node, lbls))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustUpdate(t testing.TB, s storage.Interface, ns, name, node string, lbls map[string]string) *storage.Record {
	t.Helper()
	r, err := s.Update(context.Background(), taskKey(ns, name), 0, task(ns, name, node, lbls))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func rvOf(t testing.TB, r *storage.Record) string {
	t.Helper()
	obj, err := decodeTask(r.Data)
	if err != nil {
		t.Fatal(err)
	}
	return obj.ResourceVersion
}

func TestCRUDWithPreconditions(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, storage.MemoryConfig{})
	key := taskKey("default", "a")
	base := s.CurrentRevision() // the empty store's revision; write n is at base+n
	rv := func(n int64) string { return fmt.Sprint(base + n) }

	obj := task("default", "a", "n1", map[string]string{"app": "x"})
	r1, err := s.Create(ctx, key, obj)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Revision != base+1 || obj.ResourceVersion != rv(1) || rvOf(t, r1) != rv(1) {
		t.Fatalf("create: revision %d, object RV %q, encoded RV %q; want %d", r1.Revision, obj.ResourceVersion, rvOf(t, r1), base+1)
	}
	if !strings.Contains(string(r1.Data), `"kind":"Task"`) || r1.Fields().Get("spec.nodeName") != "n1" || r1.Labels().Get("app") != "x" {
		t.Fatalf("record attributes: %s %v %v", r1.Data, r1.Fields().Set(), r1.Labels().Set())
	}
	if _, err := s.Create(ctx, key, task("default", "a", "", nil)); !storage.IsAlreadyExists(err) {
		t.Fatalf("second create: %v, want AlreadyExists", err)
	}
	if _, err := s.Update(ctx, key, base+7, task("default", "a", "n2", nil)); !storage.IsConflict(err) {
		t.Fatalf("stale update: %v, want Conflict", err)
	}
	if _, err := s.Update(ctx, taskKey("default", "missing"), 0, task("default", "missing", "", nil)); !storage.IsNotFound(err) {
		t.Fatalf("update missing: %v, want NotFound", err)
	}
	r2, err := s.Update(ctx, key, base+1, task("default", "a", "n2", nil))
	if err != nil || r2.Revision != base+2 || rvOf(t, r2) != rv(2) {
		t.Fatalf("update: %v %+v", err, r2)
	}
	r3, err := s.Update(ctx, key, 0, task("default", "a", "n3", nil)) // no precondition
	if err != nil || r3.Revision != base+3 {
		t.Fatalf("unconditional update: %v %+v", err, r3)
	}
	if _, err := s.Delete(ctx, key, base+2); !storage.IsConflict(err) {
		t.Fatalf("stale delete: %v, want Conflict", err)
	}
	del, err := s.Delete(ctx, key, base+3)
	if err != nil {
		t.Fatal(err)
	}
	if del.Revision != base+4 || rvOf(t, del) != rv(4) || del.Fields().Get("spec.nodeName") != "n3" {
		t.Fatalf("delete record: rev %d RV %q fields %v; want last state at revision %d", del.Revision, rvOf(t, del), del.Fields().Set(), base+4)
	}
	if _, err := s.Delete(ctx, key, 0); !storage.IsNotFound(err) {
		t.Fatalf("delete again: %v, want NotFound", err)
	}
	if _, err := s.Get(ctx, key, 0); !storage.IsNotFound(err) {
		t.Fatalf("get deleted: %v", err)
	}
	for rev, want := range map[int64]string{base + 1: "n1", base + 2: "n2", base + 3: "n3"} {
		r, err := s.Get(ctx, key, rev)
		if err != nil || r.Fields().Get("spec.nodeName") != want || r.Revision != rev {
			t.Fatalf("get at %d: %v %+v", rev, err, r)
		}
	}
	if _, err := s.Get(ctx, key, base+4); !storage.IsNotFound(err) {
		t.Fatalf("get at deletion revision: %v", err)
	}
	if _, err := s.Get(ctx, key, base+5); !storage.IsFutureRevision(err) {
		t.Fatalf("get at future revision: %v", err)
	}
	// Re-create after delete is a new object.
	if r, err := s.Create(ctx, key, task("default", "a", "", nil)); err != nil || r.Revision != base+5 {
		t.Fatalf("re-create: %v %+v", err, r)
	}
	// Bad input is a clear error, never a panic, and consumes no revision.
	for _, bad := range []string{"", "tasks/x", "/tasks/ns/"} {
		_, err := s.Create(ctx, bad, task("ns", "x", "", nil))
		var se *storage.Error
		if !errorsAs(err, &se) || se.Code != storage.CodeInvalidObject {
			t.Fatalf("create at %q: %v, want CodeInvalidObject", bad, err)
		}
	}
	if _, err := s.Create(ctx, taskKey("ns", "nil"), nil); err == nil {
		t.Fatal("create nil object succeeded")
	}
	if got := s.CurrentRevision(); got != base+5 {
		t.Fatalf("revision %d after failed writes, want %d", got, base+5)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Create(cctx, taskKey("ns", "c"), task("ns", "c", "", nil)); err == nil {
		t.Fatal("create with cancelled context succeeded")
	}
}

// An empty store is at revision 1, as etcd is, never 0: a list of it
// answers a resourceVersion a watch replays from, whereas a watch from 0
// starts at the current revision and would miss what happened after the
// list (a reflector re-watching from it missed deletions).
func TestEmptyStoreIsAtRevisionOne(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, storage.MemoryConfig{})
	if got := s.CurrentRevision(); got != 1 {
		t.Fatalf("empty store at revision %d, want 1", got)
	}
	res, err := s.List(ctx, "/tasks/", storage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 1 || len(res.Items) != 0 || res.More {
		t.Fatalf("list of the empty store: revision %d, %d items, more %v; want revision 1, none", res.Revision, len(res.Items), res.More)
	}
	if again, err := s.List(ctx, "/tasks/", storage.ListOptions{Revision: res.Revision}); err != nil || again.Revision != 1 || len(again.Items) != 0 {
		t.Fatalf("list at revision 1: %v %+v", err, again)
	}

	// The first write is revision 2; a watch from the list's revision,
	// started after it, replays it and the deletion that follows.
	created := mustCreate(t, s, "a", "t1", "", nil)
	if created.Revision != 2 || rvOf(t, created) != "2" {
		t.Fatalf("first write at revision %d (RV %q), want 2", created.Revision, rvOf(t, created))
	}
	if _, err := s.Delete(ctx, taskKey("a", "t1"), 0); err != nil { // 3
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: res.Revision})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev := expect(t, w, watch.Added, "/tasks/a/t1", 2); ev.Object != created {
		t.Fatal("ADDED carries another record than the create returned")
	}
	expect(t, w, watch.Deleted, "/tasks/a/t1", 3)
	expectQuiet(t, w, 3)

	// Revision 0 means "from now": it sees neither.
	now, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer now.Stop()
	expectQuiet(t, now, 3)
}

func TestGetListAtRevisionsAcrossCompaction(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, storage.MemoryConfig{})
	base := s.CurrentRevision()                                     // the empty store's revision; write n is at base+n
	mustCreate(t, s, "a", "t1", "n1", nil)                          // base+1
	mustCreate(t, s, "a", "t2", "n1", nil)                          // base+2
	mustCreate(t, s, "b", "t1", "n2", nil)                          // base+3
	mustUpdate(t, s, "a", "t1", "n2", nil)                          // base+4
	if _, err := s.Delete(ctx, taskKey("a", "t2"), 0); err != nil { // base+5
		t.Fatal(err)
	}
	mustUpdate(t, s, "a", "t1", "n3", nil) // base+6

	// names lists prefix at rev and shows each item as key@n, where its
	// revision is base+n (the revision of write n).
	names := func(rev int64, prefix string) string {
		t.Helper()
		res, err := s.List(ctx, prefix, storage.ListOptions{Revision: rev})
		if err != nil {
			t.Fatalf("list %s at %d: %v", prefix, rev, err)
		}
		var out []string
		for _, r := range res.Items {
			out = append(out, fmt.Sprintf("%s@%d", r.Key, r.Revision-base))
		}
		return strings.Join(out, " ")
	}
	want := map[int64]string{
		base + 1: "/tasks/a/t1@1",
		base + 2: "/tasks/a/t1@1 /tasks/a/t2@2",
		base + 3: "/tasks/a/t1@1 /tasks/a/t2@2 /tasks/b/t1@3",
		base + 4: "/tasks/a/t1@4 /tasks/a/t2@2 /tasks/b/t1@3",
		base + 5: "/tasks/a/t1@4 /tasks/b/t1@3",
		base + 6: "/tasks/a/t1@6 /tasks/b/t1@3",
		0:        "/tasks/a/t1@6 /tasks/b/t1@3", // the current revision
	}
	for rev, w := range want {
		if got := names(rev, "/tasks/"); got != w {
			t.Errorf("list at %d: %q, want %q", rev, got, w)
		}
	}
	if got := names(base, "/tasks/"); got != "" {
		t.Errorf("list at %d, the empty store's revision: %q", base, got)
	}
	if got := names(base+3, "/tasks/a/"); got != "/tasks/a/t1@1 /tasks/a/t2@2" {
		t.Errorf("namespace list at %d: %q", base+3, got)
	}
	if n := s.Count("/tasks/"); n != 2 {
		t.Errorf("Count(/tasks/) = %d", n)
	}
	if n := s.Count("/tasks/a/"); n != 1 {
		t.Errorf("Count(/tasks/a/) = %d", n)
	}
	if n := s.Count("/tasks/a/t"); n != 1 {
		t.Errorf("Count(/tasks/a/t) = %d", n)
	}

	if err := s.Compact(ctx, base+4); err != nil {
		t.Fatal(err)
	}
	if s.CompactedRevision() != base+4 {
		t.Fatalf("compacted revision %d", s.CompactedRevision())
	}
	for _, rev := range []int64{base + 1, base + 3} {
		if _, err := s.List(ctx, "/tasks/", storage.ListOptions{Revision: rev}); !storage.IsCompacted(err) {
			t.Errorf("list at %d after compaction: %v, want Compacted", rev, err)
		}
		if _, err := s.Get(ctx, taskKey("b", "t1"), rev); !storage.IsCompacted(err) {
			t.Errorf("get at %d after compaction: %v, want Compacted", rev, err)
		}
	}
	for rev := base + 4; rev <= base+6; rev++ {
		if got := names(rev, "/tasks/"); got != want[rev] {
			t.Errorf("after compaction, list at %d: %q, want %q", rev, got, want[rev])
		}
	}
	if _, err := s.List(ctx, "/tasks/", storage.ListOptions{Revision: base + 7}); !storage.IsFutureRevision(err) {
		t.Errorf("future list: %v", err)
	}
	var cerr *storage.Error
	_, err := s.Get(ctx, taskKey("a", "t1"), base+2)
	if !errorsAs(err, &cerr) || cerr.Revision != base+2 || cerr.Current != base+4 {
		t.Errorf("compacted error details: %#v", err)
	}
	// Compacting past the deletion drops the tombstone and the key.
	if err := s.Compact(ctx, base+6); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Keys != 2 || st.Objects != 2 || st.Events != 0 {
		t.Errorf("stats after full compaction: %+v", st)
	}
	if got := names(base+6, "/tasks/"); got != want[base+6] {
		t.Errorf("list at compacted revision: %q", got)
	}
	if err := s.Compact(ctx, base+3); err != nil {
		t.Errorf("compacting an already compacted revision: %v", err)
	}
	if err := s.Compact(ctx, base+99); !storage.IsFutureRevision(err) {
		t.Errorf("compacting the future: %v", err)
	}
}

func TestListPagingIsConsistentAcrossWrites(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, storage.MemoryConfig{})
	for i := range 100 {
		mustCreate(t, s, fmt.Sprintf("ns%d", i%3), fmt.Sprintf("t%03d", i), "", map[string]string{"even": fmt.Sprint(i%2 == 0)})
	}
	sel := labels.SelectorFromSet(labels.Set{"even": "true"})
	for pass, pred := range []storage.Predicate{{}, {Label: sel}} {
		full, err := s.List(ctx, "/tasks/", storage.ListOptions{Predicate: pred})
		if err != nil {
			t.Fatal(err)
		}
		rev := full.Revision
		var got []*storage.Record
		after := ""
		for page := 0; ; page++ {
			res, err := s.List(ctx, "/tasks/", storage.ListOptions{Revision: rev, After: after, Limit: 7, Predicate: pred})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, res.Items...)
			if want := int64(len(full.Items) - len(got)); res.More != (want > 0) || (res.More && res.Remaining != want) {
				t.Fatalf("page %d: More=%v Remaining=%d, want remaining %d", page, res.More, res.Remaining, want)
			}
			if !res.More {
				break
			}
			after = res.Items[len(res.Items)-1].Key
			// Interleave writes: update, delete and create around the cursor.
			i := (page*11 + pass*5) % 98
			if _, err := s.Update(ctx, taskKey(fmt.Sprintf("ns%d", i%3), fmt.Sprintf("t%03d", i)), 0, task(fmt.Sprintf("ns%d", i%3), fmt.Sprintf("t%03d", i), "moved", nil)); err != nil && !storage.IsNotFound(err) {
				t.Fatal(err)
			}
			if _, err := s.Delete(ctx, taskKey(fmt.Sprintf("ns%d", (i+1)%3), fmt.Sprintf("t%03d", i+1)), 0); err != nil && !storage.IsNotFound(err) {
				t.Fatal(err)
			}
			mustCreate(t, s, "ns1", fmt.Sprintf("new%d-%03d", pass, page), "", map[string]string{"even": "true"})
		}
		if len(got) != len(full.Items) {
			t.Fatalf("paged %d items, full list %d", len(got), len(full.Items))
		}
		for i := range got {
			if got[i] != full.Items[i] {
				t.Fatalf("item %d: %s@%d, want %s@%d", i, got[i].Key, got[i].Revision, full.Items[i].Key, full.Items[i].Revision)
			}
		}
	}
	// Field selectors and After outside the prefix.
	res, err := s.List(ctx, "/tasks/ns0/", storage.ListOptions{Predicate: storage.Predicate{Field: fields.OneTermEqualSelector("spec.nodeName", "moved")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Items {
		if r.Fields().Get("spec.nodeName") != "moved" || !strings.HasPrefix(r.Key, "/tasks/ns0/") {
			t.Fatalf("field selector returned %s %v", r.Key, r.Fields().Set())
		}
	}
	if res, _ := s.List(ctx, "/tasks/ns0/", storage.ListOptions{After: "/a"}); len(res.Items) == 0 {
		t.Fatal("After before the prefix should start at the prefix")
	}
	if res, _ := s.List(ctx, "/tasks/ns0/", storage.ListOptions{After: "/z"}); len(res.Items) != 0 || res.More {
		t.Fatal("After past the prefix should be empty")
	}
}

func TestAutomaticCompaction(t *testing.T) {
	ctx := context.Background()
	var compactions []int64
	s := newStore(t, storage.MemoryConfig{HistoryLimit: 50, Hooks: storage.Hooks{OnCompact: func(rev int64) { compactions = append(compactions, rev) }}})
	base := s.CurrentRevision()            // the empty store's revision
	mustCreate(t, s, "a", "keep", "", nil) // base+1
	for i := range 200 {
		mustCreate(t, s, "a", fmt.Sprintf("t%d", i), "", nil)
		if _, err := s.Delete(ctx, taskKey("a", fmt.Sprintf("t%d", i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Events > 55 || st.Events < 50 || st.Compacted != st.Revision-int64(st.Events) {
		t.Fatalf("history not bounded by HistoryLimit: %+v", st)
	}
	if st.Keys > 1+55 || st.Objects != 1 {
		t.Fatalf("deleted keys not pruned: %+v", st)
	}
	if len(compactions) == 0 || compactions[len(compactions)-1] != st.Compacted {
		t.Fatalf("OnCompact calls %v, compacted %d", compactions, st.Compacted)
	}
	// The oldest key survives compaction at its only version.
	if r, err := s.Get(ctx, taskKey("a", "keep"), 0); err != nil || r.Revision != base+1 {
		t.Fatalf("get kept key: %v %+v", err, r)
	}
	if r, err := s.Get(ctx, taskKey("a", "keep"), st.Compacted); err != nil || r.Revision != base+1 {
		t.Fatalf("get kept key at compacted revision: %v %+v", err, r)
	}
	if _, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: st.Compacted - 1}); !storage.IsCompacted(err) {
		t.Fatalf("watch before compaction: %v", err)
	}
	w, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: st.Compacted})
	if err != nil {
		t.Fatalf("watch at compacted revision: %v", err)
	}
	// It replays every retained event, in order.
	for want := st.Compacted + 1; want <= st.Revision; want++ {
		ev := <-w.ResultChan()
		if ev.Revision != want {
			t.Fatalf("replay: got revision %d, want %d", ev.Revision, want)
		}
	}
	w.Stop()
}

func TestCompactionByAge(t *testing.T) {
	s := newStore(t, storage.MemoryConfig{CompactInterval: 5 * time.Millisecond, MaxHistoryAge: 20 * time.Millisecond})
	base := s.CurrentRevision() // the empty store's revision; write n is at base+n
	for i := range 10 {
		mustCreate(t, s, "a", fmt.Sprintf("t%d", i), "", nil)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.CompactedRevision() != base+9 { // all but the newest, base+10
		if time.Now().After(deadline) {
			t.Fatalf("not compacted by age: %+v", s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The newest event is kept so the latest revision stays watchable.
	if st := s.Stats(); st.Events != 1 {
		t.Fatalf("stats: %+v", st)
	}
}
