package deletion_test

import (
	"context"
	"fmt"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/deletion"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// A foreground delete marks the Job (deletionTimestamp, the
// foregroundDeletion finalizer, generation bumped); removing the finalizer
// then removes it.
func Example() {
	ctx := context.Background()
	codec := server.NewCodec()
	store := storage.NewMemoryStore(storage.MemoryConfig{Codec: codec})
	defer store.Close()
	key := "/jobs/default/j"
	job := &kunosv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "default", Generation: 1}}
	if _, err := store.Create(ctx, key, job); err != nil {
		panic(err)
	}
	res, err := deletion.Delete(ctx, store, codec, key, deletion.Options{Policy: metav1.DeletePropagationForeground})
	if err != nil {
		panic(err)
	}
	marked := res.Object.(*kunosv1.Job)
	fmt.Println(res.Removed, marked.Finalizers, marked.DeletionTimestamp != nil, marked.Generation)

	_, removed, err := deletion.Mutate(ctx, store, codec, key, nil, func(_ runtime.Object, acc metav1.Object) (bool, error) {
		acc.SetFinalizers(nil)
		return true, nil
	})
	fmt.Println(removed, err)
	// Output:
	// false [foregroundDeletion] true 2
	// true <nil>
}
