package storage_test

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"github.com/kunos-io/listwatch/internal/etcdrun"
)

// One embedded etcd serves every test of the package that needs one; each
// test gets its own key prefix, so tests share etcd's revisions (never
// contiguous for any one of them) but not their keys.
var sharedEtcd struct {
	once sync.Once
	dir  string
	m    *etcdrun.Member
	err  error
}

var prefixSeq atomic.Int64

func etcdMember(t testing.TB) *etcdrun.Member {
	t.Helper()
	sharedEtcd.once.Do(func() {
		dir, err := os.MkdirTemp("", "listwatch-etcd-")
		if err != nil {
			sharedEtcd.err = err
			return
		}
		sharedEtcd.dir = dir
		sharedEtcd.m, sharedEtcd.err = etcdrun.Start(etcdrun.Options{DataDir: dir, FastElection: true, LogLevel: "fatal", ProgressNotifyInterval: 200 * time.Millisecond})
	})
	if sharedEtcd.err != nil {
		t.Fatalf("embedded etcd: %v", sharedEtcd.err)
	}
	return sharedEtcd.m
}

func stopSharedEtcd() {
	if sharedEtcd.m != nil {
		sharedEtcd.m.Close()
	}
	if sharedEtcd.dir != "" {
		os.RemoveAll(sharedEtcd.dir)
	}
}

// newEtcdStore returns an EtcdStore over the shared etcd under a prefix of
// its own (or prefix, to share one with another store: a replica).
func newEtcdStore(t testing.TB, cfg storage.EtcdConfig, endpoints ...string) *storage.EtcdStore {
	t.Helper()
	if len(endpoints) == 0 {
		endpoints = []string{etcdMember(t).ClientURL}
	}
	cli, err := etcdrun.NewClient(etcdrun.ClientOptions{Endpoints: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Client = cli
	if cfg.Codec == nil {
		cfg.Codec = testCodec{}
	}
	if cfg.Prefix == "" {
		cfg.Prefix = fmt.Sprintf("/test-%d-%d", os.Getpid(), prefixSeq.Add(1))
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	st, err := storage.NewEtcdStore(cfg)
	if err != nil {
		cli.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		cli.Close()
	})
	return st
}
