package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// Invariants of the etcd backend:
//
//   - etcd is the only source of truth. Every write is one etcd
//     transaction whose condition is the precondition (the key's mod
//     revision, or its absence for a create), so concurrent writers on any
//     number of server processes never lose an update. The object's
//     resourceVersion is the write's etcd revision; it is not stored in the
//     value (as in kube-apiserver) but set on every read.
//   - Each resource (the first segment of a key, "/tasks/") has one watch
//     cache per process: a MemoryStore mirror fed by one etcd watch on the
//     resource's prefix from the revision of its initial list. A thousand
//     watchers of a resource cost etcd one watch. The mirror's revision
//     only moves to R once every change up to R has been applied (etcd
//     events, or a progress notification at R), so anything read from it
//     at a revision it has reached is exactly etcd's state at that revision.
//   - Reads at revision 0 (consistent) see every write acknowledged before
//     they started, on any process: a Get asks etcd; a List asks etcd for
//     its current revision and waits until the cache has reached it.
//   - Compaction is etcd's. Anything below the compacted revision is
//     refused as ErrCompacted, whether or not a cache still holds it.

// Defaults of EtcdConfig.
const (
	DefaultEtcdPrefix     = "/registry"
	DefaultRequestTimeout = 10 * time.Second
	// freshWait bounds waiting for a cache to reach a revision that etcd
	// has, as kube-apiserver waits 3s for its watch cache.
	freshWait = 3 * time.Second
	// listChunk is the page size of lists read from etcd.
	listChunk = 500
	// progressInterval is how often the caches ask etcd for a progress
	// notification, so that an idle resource's cache (its reads and
	// bookmarks) keeps up with etcd's revision whatever etcd's own
	// --watch-progress-notify-interval (10 minutes by default).
	progressInterval = time.Second
	// compactKey records the last compaction, so that the compactors of
	// several server processes compact once per interval between them.
	compactKey = "/compact_rev_key"
)

// EtcdConfig configures an EtcdStore.
type EtcdConfig struct {
	// MemoryConfig configures each resource's watch cache: Codec
	// (required), HistoryLimit and MaxHistoryAge bound its window of
	// events (older watches and reads go to etcd's history),
	// WatcherBufferSize, MaxWatchers (per resource), Logger and Hooks.
	MemoryConfig
	// Client talks to etcd. Required; the store does not close it.
	Client *clientv3.Client
	// Prefix is put before every key in etcd (default DefaultEtcdPrefix).
	Prefix string
	// EtcdCompactInterval compacts etcd's history every interval, to the
	// revision seen one interval earlier (kube-apiserver's
	// --etcd-compaction-interval). Zero disables it.
	EtcdCompactInterval time.Duration
	// RequestTimeout bounds each etcd request (default
	// DefaultRequestTimeout). A request that times out fails with an error
	// for which IsUnavailable is true.
	RequestTimeout time.Duration
	// Resources are started (listed and watched) at once rather than on
	// first use, so the first request does not wait for the initial list.
	Resources []string
	// EtcdHooks observe etcd requests and the watch caches, for metrics.
	EtcdHooks EtcdHooks
}

// EtcdHooks are optional callbacks; they must not block.
type EtcdHooks struct {
	// OnRequest is called after every etcd request with its operation
	// (create, update, delete, get, list, compact) and the resource.
	OnRequest func(operation, resource string, d time.Duration)
	// OnCacheEvent is called for each etcd event a watch cache applied.
	OnCacheEvent func(resource string)
}

// CacheStat describes one resource's watch cache.
type CacheStat struct {
	Resource string
	// Revision the cache has reached; Compacted is its window's start.
	Revision, Compacted int64
	// Events in its window, and the window's capacity.
	Events, Capacity int
	Objects          int
}

// EtcdStore is the etcd implementation of Interface.
type EtcdStore struct {
	cfg    EtcdConfig
	cli    *clientv3.Client
	prefix string
	log    *slog.Logger

	mu     sync.Mutex
	caches map[string]*resourceCache
	closed bool

	observed  atomic.Int64 // newest revision this process has seen
	compacted atomic.Int64 // newest compaction this process knows of

	watchCount  sync.Mutex // serializes OnWatcherCount over all caches
	watcherNums map[string]int

	historyIDs atomic.Int64
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

var _ Interface = (*EtcdStore)(nil)

// NewEtcdStore returns a store over etcd. It checks that etcd answers
// (within RequestTimeout) and starts the caches of cfg.Resources and the
// compactor; Close stops them.
func NewEtcdStore(cfg EtcdConfig) (*EtcdStore, error) {
	if cfg.Codec == nil {
		return nil, errors.New("storage: EtcdConfig.Codec is required")
	}
	if cfg.Client == nil {
		return nil, errors.New("storage: EtcdConfig.Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultEtcdPrefix
	}
	cfg.Prefix = "/" + strings.Trim(cfg.Prefix, "/")
	if cfg.Prefix == "/" {
		cfg.Prefix = ""
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	st := &EtcdStore{
		cfg: cfg, cli: cfg.Client, prefix: cfg.Prefix, log: cfg.Logger,
		caches: make(map[string]*resourceCache), watcherNums: make(map[string]int),
		ctx: ctx, cancel: cancel,
	}
	rev, err := st.etcdRevision(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("etcd at %s: %w", strings.Join(cfg.Client.Endpoints(), ","), err)
	}
	st.observe(rev)
	if c, err := st.readCompacted(ctx); err == nil && c > 0 {
		st.compacted.Store(c)
	}
	for _, r := range cfg.Resources {
		st.cacheFor("/" + strings.Trim(r, "/") + "/")
	}
	st.wg.Add(1)
	go st.progressLoop(ctx)
	if cfg.EtcdCompactInterval > 0 {
		st.wg.Add(1)
		go st.compactor(ctx, cfg.EtcdCompactInterval)
	}
	return st, nil
}

// Close stops the caches (their watchers end cleanly) and the compactor.
func (st *EtcdStore) Close() {
	st.mu.Lock()
	st.closed = true
	caches := st.caches
	st.mu.Unlock()
	st.cancel()
	st.wg.Wait()
	for _, c := range caches {
		if m := c.mem.Load(); m != nil {
			m.Close()
		}
	}
}

// Prefix is the prefix of every key this store writes in etcd.
func (st *EtcdStore) Prefix() string { return st.prefix }

// resourceOf returns the resource prefix of a key or prefix: "/tasks/".
func resourceOf(key string) string {
	if i := strings.IndexByte(key[min(1, len(key)):], '/'); i >= 0 {
		return key[:i+2]
	}
	return key + "/"
}

// ---------------------------------------------------------------- writes

// Create implements Interface.
func (st *EtcdStore) Create(ctx context.Context, key string, obj runtime.Object) (*Record, error) {
	w, err := st.prepare(key, obj)
	if err != nil {
		return nil, err
	}
	k := st.prefix + key
	resp, err := st.txn(ctx, "create", key, func(ctx context.Context) (*clientv3.TxnResponse, error) {
		return st.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, string(w.data))).Commit()
	})
	if err != nil {
		return nil, err
	}
	if !resp.Succeeded {
		return nil, &Error{Code: CodeAlreadyExists, Key: key}
	}
	return st.written(w, key, resp.Header.Revision)
}

// Update implements Interface.
func (st *EtcdStore) Update(ctx context.Context, key string, preconditionRevision int64, obj runtime.Object) (*Record, error) {
	w, err := st.prepare(key, obj)
	if err != nil {
		return nil, err
	}
	k := st.prefix + key
	cond := clientv3.Compare(clientv3.CreateRevision(k), ">", 0)
	if preconditionRevision > 0 {
		cond = clientv3.Compare(clientv3.ModRevision(k), "=", preconditionRevision)
	}
	resp, err := st.txn(ctx, "update", key, func(ctx context.Context) (*clientv3.TxnResponse, error) {
		return st.cli.Txn(ctx).If(cond).Then(clientv3.OpPut(k, string(w.data))).
			Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).Commit()
	})
	if err != nil {
		return nil, err
	}
	if !resp.Succeeded {
		return nil, failedPrecondition(key, preconditionRevision, resp)
	}
	return st.written(w, key, resp.Header.Revision)
}

// Delete implements Interface.
func (st *EtcdStore) Delete(ctx context.Context, key string, preconditionRevision int64) (*Record, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	k := st.prefix + key
	cond := clientv3.Compare(clientv3.CreateRevision(k), ">", 0)
	if preconditionRevision > 0 {
		cond = clientv3.Compare(clientv3.ModRevision(k), "=", preconditionRevision)
	}
	resp, err := st.txn(ctx, "delete", key, func(ctx context.Context) (*clientv3.TxnResponse, error) {
		return st.cli.Txn(ctx).If(cond).Then(clientv3.OpDelete(k, clientv3.WithPrevKV())).
			Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).Commit()
	})
	if err != nil {
		return nil, err
	}
	if !resp.Succeeded {
		return nil, failedPrecondition(key, preconditionRevision, resp)
	}
	rev := resp.Header.Revision
	st.observe(rev)
	prev := resp.Responses[0].GetResponseDeleteRange().GetPrevKvs()
	if len(prev) == 0 {
		return nil, &Error{Code: CodeNotFound, Key: key}
	}
	// The deletion record: the last state at the deletion revision.
	return st.decode(key, prev[0].Value, rev)
}

// failedPrecondition tells a missing key from a changed one, from the
// keys-only Get of a transaction's else branch.
func failedPrecondition(key string, precondition int64, resp *clientv3.TxnResponse) error {
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return &Error{Code: CodeNotFound, Key: key}
	}
	return &Error{Code: CodeConflict, Key: key, Revision: precondition, Current: kvs[0].ModRevision}
}

// pendingWrite is an object ready to store: its value without a
// resourceVersion, and its selector attributes.
type pendingWrite struct {
	obj    runtime.Object
	acc    metav1.Object
	data   []byte
	labels labels.Set
	fields fields.Set
}

func (st *EtcdStore) prepare(key string, obj runtime.Object) (*pendingWrite, error) {
	acc, lbls, flds, err := checkWrite(st.cfg.Codec, key, obj)
	if err != nil {
		return nil, err
	}
	acc.SetResourceVersion("")
	data, err := st.cfg.Codec.Encode(obj)
	if err != nil {
		return nil, invalid(key, "encode: "+err.Error())
	}
	return &pendingWrite{obj: obj, acc: acc, data: data, labels: lbls, fields: flds}, nil
}

// written returns the record of a committed write at rev.
func (st *EtcdStore) written(w *pendingWrite, key string, rev int64) (*Record, error) {
	st.observe(rev)
	w.acc.SetResourceVersion(strconv.FormatInt(rev, 10))
	data, err := st.cfg.Codec.Encode(w.obj)
	if err != nil {
		return nil, invalid(key, "encode: "+err.Error())
	}
	return newRecord(key, rev, data, w.labels, w.fields), nil
}

// txn runs one transaction with the request timeout and maps its error.
func (st *EtcdStore) txn(ctx context.Context, op, key string, f func(context.Context) (*clientv3.TxnResponse, error)) (*clientv3.TxnResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, st.cfg.RequestTimeout)
	defer cancel()
	start := time.Now()
	resp, err := f(ctx)
	st.hookRequest(op, key, start)
	if err != nil {
		return nil, st.mapErr(err, key)
	}
	return resp, nil
}

func (st *EtcdStore) hookRequest(op, key string, start time.Time) {
	if f := st.cfg.EtcdHooks.OnRequest; f != nil {
		f(op, strings.Trim(resourceOf(key), "/"), time.Since(start))
	}
}

// mapErr turns an etcd client error into a storage error.
func (st *EtcdStore) mapErr(err error, key string) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return &Error{Code: CodeCompacted, Key: key, Current: st.compacted.Load()}
	case errors.Is(err, rpctypes.ErrFutureRev):
		return &Error{Code: CodeFutureRevision, Key: key, Current: st.observed.Load()}
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeUnavailable, Key: key, Msg: "etcd did not answer in time: " + err.Error()}
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Aborted:
			return &Error{Code: CodeUnavailable, Key: key, Msg: s.Message()}
		}
	}
	return &Error{Code: CodeUnavailable, Key: key, Msg: err.Error()}
}

func (st *EtcdStore) observe(rev int64) {
	for {
		cur := st.observed.Load()
		if rev <= cur || st.observed.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// decode turns a stored value into a record at rev.
func (st *EtcdStore) decode(key string, value []byte, rev int64) (*Record, error) {
	var lbls labels.Set
	var flds fields.Set
	data, err := atRevision(st.cfg.Codec, key, value, rev, func(obj runtime.Object) (err error) {
		if lbls, flds, err = st.cfg.Codec.Attributes(obj); err != nil {
			return fmt.Errorf("attributes: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, &Error{Code: CodeCorrupt, Key: key, Msg: err.Error()}
	}
	return newRecord(key, rev, data, lbls, flds), nil
}

// ----------------------------------------------------------------- reads

// etcdRevision asks etcd for its current revision (a linearizable read).
func (st *EtcdStore) etcdRevision(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, st.cfg.RequestTimeout)
	defer cancel()
	resp, err := st.cli.Get(ctx, st.prefix+compactKey, clientv3.WithKeysOnly())
	if err != nil {
		return 0, st.mapErr(err, "")
	}
	st.observe(resp.Header.Revision)
	return resp.Header.Revision, nil
}

// checkCompacted refuses a revision below the known compaction.
func (st *EtcdStore) checkCompacted(key string, rev int64) error {
	if c := st.compacted.Load(); rev > 0 && rev < c {
		return &Error{Code: CodeCompacted, Key: key, Revision: rev, Current: c}
	}
	if rev < 0 {
		return &Error{Code: CodeInvalidObject, Revision: rev, Msg: fmt.Sprintf("invalid revision %d", rev)}
	}
	return nil
}

// Get implements Interface. Revision 0 reads etcd; an exact revision is
// served from the cache when its window holds it.
func (st *EtcdStore) Get(ctx context.Context, key string, revision int64) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := st.checkCompacted(key, revision); err != nil {
		return nil, err
	}
	if revision > 0 {
		if m := st.cacheFor(resourceOf(key)).window(revision); m != nil {
			if rec, err := m.Get(ctx, key, revision); !IsCompacted(err) {
				return rec, err
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, st.cfg.RequestTimeout)
	defer cancel()
	var opts []clientv3.OpOption
	if revision > 0 {
		opts = append(opts, clientv3.WithRev(revision))
	}
	start := time.Now()
	resp, err := st.cli.Get(ctx, st.prefix+key, opts...)
	st.hookRequest("get", key, start)
	if err != nil {
		return nil, st.mapErr(err, key)
	}
	st.observe(resp.Header.Revision)
	if len(resp.Kvs) == 0 {
		return nil, &Error{Code: CodeNotFound, Key: key}
	}
	kv := resp.Kvs[0]
	return st.decode(key, kv.Value, kv.ModRevision)
}

// List implements Interface. Consistent lists (revision 0) are served from
// the cache once it has reached etcd's current revision; Stale ones from
// the cache as it is; exact revisions from the cache when its window holds
// them, else from etcd's history.
func (st *EtcdStore) List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Limit < 0 {
		return nil, &Error{Code: CodeInvalidObject, Msg: "negative list limit"}
	}
	if err := st.checkCompacted("", opts.Revision); err != nil {
		return nil, err
	}
	c := st.cacheFor(resourceOf(prefix))
	switch {
	case opts.Revision == 0 && opts.Stale:
		m, err := c.ready(ctx)
		if err != nil {
			return nil, err
		}
		return m.List(ctx, prefix, opts)
	case opts.Revision == 0:
		rev, err := st.etcdRevision(ctx)
		if err != nil {
			return nil, err
		}
		if m, err := c.reach(ctx, rev); err == nil {
			return m.List(ctx, prefix, opts)
		} else if ctx.Err() != nil {
			return nil, err
		}
		// The cache is behind (etcd is slow to notify it): read etcd.
		return st.listEtcd(ctx, prefix, opts)
	}
	if m := c.window(opts.Revision); m != nil {
		if res, err := m.List(ctx, prefix, opts); !IsCompacted(err) {
			return res, err
		}
	}
	return st.listEtcd(ctx, prefix, opts)
}

// listEtcd reads a list from etcd, at opts.Revision or the current one, in
// chunks, decoding and filtering every item.
func (st *EtcdStore) listEtcd(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error) {
	from := st.prefix + prefix
	if opts.After != "" && opts.After >= prefix {
		from = st.prefix + opts.After + "\x00"
	}
	end := clientv3.GetPrefixRangeEnd(st.prefix + prefix)
	res := &ListResult{Revision: opts.Revision}
	for {
		rctx, cancel := context.WithTimeout(ctx, st.cfg.RequestTimeout)
		ropts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listChunk)}
		if res.Revision > 0 {
			ropts = append(ropts, clientv3.WithRev(res.Revision))
		}
		start := time.Now()
		resp, err := st.cli.Get(rctx, from, ropts...)
		cancel()
		st.hookRequest("list", prefix, start)
		if err != nil {
			return nil, st.mapErr(err, prefix)
		}
		st.observe(resp.Header.Revision)
		if res.Revision == 0 {
			res.Revision = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			key := strings.TrimPrefix(string(kv.Key), st.prefix)
			rec, err := st.decode(key, kv.Value, kv.ModRevision)
			if err != nil {
				st.log.Error("storage: skipping a stored object that does not decode", "key", key, "err", err)
				continue
			}
			if !opts.Predicate.Matches(rec) {
				continue
			}
			if opts.Limit == 0 || int64(len(res.Items)) < opts.Limit {
				res.Items = append(res.Items, rec)
			} else {
				res.More = true
				res.Remaining++
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return res, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// WaitForRevision implements Interface.
func (st *EtcdStore) WaitForRevision(ctx context.Context, prefix string, revision int64) error {
	c := st.cacheFor(resourceOf(prefix))
	m, err := c.ready(ctx)
	if err != nil {
		return err
	}
	if m.CurrentRevision() >= revision {
		return nil
	}
	cur, err := st.etcdRevision(ctx)
	if err != nil {
		return err
	}
	if revision > cur {
		return &Error{Code: CodeFutureRevision, Revision: revision, Current: cur}
	}
	_, err = c.reach(ctx, revision)
	return err
}

// Count implements Interface, from the caches. Count("/") adds up the
// resources whose caches have started (on first use, or EtcdConfig.Resources).
func (st *EtcdStore) Count(prefix string) int {
	if prefix == "/" || prefix == "" {
		n := 0
		for _, c := range st.cacheList() {
			if m := c.mem.Load(); m != nil {
				n += m.Count(c.prefix)
			}
		}
		return n
	}
	if m := st.cacheFor(resourceOf(prefix)).mem.Load(); m != nil {
		return m.Count(prefix)
	}
	return 0
}

// CurrentRevision implements Interface: the newest revision this process
// has written, read or had its caches reach.
func (st *EtcdStore) CurrentRevision() int64 { return st.observed.Load() }

// CompactedRevision implements Interface.
func (st *EtcdStore) CompactedRevision() int64 { return st.compacted.Load() }

// CacheStats describes every watch cache started so far.
func (st *EtcdStore) CacheStats() []CacheStat {
	var out []CacheStat
	for _, c := range st.cacheList() {
		cs := CacheStat{Resource: strings.Trim(c.prefix, "/")}
		if m := c.mem.Load(); m != nil {
			s := m.Stats()
			cs.Revision, cs.Compacted, cs.Events, cs.Objects = s.Revision, s.Compacted, s.Events, s.Objects
			cs.Capacity = m.cfg.HistoryLimit
		}
		out = append(out, cs)
	}
	return out
}

// ------------------------------------------------------------ compaction

// Compact implements Interface: it compacts etcd, then the caches.
func (st *EtcdStore) Compact(ctx context.Context, revision int64) error {
	if revision <= st.compacted.Load() {
		return ctx.Err()
	}
	ctx, cancel := context.WithTimeout(ctx, st.cfg.RequestTimeout)
	defer cancel()
	start := time.Now()
	_, err := st.cli.Compact(ctx, revision)
	st.hookRequest("compact", "", start)
	if err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		err = st.mapErr(err, "")
		if IsFutureRevision(err) {
			err.(*Error).Revision = revision
		}
		return err
	}
	st.compactedTo(revision)
	return nil
}

// compactedTo records that etcd was compacted to rev (here or by another
// process) and compacts the caches as far as they have reached.
func (st *EtcdStore) compactedTo(rev int64) {
	for {
		cur := st.compacted.Load()
		if rev <= cur {
			return
		}
		if st.compacted.CompareAndSwap(cur, rev) {
			break
		}
	}
	st.log.Debug("etcd compacted", "revision", rev)
	if f := st.cfg.Hooks.OnCompact; f != nil {
		f(rev)
	}
	for _, c := range st.cacheList() {
		c.compact()
	}
}

// readCompacted reads the revision the last compactor recorded.
func (st *EtcdStore) readCompacted(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, st.cfg.RequestTimeout)
	defer cancel()
	resp, err := st.cli.Get(ctx, st.prefix+compactKey)
	if err != nil || len(resp.Kvs) == 0 {
		return 0, err
	}
	return strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
}

// compactor compacts etcd every interval to the revision it saw one
// interval before, so at least an interval of history stays. Several
// processes share the work through compactKey: a process compacts only if
// the key's version is still the one it saw last, so one compaction
// happens per interval whatever the number of processes.
func (st *EtcdStore) compactor(ctx context.Context, interval time.Duration) {
	defer st.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	k := st.prefix + compactKey
	var version, prevRev int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, st.cfg.RequestTimeout)
		resp, err := st.cli.Txn(rctx).If(clientv3.Compare(clientv3.Version(k), "=", version)).
			Then(clientv3.OpPut(k, strconv.FormatInt(prevRev, 10))).Else(clientv3.OpGet(k)).Commit()
		cancel()
		if err != nil {
			st.log.Warn("etcd compactor: could not reach etcd", "err", err)
			continue
		}
		cur := resp.Header.Revision
		if !resp.Succeeded {
			// Another process compacted in this interval: follow it.
			if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
				version = kvs[0].Version
				if r, err := strconv.ParseInt(string(kvs[0].Value), 10, 64); err == nil && r > 0 {
					st.compactedTo(r)
				}
			}
			prevRev = cur
			continue
		}
		version++
		if prevRev > 0 {
			if err := st.Compact(ctx, prevRev); err != nil {
				st.log.Warn("etcd compactor: compaction failed", "revision", prevRev, "err", err)
			}
		}
		prevRev = cur
	}
}

func (st *EtcdStore) cacheList() []*resourceCache {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]*resourceCache, 0, len(st.caches))
	for _, c := range st.caches {
		out = append(out, c)
	}
	return out
}
