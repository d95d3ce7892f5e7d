package storage_test

import (
	"context"
	"fmt"
	"os"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"github.com/kunos-io/listwatch/internal/etcdrun"
)

// A watch with initial events sees the snapshot, the end bookmark, then
// every change in revision order; a list can read any retained revision.
// An empty store is at revision 1, so the first write is revision 2.
func Example() {
	ctx := context.Background()
	s := storage.NewMemoryStore(storage.MemoryConfig{Codec: testCodec{}})
	defer s.Close()

	created, _ := s.Create(ctx, "/tasks/default/build", task("default", "build", "", nil))
	w, _ := s.Watch(ctx, "/tasks/default/", storage.WatchOptions{SendInitialEvents: true})
	defer w.Stop()

	_, _ = s.Update(ctx, "/tasks/default/build", created.Revision, task("default", "build", "node-1", nil))
	_, _ = s.Delete(ctx, "/tasks/default/build", 0)

	for range 4 {
		ev := <-w.ResultChan()
		if ev.Object == nil {
			fmt.Println(ev.Type, ev.Revision, "initial-events-end:", ev.InitialEventsEnd)
			continue
		}
		fmt.Printf("%s %d %s node=%q\n", ev.Type, ev.Revision, ev.Object.Key, ev.Object.Fields().Get("spec.nodeName"))
	}

	old, _ := s.List(ctx, "/tasks/", storage.ListOptions{Revision: 3})
	now, _ := s.List(ctx, "/tasks/", storage.ListOptions{})
	fmt.Println("items at revision 3:", len(old.Items), "now:", len(now.Items), "at revision", now.Revision)
	// Output:
	// ADDED 2 /tasks/default/build node=""
	// BOOKMARK 2 initial-events-end: true
	// MODIFIED 3 /tasks/default/build node="node-1"
	// DELETED 4 /tasks/default/build node="node-1"
	// items at revision 3: 1 now: 0 at revision 4
}

// Two EtcdStores over one etcd and prefix are two replicas of one store: a
// write through one is watched through the other at the same revision.
func ExampleNewEtcdStore() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "storage-example-")
	defer os.RemoveAll(dir)
	member, err := etcdrun.Start(etcdrun.Options{DataDir: dir, FastElection: true, LogLevel: "fatal"})
	if err != nil {
		panic(err)
	}
	defer member.Close()
	cli, err := etcdrun.NewClient(etcdrun.ClientOptions{Endpoints: []string{member.ClientURL}})
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	replica := func() *storage.EtcdStore {
		s, err := storage.NewEtcdStore(storage.EtcdConfig{
			MemoryConfig: storage.MemoryConfig{Codec: testCodec{}},
			Client:       cli, Prefix: "/registry",
		})
		if err != nil {
			panic(err)
		}
		return s
	}
	a, b := replica(), replica()
	defer a.Close()
	defer b.Close()

	w, _ := b.Watch(ctx, "/tasks/default/", storage.WatchOptions{})
	defer w.Stop()
	created, _ := a.Create(ctx, "/tasks/default/build", task("default", "build", "", nil))
	ev := <-w.ResultChan()
	fmt.Println(ev.Type, ev.Revision == created.Revision)
	// Output: ADDED true
}
