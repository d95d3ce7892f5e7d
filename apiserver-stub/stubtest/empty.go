package stubtest

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/kunos-io/listwatch/internal/controlplane"
)

// RestartEmpty is Restart with a server that lost everything: every
// connection is cut, the store is dropped and a new, empty one, with its
// revision back at the start, is served on the same address, as a server
// that restarts without its data. Clients holding a resourceVersion of the
// old store find the new one behind it (504 ResourceVersionTooLarge).
//
// opts configure the new server as in Start (pass the same ones to keep
// the settings); Registry returns its new registry afterwards. Do not call
// it concurrently with the Server's other methods.
func (s *Server) RestartEmpty(opts ...Option) {
	s.tb.Helper()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.tb.Fatalf("stubtest: RestartEmpty after Close")
	}
	cfg := config{logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.closeConns() // first, so that watches break instead of ending cleanly
	_ = s.api.Shutdown(ctx)
	if s.ctrl != nil {
		s.ctrl.Stop()
		s.ctrl = nil
	}
	s.store.Close()

	store, api, reg := newBackend(s.tb, cfg)
	var err error
	if cfg.controllers {
		ctrl, err := controlplane.Start(store, cfg.logger)
		if err != nil {
			store.Close()
			s.tb.Fatalf("stubtest: %v", err)
		}
		s.mu.Lock()
		s.ctrl = ctrl
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.store, s.api, s.registry = store, api, reg
	s.mu.Unlock()
	var ln net.Listener
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.tb.Fatalf("stubtest: restart: listen on %s: %v", s.addr, err)
	}
	s.serve(ln)
}
