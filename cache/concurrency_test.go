package cache

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// generation builds n tasks all stamped with generation g (in the resource
// version and the node name), so a reader can tell whether what it saw came
// from one Replace.
func generation(g, n int) []*kunosv1.Task {
	out := make([]*kunosv1.Task, n)
	for i := range out {
		o := task(fmt.Sprintf("ns%d", i%4), fmt.Sprintf("t%d", i), "gen-"+strconv.Itoa(g), nil)
		o.ResourceVersion = strconv.Itoa(g)
		out[i] = o
	}
	return out
}

// genSize makes generations differ in size too.
func genSize(g int) int { return 50 + (g%3)*40 }

// TestReplaceAtomicUnderReaders checks that concurrent readers only ever see
// a whole generation: List, ByIndex and the RV agree with each other.
func TestReplaceAtomicUnderReaders(t *testing.T) {
	x := newTaskIndexer()
	mustNil(t, x.Replace(generation(0, genSize(0)), "0"))

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				objs := x.List()
				g, _ := strconv.Atoi(objs[0].ResourceVersion)
				if len(objs) != genSize(g) {
					errs <- fmt.Errorf("List: %d objects, generation %d has %d", len(objs), g, genSize(g))
					return
				}
				for _, o := range objs {
					if o.ResourceVersion != objs[0].ResourceVersion {
						errs <- fmt.Errorf("List mixes generations %s and %s", o.ResourceVersion, objs[0].ResourceVersion)
						return
					}
				}
				values := x.ListIndexFuncValues(byNode)
				if len(values) != 1 {
					errs <- fmt.Errorf("index values mix generations: %v", values)
					return
				}
				byNs, _ := x.ByIndex(NamespaceIndex, "ns1")
				for _, o := range byNs {
					if o.ResourceVersion != byNs[0].ResourceVersion {
						errs <- fmt.Errorf("ByIndex mixes generations")
						return
					}
				}
			}
		}()
	}
	n := 300
	if testing.Short() {
		n = 50
	}
	for g := 1; g <= n; g++ {
		mustNil(t, x.Replace(generation(g, genSize(g)), strconv.Itoa(g)))
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestConcurrentWritersAndAddIndexers races writers, readers and
// AddIndexers; afterwards every index must agree with the objects.
func TestConcurrentWritersAndAddIndexers(t *testing.T) {
	x := NewIndexer[*kunosv1.Task](MetaNamespaceKeyFunc, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				o := task("ns", fmt.Sprintf("t%d", (i*7+w)%200), fmt.Sprintf("n%d", (i+w)%5), nil)
				if i%5 == 4 {
					_ = x.Delete(o)
				} else {
					_ = x.Update(o)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			_ = x.List()
			_, _ = x.ByIndex(byNode, "n1")
		}
	}()
	for i := 0; i < 20; i++ {
		mustNil(t, x.AddIndexers(Indexers[*kunosv1.Task]{
			fmt.Sprintf("%s-%d", byNode, i): nodeIndex,
		}))
	}
	cancel()
	wg.Wait()
	checkIndicesAgree(t, x)
}

// checkIndicesAgree recomputes every index from the listed objects and
// compares it with what the indexer answers.
func checkIndicesAgree[T Object](t *testing.T, x Indexer[T]) {
	t.Helper()
	for name, f := range x.GetIndexers() {
		want := map[string][]string{}
		for _, o := range x.List() {
			key, _ := MetaNamespaceKeyFunc(o)
			vals, _ := f(o)
			seen := map[string]bool{}
			for _, v := range vals {
				if !seen[v] {
					seen[v] = true
					want[v] = append(want[v], key)
				}
			}
		}
		var values []string
		for v := range want {
			values = append(values, v)
		}
		wantStrings(t, name+" values", x.ListIndexFuncValues(name), values)
		for v, keys := range want {
			got, err := x.IndexKeys(name, v)
			mustNil(t, err)
			wantStrings(t, name+"["+v+"]", got, keys)
		}
	}
}

// TestAddIndexersCatchesUpWithWrites makes every AddIndexers round see new
// writes, so it goes through all its rounds and the final catch-up.
func TestAddIndexersCatchesUpWithWrites(t *testing.T) {
	x := NewIndexer[*kunosv1.Task](MetaNamespaceKeyFunc, nil)
	for i := 0; i < 50; i++ {
		mustNil(t, x.Add(task("ns", fmt.Sprintf("t%d", i), "n0", nil)))
	}
	rounds := 0
	testHookAddIndexersRetry = func() {
		rounds++
		// Move one object, add one and delete one between rounds.
		mustNil(t, x.Update(task("ns", "t1", fmt.Sprintf("n%d", rounds), nil)))
		mustNil(t, x.Add(task("ns", fmt.Sprintf("new%d", rounds), "nx", nil)))
		mustNil(t, x.Delete(task("ns", fmt.Sprintf("t%d", 10+rounds), "", nil)))
	}
	defer func() { testHookAddIndexersRetry = nil }()
	// The index function itself races with writes (it runs outside the
	// writer lock): each outside pass updates t2, so t2 is stale every
	// round, including the last, which then indexes it under the lock. The
	// function must not write then, or it would deadlock; it stops after
	// the outside passes.
	writes := 0
	mustNil(t, x.AddIndexers(Indexers[*kunosv1.Task]{byNode: func(o *kunosv1.Task) ([]string, error) {
		if o.Name == "t2" && writes <= maxAddIndexersRounds {
			writes++
			mustNil(t, x.Update(task("ns", "t2", fmt.Sprintf("n9-%d", writes), nil)))
		}
		return nodeIndex(o)
	}}))
	if rounds != maxAddIndexersRounds {
		t.Fatalf("rounds = %d, want %d", rounds, maxAddIndexersRounds)
	}
	checkIndicesAgree(t, x)
	if writes != maxAddIndexersRounds+1 {
		t.Fatalf("writes = %d", writes)
	}
	keys, _ := x.IndexKeys(byNode, fmt.Sprintf("n9-%d", writes))
	wantStrings(t, "t2's node", keys, []string{"ns/t2"})
	if x.Len() != 50 {
		t.Fatalf("Len = %d", x.Len())
	}
}

// TestIndexFuncMayCallBackIntoIndexer: index functions run without any lock
// held, so one that reads from or even changes the indexer does not
// deadlock; a write whose index set changed meanwhile is redone with the
// new set.
func TestIndexFuncMayCallBackIntoIndexer(t *testing.T) {
	var x Indexer[*kunosv1.Task]
	added, limit := 0, 1
	reentrant := func(o *kunosv1.Task) ([]string, error) {
		_ = x.List()
		// Each trigger adds one index, once: the retried write sees it.
		if o.Name == "trigger" && added < limit {
			added++
			mustNil(t, x.AddIndexers(Indexers[*kunosv1.Task]{fmt.Sprintf("extra%d", added): nodeIndex}))
		}
		return nodeIndex(o)
	}
	x = NewIndexer(MetaNamespaceKeyFunc, Indexers[*kunosv1.Task]{byNode: reentrant})
	mustNil(t, x.Add(task("ns", "a", "n1", nil)))
	mustNil(t, x.Add(task("ns", "trigger", "n2", nil)))
	limit = 2
	mustNil(t, x.Replace([]*kunosv1.Task{task("ns", "trigger", "n3", nil), task("ns", "b", "n3", nil)}, "7"))
	if added != 2 {
		t.Fatalf("AddIndexers ran %d times", added)
	}
	checkIndicesAgree(t, x)
	keys, err := x.IndexKeys("extra2", "n3")
	mustNil(t, err)
	wantStrings(t, "extra2[n3]", keys, []string{"ns/b", "ns/trigger"})
}

// TestConcurrentAddIndexers races two AddIndexers calls with writes.
func TestConcurrentAddIndexers(t *testing.T) {
	x := NewIndexer[*kunosv1.Task](MetaNamespaceKeyFunc, nil)
	for i := 0; i < 300; i++ {
		mustNil(t, x.Add(task("ns", fmt.Sprintf("t%d", i), fmt.Sprintf("n%d", i%4), nil)))
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Two goroutines race for each name: exactly one must win.
			errs[g] = x.AddIndexers(Indexers[*kunosv1.Task]{fmt.Sprintf("idx%d", g/2): nodeIndex})
			_ = x.Update(task("ns", fmt.Sprintf("t%d", g), "moved", nil))
		}()
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed != 3 || len(x.GetIndexers()) != 3 {
		t.Fatalf("%d AddIndexers failed, %d indexers; want 3 and 3", failed, len(x.GetIndexers()))
	}
	checkIndicesAgree(t, x)
}

// TestSnapshotUnchangedByInPlaceWrites: writes modify the writer's own trie
// nodes in place; a snapshot a reader took must never see them. The
// snapshot's content is checked after many updates, moves between index
// values and deletes that follow it.
func TestSnapshotUnchangedByInPlaceWrites(t *testing.T) {
	x := newTaskIndexer().(*indexer[*kunosv1.Task])
	objs := benchTasks(3000, 7)
	for _, o := range objs {
		mustNil(t, x.Add(o))
	}
	for round := 0; round < 3; round++ {
		s := x.snap()
		wantList := names(s.listObjects())
		wantNode := names(s.byIndexObjects(s.defs.pos[byNode], "node-3"))
		for i, o := range objs {
			switch i % 3 {
			case 0:
				mustNil(t, x.Update(task(o.Namespace, o.Name, fmt.Sprintf("node-%d", (i+round+1)%7), nil)))
			case 1:
				mustNil(t, x.Delete(o))
			default:
				mustNil(t, x.Add(task(o.Namespace, o.Name+"-new", "node-3", nil)))
			}
		}
		if got := names(s.listObjects()); !slices.Equal(got, wantList) {
			t.Fatalf("round %d: snapshot list changed after writes", round)
		}
		if got := names(s.byIndexObjects(s.defs.pos[byNode], "node-3")); !slices.Equal(got, wantNode) {
			t.Fatalf("round %d: snapshot index changed after writes", round)
		}
		for _, o := range objs {
			mustNil(t, x.Add(o))
		}
	}
}
