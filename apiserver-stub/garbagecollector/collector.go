package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/deletion"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// Resource is one resource whose objects the collector tracks.
type Resource struct {
	// GVK: ownerReferences name owners by group and kind.
	GVK schema.GroupVersionKind
	// Prefix is the storage key prefix of its collection, e.g. "/tasks/".
	Prefix     string
	Namespaced bool
	// Hold is the kind's own finalization, as the server applies it.
	Hold deletion.HoldFunc
}

// Config configures a Collector. Store, Codec and Resources are required.
type Config struct {
	Store     storage.Interface
	Codec     storage.Codec
	Resources []Resource
	// Workers process the graph's changes; default 2.
	Workers int
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Collector is a garbage collector over one store. Run it once.
type Collector struct {
	cfg   Config
	log   *slog.Logger
	byGK  map[schema.GroupKind]*Resource
	queue *queue[types.UID]

	mu    sync.Mutex
	graph *graph
	// synced counts the watches that delivered their initial state.
	synced int
	// progress is the revision up to which each resource's watch has
	// delivered every change (0 before its initial state); progressed is
	// closed and replaced when any advances; watchers are the open ones.
	progress   map[*Resource]int64
	progressed chan struct{}
	watchers   map[*Resource]storage.Watcher
}

// New returns a Collector for cfg.
func New(cfg Config) (*Collector, error) {
	if cfg.Store == nil || cfg.Codec == nil || len(cfg.Resources) == 0 {
		return nil, errors.New("garbagecollector: Store, Codec and Resources are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Collector{cfg: cfg, log: cfg.Logger, byGK: map[schema.GroupKind]*Resource{}, queue: newQueue[types.UID](), graph: newGraph(),
		progress: map[*Resource]int64{}, progressed: make(chan struct{}), watchers: map[*Resource]storage.Watcher{}}
	for i := range c.cfg.Resources {
		r := &c.cfg.Resources[i]
		if !strings.HasPrefix(r.Prefix, "/") || !strings.HasSuffix(r.Prefix, "/") {
			return nil, fmt.Errorf("garbagecollector: prefix %q must start and end with /", r.Prefix)
		}
		c.byGK[r.GVK.GroupKind()] = r
	}
	return c, nil
}

// Run watches every resource and collects until ctx ends; it returns when
// all its goroutines have.
func (c *Collector) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range c.cfg.Resources {
		r := &c.cfg.Resources[i]
		wg.Go(func() { c.watch(ctx, r) })
	}
	for range c.cfg.Workers {
		wg.Go(c.work)
	}
	<-ctx.Done()
	c.queue.close()
	wg.Wait()
}

// Idle reports that every watch delivered its initial state and nothing
// is being or waits to be processed: a state a test may compare.
func (c *Collector) Idle() bool {
	c.mu.Lock()
	synced := c.synced == len(c.cfg.Resources)
	c.mu.Unlock()
	return synced && c.queue.idle()
}

// watch mirrors one resource into the graph, starting over (with its
// initial state, dropping what vanished meanwhile) whenever the watch
// ends.
func (c *Collector) watch(ctx context.Context, r *Resource) {
	first := true
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		w, err := c.cfg.Store.Watch(ctx, r.Prefix, storage.WatchOptions{SendInitialEvents: true})
		if err != nil {
			c.log.Debug("garbagecollector: watch", "prefix", r.Prefix, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		seen := map[types.UID]bool{}
		initial := true
		c.mu.Lock()
		c.watchers[r] = w
		c.mu.Unlock()
		for ev := range w.ResultChan() {
			if !initial && ev.Type != watch.Error {
				c.advance(r, ev.Revision)
			}
			switch ev.Type {
			case watch.Bookmark:
				if ev.InitialEventsEnd && initial {
					initial = false
					c.dropUnseen(r, seen)
					c.advance(r, ev.Revision)
					if first {
						first = false
						c.mu.Lock()
						c.synced++
						c.mu.Unlock()
					}
				}
			case watch.Added, watch.Modified:
				n, err := c.nodeOf(r, ev.Object)
				if err != nil {
					c.log.Warn("garbagecollector: undecodable object", "key", ev.Object.Key, "err", err)
					continue
				}
				if initial {
					seen[n.uid] = true
				}
				c.mu.Lock()
				work := c.graph.upsert(n)
				c.mu.Unlock()
				c.enqueue(work)
			case watch.Deleted:
				n, err := c.nodeOf(r, ev.Object)
				if err != nil {
					continue
				}
				c.mu.Lock()
				work := c.graph.remove(n.uid)
				c.mu.Unlock()
				c.enqueue(work)
			case watch.Error:
				c.log.Debug("garbagecollector: watch error, starting over", "prefix", r.Prefix, "err", ev.Err)
			}
		}
		c.mu.Lock()
		delete(c.watchers, r)
		c.mu.Unlock()
		w.Stop()
	}
}

// advance records that r's watch delivered everything up to rev.
func (c *Collector) advance(r *Resource, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev > c.progress[r] {
		c.progress[r] = rev
		close(c.progressed)
		c.progressed = make(chan struct{})
	}
}

// waitFresh waits until every watch has delivered every change up to rev,
// asking them for progress, so that a decision on the graph's dependents
// sees every dependent written before rev. It gives up with an error (the
// item is retried) when ctx ends or after a second.
func (c *Collector) waitFresh(ctx context.Context, rev int64) error {
	deadline := time.NewTimer(time.Second)
	defer deadline.Stop()
	asked := false
	for {
		c.mu.Lock()
		fresh := len(c.progress) == len(c.cfg.Resources)
		for _, p := range c.progress {
			if p < rev {
				fresh = false
			}
		}
		ch := c.progressed
		var ws []storage.Watcher
		if !fresh && !asked {
			for _, w := range c.watchers {
				ws = append(ws, w)
			}
		}
		c.mu.Unlock()
		if fresh {
			return nil
		}
		for _, w := range ws {
			w.RequestProgress()
		}
		asked = true
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return errors.New("garbagecollector: watches behind the store")
		}
	}
}

// dropUnseen removes the nodes of r that a new initial state lacks: they
// were deleted while no watch ran.
func (c *Collector) dropUnseen(r *Resource, seen map[types.UID]bool) {
	c.mu.Lock()
	var work []types.UID
	for uid, n := range c.graph.nodes {
		if n.res == r && !seen[uid] {
			work = append(work, c.graph.remove(uid)...)
		}
	}
	c.mu.Unlock()
	c.enqueue(work)
}

func (c *Collector) enqueue(uids []types.UID) {
	for _, u := range uids {
		c.queue.add(u)
	}
}

type metaOnly struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
}

func parseMeta(data []byte) (*metav1.ObjectMeta, error) {
	var m metaOnly
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return &m.Metadata, nil
}

func (c *Collector) nodeOf(r *Resource, rec *storage.Record) (*node, error) {
	m, err := parseMeta(rec.Data)
	if err != nil {
		return nil, err
	}
	return &node{uid: m.UID, key: rec.Key, res: r, owners: m.OwnerReferences,
		deleting: m.DeletionTimestamp != nil, finalizers: m.Finalizers}, nil
}

func (c *Collector) work() {
	for {
		uid, ok := c.queue.get()
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := c.process(ctx, uid)
		cancel()
		if err != nil {
			c.log.Debug("garbagecollector: retrying", "uid", uid, "err", err)
			c.queue.retry(uid)
		} else {
			c.queue.forget(uid)
		}
		c.queue.done(uid)
	}
}

// errStale: the object changed since the decision was made on it.
var errStale = errors.New("garbagecollector: object changed, deciding again")

// process takes the decision the current state of uid calls for.
func (c *Collector) process(ctx context.Context, uid types.UID) error {
	c.mu.Lock()
	n := c.graph.nodes[uid]
	c.mu.Unlock()
	if n == nil {
		return nil
	}
	cur, err := c.cfg.Store.Get(ctx, n.key, 0)
	if storage.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	m, err := parseMeta(cur.Data)
	if err != nil {
		return err
	}
	if m.UID != uid {
		return nil // another object now: its own events bring it
	}
	if m.DeletionTimestamp != nil {
		if err := c.waitFresh(ctx, cur.Revision); err != nil {
			return err
		}
		return c.processDeleting(ctx, n, m)
	}
	if len(m.OwnerReferences) == 0 {
		return nil
	}
	var solid, dangling, waiting []types.UID
	for _, ref := range m.OwnerReferences {
		switch state, err := c.ownerState(ctx, n, ref); {
		case err != nil:
			return err
		case state == ownerSolid:
			solid = append(solid, ref.UID)
		case state == ownerDangling:
			dangling = append(dangling, ref.UID)
		default:
			waiting = append(waiting, ref.UID)
		}
	}
	precondition := func(_ runtime.Object, acc metav1.Object) error {
		if acc.GetUID() != uid || acc.GetResourceVersion() != m.ResourceVersion {
			return errStale
		}
		return nil
	}
	switch {
	case len(solid) > 0:
		if len(dangling) == 0 && len(waiting) == 0 {
			return nil
		}
		// Still owned: forget the owners that are gone or going.
		drop := append(dangling, waiting...)
		_, _, err := deletion.Mutate(ctx, c.cfg.Store, c.cfg.Codec, n.key, n.res.Hold, func(obj runtime.Object, acc metav1.Object) (bool, error) {
			if err := precondition(obj, acc); err != nil {
				return false, err
			}
			acc.SetOwnerReferences(removeRefs(acc.GetOwnerReferences(), drop))
			return true, nil
		})
		return ignoreGone(err)
	case len(waiting) > 0 && c.waitFresh(ctx, cur.Revision) != nil:
		return errStale
	case len(waiting) > 0 && c.hasDependents(uid):
		// An owner waits for us and we have dependents: go in the
		// foreground too, not blocking the owners that wait (which could
		// otherwise wait on each other in a cycle).
		if c.anyDependentDeletingDependents(uid) {
			_, _, err := deletion.Mutate(ctx, c.cfg.Store, c.cfg.Codec, n.key, n.res.Hold, func(obj runtime.Object, acc metav1.Object) (bool, error) {
				if err := precondition(obj, acc); err != nil {
					return false, err
				}
				refs := acc.GetOwnerReferences()
				changed := false
				for i := range refs {
					if contains(waiting, refs[i].UID) && blocks(refs[i]) {
						f := false
						refs[i].BlockOwnerDeletion = &f
						changed = true
					}
				}
				acc.SetOwnerReferences(refs)
				return changed, nil
			})
			if err := ignoreGone(err); err != nil {
				return err
			}
			return errStale // decide again on the new state
		}
		return c.delete(ctx, n, precondition, metav1.DeletePropagationForeground)
	default:
		// No owner left: collect it, as its own finalizers say.
		policy := metav1.DeletePropagationBackground
		switch {
		case contains(m.Finalizers, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case contains(m.Finalizers, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		return c.delete(ctx, n, precondition, policy)
	}
}

func (c *Collector) delete(ctx context.Context, n *node, check func(runtime.Object, metav1.Object) error, policy metav1.DeletionPropagation) error {
	_, err := deletion.Delete(ctx, c.cfg.Store, c.cfg.Codec, n.key, deletion.Options{Policy: policy, Check: check, Hold: n.res.Hold})
	return ignoreGone(err)
}

func ignoreGone(err error) error {
	if storage.IsNotFound(err) {
		return nil
	}
	return err
}

// processDeleting handles an object marked for deletion: orphaning its
// dependents, or, in the foreground, deleting them and then finishing.
func (c *Collector) processDeleting(ctx context.Context, n *node, m *metav1.ObjectMeta) error {
	uid := m.UID
	if contains(m.Finalizers, metav1.FinalizerOrphanDependents) {
		for _, dep := range c.dependents(uid) {
			_, _, err := deletion.Mutate(ctx, c.cfg.Store, c.cfg.Codec, dep.key, dep.res.Hold, func(_ runtime.Object, acc metav1.Object) (bool, error) {
				if acc.GetUID() != dep.uid || findRef(acc.GetOwnerReferences(), uid) == nil {
					return false, nil
				}
				acc.SetOwnerReferences(removeRefs(acc.GetOwnerReferences(), []types.UID{uid}))
				return true, nil
			})
			if err := ignoreGone(err); err != nil {
				return err
			}
		}
		return c.removeFinalizer(ctx, n, metav1.FinalizerOrphanDependents)
	}
	if !contains(m.Finalizers, metav1.FinalizerDeleteDependents) {
		return nil // being deleted; other finalizers decide when
	}
	blocking := 0
	for _, dep := range c.dependents(uid) {
		if ref := findRef(dep.owners, uid); ref != nil && blocks(*ref) {
			blocking++
		}
		if !dep.deletingDependents() {
			c.queue.add(dep.uid)
		}
	}
	if blocking > 0 {
		return nil // their deletions bring us back
	}
	return c.removeFinalizer(ctx, n, metav1.FinalizerDeleteDependents)
}

func (c *Collector) removeFinalizer(ctx context.Context, n *node, finalizer string) error {
	_, _, err := deletion.Mutate(ctx, c.cfg.Store, c.cfg.Codec, n.key, n.res.Hold, func(_ runtime.Object, acc metav1.Object) (bool, error) {
		if acc.GetUID() != n.uid {
			return false, nil
		}
		fs := acc.GetFinalizers()
		out := make([]string, 0, len(fs))
		for _, f := range fs {
			if f != finalizer {
				out = append(out, f)
			}
		}
		acc.SetFinalizers(out)
		return len(out) != len(fs), nil
	})
	return ignoreGone(err)
}

func (c *Collector) dependents(uid types.UID) []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node
	for d := range c.graph.dependents[uid] {
		if n := c.graph.nodes[d]; n != nil {
			out = append(out, n)
		}
	}
	return out
}

func (c *Collector) hasDependents(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.graph.dependents[uid]) > 0
}

func (c *Collector) anyDependentDeletingDependents(uid types.UID) bool {
	for _, d := range c.dependents(uid) {
		if d.deletingDependents() {
			return true
		}
	}
	return false
}

type ownerStateT int

const (
	ownerSolid ownerStateT = iota
	ownerDangling
	ownerWaiting // marked for deletion in the foreground
)

// ownerState looks the owner ref names up with a consistent read.
func (c *Collector) ownerState(ctx context.Context, dep *node, ref metav1.OwnerReference) (ownerStateT, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return ownerSolid, nil // unresolvable: keep the dependent
	}
	r := c.byGK[schema.GroupKind{Group: gv.Group, Kind: ref.Kind}]
	if r == nil {
		return ownerSolid, nil // a kind we do not serve: unresolvable
	}
	key := r.Prefix + ref.Name
	if r.Namespaced {
		ns := namespaceOfKey(dep)
		if ns == "" {
			return ownerSolid, nil // cluster-scoped dependent, namespaced owner: unresolvable
		}
		key = r.Prefix + ns + "/" + ref.Name
	}
	rec, err := c.cfg.Store.Get(ctx, key, 0)
	if storage.IsNotFound(err) {
		return ownerDangling, nil
	}
	if err != nil {
		return 0, err
	}
	m, err := parseMeta(rec.Data)
	if err != nil {
		return 0, err
	}
	if m.UID != ref.UID {
		return ownerDangling, nil
	}
	if m.DeletionTimestamp != nil && contains(m.Finalizers, metav1.FinalizerDeleteDependents) {
		return ownerWaiting, nil
	}
	return ownerSolid, nil
}

// namespaceOfKey is the namespace of a namespaced node's key
// ("/<resource>/<namespace>/<name>"), "" for a cluster-scoped one.
func namespaceOfKey(n *node) string {
	if !n.res.Namespaced {
		return ""
	}
	rest := strings.TrimPrefix(n.key, n.res.Prefix)
	ns, _, _ := strings.Cut(rest, "/")
	return ns
}

func removeRefs(refs []metav1.OwnerReference, drop []types.UID) []metav1.OwnerReference {
	out := make([]metav1.OwnerReference, 0, len(refs))
	for _, r := range refs {
		if !contains(drop, r.UID) {
			out = append(out, r)
		}
	}
	return out
}

func contains[T comparable](s []T, x T) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
