package embed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure an embedded server. Zero values take the defaults noted.
type Options struct {
	// Listen is the TCP address; default 127.0.0.1:8080, port 0 picks one.
	Listen string
	// History is the number of events kept for watch replay; default 10000.
	History int
	// CompactInterval is how often history older than MaxHistoryAge is
	// compacted; default 1m. MaxHistoryAge defaults to 5m.
	CompactInterval time.Duration
	MaxHistoryAge   time.Duration
	// BookmarkInterval is the period of BOOKMARK events; default 1m.
	BookmarkInterval time.Duration
	// MaxBodyBytes caps request bodies; default 3 MiB.
	MaxBodyBytes int64
	// Registry receives the server metrics; default a new registry.
	Registry *prometheus.Registry
	Logger   *slog.Logger
}

// Server is a running embedded API server.
type Server struct {
	// URL is the base URL clients use, e.g. http://127.0.0.1:8080.
	URL string
	// Registry holds the server's metrics.
	Registry *prometheus.Registry

	api   *server.Server
	store *storage.MemoryStore
	http  *http.Server
	done  chan error
}

// Start listens and serves until ctx ends or Stop is called.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:8080"
	}
	if opts.History == 0 {
		opts.History = 10000
	}
	if opts.CompactInterval == 0 {
		opts.CompactInterval = time.Minute
	}
	if opts.MaxHistoryAge == 0 {
		opts.MaxHistoryAge = 5 * time.Minute
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("embed: listen on %s: %w", opts.Listen, err)
	}
	hooks, err := server.StorageHooks(opts.Registry)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("embed: storage metrics: %w", err)
	}
	store := storage.NewMemoryStore(storage.MemoryConfig{
		Codec:           server.NewCodec(),
		HistoryLimit:    opts.History,
		CompactInterval: opts.CompactInterval,
		MaxHistoryAge:   opts.MaxHistoryAge,
		Logger:          opts.Logger,
		Hooks:           hooks,
	})
	api, err := server.New(server.Config{
		Store:            store,
		BookmarkInterval: opts.BookmarkInterval,
		MaxBodyBytes:     opts.MaxBodyBytes,
		Logger:           opts.Logger,
		Registry:         opts.Registry,
	})
	if err != nil {
		ln.Close()
		store.Close()
		return nil, fmt.Errorf("embed: %w", err)
	}
	s := &Server{
		URL:      "http://" + ln.Addr().String(),
		Registry: opts.Registry,
		api:      api,
		store:    store,
		http:     &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second},
		done:     make(chan error, 1),
	}
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	go func() {
		<-ctx.Done()
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Stop(stopCtx)
	}()
	return s, nil
}

// API returns the HTTP handler, for fault injection (DropWatches, StallWatches).
func (s *Server) API() *server.Server { return s.api }

// Store returns the storage the server serves.
func (s *Server) Store() storage.Interface { return s.store }

// Stop ends open watches cleanly, stops serving and closes the store. It is
// safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	_ = s.api.Shutdown(ctx)
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
	}
	s.store.Close()
	return err
}

// Done delivers the HTTP server's result once, when it stops serving: nil
// after Stop, or the error that ended it.
func (s *Server) Done() <-chan error { return s.done }
