package client_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/client"
)

// TestStubRandomWritesWatchConverges runs random concurrent writes (create,
// update, status update, patch, delete) and checks, for both transports:
// watch events arrive in strictly increasing resourceVersion order; every
// successful write shows up as an event with the RV the write returned;
// and the state rebuilt from the events equals a final list.
func TestStubRandomWritesWatchConverges(t *testing.T) {
	for _, tr := range []client.Transport{client.TransportHTTP, client.TransportWebSocket} {
		t.Run(tr.String(), func(t *testing.T) {
			seed := rand.Uint64()
			ctx := ctxFor(t)
			srv := stubtest.Start(t, stubtest.WithBookmarkInterval(50*time.Millisecond))
			c := newClient(t, srv.URL, tr)
			tasks := client.For(c, kunosv1.Tasks).Namespace("rnd")

			_, meta, err := tasks.List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w, err := tasks.Watch(ctx, metav1.ListOptions{ResourceVersion: meta.ResourceVersion, AllowWatchBookmarks: true})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()

			const writers, opsPerWriter, names = 3, 40, 6
			var mu sync.Mutex
			written := map[string]string{} // RV -> "TYPE name" of every successful write
			var wg sync.WaitGroup
			for g := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(seed, uint64(g)))
					for range opsPerWriter {
						name := "t" + strconv.Itoa(r.IntN(names))
						var obj *kunosv1.Task
						var typ watch.EventType
						var err error
						switch r.IntN(5) {
						case 0:
							typ = watch.Added
							obj, err = tasks.Create(ctx, task(name), metav1.CreateOptions{})
						case 1:
							typ = watch.Modified
							var cur *kunosv1.Task
							if cur, err = tasks.Get(ctx, name, metav1.GetOptions{}); err == nil {
								cur = cur.DeepCopy()
								cur.Spec.Image = fmt.Sprint(r.Int())
								obj, err = tasks.Update(ctx, cur, metav1.UpdateOptions{})
							}
						case 2:
							typ = watch.Modified
							var cur *kunosv1.Task
							if cur, err = tasks.Get(ctx, name, metav1.GetOptions{}); err == nil {
								cur = cur.DeepCopy()
								cur.Status.Message = fmt.Sprint(r.Int())
								obj, err = tasks.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
							}
						case 3:
							typ = watch.Modified
							obj, err = tasks.Patch(ctx, name, types.MergePatchType,
								[]byte(`{"metadata":{"labels":{"n":"`+strconv.Itoa(r.IntN(100))+`"}}}`), metav1.PatchOptions{})
						default:
							typ = watch.Deleted
							err = tasks.Delete(ctx, name, metav1.DeleteOptions{})
						}
						switch {
						case err == nil && obj != nil:
							mu.Lock()
							if _, dup := written[obj.ResourceVersion]; !dup || typ == watch.Added {
								written[obj.ResourceVersion] = string(typ) + " " + name
							}
							mu.Unlock()
						case err == nil, apierrors.IsNotFound(err), apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
							// Deletes return no RV; races between writers are expected.
						default:
							t.Errorf("seed %d: %s %s: %v", seed, typ, name, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			items, final, err := tasks.List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			finalRV, _ := strconv.ParseInt(final.ResourceVersion, 10, 64)

			state := map[string]string{} // name -> RV
			seen := map[string]string{}  // RV -> "TYPE name"
			var last int64
			for last < finalRV {
				var ev watch.Event
				select {
				case e, ok := <-w.ResultChan():
					if !ok {
						t.Fatalf("seed %d: watch closed at %d of %d", seed, last, finalRV)
					}
					ev = e
				case <-time.After(5 * time.Second):
					t.Fatalf("seed %d: stuck at RV %d of %d", seed, last, finalRV)
				}
				if ev.Type == watch.Error {
					t.Fatalf("seed %d: %v", seed, ev.Object)
				}
				o := ev.Object.(*kunosv1.Task)
				rv, _ := strconv.ParseInt(o.ResourceVersion, 10, 64)
				if ev.Type == watch.Bookmark {
					if rv < last {
						t.Fatalf("seed %d: bookmark %d after %d", seed, rv, last)
					}
					last = rv
					continue
				}
				if rv <= last {
					t.Fatalf("seed %d: %s at RV %d after %d", seed, ev.Type, rv, last)
				}
				last = rv
				seen[o.ResourceVersion] = string(ev.Type) + " " + o.Name
				if ev.Type == watch.Deleted {
					delete(state, o.Name)
				} else {
					state[o.Name] = o.ResourceVersion
				}
			}
			for rv, what := range written {
				got := seen[rv]
				// A write that changed nothing (a patch setting the same
				// label) returns the RV of the write before it, of any type.
				noop := strings.HasPrefix(what, "MODIFIED ") && strings.HasSuffix(got, " "+what[len("MODIFIED "):])
				if got != what && !noop {
					t.Fatalf("seed %d: write %q at RV %s seen as %q", seed, what, rv, got)
				}
			}
			var want, got []string
			for _, it := range items {
				want = append(want, it.Name+"@"+it.ResourceVersion)
			}
			for n, rv := range state {
				got = append(got, n+"@"+rv)
			}
			slices.Sort(want)
			slices.Sort(got)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("seed %d: state from events %v, list %v", seed, got, want)
			}
		})
	}
}
