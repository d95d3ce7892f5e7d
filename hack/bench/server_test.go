package bench

// The API server (apiserver-stub/server) against unmodified client-go
// v0.37 beyond the dynamic informer of compat_test.go: the metadata
// informer (PartialObjectMetadata), the pager across writes and
// compaction, and client-go's classification of every error Status.

import (
	"context"
	"fmt"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/pager"
)

func TestServerWithClientGoMetadataInformer(t *testing.T) {
	for _, watchList := range []bool{true, false} {
		t.Run(fmt.Sprintf("watchList=%v", watchList), func(t *testing.T) {
			clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, watchList)
			srv := stubtest.Start(t, stubtest.WithNamespaces("m"))
			cfg := &rest.Config{Host: srv.URL, QPS: -1}
			dyn, _ := dynamic.NewForConfig(cfg)
			tasks := dyn.Resource(kunosv1.Tasks.GVR).Namespace("m")
			ctx := context.Background()
			if _, err := tasks.Create(ctx, newTask("m", "a"), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			mc, err := metadata.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			f := metadatainformer.NewFilteredSharedInformerFactory(mc, 0, "m", nil)
			inf := f.ForResource(kunosv1.Tasks.GVR).Informer()
			runCtx, cancel := context.WithCancel(ctx)
			t.Cleanup(func() { cancel(); f.Shutdown() })
			f.Start(runCtx.Done())
			syncCtx, syncCancel := context.WithTimeout(ctx, 20*time.Second)
			defer syncCancel()
			if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
				t.Fatal("metadata informer did not sync")
			}
			if _, err := tasks.Create(ctx, newTask("m", "b"), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 15*time.Second, true, func(context.Context) (bool, error) {
				return len(inf.GetStore().ListKeys()) == 2, nil
			})
			if err != nil {
				t.Fatalf("metadata informer keys %v", inf.GetStore().ListKeys())
			}
			o, _, _ := inf.GetStore().GetByKey("m/b")
			if pom, ok := o.(*metav1.PartialObjectMetadata); !ok || pom.Name != "b" || pom.Labels["app"] != "compat" {
				t.Fatalf("stored %T %+v", o, o)
			}
		})
	}
}

func TestServerWithClientGoPager(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithNamespaces("p"))
	dyn, _ := dynamic.NewForConfig(&rest.Config{Host: srv.URL, QPS: -1})
	tasks := dyn.Resource(kunosv1.Tasks.GVR).Namespace("p")
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		if _, err := tasks.Create(ctx, newTask("p", fmt.Sprintf("t%02d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pages := 0
	p := pager.New(pager.SimplePageFunc(func(opts metav1.ListOptions) (runtime.Object, error) {
		pages++
		if pages == 2 {
			// Writes and a compaction between pages: page 2 is 410
			// Expired and the pager falls back to one full list.
			if _, err := tasks.Create(ctx, newTask("p", "late"), metav1.CreateOptions{}); err != nil {
				return nil, err
			}
			srv.Compact()
		}
		return tasks.List(ctx, opts)
	}))
	p.PageSize = 10
	obj, _, err := p.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := meta.LenList(obj)
	if n != 26 || pages != 3 {
		t.Fatalf("pager saw %d items in %d requests", n, pages)
	}
}

func TestServerErrorsAsClientGoSeesThem(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithNamespaces("e"))
	dyn, _ := dynamic.NewForConfig(&rest.Config{Host: srv.URL, QPS: -1})
	tasks := dyn.Resource(kunosv1.Tasks.GVR).Namespace("e")
	ctx := context.Background()
	created, err := tasks.Create(ctx, newTask("e", "a"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, err error, is func(error) bool) {
		t.Helper()
		if !is(err) {
			t.Errorf("%s: client-go saw %v (reason %q)", name, err, apierrors.ReasonForError(err))
		}
	}
	_, err = tasks.Get(ctx, "nope", metav1.GetOptions{})
	check("get missing", err, apierrors.IsNotFound)
	_, err = tasks.Create(ctx, newTask("e", "a"), metav1.CreateOptions{})
	check("create existing", err, apierrors.IsAlreadyExists)
	stale := created.DeepCopy()
	created.SetLabels(map[string]string{"changed": "yes"})
	if _, err := tasks.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stale.SetLabels(map[string]string{"x": "y"})
	_, err = tasks.Update(ctx, stale, metav1.UpdateOptions{})
	check("stale update", err, apierrors.IsConflict)
	bad := newTask("e", "Bad_Name")
	_, err = tasks.Create(ctx, bad, metav1.CreateOptions{})
	check("invalid name", err, apierrors.IsInvalid)
	_, err = tasks.Patch(ctx, "a", types.StrategicMergePatchType, []byte(`{}`), metav1.PatchOptions{})
	check("strategic merge patch", err, apierrors.IsUnsupportedMediaType)
	_, err = tasks.List(ctx, metav1.ListOptions{FieldSelector: "spec.image=x"})
	check("unsupported field selector", err, apierrors.IsBadRequest)
	srv.Compact()
	_, err = tasks.List(ctx, metav1.ListOptions{ResourceVersion: "1", ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	check("compacted exact list", err, apierrors.IsResourceExpired)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond) // skip client-go's Retry-After retries
	defer cancel()
	_, err = tasks.List(short, metav1.ListOptions{ResourceVersion: "999999"})
	if !apierrors.IsTimeout(err) && !apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) && short.Err() == nil {
		t.Errorf("future resourceVersion: %v", err)
	}
	w, err := tasks.Watch(ctx, metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	ev := <-w.ResultChan()
	w.Stop()
	if st, ok := ev.Object.(*metav1.Status); !ok || st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
		t.Errorf("watch from a compacted revision: %v %#v", ev.Type, ev.Object)
	}
}
