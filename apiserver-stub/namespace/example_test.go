package namespace_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/deletion"
	"github.com/kunos-io/listwatch/apiserver-stub/namespace"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Deleting a Namespace marks it Terminating; the controller deletes its
// Tasks, then the Namespace.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	codec := server.NewCodec()
	store := storage.NewMemoryStore(storage.MemoryConfig{Codec: codec})
	defer store.Close()
	var hold deletion.HoldFunc
	for _, r := range server.Resources() {
		if r.GVR == server.NamespacesResource {
			hold = r.Hold
		}
	}
	nc, err := namespace.New(namespace.Config{
		Store: store, Codec: codec, Prefix: "/namespaces/", Hold: hold,
		Resources: []namespace.Resource{{Prefix: "/tasks/"}},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() { nc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	if err := server.EnsureNamespaces(ctx, store, "team"); err != nil {
		panic(err)
	}
	if _, err := store.Create(ctx, "/tasks/team/t", &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "team"}}); err != nil {
		panic(err)
	}
	res, err := deletion.Delete(ctx, store, codec, server.NamespaceKey("team"), deletion.Options{Hold: hold})
	if err != nil {
		panic(err)
	}
	fmt.Println("removed at once:", res.Removed)
	for i := 0; i < 1000; i++ {
		_, errNS := store.Get(ctx, server.NamespaceKey("team"), 0)
		_, errTask := store.Get(ctx, "/tasks/team/t", 0)
		if storage.IsNotFound(errNS) && storage.IsNotFound(errTask) {
			fmt.Println("namespace and task gone")
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Output:
	// removed at once: false
	// namespace and task gone
}
