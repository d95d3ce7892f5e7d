package e2e

import (
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/client"
)

// TestCacheConvergesAfterEmptyRestart: after the server restarts with an
// empty store, the reflector's watch from its old resourceVersion is
// answered 504 ResourceVersionTooLarge, which must reach the reflector at
// once (it relists) rather than after the client's retries of a 5xx with
// Retry-After: the chaos test found caches silently stale for ~10 s that
// way, and a job controller acting on them.
func TestCacheConvergesAfterEmptyRestart(t *testing.T) {
	opts := []stubtest.Option{stubtest.WithBookmarkInterval(chaosBookmark)}
	srv := stubtest.Start(t, opts...)
	c, err := client.New(&client.Config{Host: srv.URL, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	createTasks(t, client.For(c, kunosv1.Tasks), 0, 10)
	inf, rc := startTestInformer(t, c, 10*time.Second, true)
	srv.RestartEmpty(opts...)
	start := time.Now()
	for len(inf.Indexer().List()) != 0 {
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("cache still holds %d Tasks %s after the server lost them (stale %t, relists %v)",
				len(inf.Indexer().List()), d.Round(time.Millisecond), inf.Stale(), rc.snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("converged in %s", time.Since(start).Round(time.Millisecond))
}
