package reflector

import (
	"context"

	"github.com/kunos-io/listwatch/cache"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// ListerWatcher lists and watches one collection of T. client.Resource[T]
// provides one for a real server; tests may provide their own.
//
// A Watch whose options set SendInitialEvents=true must either stream the
// initial state followed by a BOOKMARK annotated
// metav1.InitialEventsAnnotationKey="true", or fail with an error that is
// not 410 or 429, so the reflector falls back to List.
type ListerWatcher[T cache.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (items []T, meta metav1.ListMeta, err error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// Sink receives what the reflector learns, in order, from a single goroutine.
// An informer plugs its store and delivery in here; a plain cache.Indexer[T]
// can be adapted with NewStoreSink.
type Sink[T cache.Object] interface {
	// Replace swaps the whole state for items, as of resourceVersion.
	Replace(items []T, resourceVersion string) error
	// Add applies an ADDED event.
	Add(obj T) error
	// Update applies a MODIFIED event.
	Update(obj T) error
	// Delete applies a DELETED event; obj is the last state with the
	// deletion's resourceVersion.
	Delete(obj T) error
	// Bookmark records that every event up to resourceVersion was applied.
	Bookmark(resourceVersion string)
}
