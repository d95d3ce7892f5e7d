package client

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kunos-io/listwatch/cache"
)

// A *Resource[T] is itself a lister-watcher: it has the List and Watch
// methods of reflector.ListerWatcher[T], so it can be passed to
// reflector.New or informer.New as it is. This package does not import
// the reflector; the interface is satisfied structurally (checked in tests).

// ListerWatcher is a Resource whose list and watch options are adjusted
// before every request, e.g. to add a label selector. Build one with
// Resource.ListerWatcher.
type ListerWatcher[T cache.Object] struct {
	r     *Resource[T]
	tweak func(*metav1.ListOptions)
}

// ListerWatcher returns a lister-watcher of r's collection (in r's
// namespace) that applies tweak, if not nil, to a copy of the options of
// every list and watch, e.g. to set a label selector.
//
// Its List performs one request, i.e. one page when the options set a
// limit (the reflector follows metadata.continue itself, as client-go's
// reflector drives its pager); its Watch is Resource.Watch.
func (r *Resource[T]) ListerWatcher(tweak func(*metav1.ListOptions)) *ListerWatcher[T] {
	return &ListerWatcher[T]{r: r, tweak: tweak}
}

// List lists one page of the collection with the tweaked opts.
func (lw *ListerWatcher[T]) List(ctx context.Context, opts metav1.ListOptions) ([]T, metav1.ListMeta, error) {
	if lw.tweak != nil {
		lw.tweak(&opts)
	}
	return lw.r.List(ctx, opts)
}

// Watch watches the collection with the tweaked opts.
func (lw *ListerWatcher[T]) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	if lw.tweak != nil {
		lw.tweak(&opts)
	}
	return lw.r.Watch(ctx, opts)
}
