package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Invariant of the store: mu guards all state below it. Every write takes
// the revision rev+1 inside one critical section that encodes the object at
// that revision, appends the version to the key's history and the event to
// the log, and pushes the event to the synced watchers; so readers and
// watchers see writes exactly in revision order and never half of one.
// Records are encoded once, in the write, and never modified afterwards.

// Defaults of MemoryConfig.
const (
	DefaultHistoryLimit      = 10000
	DefaultWatcherBufferSize = 128
)

// ErrClosed is returned by Watch after the store was closed.
var ErrClosed = errors.New("storage: store is closed")

// MemoryConfig configures a MemoryStore.
type MemoryConfig struct {
	// Codec encodes objects and extracts their selectable attributes.
	// Required.
	Codec Codec
	// HistoryLimit is how many events are kept for watch replay (default
	// DefaultHistoryLimit). Older events, and the per-key versions only
	// they could show, are compacted automatically.
	HistoryLimit int
	// CompactInterval and MaxHistoryAge compact history older than
	// MaxHistoryAge every CompactInterval. Zero disables it.
	CompactInterval time.Duration
	MaxHistoryAge   time.Duration
	// WatcherBufferSize is the capacity of each watcher's channel (default
	// DefaultWatcherBufferSize). A watcher whose channel is full is caught
	// up from the event log later; writers never wait for it.
	WatcherBufferSize int
	// MaxWatchers caps open watchers; beyond it Watch fails with an error
	// for which IsTooManyWatchers is true. 0 means no limit.
	MaxWatchers int
	// Logger receives debug and error logs (default slog.Default()).
	Logger *slog.Logger
	// Hooks observe the store, for metrics.
	Hooks Hooks
}

// Hooks are optional callbacks for metrics. They are called without any
// store lock held and must not block; they may be called concurrently.
type Hooks struct {
	// OnCompact is called after each compaction (on demand, by count or by
	// age) with the new compacted revision.
	OnCompact func(revision int64)
	// OnSlowWatcher is called when a watcher's channel was full and it left
	// the synced group to be caught up from the event log.
	OnSlowWatcher func()
	// OnWatcherExpired is called when a watcher fell behind compaction and
	// was ended with an ErrCompacted Error event.
	OnWatcherExpired func()
	// OnWatcherCount is called with the number of open watchers whenever it
	// changed. Calls come from one goroutine, in order, so the last value
	// reported is the current one.
	OnWatcherCount func(n int)
}

// Stats is a snapshot of the store's size, for metrics and tests.
type Stats struct {
	Revision, Compacted int64
	// Keys counts keys with any retained version; Objects the live ones.
	Keys, Objects int
	// Events is the length of the event log.
	Events int
	// Watchers by group.
	Synced, Unsynced, Victims int
}

// MemoryStore is the in-memory MVCC implementation of Interface.
type MemoryStore struct {
	cfg MemoryConfig
	log *slog.Logger

	mu        sync.RWMutex
	rev       int64
	compacted int64
	keys      map[string]*keyHistory
	index     keyIndex
	live      map[string]int // live objects per directory prefix ("/", "/tasks/", "/tasks/ns/")
	events    eventLog
	now       func() time.Time
	closed    bool
	watch     watchState

	kick     chan struct{} // wakes the sync loop
	cancel   context.CancelFunc
	done     chan struct{} // closed when the sync loop has returned
	reported int64         // last OnWatcherCount value; sync loop only, then Close

}

var _ Interface = (*MemoryStore)(nil)

// NewMemoryStore returns a running store. Call Close to stop its
// background goroutine and end its watchers. It panics if cfg.Codec is nil.
func NewMemoryStore(cfg MemoryConfig) *MemoryStore {
	if cfg.Codec == nil {
		panic("storage: NewMemoryStore needs a Codec")
	}
	if cfg.HistoryLimit <= 0 {
		cfg.HistoryLimit = DefaultHistoryLimit
	}
	if cfg.WatcherBufferSize <= 0 {
		cfg.WatcherBufferSize = DefaultWatcherBufferSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &MemoryStore{
		cfg: cfg,
		log: cfg.Logger,
		// An empty store is at revision 1, as etcd is: a list of it answers
		// resourceVersion "1", never "0", which a watch would read as
		// "from any point" rather than "after this state".
		rev:    1,
		keys:   make(map[string]*keyHistory),
		live:   make(map[string]int),
		now:    time.Now,
		kick:   make(chan struct{}, 1),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	s.watch.init()
	go s.syncLoop(ctx)
	return s
}

// Close ends every watcher (their channels close without an Error event)
// and stops the background goroutine. The store still serves reads and
// writes afterwards, but Watch fails with ErrClosed.
func (s *MemoryStore) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.closed = true
	s.closeAllWatchersLocked()
	s.mu.Unlock()
	s.cancel()
	<-s.done // after this, s.reported is ours
	if s.reported != 0 && s.cfg.Hooks.OnWatcherCount != nil {
		s.reported = 0
		s.cfg.Hooks.OnWatcherCount(0)
	}
}

// Create implements Interface.
func (s *MemoryStore) Create(ctx context.Context, key string, obj runtime.Object) (*Record, error) {
	return s.put(ctx, key, obj, false, 0)
}

// Update implements Interface.
func (s *MemoryStore) Update(ctx context.Context, key string, preconditionRevision int64, obj runtime.Object) (*Record, error) {
	return s.put(ctx, key, obj, true, preconditionRevision)
}

func (s *MemoryStore) put(ctx context.Context, key string, obj runtime.Object, update bool, precondition int64) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Attributes do not depend on the revision: compute them outside the lock.
	acc, lbls, flds, err := checkWrite(s.cfg.Codec, key, obj)
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	h := s.keys[key]
	var prev *Record
	if h != nil {
		prev = h.live()
	}
	switch {
	case !update && prev != nil:
		s.mu.Unlock()
		return nil, &Error{Code: CodeAlreadyExists, Key: key}
	case update && prev == nil:
		s.mu.Unlock()
		return nil, &Error{Code: CodeNotFound, Key: key}
	case update && precondition > 0 && prev.Revision != precondition:
		s.mu.Unlock()
		return nil, &Error{Code: CodeConflict, Key: key, Revision: precondition, Current: prev.Revision}
	}
	rev := s.rev + 1
	acc.SetResourceVersion(strconv.FormatInt(rev, 10))
	data, err := s.cfg.Codec.Encode(obj)
	if err != nil {
		s.mu.Unlock()
		return nil, invalid(key, "encode: "+err.Error())
	}
	rec := newRecord(key, rev, data, lbls, flds)
	typ := watch.Added
	if update {
		typ = watch.Modified
	}
	compactedTo := s.commitLocked(h, &logEvent{typ: typ, obj: rec, prev: prev})
	s.mu.Unlock()
	s.afterWrite(compactedTo)
	return rec, nil
}

// Delete implements Interface.
func (s *MemoryStore) Delete(ctx context.Context, key string, preconditionRevision int64) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validKey(key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	h := s.keys[key]
	var prev *Record
	if h != nil {
		prev = h.live()
	}
	if prev == nil {
		s.mu.Unlock()
		return nil, &Error{Code: CodeNotFound, Key: key}
	}
	if preconditionRevision > 0 && prev.Revision != preconditionRevision {
		s.mu.Unlock()
		return nil, &Error{Code: CodeConflict, Key: key, Revision: preconditionRevision, Current: prev.Revision}
	}
	rev := s.rev + 1
	rec, err := s.reencode(prev, rev)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	compactedTo := s.commitLocked(h, &logEvent{typ: watch.Deleted, obj: rec, prev: prev})
	s.mu.Unlock()
	s.afterWrite(compactedTo)
	return rec, nil
}

// reencode returns r's state with its resourceVersion set to rev.
func (s *MemoryStore) reencode(r *Record, rev int64) (*Record, error) {
	data, err := atRevision(s.cfg.Codec, r.Key, r.Data, rev, nil)
	if err != nil {
		return nil, invalid(r.Key, "re-encode stored object: "+err.Error())
	}
	return &Record{Key: r.Key, Revision: rev, Data: data, attrs: r.attrs}, nil
}

// atRevision decodes data stored under key and encodes it again with its
// resourceVersion set to rev. With with set, it is called on the decoded
// object first (to read its attributes).
func atRevision(codec Codec, key string, data []byte, rev int64, with func(runtime.Object) error) ([]byte, error) {
	obj, err := codec.Decode(key, data)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	acc.SetResourceVersion(strconv.FormatInt(rev, 10))
	if with != nil {
		if err := with(obj); err != nil {
			return nil, err
		}
	}
	out, err := codec.Encode(obj)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return out, nil
}

// commitLocked makes e the write of revision s.rev+1: history, log, live
// counts, fan-out to synced watchers, and compaction by count. It returns
// the revision it compacted to, or 0.
func (s *MemoryStore) commitLocked(h *keyHistory, e *logEvent) int64 {
	rec := e.obj
	s.rev = rec.Revision
	if h == nil {
		h = &keyHistory{key: rec.Key}
		s.keys[rec.Key] = h
		s.index.insert(h)
	}
	h.versions = append(h.versions, version{rec: rec, deleted: e.typ == watch.Deleted})
	switch e.typ {
	case watch.Added:
		s.addLive(rec.Key, 1)
	case watch.Deleted:
		s.addLive(rec.Key, -1)
	}
	e.at = s.now().UnixNano()
	s.events.append(e)
	s.notifyLocked(e)

	// Compact by count in steps of a tenth of the limit, so the cost is
	// amortized over many writes rather than paid on each.
	limit := s.cfg.HistoryLimit
	if n := s.events.len(); n > limit+max(limit/10, 1) {
		to := s.events.events[n-limit-1].rev() // keep the newest limit events
		s.compactLocked(to)
		return to
	}
	return 0
}

// afterWrite runs the hooks a write triggered, outside the lock.
func (s *MemoryStore) afterWrite(compactedTo int64) {
	s.flushHooks()
	if compactedTo > 0 {
		s.compactHook(compactedTo)
	}
}

// addLive adjusts the live-object count of every directory prefix of key.
func (s *MemoryStore) addLive(key string, d int) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			p := key[:i+1]
			if n := s.live[p] + d; n == 0 {
				delete(s.live, p)
			} else {
				s.live[p] = n
			}
		}
	}
}

// Get implements Interface.
func (s *MemoryStore) Get(ctx context.Context, key string, revision int64) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	rev, err := s.readRevisionLocked(revision)
	if err != nil {
		return nil, err
	}
	h := s.keys[key]
	if h == nil {
		return nil, &Error{Code: CodeNotFound, Key: key}
	}
	rec := h.at(rev)
	if rec == nil {
		return nil, &Error{Code: CodeNotFound, Key: key}
	}
	return rec, nil
}

// readRevisionLocked resolves a requested read revision (0 = current) and
// checks it against the compacted and current revisions.
func (s *MemoryStore) readRevisionLocked(revision int64) (int64, error) {
	if revision < 0 {
		return 0, &Error{Code: CodeInvalidObject, Revision: revision, Msg: fmt.Sprintf("invalid revision %d", revision)}
	}
	if revision == 0 {
		return s.rev, nil
	}
	if revision < s.compacted {
		return 0, &Error{Code: CodeCompacted, Revision: revision, Current: s.compacted}
	}
	if revision > s.rev {
		return 0, &Error{Code: CodeFutureRevision, Revision: revision, Current: s.rev}
	}
	return revision, nil
}

// Count implements Interface.
func (s *MemoryStore) Count(prefix string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if strings.HasSuffix(prefix, "/") {
		return s.live[prefix]
	}
	n := 0
	s.index.ascendPrefix(prefix, prefix, func(h *keyHistory) bool {
		if h.live() != nil {
			n++
		}
		return true
	})
	return n
}

// WaitForRevision implements Interface: the memory store is its own
// source of truth, so there is nothing to wait for.
func (s *MemoryStore) WaitForRevision(ctx context.Context, prefix string, revision int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if revision > s.rev {
		return &Error{Code: CodeFutureRevision, Revision: revision, Current: s.rev}
	}
	return nil
}

// CurrentRevision implements Interface.
func (s *MemoryStore) CurrentRevision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// CompactedRevision implements Interface.
func (s *MemoryStore) CompactedRevision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.compacted
}

// Stats returns a snapshot of the store's size.
func (s *MemoryStore) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Stats{
		Revision: s.rev, Compacted: s.compacted,
		Keys: s.index.n, Objects: s.live["/"], Events: s.events.len(),
		Synced: s.watch.synced.len(), Unsynced: len(s.watch.unsynced), Victims: len(s.watch.victims),
	}
}

// checkWrite validates a write of obj at key and returns what every
// backend needs of it: its metadata and its selector attributes.
func checkWrite(codec Codec, key string, obj runtime.Object) (metav1.Object, labels.Set, fields.Set, error) {
	if err := validKey(key); err != nil {
		return nil, nil, nil, err
	}
	if obj == nil {
		return nil, nil, nil, invalid(key, "nil object")
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, nil, invalid(key, err.Error())
	}
	lbls, flds, err := codec.Attributes(obj)
	if err != nil {
		return nil, nil, nil, invalid(key, "attributes: "+err.Error())
	}
	return acc, lbls, flds, nil
}

func validKey(key string) error {
	if !strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return &Error{Code: CodeInvalidObject, Key: key, Msg: fmt.Sprintf("invalid key %q: want /<resource>/[<namespace>/]<name>", key)}
	}
	return nil
}

func invalid(key, msg string) error {
	return &Error{Code: CodeInvalidObject, Key: key, Msg: fmt.Sprintf("invalid object at %q: %s", key, msg)}
}
