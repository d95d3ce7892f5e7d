package cache

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// The randomized test drives an Indexer and a plain map-based model with the
// same operations and compares every observable result.

var modelIndexFuncs = map[string]IndexFunc[*kunosv1.Task]{
	"node": nodeIndex,
	"ns":   MetaNamespaceIndexFunc[*kunosv1.Task],
	"labels": func(t *kunosv1.Task) ([]string, error) {
		var out []string
		for _, k := range slices.Sorted(maps.Keys(t.Labels)) {
			out = append(out, k+"="+t.Labels[k], k+"="+t.Labels[k]) // repeated on purpose
		}
		return out, nil
	},
	"failing": func(t *kunosv1.Task) ([]string, error) {
		if t.Labels["bad"] == "yes" {
			return nil, errBoom
		}
		return []string{t.Name[:2]}, nil
	},
}

type model struct {
	objs     map[string]*kunosv1.Task
	indexers map[string]IndexFunc[*kunosv1.Task]
	rv       string
}

// values returns the model's index: value -> keys.
func (m *model) index(name string) map[string][]string {
	out := map[string][]string{}
	for key, o := range m.objs {
		vals, _ := m.indexers[name](o)
		for _, v := range vals {
			if !slices.Contains(out[v], key) {
				out[v] = append(out[v], key)
			}
		}
	}
	return out
}

func (m *model) fails(o *kunosv1.Task, funcs map[string]IndexFunc[*kunosv1.Task]) bool {
	for _, f := range funcs {
		if _, err := f(o); err != nil {
			return true
		}
	}
	return false
}

func randomTask(r *rand.Rand) *kunosv1.Task {
	labels := map[string]string{}
	for _, k := range []string{"app", "tier"} {
		if r.IntN(2) == 0 {
			labels[k] = strconv.Itoa(r.IntN(3))
		}
	}
	if r.IntN(20) == 0 {
		labels["bad"] = "yes"
	}
	node := ""
	if r.IntN(4) != 0 {
		node = fmt.Sprintf("n%d", r.IntN(6))
	}
	o := task(fmt.Sprintf("ns%d", r.IntN(3)), fmt.Sprintf("t%d", r.IntN(50)), node, labels)
	o.ResourceVersion = strconv.Itoa(r.IntN(1000))
	return o
}

func TestIndexerAgainstModel(t *testing.T) {
	ops := 2500
	if testing.Short() {
		ops = 800
	}
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runModel(t, seed, ops) })
	}
}

func runModel(t *testing.T, seed uint64, ops int) {
	r := rand.New(rand.NewPCG(seed, 99))
	m := &model{objs: map[string]*kunosv1.Task{}, indexers: map[string]IndexFunc[*kunosv1.Task]{"node": nodeIndex}}
	x := NewIndexer(MetaNamespaceKeyFunc, Indexers[*kunosv1.Task]{"node": nodeIndex})

	for i := 0; i < ops; i++ {
		var op string
		switch p := r.IntN(100); {
		case p < 55:
			op = "put"
			o := randomTask(r)
			key, _ := MetaNamespaceKeyFunc(o)
			var err error
			if r.IntN(2) == 0 {
				err = x.Add(o)
			} else {
				err = x.Update(o)
			}
			if m.fails(o, m.indexers) {
				if !errors.Is(err, errBoom) {
					t.Fatalf("op %d put: err = %v, want boom", i, err)
				}
				break
			}
			mustNil(t, err)
			m.objs[key] = o
			m.rv = o.ResourceVersion
		case p < 80:
			op = "delete"
			o := randomTask(r)
			key, _ := MetaNamespaceKeyFunc(o)
			mustNil(t, x.Delete(o))
			delete(m.objs, key)
			m.rv = o.ResourceVersion
		case p < 84:
			op = "replace"
			items := make([]*kunosv1.Task, r.IntN(60))
			for j := range items {
				items[j] = randomTask(r)
			}
			rv := strconv.Itoa(r.IntN(1000))
			err := x.Replace(items, rv)
			failed := false
			for _, o := range items {
				failed = failed || m.fails(o, m.indexers)
			}
			if failed {
				if !errors.Is(err, errBoom) {
					t.Fatalf("op %d replace: err = %v, want boom", i, err)
				}
				break
			}
			mustNil(t, err)
			m.objs = map[string]*kunosv1.Task{}
			for _, o := range items {
				key, _ := MetaNamespaceKeyFunc(o)
				m.objs[key] = o
			}
			m.rv = rv
		case p < 87:
			op = "addIndexers"
			add := Indexers[*kunosv1.Task]{}
			for name, f := range modelIndexFuncs {
				if r.IntN(3) == 0 {
					add[name] = f
				}
			}
			err := x.AddIndexers(add)
			conflict := false
			for name := range add {
				_, dup := m.indexers[name]
				conflict = conflict || dup
			}
			failed := false
			for _, o := range m.objs {
				failed = failed || m.fails(o, add)
			}
			switch {
			case conflict:
				if err == nil {
					t.Fatalf("op %d: conflicting AddIndexers accepted", i)
				}
			case failed:
				if !errors.Is(err, errBoom) {
					t.Fatalf("op %d addIndexers: err = %v, want boom", i, err)
				}
			default:
				mustNil(t, err)
				maps.Copy(m.indexers, add)
			}
		case p < 90:
			op = "bookmark"
			m.rv = strconv.Itoa(r.IntN(1000))
			x.Bookmark(m.rv)
		default:
			op = "index"
			probe := randomTask(r)
			for name := range m.indexers {
				got, err := x.Index(name, probe)
				vals, ferr := m.indexers[name](probe)
				if ferr != nil {
					if !errors.Is(err, errBoom) {
						t.Fatalf("op %d Index(%s): err = %v", i, name, err)
					}
					continue
				}
				mustNil(t, err)
				var want []string
				idx := m.index(name)
				for _, v := range vals {
					for _, k := range idx[v] {
						if !slices.Contains(want, k) {
							want = append(want, k)
						}
					}
				}
				var gotKeys []string
				for _, o := range got {
					k, _ := MetaNamespaceKeyFunc(o)
					gotKeys = append(gotKeys, k)
				}
				wantStrings(t, fmt.Sprintf("op %d Index(%s)", i, name), gotKeys, want)
			}
		}
		compareModel(t, fmt.Sprintf("op %d (%s)", i, op), x, m)
	}
}

func compareModel(t *testing.T, at string, x Indexer[*kunosv1.Task], m *model) {
	t.Helper()
	if x.Len() != len(m.objs) {
		t.Fatalf("%s: Len = %d, want %d", at, x.Len(), len(m.objs))
	}
	if x.LastStoreSyncResourceVersion() != m.rv {
		t.Fatalf("%s: rv = %q, want %q", at, x.LastStoreSyncResourceVersion(), m.rv)
	}
	wantStrings(t, at+" ListKeys", x.ListKeys(), slices.Collect(maps.Keys(m.objs)))
	// Three Lists of one snapshot: walked, walked and cached, copied from
	// the cache. Each result is the caller's: clobbering it must not show.
	for round := 0; round < 3; round++ {
		objs := x.List()
		if len(objs) != len(m.objs) {
			t.Fatalf("%s: List %d has %d objects, want %d", at, round, len(objs), len(m.objs))
		}
		for i, o := range objs {
			key, _ := MetaNamespaceKeyFunc(o)
			if m.objs[key] != o {
				t.Fatalf("%s: List %d has a stale %s", at, round, key)
			}
			objs[i] = nil
		}
	}
	for key, o := range m.objs {
		got, ok, err := x.GetByKey(key)
		if err != nil || !ok || got != o {
			t.Fatalf("%s: GetByKey(%s) = %v %v %v", at, key, got, ok, err)
		}
	}
	if len(x.GetIndexers()) != len(m.indexers) {
		t.Fatalf("%s: %d indexers, want %d", at, len(x.GetIndexers()), len(m.indexers))
	}
	for name := range m.indexers {
		idx := m.index(name)
		wantStrings(t, at+" values of "+name, x.ListIndexFuncValues(name), slices.Collect(maps.Keys(idx)))
		for v, keys := range idx {
			got, err := x.IndexKeys(name, v)
			mustNil(t, err)
			wantStrings(t, at+" IndexKeys "+name+"="+v, got, keys)
			// Three rounds, as for List: walked, cached, copied.
			for round := 0; round < 3; round++ {
				objs, err := x.ByIndex(name, v)
				mustNil(t, err)
				var gotKeys []string
				for i, o := range objs {
					k, _ := MetaNamespaceKeyFunc(o)
					if m.objs[k] != o {
						t.Fatalf("%s: ByIndex(%s, %s) has a stale %s", at, name, v, k)
					}
					gotKeys = append(gotKeys, k)
					objs[i] = nil // the caller's to clobber
				}
				wantStrings(t, fmt.Sprintf("%s ByIndex %s=%s round %d", at, name, v, round), gotKeys, keys)
			}
		}
		if keys, err := x.IndexKeys(name, "absent-value"); err != nil || len(keys) != 0 {
			t.Fatalf("%s: absent value: %v %v", at, keys, err)
		}
	}
}
