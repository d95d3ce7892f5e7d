package garbagecollector_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/garbagecollector"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A Task owned by a Job that is gone is collected.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	codec := server.NewCodec()
	store := storage.NewMemoryStore(storage.MemoryConfig{Codec: codec})
	defer store.Close()
	gc, err := garbagecollector.New(garbagecollector.Config{
		Store: store, Codec: codec, Logger: slog.New(slog.DiscardHandler),
		Resources: []garbagecollector.Resource{
			{GVK: kunosv1.SchemeGroupVersion.WithKind("Job"), Prefix: "/jobs/", Namespaced: true},
			{GVK: kunosv1.SchemeGroupVersion.WithKind("Task"), Prefix: "/tasks/", Namespaced: true},
		},
	})
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() { gc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "default",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "kunos.io/v1", Kind: "Job", Name: "gone", UID: "uid-of-gone"}}}}
	if _, err := store.Create(ctx, "/tasks/default/t", task); err != nil {
		panic(err)
	}
	for i := 0; i < 1000; i++ {
		if _, err := store.Get(ctx, "/tasks/default/t", 0); storage.IsNotFound(err) {
			fmt.Println("collected")
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("still there")
	// Output: collected
}
