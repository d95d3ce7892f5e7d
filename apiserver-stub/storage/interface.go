package storage

import (
	"context"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Interface is a versioned object store with watch.
//
// Keys look like "/<resource>/<namespace>/<name>" for namespaced objects and
// "/<resource>/<name>" for cluster-scoped ones. A prefix selects a collection:
// "/tasks/" (all namespaces), "/tasks/default/", "/nodes/".
type Interface interface {
	// Create stores obj under key at the next revision. It sets the object's
	// resourceVersion to that revision before encoding it. An existing live
	// key fails with an error for which IsAlreadyExists is true.
	Create(ctx context.Context, key string, obj runtime.Object) (*Record, error)

	// Update replaces the object at key. With preconditionRevision > 0 the
	// update only happens if the key's current revision equals it, else an
	// error for which IsConflict is true. A missing key: IsNotFound.
	Update(ctx context.Context, key string, preconditionRevision int64, obj runtime.Object) (*Record, error)

	// Delete removes key at the next revision and returns the last state with
	// its resourceVersion set to the deletion revision. preconditionRevision
	// works as in Update.
	Delete(ctx context.Context, key string, preconditionRevision int64) (*Record, error)

	// Get returns key as of revision (0 = latest). A revision older than the
	// compacted one is ErrCompacted; newer than the current one, ErrFutureRevision.
	Get(ctx context.Context, key string, revision int64) (*Record, error)

	// List returns the live objects under prefix as of opts.Revision (0 =
	// latest), in key order, filtered by opts.Predicate, starting after
	// opts.After, at most opts.Limit of them (0 = all).
	List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error)

	// Watch streams changes under prefix. See WatchOptions for where it starts.
	// A start revision older than the compacted one fails at once with
	// ErrCompacted; a future one with ErrFutureRevision.
	Watch(ctx context.Context, prefix string, opts WatchOptions) (Watcher, error)

	// Compact drops history at or below revision (exclusive of the newest
	// version of each live key). Afterwards reads and watches older than
	// revision fail with ErrCompacted.
	Compact(ctx context.Context, revision int64) error

	// WaitForRevision returns once reads of prefix that allow a cached
	// state (ListOptions.Stale) see at least revision, or fails with
	// ErrFutureRevision when the backend has not reached it (after a short
	// wait for a cache, as kube-apiserver waits for its watch cache). It
	// serves "not older than N" reads and watches: a client may carry an
	// RV from another replica that this process's cache has not seen yet.
	WaitForRevision(ctx context.Context, prefix string, revision int64) error

	// CurrentRevision is the revision of the newest write this process
	// knows of. A backend shared by several processes may have newer ones:
	// consistent reads (revision 0) always see them.
	CurrentRevision() int64
	// CompactedRevision is the revision of the last compaction (0 if none).
	CompactedRevision() int64
	// Count returns the number of live objects under prefix.
	Count(prefix string) int
}

// Record is one version of one object, encoded once and shared read-only by
// every reader and watcher that needs it.
type Record struct {
	Key string
	// Revision is the object's resourceVersion: the revision of the write
	// that produced this version (for a deletion, the deletion revision).
	Revision int64
	// Data is the JSON encoding, with apiVersion, kind and
	// metadata.resourceVersion set. Never modify it.
	Data []byte
	// attrs holds the labels and fields that selectors match against, in
	// the compact form of attrs.go; see Labels and Fields.
	attrs string
}

// newRecord returns a record with its attributes encoded.
func newRecord(key string, rev int64, data []byte, lbls labels.Set, flds fields.Set) *Record {
	return &Record{Key: key, Revision: rev, Data: data, attrs: encodeAttrs(key, lbls, flds)}
}

// Predicate filters records by label and field selectors. A nil selector
// matches everything.
type Predicate struct {
	Label labels.Selector
	Field fields.Selector
}

// Matches reports whether r passes both selectors.
func (p Predicate) Matches(r *Record) bool {
	if p.Label != nil && !p.Label.Empty() && !p.Label.Matches(r.Labels()) {
		return false
	}
	if p.Field != nil && !p.Field.Empty() && !p.Field.Matches(r.Fields()) {
		return false
	}
	return true
}

// ListOptions select what List returns.
type ListOptions struct {
	// Revision to read at; 0 means the current revision.
	Revision int64
	// Stale, with Revision 0, lets a backend with a cache serve its
	// cached state instead of a consistent read, which costs it a round
	// trip to the backend (kube-apiserver's resourceVersion "0"). Pair it
	// with WaitForRevision for "not older than N".
	Stale     bool
	Predicate Predicate
	// After is the key to continue after (exclusive); "" starts at the prefix.
	After string
	// Limit caps the number of items; 0 means no limit.
	Limit int64
}

// ListResult is a page of a list.
type ListResult struct {
	Items []*Record
	// Revision the list was read at.
	Revision int64
	// More is true when items past the last returned one match.
	More bool
	// Remaining counts the matching items after this page (when More).
	Remaining int64
}

// WatchOptions say where a watch starts and what it sees.
type WatchOptions struct {
	// Revision: deliver every change with a revision greater than it. When
	// SendInitialEvents is false and Revision is 0, the watch starts at the
	// current revision.
	Revision int64
	// SendInitialEvents first delivers ADDED for every matching object as of
	// a snapshot at the current revision (at least Revision), then one
	// Bookmark event with InitialEventsEnd set and the snapshot revision,
	// then every change after the snapshot.
	SendInitialEvents bool
	Predicate         Predicate
}

// Watcher is one open watch. Its channel is closed after Stop, after the
// context given to Watch ends, after an Error event, or when the store shuts
// down.
type Watcher interface {
	ResultChan() <-chan Event
	// RequestProgress asks for a Bookmark event, delivered in order: every
	// matching change up to its Revision has been delivered before it.
	RequestProgress()
	Stop()
}

// Event is one change seen by one watcher. With selectors, an object that
// starts matching arrives as Added, one that stops matching as Deleted
// (its previous state at the new revision), as Kubernetes does.
type Event struct {
	Type     watch.EventType // Added, Modified, Deleted, Bookmark or Error
	Revision int64
	// Object is the state to send: the new state, or for Deleted the last
	// state at the deletion revision. Nil for Bookmark and Error.
	Object *Record
	// InitialEventsEnd marks the Bookmark that ends the initial events.
	InitialEventsEnd bool
	// Err is set for Error events (for example ErrCompacted).
	Err error
}

// Codec turns objects into the bytes and attributes a Record holds. The
// server provides one that knows its kinds.
type Codec interface {
	// Encode returns the JSON of obj, with apiVersion and kind set.
	Encode(obj runtime.Object) ([]byte, error)
	// Decode parses data stored under key into a new object.
	Decode(key string, data []byte) (runtime.Object, error)
	// Attributes returns the labels and fields selectors match against.
	Attributes(obj runtime.Object) (labels.Set, fields.Set, error)
}
