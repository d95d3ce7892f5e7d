package etcdrun_test

import (
	"context"
	"fmt"
	"os"

	"github.com/kunos-io/listwatch/internal/etcdrun"
)

// Start a single-member etcd in a temporary directory, write and read a
// key through a client, and stop it.
func Example() {
	dir, _ := os.MkdirTemp("", "etcdrun-example-")
	defer os.RemoveAll(dir)
	m, err := etcdrun.Start(etcdrun.Options{DataDir: dir, FastElection: true, LogLevel: "fatal"})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	cli, err := etcdrun.NewClient(etcdrun.ClientOptions{Endpoints: []string{m.ClientURL}})
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	ctx := context.Background()
	if _, err := cli.Put(ctx, "/greeting", "hello"); err != nil {
		panic(err)
	}
	resp, err := cli.Get(ctx, "/greeting")
	if err != nil {
		panic(err)
	}
	fmt.Println(string(resp.Kvs[0].Value))
	// Output: hello
}
