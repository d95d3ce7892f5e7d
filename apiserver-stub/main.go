// Command apiserver-stub serves the kunos.io/v1 API (Nodes, Tasks, Jobs) with
// the Kubernetes REST and watch protocol over an in-memory MVCC store, so that
// kubectl, client-go informers and listwatch controllers can run against it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/embed"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "apiserver-stub:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		listen           = flag.String("listen", "127.0.0.1:8080", "address to serve on (port 0 picks a free one)")
		history          = flag.Int("history", 10000, "number of events kept for watch replay; older watches and exact-RV lists get 410")
		compactInterval  = flag.Duration("compact-interval", time.Minute, "how often history older than --max-history-age is compacted")
		maxHistoryAge    = flag.Duration("max-history-age", 5*time.Minute, "age beyond which history is compacted")
		bookmarkInterval = flag.Duration("bookmark-interval", time.Minute, "period of BOOKMARK events on watches that allow them")
		maxBodyBytes     = flag.Int64("max-body-bytes", 3<<20, "largest request body accepted (413 beyond)")
		logLevel         = flag.String("log-level", "info", "debug, info, warn or error")
	)
	flag.Parse()
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := embed.Start(ctx, embed.Options{
		Listen:           *listen,
		History:          *history,
		CompactInterval:  *compactInterval,
		MaxHistoryAge:    *maxHistoryAge,
		BookmarkInterval: *bookmarkInterval,
		MaxBodyBytes:     *maxBodyBytes,
		Logger:           logger,
	})
	if err != nil {
		return err
	}
	fmt.Printf("listwatch apiserver-stub serving on %s\n", srv.URL)
	fmt.Printf("try: kubectl --server %s get tasks,jobs,nodes -A\n", srv.URL)
	fmt.Printf("metrics: %s/metrics\n", srv.URL)
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Stop(stopCtx)
	case err := <-srv.Done():
		return err
	}
}
