package storage

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"
	"k8s.io/apimachinery/pkg/watch"
)

// Invariants of a watch cache (one per resource and process):
//
//   - One goroutine, run, owns the etcd watch and is the only writer of the
//     mirror (a MemoryStore, see ingest.go). It lists the resource at one
//     revision R, loads the mirror at R, then watches etcd from R+1 and
//     applies each event in order; a progress notification at P advances
//     the mirror to P. When the watch breaks it resumes from the mirror's
//     revision, so no event is skipped or applied twice. Only when etcd has
//     compacted past that revision does it list again into a new mirror;
//     the old one is closed, which ends its watchers cleanly, and they
//     come back from their last revision.
//   - changed is closed and replaced whenever the mirror moved, so that
//     readers waiting for a revision wake without polling.

// cacheFor returns the cache of a resource prefix ("/tasks/"), starting it
// on first use.
func (st *EtcdStore) cacheFor(prefix string) *resourceCache {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.caches[prefix]
	if c == nil {
		c = &resourceCache{st: st, prefix: prefix, changed: make(chan struct{})}
		st.caches[prefix] = c
		if !st.closed {
			st.wg.Add(1)
			go c.run(st.ctx)
		}
	}
	return c
}

// resourceCache is one resource's watch cache.
type resourceCache struct {
	st     *EtcdStore
	prefix string // storage prefix, "/tasks/"

	mem atomic.Pointer[MemoryStore] // nil until the first list is loaded

	mu      sync.Mutex
	changed chan struct{}
	lastErr error
}

// signal wakes everyone waiting for the cache to move.
func (c *resourceCache) signal() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *resourceCache) waitChan() (<-chan struct{}, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed, c.lastErr
}

// ready returns the mirror, waiting (as long as an etcd request may take)
// for the initial list.
func (c *resourceCache) ready(ctx context.Context) (*MemoryStore, error) {
	return c.wait(ctx, 0, max(freshWait, c.st.cfg.RequestTimeout))
}

// reach returns the mirror once it has reached rev, asking etcd for
// progress notifications while it waits; after freshWait it gives up with
// ErrFutureRevision (or the cache's last error, if it cannot list).
func (c *resourceCache) reach(ctx context.Context, rev int64) (*MemoryStore, error) {
	return c.wait(ctx, rev, freshWait)
}

func (c *resourceCache) wait(ctx context.Context, rev int64, bound time.Duration) (*MemoryStore, error) {
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	var tick *time.Ticker
	for {
		ch, lastErr := c.waitChan()
		m := c.mem.Load()
		if m != nil && m.CurrentRevision() >= rev {
			return m, nil
		}
		if m != nil && tick == nil {
			c.st.requestProgress()
			tick = time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
		}
		var tickC <-chan time.Time
		if tick != nil {
			tickC = tick.C
		}
		select {
		case <-ch:
		case <-tickC:
			c.st.requestProgress()
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			if m == nil {
				if lastErr == nil {
					lastErr = errors.New("the watch cache has not loaded yet")
				}
				return nil, &Error{Code: CodeUnavailable, Key: c.prefix, Msg: lastErr.Error()}
			}
			return nil, &Error{Code: CodeFutureRevision, Revision: rev, Current: m.CurrentRevision()}
		}
	}
}

// window returns the mirror if its window holds revision rev.
func (c *resourceCache) window(rev int64) *MemoryStore {
	m := c.mem.Load()
	if m == nil {
		return nil
	}
	m.mu.RLock()
	ok := rev >= m.compacted && rev <= m.rev
	m.mu.RUnlock()
	if !ok {
		return nil
	}
	return m
}

// compact compacts the mirror to etcd's compaction, as far as it reached.
func (c *resourceCache) compact() {
	m := c.mem.Load()
	if m == nil {
		return
	}
	to := min(c.st.compacted.Load(), m.CurrentRevision())
	if to > 0 {
		_ = m.Compact(context.Background(), to)
	}
}

// requestProgress asks etcd to send a progress notification on the watch
// stream every cache shares.
func (st *EtcdStore) requestProgress() {
	ctx, cancel := context.WithTimeout(st.watchCtx(st.ctx), time.Second)
	defer cancel()
	_ = st.cli.RequestProgress(ctx)
}

// progressLoop requests a progress notification every progressInterval.
func (st *EtcdStore) progressLoop(ctx context.Context) {
	defer st.wg.Done()
	t := time.NewTicker(progressInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st.requestProgress()
		}
	}
}

// watchCtx marks the caches' etcd watches: one gRPC stream for all of
// them, which fails over when its etcd member loses the leader.
func (st *EtcdStore) watchCtx(ctx context.Context) context.Context {
	return clientv3.WithRequireLeader(ctx)
}

func (c *resourceCache) setErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

// run lists and watches until ctx ends.
func (c *resourceCache) run(ctx context.Context) {
	defer c.st.wg.Done()
	log := c.st.log.With("resource", strings.Trim(c.prefix, "/"))
	backoff := 100 * time.Millisecond
	sleep := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
			backoff = min(2*backoff, 5*time.Second)
			return true
		}
	}
	for ctx.Err() == nil {
		m := c.mem.Load()
		if m == nil {
			var err error
			if m, err = c.load(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Warn("watch cache: initial list failed, retrying", "err", err)
				c.setErr(err)
				sleep()
				continue
			}
			c.setErr(nil)
			c.mem.Store(m)
			c.compact()
			c.signal()
		}
		began := time.Now()
		err := c.follow(ctx, m)
		if time.Since(began) > 10*time.Second {
			backoff = 100 * time.Millisecond // it had been working
		}
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errRelist):
			log.Warn("watch cache: etcd compacted past the cache's revision; listing again", "revision", m.CurrentRevision())
			c.mem.Store(nil)
			m.Close()
		default:
			log.Warn("watch cache: etcd watch failed, resuming", "revision", m.CurrentRevision(), "err", err)
			if !sleep() {
				return
			}
		}
	}
}

var errRelist = errors.New("watch cache must list again")

// load lists the resource at one revision into a new mirror.
func (c *resourceCache) load(ctx context.Context) (*MemoryStore, error) {
	res, err := c.st.listEtcd(ctx, c.prefix, ListOptions{})
	if err != nil {
		return nil, err
	}
	cfg := c.st.cfg.MemoryConfig
	cfg.Hooks.OnWatcherCount = func(n int) { c.st.reportWatchers(c.prefix, n) }
	cfg.Hooks.OnCompact = nil // etcd's compactions are reported once, by the store
	m := NewMemoryStore(cfg)
	m.load(res.Items, res.Revision)
	return m, nil
}

// reportWatchers sums the open watchers over every cache for the hook.
func (st *EtcdStore) reportWatchers(prefix string, n int) {
	f := st.cfg.Hooks.OnWatcherCount
	if f == nil {
		return
	}
	st.watchCount.Lock()
	defer st.watchCount.Unlock()
	st.watcherNums[prefix] = n
	sum := 0
	for _, v := range st.watcherNums {
		sum += v
	}
	f(sum)
}

// follow applies etcd's changes after the mirror's revision until the watch
// ends. It returns errRelist when etcd no longer has those changes.
func (c *resourceCache) follow(ctx context.Context, m *MemoryStore) error {
	wctx, cancel := context.WithCancel(c.st.watchCtx(ctx))
	defer cancel()
	from := m.CurrentRevision() + 1
	wch := c.st.cli.Watch(wctx, c.st.prefix+c.prefix, clientv3.WithPrefix(), clientv3.WithRev(from),
		clientv3.WithProgressNotify(), clientv3.WithCreatedNotify())
	resource := strings.Trim(c.prefix, "/")
	for resp := range wch {
		if resp.CompactRevision != 0 {
			c.st.compactedTo(resp.CompactRevision)
			return errRelist
		}
		if err := resp.Err(); err != nil {
			return err
		}
		if resp.Created {
			continue
		}
		for _, ev := range resp.Events {
			key := strings.TrimPrefix(string(ev.Kv.Key), c.st.prefix)
			rev := ev.Kv.ModRevision
			var rec *Record
			if ev.Type == clientv3.EventTypePut {
				var err error
				if rec, err = c.st.decode(key, ev.Kv.Value, rev); err != nil {
					c.st.log.Error("watch cache: a stored object does not decode; reads of it fail until it is rewritten or deleted", "key", key, "err", err)
					rec = nil // the key leaves the cache
				}
			}
			if err := m.apply(key, rev, rec); err != nil {
				c.st.log.Error("watch cache: applying an event failed", "key", key, "err", err)
			}
			c.st.observe(rev)
			if f := c.st.cfg.EtcdHooks.OnCacheEvent; f != nil {
				f(resource)
			}
		}
		if resp.IsProgressNotify() {
			m.advance(resp.Header.Revision)
			c.st.observe(resp.Header.Revision)
		}
		c.compact()
		c.signal()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("etcd closed the watch")
}

// ----------------------------------------------------------------- watch

// Watch implements Interface. Watches are served from the cache; one from
// a revision older than the cache's window but not compacted in etcd is
// served from etcd's history, with its own etcd watch.
func (st *EtcdStore) Watch(ctx context.Context, prefix string, opts WatchOptions) (Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Revision < 0 {
		return nil, &Error{Code: CodeInvalidObject, Msg: "negative watch revision"}
	}
	c := st.cacheFor(resourceOf(prefix))
	m, err := c.ready(ctx)
	if err != nil {
		return nil, err
	}
	if opts.SendInitialEvents {
		// A snapshot not older than opts.Revision, or consistent.
		target := opts.Revision
		if target == 0 {
			if target, err = st.etcdRevision(ctx); err != nil {
				return nil, err
			}
		}
		if m, err = c.reach(ctx, target); err != nil {
			return nil, err
		}
		return m.Watch(ctx, prefix, opts)
	}
	if opts.Revision == 0 {
		// From the most recent revision, consistently: nothing
		// acknowledged before the watch started is delivered.
		if opts.Revision, err = st.etcdRevision(ctx); err != nil {
			return nil, err
		}
	}
	if err := st.checkCompacted("", opts.Revision); err != nil {
		return nil, err
	}
	if opts.Revision > m.CurrentRevision() {
		if err := st.WaitForRevision(ctx, prefix, opts.Revision); err != nil {
			return nil, err
		}
		m = c.mem.Load()
	}
	if m != nil {
		w, err := m.Watch(ctx, prefix, opts)
		if !IsCompacted(err) {
			return w, err
		}
	}
	return st.watchEtcd(ctx, prefix, opts)
}

// historyWatcher serves one watch from etcd's history: its own etcd watch
// (its own stream, so that its progress requests are its own), translated
// by the same rules as the cache's watchers.
type historyWatcher struct {
	ch       chan Event
	progress chan struct{}
	cancel   context.CancelFunc
}

func (w *historyWatcher) ResultChan() <-chan Event { return w.ch }
func (w *historyWatcher) Stop()                    { w.cancel() }
func (w *historyWatcher) RequestProgress() {
	select {
	case w.progress <- struct{}{}:
	default:
	}
}

func (st *EtcdStore) watchEtcd(ctx context.Context, prefix string, opts WatchOptions) (Watcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	id := strconv.FormatInt(st.historyIDs.Add(1), 10)
	wctx := metadata.AppendToOutgoingContext(st.watchCtx(ctx), "listwatch-history-watch", id)
	w := &historyWatcher{
		ch:       make(chan Event, max(st.cfg.WatcherBufferSize, DefaultWatcherBufferSize)),
		progress: make(chan struct{}, 1),
		cancel:   cancel,
	}
	pred := opts.Predicate
	filtered := (pred.Label != nil && !pred.Label.Empty()) || (pred.Field != nil && !pred.Field.Empty())
	wch := st.cli.Watch(wctx, st.prefix+prefix, clientv3.WithPrefix(), clientv3.WithRev(opts.Revision+1),
		clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		defer close(w.ch)
		defer cancel()
		send := func(ev Event) bool {
			select {
			case w.ch <- ev:
				return true
			case <-ctx.Done():
				return false
			case <-st.ctx.Done():
				return false
			}
		}
		for {
			var resp clientv3.WatchResponse
			var ok bool
			select {
			case <-ctx.Done():
				return
			case <-st.ctx.Done():
				return
			case <-w.progress:
				_ = st.cli.RequestProgress(wctx)
				continue
			case resp, ok = <-wch:
				if !ok {
					return
				}
			}
			if resp.CompactRevision != 0 {
				st.compactedTo(resp.CompactRevision)
				send(Event{Type: watch.Error, Revision: resp.CompactRevision,
					Err: &Error{Code: CodeCompacted, Revision: opts.Revision, Current: resp.CompactRevision}})
				return
			}
			if err := resp.Err(); err != nil {
				send(Event{Type: watch.Error, Err: st.mapErr(err, prefix)})
				return
			}
			if resp.IsProgressNotify() {
				if !send(Event{Type: watch.Bookmark, Revision: resp.Header.Revision}) {
					return
				}
				continue
			}
			for _, ev := range resp.Events {
				out, ok := st.historyEvent(ev, pred, filtered)
				if ok && !send(out) {
					return
				}
			}
		}
	}()
	return w, nil
}

// historyEvent translates one etcd event for a watcher with pred.
func (st *EtcdStore) historyEvent(ev *clientv3.Event, pred Predicate, filtered bool) (Event, bool) {
	key := strings.TrimPrefix(string(ev.Kv.Key), st.prefix)
	rev := ev.Kv.ModRevision
	var prev *Record
	if ev.PrevKv != nil {
		var err error
		if prev, err = st.decode(key, ev.PrevKv.Value, ev.PrevKv.ModRevision); err != nil {
			prev = nil
		}
	}
	prevAtRev := func() *Record {
		r, err := st.decode(key, ev.PrevKv.Value, rev)
		if err != nil {
			return prev
		}
		return r
	}
	if ev.Type == clientv3.EventTypeDelete {
		if prev == nil {
			return Event{}, false
		}
		return selectEvent(pred, filtered, watch.Deleted, prevAtRev(), prev, prevAtRev)
	}
	rec, err := st.decode(key, ev.Kv.Value, rev)
	if err != nil {
		st.log.Error("storage: skipping a stored object that does not decode", "key", key, "err", err)
		return Event{}, false
	}
	if prev == nil {
		return selectEvent(pred, filtered, watch.Added, rec, nil, nil)
	}
	return selectEvent(pred, filtered, watch.Modified, rec, prev, prevAtRev)
}
