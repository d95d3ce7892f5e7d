package garbagecollector

// This file holds the ownership graph. Invariant: nodes holds the last
// state the watches delivered of every live object, and dependents[o] is
// exactly the set of nodes with an ownerReference to uid o (o itself may
// be gone: its dependents are then to be collected).

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

type node struct {
	uid        types.UID
	key        string
	res        *Resource
	owners     []metav1.OwnerReference
	deleting   bool
	finalizers []string
}

func (n *node) has(finalizer string) bool { return slices.Contains(n.finalizers, finalizer) }

// deletingDependents: marked for deletion, waiting for its dependents.
func (n *node) deletingDependents() bool {
	return n.deleting && n.has(metav1.FinalizerDeleteDependents)
}

type graph struct {
	nodes      map[types.UID]*node
	dependents map[types.UID]map[types.UID]struct{}
}

func newGraph() *graph {
	return &graph{nodes: map[types.UID]*node{}, dependents: map[types.UID]map[types.UID]struct{}{}}
}

// upsert records n and returns the uids whose processing it calls for.
func (g *graph) upsert(n *node) []types.UID {
	old := g.nodes[n.uid]
	g.nodes[n.uid] = n
	var work []types.UID
	if old != nil {
		for _, ref := range old.owners {
			g.unlink(ref.UID, n.uid)
			// A reference removed or made non-blocking may release an
			// owner waiting in the foreground.
			if nr := findRef(n.owners, ref.UID); nr == nil || (blocks(ref) && !blocks(*nr)) {
				if o := g.nodes[ref.UID]; o != nil && o.deleting {
					work = append(work, o.uid)
				}
			}
		}
	}
	for _, ref := range n.owners {
		g.link(ref.UID, n.uid)
		if o := g.nodes[ref.UID]; o == nil || o.deletingDependents() {
			work = append(work, n.uid) // absent (to verify) or waiting for us
		}
	}
	if n.deleting && (n.has(metav1.FinalizerDeleteDependents) || n.has(metav1.FinalizerOrphanDependents)) {
		work = append(work, n.uid)
		if n.deletingDependents() {
			work = append(work, g.dependentsOf(n.uid)...)
		}
	}
	return work
}

// remove drops the node of uid and returns the uids to process: its
// dependents and its owners that wait for their dependents.
func (g *graph) remove(uid types.UID) []types.UID {
	n := g.nodes[uid]
	if n == nil {
		return nil
	}
	delete(g.nodes, uid)
	var work []types.UID
	for _, ref := range n.owners {
		g.unlink(ref.UID, uid)
		if o := g.nodes[ref.UID]; o != nil && o.deleting {
			work = append(work, o.uid)
		}
	}
	work = append(work, g.dependentsOf(uid)...)
	return work
}

func (g *graph) link(owner, dep types.UID) {
	s := g.dependents[owner]
	if s == nil {
		s = map[types.UID]struct{}{}
		g.dependents[owner] = s
	}
	s[dep] = struct{}{}
}

func (g *graph) unlink(owner, dep types.UID) {
	if s := g.dependents[owner]; s != nil {
		delete(s, dep)
		if len(s) == 0 {
			delete(g.dependents, owner)
		}
	}
}

func (g *graph) dependentsOf(owner types.UID) []types.UID {
	out := make([]types.UID, 0, len(g.dependents[owner]))
	for d := range g.dependents[owner] {
		out = append(out, d)
	}
	return out
}

func findRef(refs []metav1.OwnerReference, uid types.UID) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].UID == uid {
			return &refs[i]
		}
	}
	return nil
}

func blocks(ref metav1.OwnerReference) bool {
	return ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion
}
