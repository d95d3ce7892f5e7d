package cache

import (
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

func sharedList(x Indexer[*kunosv1.Task]) *[]*kunosv1.Task {
	return x.(*indexer[*kunosv1.Task]).snap().cache().shared.Load()
}

// TestListCache checks when a snapshot keeps its List result, that callers
// always get a slice of their own, and that writes and Bookmark never serve
// another snapshot's result.
func TestListCache(t *testing.T) {
	x := newTaskIndexer()
	mustNil(t, x.Replace(benchTasks(20, 3), "1"))
	if l := x.List(); len(l) != 20 || sharedList(x) != nil {
		t.Fatalf("first List: %d objects, cached %v", len(l), sharedList(x) != nil)
	}
	second := x.List()
	if sharedList(x) == nil {
		t.Fatal("second List of one snapshot did not cache")
	}
	cached := *sharedList(x)
	if &second[0] == &cached[0] {
		t.Fatal("List handed out the cached slice")
	}
	for round := 0; round < 3; round++ {
		l := x.List()
		if len(l) != 20 || &l[0] == &cached[0] {
			t.Fatalf("round %d: %d objects, shared backing array %v", round, len(l), &l[0] == &cached[0])
		}
		for i := range l {
			if l[i] != cached[i] {
				t.Fatalf("round %d: List differs from the cache at %d", round, i)
			}
			l[i] = nil // the caller's to clobber
		}
	}
	for i := range cached {
		if cached[i] == nil {
			t.Fatal("a caller's writes reached the cache")
		}
	}

	// Bookmark keeps the content, so it keeps the cache.
	x.Bookmark("2")
	if p := sharedList(x); p == nil || &(*p)[0] != &cached[0] {
		t.Fatal("Bookmark dropped or changed the cached List")
	}
	// A write starts a new snapshot with no cache; its Lists see the write.
	mustNil(t, x.Add(task("default", "new", "node-0", nil)))
	if sharedList(x) != nil {
		t.Fatal("a write kept the old List")
	}
	for round := 0; round < 3; round++ {
		if l := x.List(); len(l) != 21 {
			t.Fatalf("after Add, List %d has %d objects", round, len(l))
		}
	}
	mustNil(t, x.Delete(task("default", "new", "", nil)))
	for round := 0; round < 3; round++ {
		if l := x.List(); len(l) != 20 {
			t.Fatalf("after Delete, List %d has %d objects", round, len(l))
		}
	}
}

// TestListCacheEmpty: an empty store lists as an empty, non-nil slice.
func TestListCacheEmpty(t *testing.T) {
	x := newTaskIndexer()
	for round := 0; round < 3; round++ {
		if l := x.List(); l == nil || len(l) != 0 {
			t.Fatalf("List %d of an empty store = %#v", round, l)
		}
	}
}

func cachedByIndex(x Indexer[*kunosv1.Task]) *indexResult[*kunosv1.Task] {
	return x.(*indexer[*kunosv1.Task]).snap().cache().byIndex.Load()
}

// TestByIndexCache: a query asked twice in a row on one snapshot is kept;
// a different query or a write never gets the kept result.
func TestByIndexCache(t *testing.T) {
	x := newTaskIndexer()
	mustNil(t, x.Replace(benchTasks(30, 3), "1")) // 10 objects per node
	byIdx := func(index, value string, want int) {
		t.Helper()
		objs, err := x.ByIndex(index, value)
		mustNil(t, err)
		if len(objs) != want {
			t.Fatalf("ByIndex(%s, %s) = %d objects, want %d", index, value, len(objs), want)
		}
		for i, o := range objs {
			if got, _ := nodeIndex(o); index == byNode && got[0] != value {
				t.Fatalf("ByIndex(%s, %s) returned an object of %s", index, value, got[0])
			}
			objs[i] = nil
		}
	}
	byIdx(byNode, "node-0", 10)
	byIdx(byNode, "node-1", 10)
	if cachedByIndex(x) != nil {
		t.Fatal("cached after two different queries")
	}
	byIdx(byNode, "node-1", 10)
	r := cachedByIndex(x)
	if r == nil || r.value != "node-1" {
		t.Fatal("a query asked twice in a row was not cached")
	}
	for range 3 {
		byIdx(byNode, "node-1", 10) // from the cache; clobbered by the caller
	}
	for _, o := range r.objs {
		if o == nil {
			t.Fatal("a caller's writes reached the cache")
		}
	}
	byIdx(byNode, "node-2", 10)          // another value: not from the cache
	byIdx(NamespaceIndex, "default", 30) // another index
	byIdx(NamespaceIndex, "node-1", 0)   // same value, other index
	x.Bookmark("2")
	if cachedByIndex(x) != r {
		t.Fatal("Bookmark dropped the cache")
	}
	mustNil(t, x.Update(task("default", "object-number-0", "node-1", nil))) // node-0 -> node-1
	if cachedByIndex(x) != nil {
		t.Fatal("a write kept the cache")
	}
	for range 3 {
		byIdx(byNode, "node-1", 11)
		byIdx(byNode, "node-0", 9)
	}
}
