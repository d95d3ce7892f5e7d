package cache

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const byNode = "byNode"

func task(ns, name, node string, labels map[string]string) *kunosv1.Task {
	return &kunosv1.Task{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       kunosv1.TaskSpec{NodeName: node},
	}
}

func nodeIndex(t *kunosv1.Task) ([]string, error) {
	if t.Spec.NodeName == "" {
		return nil, nil
	}
	return []string{t.Spec.NodeName}, nil
}

func newTaskIndexer() Indexer[*kunosv1.Task] {
	return NewIndexer(MetaNamespaceKeyFunc, Indexers[*kunosv1.Task]{
		NamespaceIndex: MetaNamespaceIndexFunc[*kunosv1.Task],
		byNode:         nodeIndex,
	})
}

func names(objs []*kunosv1.Task) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.Name)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func mustNil(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("%s = %v, want %v", what, sorted(got), sorted(want))
	}
}

func TestAddGetListDelete(t *testing.T) {
	x := newTaskIndexer()
	a, b, c := task("ns1", "a", "n1", nil), task("ns1", "b", "n2", nil), task("", "c", "", nil)
	for _, o := range []*kunosv1.Task{a, b, c} {
		mustNil(t, x.Add(o))
	}
	if x.Len() != 3 {
		t.Fatalf("Len = %d", x.Len())
	}
	got, ok, err := x.GetByKey("ns1/a")
	if err != nil || !ok || got != a {
		t.Fatalf("GetByKey = %v %v %v", got, ok, err)
	}
	got, ok, err = x.Get(task("ns1", "b", "", nil))
	if err != nil || !ok || got != b {
		t.Fatalf("Get = %v %v %v", got, ok, err)
	}
	if _, ok, _ := x.GetByKey("ns2/a"); ok {
		t.Fatal("found absent key")
	}
	wantStrings(t, "List", names(x.List()), []string{"a", "b", "c"})
	wantStrings(t, "ListKeys", x.ListKeys(), []string{"ns1/a", "ns1/b", "c"})

	mustNil(t, x.Delete(task("ns1", "a", "ignored", nil)))
	mustNil(t, x.Delete(task("ns1", "zz", "", nil))) // absent: no error
	wantStrings(t, "ListKeys after delete", x.ListKeys(), []string{"ns1/b", "c"})
	objs, err := x.ByIndex(byNode, "n1")
	mustNil(t, err)
	wantStrings(t, "ByIndex n1 after delete", names(objs), nil)
	wantStrings(t, "values", x.ListIndexFuncValues(byNode), []string{"n2"})
}

func TestKeyFuncError(t *testing.T) {
	x := newTaskIndexer()
	bad := task("ns", "", "", nil)
	for name, op := range map[string]func(*kunosv1.Task) error{"Add": x.Add, "Update": x.Update, "Delete": x.Delete} {
		err := op(bad)
		var ke *KeyError
		if !errors.As(err, &ke) {
			t.Fatalf("%s: err = %v, want KeyError", name, err)
		}
	}
	if _, _, err := x.Get(bad); err == nil {
		t.Fatal("Get: no error")
	}
	if err := x.Replace([]*kunosv1.Task{task("ns", "ok", "", nil), bad}, "5"); err == nil {
		t.Fatal("Replace: no error")
	}
	if x.Len() != 0 || x.LastStoreSyncResourceVersion() != "" {
		t.Fatal("failed writes changed the store")
	}
}

func TestUpdateMovesIndexEntries(t *testing.T) {
	x := newTaskIndexer()
	mustNil(t, x.Add(task("ns", "a", "n1", nil)))
	mustNil(t, x.Add(task("ns", "b", "n1", nil)))
	mustNil(t, x.Update(task("ns", "a", "n2", nil)))

	objs, _ := x.ByIndex(byNode, "n1")
	wantStrings(t, "n1", names(objs), []string{"b"})
	objs, _ = x.ByIndex(byNode, "n2")
	wantStrings(t, "n2", names(objs), []string{"a"})
	keys, _ := x.IndexKeys(byNode, "n2")
	wantStrings(t, "IndexKeys n2", keys, []string{"ns/a"})

	// Moving b away empties n1: the value disappears.
	mustNil(t, x.Update(task("ns", "b", "n3", nil)))
	wantStrings(t, "values", x.ListIndexFuncValues(byNode), []string{"n2", "n3"})
	// Unscheduling a removes it from the index entirely.
	mustNil(t, x.Update(task("ns", "a", "", nil)))
	wantStrings(t, "values", x.ListIndexFuncValues(byNode), []string{"n3"})
	wantStrings(t, "ns index", x.ListIndexFuncValues(NamespaceIndex), []string{"ns"})
}

func TestMultiValueIndex(t *testing.T) {
	labelsIndex := func(t *kunosv1.Task) ([]string, error) {
		var out []string
		for k, v := range t.Labels {
			out = append(out, k+"="+v)
		}
		out = append(out, out...) // duplicates must be harmless
		return out, nil
	}
	x := NewIndexer(MetaNamespaceKeyFunc, Indexers[*kunosv1.Task]{"labels": labelsIndex})
	mustNil(t, x.Add(task("ns", "a", "", map[string]string{"app": "x", "tier": "1"})))
	mustNil(t, x.Add(task("ns", "b", "", map[string]string{"app": "x", "tier": "2"})))
	objs, err := x.Index("labels", task("", "probe", "", map[string]string{"tier": "1", "app": "x"}))
	mustNil(t, err)
	wantStrings(t, "Index", names(objs), []string{"a", "b"})
	objs, _ = x.Index("labels", task("", "probe", "", map[string]string{"tier": "2"}))
	wantStrings(t, "Index single", names(objs), []string{"b"})
	mustNil(t, x.Update(task("ns", "a", "", map[string]string{"app": "y"})))
	wantStrings(t, "values", x.ListIndexFuncValues("labels"), []string{"app=x", "app=y", "tier=2"})
	mustNil(t, x.Delete(task("ns", "b", "", nil)))
	wantStrings(t, "values", x.ListIndexFuncValues("labels"), []string{"app=y"})
}

func TestUnknownIndex(t *testing.T) {
	x := newTaskIndexer()
	if _, err := x.ByIndex("nope", "v"); err == nil {
		t.Fatal("ByIndex: no error")
	}
	if _, err := x.IndexKeys("nope", "v"); err == nil {
		t.Fatal("IndexKeys: no error")
	}
	if _, err := x.Index("nope", task("a", "b", "", nil)); err == nil {
		t.Fatal("Index: no error")
	}
	if v := x.ListIndexFuncValues("nope"); v != nil {
		t.Fatalf("ListIndexFuncValues = %v", v)
	}
}

var errBoom = errors.New("boom")

func TestIndexFuncErrorLeavesStoreUnchanged(t *testing.T) {
	failOn := map[string]bool{}
	flaky := func(t *kunosv1.Task) ([]string, error) {
		if failOn[t.Name] {
			return nil, errBoom
		}
		return []string{t.Spec.NodeName}, nil
	}
	x := NewIndexer(MetaNamespaceKeyFunc, Indexers[*kunosv1.Task]{
		NamespaceIndex: MetaNamespaceIndexFunc[*kunosv1.Task],
		"flaky":        flaky,
	})
	a := task("ns", "a", "n1", nil)
	a.ResourceVersion = "1"
	mustNil(t, x.Add(a))
	before := dump(x)

	failOn["a"], failOn["b"] = true, true
	check := func(what string, err error) {
		t.Helper()
		var ie *IndexError
		if !errors.As(err, &ie) || !errors.Is(err, errBoom) || ie.Index != "flaky" {
			t.Fatalf("%s: err = %v, want IndexError wrapping boom", what, err)
		}
		if got := dump(x); got != before {
			t.Fatalf("%s changed the store:\n%s\nwant\n%s", what, got, before)
		}
	}
	a2 := task("ns", "a", "n2", nil)
	a2.ResourceVersion = "2"
	check("Update", x.Update(a2))
	check("Add", x.Add(task("ns", "b", "n1", nil)))
	check("Replace", x.Replace([]*kunosv1.Task{task("ns", "c", "", nil), task("ns", "b", "", nil)}, "9"))
	if err := x.Update(a2); err == nil || !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	var ie *IndexError
	err := x.Add(task("ns", "b", "", nil))
	if !errors.As(err, &ie) || ie.Key != "ns/b" {
		t.Fatalf("error does not name the key: %v", err)
	}
	// Delete never calls index functions, so it works even now.
	mustNil(t, x.Delete(a))
	if x.Len() != 0 {
		t.Fatal("delete failed")
	}
}

// dump renders the whole observable state of an indexer.
func dump[T Object](x Indexer[T]) string {
	s := fmt.Sprintf("rv=%q keys=%v\n", x.LastStoreSyncResourceVersion(), sorted(x.ListKeys()))
	for _, name := range sortedNames(x.GetIndexers()) {
		for _, v := range sorted(x.ListIndexFuncValues(name)) {
			keys, _ := x.IndexKeys(name, v)
			s += fmt.Sprintf("%s[%s]=%v\n", name, v, sorted(keys))
		}
	}
	return s
}

func TestReplace(t *testing.T) {
	x := newTaskIndexer()
	mustNil(t, x.Add(task("ns", "old", "n1", nil)))
	mustNil(t, x.Replace([]*kunosv1.Task{
		task("ns", "a", "n1", nil),
		task("ns", "b", "n2", nil),
		task("ns", "a", "n3", nil), // the last one with a key wins
	}, "42"))
	if rv := x.LastStoreSyncResourceVersion(); rv != "42" {
		t.Fatalf("rv = %q", rv)
	}
	wantStrings(t, "keys", x.ListKeys(), []string{"ns/a", "ns/b"})
	wantStrings(t, "values", x.ListIndexFuncValues(byNode), []string{"n2", "n3"})
	a, _, _ := x.GetByKey("ns/a")
	if a.Spec.NodeName != "n3" {
		t.Fatal("duplicate key: first one kept")
	}
	// Writes after a Replace keep the indices right.
	mustNil(t, x.Update(task("ns", "a", "n2", nil)))
	keys, _ := x.IndexKeys(byNode, "n2")
	wantStrings(t, "n2", keys, []string{"ns/a", "ns/b"})
	mustNil(t, x.Replace(nil, "43"))
	if x.Len() != 0 || len(x.ListIndexFuncValues(byNode)) != 0 {
		t.Fatal("Replace(nil) left objects")
	}
}

func TestResourceVersionTracking(t *testing.T) {
	x := NewStore[*kunosv1.Task](MetaNamespaceKeyFunc)
	o := task("ns", "a", "", nil)
	o.ResourceVersion = "5"
	mustNil(t, x.Add(o))
	if rv := x.LastStoreSyncResourceVersion(); rv != "5" {
		t.Fatalf("after Add: %q", rv)
	}
	x.Bookmark("7")
	if rv := x.LastStoreSyncResourceVersion(); rv != "7" || x.Len() != 1 {
		t.Fatalf("after Bookmark: %q", rv)
	}
	o2 := task("ns", "a", "", nil)
	o2.ResourceVersion = "8"
	mustNil(t, x.Delete(o2))
	if rv := x.LastStoreSyncResourceVersion(); rv != "8" {
		t.Fatalf("after Delete: %q", rv)
	}
	mustNil(t, x.Add(task("ns", "b", "", nil))) // no RV: keeps the last one
	if rv := x.LastStoreSyncResourceVersion(); rv != "8" {
		t.Fatalf("after Add without RV: %q", rv)
	}
}

func TestAddIndexersOnPopulatedStore(t *testing.T) {
	x := NewIndexer[*kunosv1.Task](MetaNamespaceKeyFunc, nil)
	for i := 0; i < 100; i++ {
		mustNil(t, x.Add(task(fmt.Sprintf("ns%d", i%3), fmt.Sprintf("t%d", i), fmt.Sprintf("n%d", i%7), nil)))
	}
	mustNil(t, x.AddIndexers(Indexers[*kunosv1.Task]{byNode: nodeIndex}))
	mustNil(t, x.AddIndexers(Indexers[*kunosv1.Task]{NamespaceIndex: MetaNamespaceIndexFunc[*kunosv1.Task]}))
	if len(x.GetIndexers()) != 2 {
		t.Fatalf("GetIndexers = %v", x.GetIndexers())
	}
	wantStrings(t, "node values", x.ListIndexFuncValues(byNode), []string{"n0", "n1", "n2", "n3", "n4", "n5", "n6"})
	objs, _ := x.ByIndex(byNode, "n3")
	if len(objs) != 14 { // i%7==3 for i<100: 3,10,...,94
		t.Fatalf("n3 has %d objects", len(objs))
	}
	objs, _ = x.ByIndex(NamespaceIndex, "ns1")
	if len(objs) != 33 {
		t.Fatalf("ns1 has %d objects", len(objs))
	}
	// Later writes maintain the back-filled indices.
	mustNil(t, x.Update(task("ns1", "t1", "n6", nil)))
	objs, _ = x.ByIndex(byNode, "n1")
	if len(objs) != 14 { // 15 minus the one moved
		t.Fatalf("n1 has %d objects after moving one", len(objs))
	}

	// Conflicts and failures change nothing.
	before := dump(x)
	if err := x.AddIndexers(Indexers[*kunosv1.Task]{"other": nodeIndex, byNode: nodeIndex}); err == nil {
		t.Fatal("name conflict accepted")
	}
	failing := func(t *kunosv1.Task) ([]string, error) {
		if t.Name == "t50" {
			return nil, errBoom
		}
		return nil, nil
	}
	err := x.AddIndexers(Indexers[*kunosv1.Task]{"failing": failing})
	var ie *IndexError
	if !errors.As(err, &ie) || ie.Key != "ns2/t50" || ie.Index != "failing" {
		t.Fatalf("err = %v", err)
	}
	if err := x.AddIndexers(Indexers[*kunosv1.Task]{"nil": nil}); err == nil {
		t.Fatal("nil IndexFunc accepted")
	}
	if dump(x) != before || len(x.GetIndexers()) != 2 {
		t.Fatal("failed AddIndexers changed the store")
	}
	mustNil(t, x.AddIndexers(nil))
}

func TestErrorMessages(t *testing.T) {
	ie := &IndexError{Index: "byNode", Key: "ns/a", Err: errBoom}
	if got := ie.Error(); got != `cache: index "byNode" failed for "ns/a": boom` {
		t.Fatal(got)
	}
	ke := &KeyError{Obj: task("", "", "", nil), Err: errBoom}
	if got := ke.Error(); got != "cache: cannot compute key for *v1.Task: boom" || !errors.Is(ke, errBoom) {
		t.Fatal(got)
	}
	_, err := newTaskIndexer().ByIndex("nope", "x")
	if err == nil || err.Error() != `cache: index with name "nope" does not exist` {
		t.Fatal(err)
	}
}

func TestNewIndexerRejectsBadIndexers(t *testing.T) {
	for name, f := range map[string]func(){
		"nil key func": func() { NewIndexer[*kunosv1.Task](nil, nil) },
		"empty name":   func() { NewIndexer(MetaNamespaceKeyFunc, Indexers[*kunosv1.Task]{"": nodeIndex}) },
		"nil func":     func() { NewIndexer(MetaNamespaceKeyFunc, Indexers[*kunosv1.Task]{"x": nil}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	if err := NewIndexer[*kunosv1.Task](MetaNamespaceKeyFunc, nil).AddIndexers(Indexers[*kunosv1.Task]{"": nodeIndex}); err == nil {
		t.Fatal("AddIndexers accepted an empty name")
	}
}

func TestSplitMetaNamespaceKey(t *testing.T) {
	for _, c := range []struct{ key, ns, name string }{{"a/b", "a", "b"}, {"b", "", "b"}} {
		ns, name, err := SplitMetaNamespaceKey(c.key)
		if err != nil || ns != c.ns || name != c.name {
			t.Fatalf("%q: %q %q %v", c.key, ns, name, err)
		}
	}
	for _, bad := range []string{"a/b/c", "", "a/"} {
		if _, _, err := SplitMetaNamespaceKey(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}

// TestSwapAndRemoveReturnPrevious: Swap and Remove return what they
// replaced or removed, and neither they nor Len publish a snapshot.
func TestSwapAndRemoveReturnPrevious(t *testing.T) {
	x := newTaskIndexer().(*indexer[*kunosv1.Task])
	a1, a2 := task("ns", "a", "n1", nil), task("ns", "a", "n2", nil)
	if old, existed, err := x.Swap(a1); err != nil || existed || old != nil {
		t.Fatalf("Swap(new) = %v, %v, %v", old, existed, err)
	}
	if old, existed, err := x.Swap(a2); err != nil || !existed || old != a1 {
		t.Fatalf("Swap(replace) = %v, %v, %v", old, existed, err)
	}
	if old, existed, err := x.Remove(a1); err != nil || !existed || old != a2 {
		t.Fatalf("Remove = %v, %v, %v", old, existed, err)
	}
	if _, existed, err := x.Remove(a1); err != nil || existed {
		t.Fatalf("Remove(absent) = %v, %v", existed, err)
	}
	mustNil(t, x.Add(a1))
	published := x.pub.Load()
	if x.Len() != 1 || x.pub.Load() != published {
		t.Fatalf("Len = %d, or it published a snapshot", x.Len())
	}
	if objs, _ := x.ByIndex(byNode, "n1"); len(objs) != 1 || objs[0] != a1 {
		t.Fatalf("ByIndex after Swap/Remove = %v", objs)
	}
}
