package garbagecollector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// modelObj is what the model knows of one object.
type modelObj struct {
	kind, name string
	uid        types.UID
	owners     []types.UID
}

func (o *modelObj) path() string {
	switch o.kind {
	case "Node":
		return "/apis/kunos.io/v1/nodes/" + o.name
	case "Job":
		return jobs + "/" + o.name
	}
	return tasks + "/" + o.name
}

// Random owner graphs (Nodes, cluster-scoped, may own anything; Jobs and
// Tasks own namespaced objects), random deletions with random policies,
// one at a time: once the collector is idle, the store holds exactly the
// objects and ownerReferences the model says, and nothing is left marked
// for deletion.
//
// The model: Orphan removes the object and every reference to it.
// Background and Foreground remove the object and, repeatedly, every
// object whose owners are all removed; the survivors lose their
// references to what was removed.
func TestRandomOwnerGraphsMatchModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	for graph := range 3 {
		t.Run(fmt.Sprintf("graph%d", graph), func(t *testing.T) {
			randomGraph(t, rng)
		})
	}
}

func randomGraph(t *testing.T, rng *rand.Rand) {
	srv := stubtest.Start(t, stubtest.WithControllers())
	live := map[types.UID]*modelObj{}
	var order []*modelObj
	const n = 30
	for i := range n {
		kind := []string{"Node", "Job", "Task", "Task"}[rng.IntN(4)]
		o := &modelObj{kind: kind, name: fmt.Sprintf("o%d", i)}
		var refs []metav1.OwnerReference
		for range rng.IntN(3) {
			if len(order) == 0 {
				break
			}
			owner := order[rng.IntN(len(order))]
			if slices.Contains(o.owners, owner.uid) || (kind == "Node" && owner.kind != "Node") {
				continue
			}
			o.owners = append(o.owners, owner.uid)
			refs = append(refs, ref(owner.kind, owner.name, owner.uid, rng.IntN(2) == 0))
		}
		path := tasks
		switch kind {
		case "Node":
			path = "/apis/kunos.io/v1/nodes"
		case "Job":
			path = jobs
		}
		o.uid = create(t, srv, path, kind, o.name, refs)
		live[o.uid] = o
		order = append(order, o)
	}
	policies := []metav1.DeletionPropagation{metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan}
	for round := 0; len(live) > 0 && round < 12; round++ {
		var cands []*modelObj
		for _, o := range order {
			if live[o.uid] != nil {
				cands = append(cands, o)
			}
		}
		x := cands[rng.IntN(len(cands))]
		policy := policies[rng.IntN(len(policies))]
		t.Logf("round %d: delete %s %s (%d owners) with %s", round, x.kind, x.name, len(x.owners), policy)
		del(t, srv, x.path(), policy)
		applyModel(live, x.uid, policy)
		want := render(live)
		var got string
		deadline := time.Now().Add(15 * time.Second)
		for {
			if srv.GCIdle() {
				if got = observe(t, srv); got == want {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: store differs from the model\nstore:\n%s\nmodel:\n%s", round, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func applyModel(live map[types.UID]*modelObj, x types.UID, policy metav1.DeletionPropagation) {
	gone := map[types.UID]bool{x: true}
	if policy != metav1.DeletePropagationOrphan {
		for changed := true; changed; {
			changed = false
			for uid, o := range live {
				if gone[uid] || len(o.owners) == 0 {
					continue
				}
				all := true
				for _, ow := range o.owners {
					if !gone[ow] && live[ow] != nil {
						all = false
					}
				}
				if all {
					gone[uid], changed = true, true
				}
			}
		}
	}
	for uid := range gone {
		delete(live, uid)
	}
	for _, o := range live {
		o.owners = slices.DeleteFunc(o.owners, func(u types.UID) bool { return gone[u] })
	}
}

func render(live map[types.UID]*modelObj) string {
	var lines []string
	for _, o := range live {
		owners := make([]string, len(o.owners))
		for i, u := range o.owners {
			owners[i] = string(u)
		}
		sort.Strings(owners)
		lines = append(lines, fmt.Sprintf("%s %s -> [%s]", o.kind, o.name, strings.Join(owners, " ")))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func observe(t *testing.T, srv *stubtest.Server) string {
	t.Helper()
	var lines []string
	for prefix, kind := range map[string]string{"/nodes/": "Node", "/jobs/": "Job", "/tasks/": "Task"} {
		res, err := srv.Store().List(context.Background(), prefix, storage.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			var o obj
			if err := json.Unmarshal(it.Data, &o); err != nil {
				t.Fatal(err)
			}
			owners := make([]string, 0, len(o.Metadata.OwnerReferences))
			for _, r := range o.Metadata.OwnerReferences {
				owners = append(owners, string(r.UID))
			}
			sort.Strings(owners)
			mark := ""
			if o.Metadata.DeletionTimestamp != nil {
				mark = fmt.Sprintf(" (deleting %v)", o.Metadata.Finalizers)
			}
			lines = append(lines, fmt.Sprintf("%s %s -> [%s]%s", kind, o.Metadata.Name, strings.Join(owners, " "), mark))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
