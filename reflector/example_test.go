package reflector_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/reflector"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// snapshotLW serves a fixed set of tasks the way a server that supports
// watch-list does: the ADDEDs, the initial-events-end bookmark, then
// silence. client.Resource[T].ListerWatcher provides the real thing.
type snapshotLW struct {
	items []*kunosv1.Task
	rv    string
}

func (s snapshotLW) List(context.Context, metav1.ListOptions) ([]*kunosv1.Task, metav1.ListMeta, error) {
	return slices.Clone(s.items), metav1.ListMeta{ResourceVersion: s.rv}, nil
}

func (s snapshotLW) Watch(_ context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	w := watch.NewFakeWithChanSize(len(s.items)+1, false)
	if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
		for _, it := range s.items {
			w.Add(it.DeepCopy())
		}
		w.Action(watch.Bookmark, &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{
			ResourceVersion: s.rv,
			Annotations:     map[string]string{metav1.InitialEventsAnnotationKey: "true"},
		}})
	}
	return w, nil
}

// A Reflector fills a cache.Indexer from a ListerWatcher and keeps it up to
// date until its context ends.
func Example() {
	lw := snapshotLW{rv: "42", items: []*kunosv1.Task{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "build", ResourceVersion: "40"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "test", ResourceVersion: "41"}},
	}}
	store := cache.NewIndexer[*kunosv1.Task](cache.MetaNamespaceKeyFunc, nil)
	r := reflector.New[*kunosv1.Task](lw, reflector.NewStoreSink(store), reflector.Options[*kunosv1.Task]{
		Name: "tasks",
		// Drop what the controller does not read before it is cached.
		Transform: func(t *kunosv1.Task) (*kunosv1.Task, error) {
			t.ManagedFields = nil
			return t, nil
		},
	})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	for !r.HasSynced() {
		time.Sleep(time.Millisecond)
	}
	keys := store.ListKeys()
	slices.Sort(keys)
	fmt.Println(keys, r.LastSyncResourceVersion())

	cancel()
	<-done // Run returns once its watch is stopped
	// Output: [default/build default/test] 42
}
