package storage_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
)

func TestEtcdSmoke(t *testing.T) {
	ctx := context.Background()
	st := newEtcdStore(t, storage.EtcdConfig{})
	a := mustCreate(t, st, "ns", "a", "n1", nil)
	w, err := st.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: a.Revision})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	b := mustUpdate(t, st, "ns", "a", "n2", nil)
	d, err := st.Delete(ctx, taskKey("ns", "a"), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		typ watch.EventType
		rev int64
	}{{watch.Modified, b.Revision}, {watch.Deleted, d.Revision}} {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != want.typ || ev.Revision != want.rev {
				t.Fatalf("got %s@%d, want %s@%d", ev.Type, ev.Revision, want.typ, want.rev)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", want.typ)
		}
	}
	res, err := st.List(ctx, "/tasks/", storage.ListOptions{Revision: b.Revision})
	if err != nil || len(res.Items) != 1 || res.Items[0].Revision != b.Revision {
		t.Fatalf("list at %d: %+v %v", b.Revision, res, err)
	}
	if rvOf(t, d) != strconv.FormatInt(d.Revision, 10) {
		t.Fatalf("deletion record rv %s, want %d", rvOf(t, d), d.Revision)
	}
}
