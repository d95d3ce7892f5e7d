package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/reflector"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// informerSpec is one informer of the chaos run, with its selection.
type informerSpec struct {
	name      string
	transport client.Transport
	namespace string // "" for all namespaces
	node      string // fieldSelector spec.nodeName=node, or ""
	watchList bool   // initial sync by watch-list (else paged lists)
	slow      bool   // its handlers stop now and then
	extra     bool   // a second handler on the same informer
}

func (s informerSpec) fieldSelector() string {
	if s.node == "" {
		return ""
	}
	return "spec.nodeName=" + s.node
}

// matches reports whether a state the writers wrote is in the selection.
func (s informerSpec) matches(ns string, e logEntry) bool {
	return (s.namespace == "" || s.namespace == ns) && (s.node == "" || s.node == e.node)
}

// chaosInformerSpecs: both transports, field selectors, a namespace,
// watch-list and paged lists, slow handlers.
func chaosInformerSpecs() []informerSpec {
	return []informerSpec{
		{name: "all-http", transport: client.TransportHTTP, watchList: true, extra: true},
		{name: "all-ws-slow", transport: client.TransportWebSocket, watchList: true, slow: true},
		{name: "node-a-http-list", transport: client.TransportHTTP, node: "node-a"},
		{name: "node-b-ws-slow", transport: client.TransportWebSocket, node: "node-b", watchList: true, slow: true},
		{name: "ns-1-ws-list", transport: client.TransportWebSocket, namespace: "ns-1"},
	}
}

// epochAnnotation carries, on every object an informer receives, the
// number of lists (and watch-lists) its reflector had started when the
// object arrived: two states of one key with the same epoch came through
// one unbroken chain of watches, which must not skip any state.
const epochAnnotation = "chaos.kunos.io/epoch"

// chaosInformer is one informer with its handlers' trackers.
type chaosInformer struct {
	spec     informerSpec
	inf      informer.SharedIndexInformer[*kunosv1.Task]
	epoch    atomic.Int64
	relists  *relistCounter
	handlers []*handlerTracker
	done     chan struct{}
}

// epochLW counts the lists and watch-lists of a reflector.
type epochLW struct {
	reflector.ListerWatcher[*kunosv1.Task]
	epoch *atomic.Int64
}

func (e epochLW) List(ctx context.Context, opts metav1.ListOptions) ([]*kunosv1.Task, metav1.ListMeta, error) {
	e.epoch.Add(1)
	return e.ListerWatcher.List(ctx, opts)
}

func (e epochLW) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
		e.epoch.Add(1)
	}
	return e.ListerWatcher.Watch(ctx, opts)
}

// relistCounter is a reflector.MetricsHook that counts relists by reason.
type relistCounter struct {
	mu      sync.Mutex
	reasons map[reflector.RelistReason]int64
	events  atomic.Int64
	// lastEvent is when the last event or bookmark (not ERROR) arrived,
	// lastError when the last list or watch error was reported (unix
	// nanoseconds).
	lastEvent, lastError atomic.Int64
}

func (c *relistCounter) ObserveList(time.Duration, error) {}
func (c *relistCounter) WatchStarted()                    {}
func (c *relistCounter) ObserveEvent(t watch.EventType) {
	c.events.Add(1)
	if t != watch.Error {
		c.lastEvent.Store(time.Now().UnixNano())
	}
}

// watchError is the informer's WatchErrorHandler.
func (c *relistCounter) watchError(error) { c.lastError.Store(time.Now().UnixNano()) }

// streaming reports whether the watch looks established: an event or
// bookmark arrived within d, and no error for a while.
func (c *relistCounter) streaming(d time.Duration) bool {
	now := time.Now()
	return now.Sub(time.Unix(0, c.lastEvent.Load())) < d && now.Sub(time.Unix(0, c.lastError.Load())) > 2*time.Second
}
func (c *relistCounter) SetResourceVersion(string) {}
func (c *relistCounter) Relisted(r reflector.RelistReason) {
	c.mu.Lock()
	c.reasons[r]++
	c.mu.Unlock()
}

func (c *relistCounter) snapshot() map[reflector.RelistReason]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[reflector.RelistReason]int64, len(c.reasons))
	for k, v := range c.reasons {
		out[k] = v
	}
	return out
}

// newChaosInformer builds an informer over its own client, through the
// proxies (urls, in the order this informer prefers them).
func newChaosInformer(r *chaosRun, spec informerSpec, urls []string) (*chaosInformer, error) {
	c, err := client.New(&client.Config{
		Host: urls[0], Hosts: urls, WatchTransport: spec.transport,
		QPS: -1, Timeout: 10 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	res := client.For(c, kunosv1.Tasks)
	if spec.namespace != "" {
		res = res.Namespace(spec.namespace)
	}
	ci := &chaosInformer{spec: spec, relists: &relistCounter{reasons: map[reflector.RelistReason]int64{}}, done: make(chan struct{})}
	lw := epochLW{ListerWatcher: res.ListerWatcher(func(o *metav1.ListOptions) { o.FieldSelector = spec.fieldSelector() }), epoch: &ci.epoch}
	watchList := spec.watchList
	ci.inf = informer.New[*kunosv1.Task](lw, informer.Options[*kunosv1.Task]{
		Options: reflector.Options[*kunosv1.Task]{
			Name:   spec.name,
			Logger: chaosLogger(r.t, true),
			WatchErrorHandler: func(err error) {
				ci.relists.watchError(err)
			},
			Transform: func(t *kunosv1.Task) (*kunosv1.Task, error) {
				if t.Annotations == nil {
					t.Annotations = map[string]string{}
				}
				t.Annotations[epochAnnotation] = strconv.FormatInt(ci.epoch.Load(), 10)
				return t, nil
			},
			WatchList:            &watchList,
			PageSize:             50,
			MinWatchTimeout:      8 * time.Second,
			BookmarkInterval:     chaosBookmark,
			WatchdogTimeout:      chaosWatchdog,
			InitialEventsTimeout: 10 * time.Second,
			MaxBackoff:           3 * time.Second,
			Metrics:              ci.relists,
		},
	})
	n := 1
	if spec.extra {
		n = 2
	}
	for i := range n {
		h := &handlerTracker{
			name: fmt.Sprintf("%s/h%d", spec.name, i), ci: ci, st: r.st,
			slow: spec.slow, rng: rand.New(rand.NewPCG(r.rng.Uint64(), uint64(i))),
			view: map[string]seen{}, last: map[string]seen{},
		}
		if i == 0 && spec.namespace == "" && spec.node == "" && !spec.slow {
			h.onTask = r.jobs.observe
		}
		ci.handlers = append(ci.handlers, h)
		if _, err := ci.inf.AddEventHandler(h.funcs(), informer.WithName(fmt.Sprintf("h%d", i))); err != nil {
			return nil, err
		}
	}
	return ci, nil
}

// relisted sums the relists of every reason, watchdog restarts included.
func (ci *chaosInformer) relisted() int64 {
	var n int64
	for _, v := range ci.relists.snapshot() {
		n += v
	}
	return n
}

// objID identifies one state of an object.
type objID struct {
	uid types.UID
	rv  int64
}

func (o objID) String() string { return fmt.Sprintf("uid %.8s rv %d", o.uid, o.rv) }

// seen is a state a handler saw.
type seen struct {
	objID
	epoch   int64
	deleted bool
}

func rvOf(t *kunosv1.Task) int64 {
	rv, _ := strconv.ParseInt(t.ResourceVersion, 10, 64)
	return rv
}

func seenOf(t *kunosv1.Task, deleted bool) seen {
	e, _ := strconv.ParseInt(t.Annotations[epochAnnotation], 10, 64)
	return seen{objID: objID{uid: t.UID, rv: rvOf(t)}, epoch: e, deleted: deleted}
}

func taskKey(t *kunosv1.Task) string { return t.Namespace + "/" + t.Name }

// transition is a handler going from one state of a key to the next
// through one chain of watches: the writers' states between them must have
// been delivered too. It is checked a little later, once the writers have
// logged what they wrote meanwhile.
type transition struct {
	key      string
	from, to seen
	at       time.Time
}

// handlerTracker is a registration that checks what it is told, keeps a
// mirror of what exists, and counts events.
type handlerTracker struct {
	name   string
	ci     *chaosInformer
	st     *chaosStats
	slow   bool
	rng    *rand.Rand // the handler's goroutine only
	onTask func(*kunosv1.Task)

	mu sync.Mutex
	// view is the mirror: each object present, as last seen.
	view map[string]seen
	// last is the last state seen of each key, deletions included, since
	// the last reset (a restart that lost the store resets it).
	last    map[string]seen
	pending []transition
}

func (h *handlerTracker) funcs() informer.HandlerFuncs[*kunosv1.Task] {
	return informer.HandlerFuncs[*kunosv1.Task]{
		AddFunc: func(t *kunosv1.Task, initial bool) {
			h.observe(t)
			h.mu.Lock()
			key := taskKey(t)
			s := seenOf(t, false)
			if v, ok := h.view[key]; ok {
				h.st.diverged("add-present", "%s: add of %s (%s, initial=%t) while it saw %s and no delete", h.name, key, s.objID, initial, v.objID)
			}
			h.step(key, s, "add")
			h.view[key] = s
			h.mu.Unlock()
			h.pause()
		},
		UpdateFunc: func(old, t *kunosv1.Task) {
			h.observe(t)
			h.mu.Lock()
			key := taskKey(t)
			s := seenOf(t, false)
			switch v, ok := h.view[key]; {
			case !ok:
				h.st.diverged("update-absent", "%s: update of %s to %s, which it never saw added (or saw deleted)", h.name, key, s.objID)
			case v.objID != (objID{old.UID, rvOf(old)}):
				h.st.diverged("old-not-last-seen", "%s: update of %s from %s, but it last saw %s", h.name, key, objID{old.UID, rvOf(old)}, v.objID)
			}
			h.step(key, s, "update")
			h.view[key] = s
			h.mu.Unlock()
			h.pause()
		},
		DeleteFunc: func(t *kunosv1.Task, unknown bool) {
			h.observe(t)
			h.mu.Lock()
			key := taskKey(t)
			s := seenOf(t, true)
			switch v, ok := h.view[key]; {
			case !ok:
				h.st.diverged("delete-absent", "%s: delete of %s (%s, unknown=%t), which it never saw added (or saw deleted)", h.name, key, s.objID, unknown)
			case unknown && v.objID != s.objID:
				h.st.diverged("old-not-last-seen", "%s: relist delete of %s with last state %s, but it last saw %s", h.name, key, s.objID, v.objID)
			case !unknown && v.uid != s.uid:
				h.st.diverged("delete-uid", "%s: delete of %s uid %s, but it saw uid %s", h.name, key, s.uid, v.uid)
			}
			if unknown {
				// The last known state again, not a new one: in order if
				// not older than the last seen. The next state comes from
				// a list, with a new epoch: nothing to record.
				if l, ok := h.last[key]; ok && s.rv < l.rv {
					h.st.diverged("rv-order", "%s: %s relist delete at rv %d after rv %d", h.name, key, s.rv, l.rv)
				}
			} else {
				h.step(key, s, "delete")
			}
			delete(h.view, key)
			h.mu.Unlock()
			h.pause()
		},
	}
}

// observe counts the event and passes the object to onTask.
func (h *handlerTracker) observe(t *kunosv1.Task) {
	h.st.events.Add(1)
	if h.onTask != nil {
		h.onTask(t)
	}
}

// step checks that s comes after the last state seen of key and records
// the transition for the gap check. h.mu is held.
func (h *handlerTracker) step(key string, s seen, what string) {
	l, ok := h.last[key]
	h.last[key] = s
	if !ok {
		return
	}
	if s.rv <= l.rv {
		h.st.diverged("rv-order", "%s: %s of %s at rv %d after rv %d", h.name, what, key, s.rv, l.rv)
		return
	}
	if s.epoch == l.epoch && s.rv > l.rv+1 {
		h.pending = append(h.pending, transition{key: key, from: l, to: s, at: time.Now()})
	}
}

// pause makes slow handlers slow: now and then they stop for a while, so
// that a backlog builds up in their buffers.
func (h *handlerTracker) pause() {
	if !h.slow {
		return
	}
	switch n := h.rng.IntN(1000); {
	case n == 0:
		time.Sleep(200 * time.Millisecond)
	case n < 20:
		time.Sleep(time.Duration(1+h.rng.IntN(10)) * time.Millisecond)
	}
}

// takePending returns the transitions recorded before cutoff (all of them
// with a zero cutoff).
func (h *handlerTracker) takePending(cutoff time.Time) []transition {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := len(h.pending)
	if !cutoff.IsZero() {
		i = 0
		for i < len(h.pending) && h.pending[i].at.Before(cutoff) {
			i++
		}
	}
	out := h.pending[:i:i]
	h.pending = append([]transition(nil), h.pending[i:]...)
	return out
}

// reset forgets the order of states seen, not the mirror: after a restart
// that lost the store, resourceVersions start over.
func (h *handlerTracker) reset() {
	h.mu.Lock()
	clear(h.last)
	h.pending = nil
	h.mu.Unlock()
}

// mirror returns a copy of the handler's view.
func (h *handlerTracker) mirror() map[string]objID {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]objID, len(h.view))
	for k, v := range h.view {
		out[k] = v.objID
	}
	return out
}
