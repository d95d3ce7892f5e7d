package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/embed"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
)

// TestStandardCollectors: /metrics exports the Go runtime and process
// collectors, so that leaks (goroutines, file descriptors, memory) can be
// watched from outside, whether the server made its registry (embed,
// stubtest, or server.New without one).
func TestStandardCollectors(t *testing.T) {
	want := []string{"go_goroutines ", "go_memstats_heap_alloc_bytes ", "process_open_fds ", "process_resident_memory_bytes "}
	check := func(t *testing.T, url string) {
		t.Helper()
		res, err := http.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		for _, w := range want {
			if !strings.Contains(string(b), "\n"+w) {
				t.Errorf("%s/metrics lacks %q", url, w)
			}
		}
	}
	t.Run("stubtest", func(t *testing.T) { check(t, stubtest.Start(t).URL) })
	t.Run("private registry", func(t *testing.T) {
		store := storage.NewMemoryStore(storage.MemoryConfig{Codec: server.NewCodec()})
		defer store.Close()
		s, err := server.New(server.Config{Store: store})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(s)
		defer hs.Close()
		check(t, hs.URL)
	})
	t.Run("embed", func(t *testing.T) {
		srv, err := embed.Start(context.Background(), embed.Options{Config: server.Config{Logger: slog.New(slog.DiscardHandler)}, Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Stop(ctx)
		}()
		check(t, srv.URL)
	})
}
