package etcdtest

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunos-io/listwatch/internal/etcdrun"
)

// Start starts a single-member etcd in t.TempDir() on free loopback ports,
// closed by t.Cleanup.
func Start(t testing.TB) *etcdrun.Member {
	t.Helper()
	m, err := etcdrun.Start(etcdrun.Options{
		DataDir: t.TempDir(), FastElection: true, LogLevel: "fatal",
		ProgressNotifyInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("embedded etcd: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// LeakOptions are goleak options for packages whose tests run etcd.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	}
}
