package controller

// This file serves the manager's HTTP endpoints. Invariant: /readyz is 200
// only while Start runs and every informer the manager's factory started
// and every informer a controller reads has synced; leadership does not
// matter (a standby with warm caches is ready to take over).

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	"github.com/kunos-io/listwatch/metrics"
)

// Handler serves /metrics (the Gatherer's metrics), /healthz (200 while
// the process answers) and /readyz (see Ready), for mounting on a server
// of your own; with MetricsAddr, Start serves it.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	if m.gatherer != nil {
		mux.Handle("/metrics", metrics.Handler(m.gatherer))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("/readyz", m.serveReadyz)
	return mux
}

// Ready reports whether Start is running and every cache the manager and
// its controllers use has synced and is not known to be stale.
func (m *Manager) Ready() bool { return len(m.notReady()) == 0 }

// notReady returns why the manager is not ready, one reason a line.
func (m *Manager) notReady() []string {
	if !m.running.Load() {
		return []string{"manager not running"}
	}
	var why []string
	if !m.factory.Synced() {
		// The factory's own check names the informers.
		rec := httptest.NewRecorder()
		m.factory.ReadyzHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != http.StatusOK {
			why = append(why, strings.TrimSpace(rec.Body.String()))
		}
	}
	m.mu.Lock()
	ctrls := slices.Clone(m.controllers)
	m.mu.Unlock()
	for _, c := range ctrls {
		if !c.synced() {
			why = append(why, "controller "+c.name+": informers not synced or stale")
		}
	}
	return why
}

func (m *Manager) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	why := m.notReady()
	if len(why) == 0 {
		plain(w, http.StatusOK, "ok\n")
		return
	}
	plain(w, http.StatusServiceUnavailable, strings.Join(why, "\n")+"\n")
}

func plain(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprint(w, body)
}
