package client

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/reflector"
)

// ListerWatcher returns a reflector.ListerWatcher for r's collection (in
// r's namespace). tweak, if not nil, is applied to a copy of the options of
// every list and watch, e.g. to set a label selector.
//
// Its List performs one request, i.e. one page when the options set a
// limit (the reflector follows metadata.continue itself, as client-go's
// reflector drives its pager); its Watch is Resource.Watch.
func (r *Resource[T]) ListerWatcher(tweak func(*metav1.ListOptions)) reflector.ListerWatcher[T] {
	return &listerWatcher[T]{r: r, tweak: tweak}
}

type listerWatcher[T cache.Object] struct {
	r     *Resource[T]
	tweak func(*metav1.ListOptions)
}

func (lw *listerWatcher[T]) List(ctx context.Context, opts metav1.ListOptions) ([]T, metav1.ListMeta, error) {
	if lw.tweak != nil {
		lw.tweak(&opts)
	}
	return lw.r.List(ctx, opts)
}

func (lw *listerWatcher[T]) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	if lw.tweak != nil {
		lw.tweak(&opts)
	}
	return lw.r.Watch(ctx, opts)
}
