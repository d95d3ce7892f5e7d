package storage

import "strings"

// Invariant of a watcherGroup: each watcher in it is in exactly one set:
// the bucket of its prefix's directory (the prefix up to and including its
// last '/'), and within it byValue[v] if its field selector requires
// indexField == v, else all. An event on key K can only match watchers in
// the buckets of K's directory prefixes ("", "/", "/tasks/",
// "/tasks/ns/"), and among the indexed ones only those whose value is the
// event's new or old value of indexField; visit walks just those, each at
// most once. Callers still check the full prefix and predicate.

// indexField is the field watchers are indexed by: node agents watch their
// own Tasks with spec.nodeName=<node>, the dominant fan-out in a cluster.
const indexField = "spec.nodeName"

type watcherSet map[*watcher]struct{}

type bucket struct {
	all     watcherSet
	byValue map[string]watcherSet
}

type watcherGroup struct {
	buckets map[string]*bucket
	n       int
}

func newWatcherGroup() watcherGroup { return watcherGroup{buckets: make(map[string]*bucket)} }

func (g *watcherGroup) len() int { return g.n }

func bucketKey(prefix string) string { return prefix[:strings.LastIndexByte(prefix, '/')+1] }

func (g *watcherGroup) add(w *watcher) {
	k := bucketKey(w.prefix)
	b := g.buckets[k]
	if b == nil {
		b = &bucket{all: make(watcherSet)}
		g.buckets[k] = b
	}
	if w.indexed {
		if b.byValue == nil {
			b.byValue = make(map[string]watcherSet)
		}
		set := b.byValue[w.indexValue]
		if set == nil {
			set = make(watcherSet)
			b.byValue[w.indexValue] = set
		}
		set[w] = struct{}{}
	} else {
		b.all[w] = struct{}{}
	}
	g.n++
}

func (g *watcherGroup) remove(w *watcher) {
	k := bucketKey(w.prefix)
	b := g.buckets[k]
	if b == nil {
		return
	}
	if w.indexed {
		set := b.byValue[w.indexValue]
		if _, ok := set[w]; !ok {
			return
		}
		delete(set, w)
		if len(set) == 0 {
			delete(b.byValue, w.indexValue)
		}
	} else {
		if _, ok := b.all[w]; !ok {
			return
		}
		delete(b.all, w)
	}
	g.n--
	if len(b.all) == 0 && len(b.byValue) == 0 {
		delete(g.buckets, k)
	}
}

// visit calls fn for every watcher that may match an event on e's key.
func (g *watcherGroup) visit(e *logEvent, fn func(w *watcher)) {
	if g.n == 0 {
		return
	}
	key := e.key()
	cur := e.obj.Fields().Get(indexField)
	old, hasOld := "", false
	if e.prev != nil {
		old, hasOld = e.prev.Fields().Get(indexField), true
	}
	visitBucket := func(b *bucket) {
		for w := range b.all {
			fn(w)
		}
		if len(b.byValue) == 0 {
			return
		}
		for w := range b.byValue[cur] {
			fn(w)
		}
		if hasOld && old != cur {
			for w := range b.byValue[old] {
				fn(w)
			}
		}
	}
	if b := g.buckets[""]; b != nil {
		visitBucket(b)
	}
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			if b := g.buckets[key[:i+1]]; b != nil {
				visitBucket(b)
			}
		}
	}
}

// each calls fn for every watcher in the group.
func (g *watcherGroup) each(fn func(w *watcher)) {
	for _, b := range g.buckets {
		for w := range b.all {
			fn(w)
		}
		for _, set := range b.byValue {
			for w := range set {
				fn(w)
			}
		}
	}
}
