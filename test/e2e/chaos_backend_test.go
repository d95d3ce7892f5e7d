package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/embed"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/internal/etcdrun"
	"github.com/kunos-io/listwatch/internal/faultproxy"
)

// chaosBackend is the API the chaos run talks to: servers, and a
// fault-injecting proxy in front of each (the informers and the job
// controller go through the proxies; writers and checks go direct).
type chaosBackend interface {
	// proxied are the proxies' URLs, one per replica.
	proxied() []string
	// direct are the servers' own URLs.
	direct() []string
	proxies() []*faultproxy.Proxy
	// revision is the newest revision the backend knows of.
	revision() int64
	// faults are the backend's own faults (the proxy faults are common).
	faults() []chaosFault
	// heal ends every server-side fault still in force.
	heal()
	// close stops everything, waiting for it.
	close()
}

// chaosFault is one kind of fault. run injects it; a fault that lasts
// (a stall, a delay) starts its own end with chaosRun.later and returns.
// An exclusive fault runs alone: the lasting faults end first.
type chaosFault struct {
	name      string
	exclusive bool
	// rare faults are dealt in one round out of rareEvery only, in the
	// long mode: they take long and stop the writers.
	rare bool
	run  func(r *chaosRun) bool // false: nothing to inject it on
}

// proxyFaults are the faults every backend has: on its proxies.
func proxyFaults() []chaosFault {
	pick := func(r *chaosRun) *faultproxy.Proxy {
		ps := r.be.proxies()
		return ps[r.rng.IntN(len(ps))]
	}
	// pickConn picks a connection of any proxy.
	pickConn := func(r *chaosRun) *faultproxy.Conn {
		var cs []*faultproxy.Conn
		for _, p := range r.be.proxies() {
			cs = append(cs, p.Conns()...)
		}
		if len(cs) == 0 {
			return nil
		}
		return cs[r.rng.IntN(len(cs))]
	}
	return []chaosFault{
		{name: "conn-cut", run: func(r *chaosRun) bool {
			c := pickConn(r)
			if c != nil {
				c.Cut()
			}
			return c != nil
		}},
		{name: "conn-reset", run: func(r *chaosRun) bool {
			c := pickConn(r)
			if c != nil {
				c.Reset()
			}
			return c != nil
		}},
		{name: "conn-halfclose", run: func(r *chaosRun) bool {
			c := pickConn(r)
			if c != nil {
				c.HalfClose(faultproxy.Direction(r.rng.IntN(2)))
			}
			return c != nil
		}},
		{name: "conn-stall", run: func(r *chaosRun) bool {
			// A few connections go silent for longer than the watchdog,
			// then resume or are cut.
			var cs []*faultproxy.Conn
			for _, p := range r.be.proxies() {
				cs = append(cs, p.Conns()...)
			}
			r.rng.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
			cs = cs[:min(len(cs), 3)]
			for _, c := range cs {
				c.Stall(true)
			}
			cut := r.rng.IntN(2) == 0
			r.later(chaosStall, func() {
				for _, c := range cs {
					if cut {
						c.Cut()
					} else {
						c.Stall(false)
					}
				}
			})
			return len(cs) > 0
		}},
		{name: "proxy-cut-all", run: func(r *chaosRun) bool { pick(r).CutAll(); return true }},
		{name: "proxy-reset-all", run: func(r *chaosRun) bool { pick(r).ResetAll(); return true }},
		{name: "proxy-stall", run: func(r *chaosRun) bool {
			// Every connection through every proxy, new ones too: a
			// partition that drops packets without a word; every watch
			// must be restarted by its watchdog.
			// (A watch request sent meanwhile waits for its response
			// headers until the stall ends: no watchdog covers that wait.)
			for _, p := range r.be.proxies() {
				p.SetStall(true)
			}
			r.later(chaosStall, func() {
				for _, p := range r.be.proxies() {
					p.SetStall(false)
				}
			})
			return true
		}},
		{name: "proxy-delay", run: func(r *chaosRun) bool {
			p := pick(r)
			p.SetDelay(time.Duration(1+r.rng.IntN(30)) * time.Millisecond)
			r.later(2*time.Second, func() { p.SetDelay(0) })
			return true
		}},
		{name: "proxy-refuse", run: func(r *chaosRun) bool {
			// The server is unreachable through this proxy for a while:
			// clients with two URLs fail over.
			p := pick(r)
			p.SetRefuse(true)
			p.ResetAll()
			r.later(time.Second, func() { p.SetRefuse(false) })
			return true
		}},
	}
}

// newProxies starts a proxy to each target and returns them with their
// URLs.
func newProxies(tb testing.TB, targets ...string) ([]*faultproxy.Proxy, []string) {
	tb.Helper()
	var ps []*faultproxy.Proxy
	var urls []string
	for _, target := range targets {
		p, err := faultproxy.New(strings.TrimPrefix(target, "http://"), faultproxy.Options{})
		if err != nil {
			for _, p := range ps {
				p.Close()
			}
			tb.Fatal(err)
		}
		ps = append(ps, p)
		urls = append(urls, p.URL())
	}
	return ps, urls
}

// memoryBackend is one stubtest server behind two proxies: two URLs of one
// server, so that the clients' failover between URLs is exercised too.
type memoryBackend struct {
	srv   *stubtest.Server
	opts  []stubtest.Option
	px    []*faultproxy.Proxy
	pxURL []string
}

func startMemoryBackend(t *testing.T, cfg chaosConfig) *memoryBackend {
	// History for a few seconds of writes: older watches relist, as they
	// would after a compaction.
	opts := []stubtest.Option{
		stubtest.WithBookmarkInterval(chaosBookmark),
		stubtest.WithHistory(max(5000, int(cfg.rate*20))),
		stubtest.WithNamespaces(append([]string{jobNamespace}, chaosNamespaces...)...),
	}
	b := &memoryBackend{srv: stubtest.Start(t, opts...), opts: opts}
	b.px, b.pxURL = newProxies(t, b.srv.URL, b.srv.URL)
	return b
}

func (b *memoryBackend) proxied() []string            { return b.pxURL }
func (b *memoryBackend) direct() []string             { return []string{b.srv.URL} }
func (b *memoryBackend) proxies() []*faultproxy.Proxy { return b.px }
func (b *memoryBackend) revision() int64              { return b.srv.Store().CurrentRevision() }

func (b *memoryBackend) faults() []chaosFault {
	return []chaosFault{
		{name: "server-drop-watches", run: func(r *chaosRun) bool { b.srv.DropWatches(); return true }},
		{name: "server-stall-watches", exclusive: true, run: func(r *chaosRun) bool {
			r.stallWatches(b.srv.StallWatches)
			return true
		}},
		{name: "compact", run: func(r *chaosRun) bool {
			return r.compactBehind(func(ctx context.Context, rev int64) error {
				b.srv.Compact()
				return nil
			})
		}},
		{name: "server-restart", exclusive: true, run: func(r *chaosRun) bool { b.srv.Restart(); return true }},
		{name: "server-restart-empty", exclusive: true, rare: true, run: func(r *chaosRun) bool {
			r.restartEmpty(func() { b.srv.RestartEmpty(b.opts...) })
			return true
		}},
	}
}

func (b *memoryBackend) heal() { b.srv.StallWatches(false) }

func (b *memoryBackend) close() {
	for _, p := range b.px {
		p.Close()
	}
	b.srv.Close()
}

// etcdBackend is an embedded 3-member etcd cluster with two server
// replicas over it, each behind its proxy.
type etcdBackend struct {
	t       *testing.T
	cluster *etcdrun.Cluster
	history int

	mu       sync.Mutex
	replicas []*embed.Server
	addrs    []string // each replica's listen address, kept across kills
	px       []*faultproxy.Proxy
	pxURL    []string
}

func startEtcdBackend(t *testing.T, cfg chaosConfig) *etcdBackend {
	t.Helper()
	cl, err := etcdrun.StartCluster(etcdrun.ClusterOptions{Dir: t.TempDir(), Member: etcdrun.Options{FastElection: true, LogLevel: "fatal"}})
	if err != nil {
		t.Fatalf("etcd cluster: %v", err)
	}
	b := &etcdBackend{t: t, cluster: cl, history: max(5000, int(cfg.rate*20))}
	for i := range 2 {
		s, err := b.startReplica("127.0.0.1:0")
		if err != nil {
			b.close()
			t.Fatalf("replica %d: %v", i, err)
		}
		b.replicas = append(b.replicas, s)
		b.addrs = append(b.addrs, strings.TrimPrefix(s.URL, "http://"))
	}
	if err := server.EnsureNamespaces(context.Background(), b.replicas[0].Store(), append([]string{jobNamespace}, chaosNamespaces...)...); err != nil {
		b.close()
		t.Fatalf("namespaces: %v", err)
	}
	b.px, b.pxURL = newProxies(t, b.direct()...)
	return b
}

func (b *etcdBackend) startReplica(listen string) (*embed.Server, error) {
	return embed.Start(context.Background(), embed.Options{
		Config:  server.Config{BookmarkInterval: chaosBookmark, Logger: slog.New(slog.DiscardHandler)},
		Listen:  listen,
		History: b.history,
		Etcd:    embed.EtcdOptions{Servers: b.cluster.Endpoints(), Prefix: "/chaos"},
	})
}

func (b *etcdBackend) proxied() []string { return b.pxURL }

func (b *etcdBackend) direct() []string {
	var urls []string
	for _, a := range b.addrs {
		urls = append(urls, "http://"+a)
	}
	return urls
}

func (b *etcdBackend) proxies() []*faultproxy.Proxy { return b.px }

func (b *etcdBackend) replica(i int) *embed.Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.replicas[i]
}

func (b *etcdBackend) revision() int64 {
	var rev int64
	for i := range b.addrs {
		if s := b.replica(i); s != nil {
			rev = max(rev, s.Store().CurrentRevision())
		}
	}
	return rev
}

func (b *etcdBackend) faults() []chaosFault {
	pick := func(r *chaosRun) (int, *embed.Server) {
		i := r.rng.IntN(len(b.addrs))
		return i, b.replica(i)
	}
	return []chaosFault{
		{name: "compact", run: func(r *chaosRun) bool {
			return r.compactBehind(func(ctx context.Context, rev int64) error {
				// etcd (once for all) and each replica's watch caches, which
				// must have dropped their history too before clients are
				// back.
				for i := range b.addrs {
					st := b.replica(i).Store()
					if err := st.Compact(ctx, rev); err != nil {
						return err
					}
					es, ok := st.(*storage.EtcdStore)
					if !ok {
						continue
					}
					waitUntil(ctx, func() bool {
						for _, c := range es.CacheStats() {
							if c.Compacted < rev {
								return false
							}
						}
						return true
					})
				}
				return nil
			})
		}},
		{name: "replica-drop-watches", run: func(r *chaosRun) bool {
			_, s := pick(r)
			s.API().DropWatches()
			return true
		}},
		{name: "server-stall-watches", exclusive: true, run: func(r *chaosRun) bool {
			// Every watch of both replicas.
			var ss []*embed.Server
			for i := range b.addrs {
				ss = append(ss, b.replica(i))
			}
			r.stallWatches(func(stall bool) {
				for _, s := range ss {
					s.API().StallWatches(stall)
				}
			})
			return true
		}},
		{name: "etcd-leader-kill", exclusive: true, run: func(r *chaosRun) bool {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			leader, err := b.cluster.WaitLeader(ctx)
			if err != nil {
				r.st.t.Logf("chaos: no etcd leader: %v", err)
				return false
			}
			b.cluster.Stop(leader)
			sleepCtx(r.ctx, time.Duration(500+r.rng.IntN(1500))*time.Millisecond)
			if err := b.cluster.Restart(leader); err != nil {
				r.st.t.Fatalf("chaos: restart etcd member %d: %v", leader, err)
			}
			return true
		}},
		{name: "replica-kill", exclusive: true, run: func(r *chaosRun) bool {
			i, s := pick(r)
			// The process dies: its clients' connections break (through
			// the proxy, which refuses meanwhile), then it is gone.
			p := b.px[i]
			p.SetRefuse(true)
			p.ResetAll()
			stopReplica(s, 200*time.Millisecond)
			sleepCtx(r.ctx, time.Duration(300+r.rng.IntN(1200))*time.Millisecond)
			var ns *embed.Server
			var err error
			for range 100 { // the address may take a moment to be free again
				if ns, err = b.startReplica(b.addrs[i]); err == nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				r.st.t.Fatalf("chaos: restart replica %d: %v", i, err)
			}
			b.mu.Lock()
			b.replicas[i] = ns
			b.mu.Unlock()
			p.SetRefuse(false)
			return true
		}},
	}
}

// stopReplica stops s, leaving it at most grace to end cleanly.
func stopReplica(s *embed.Server, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	_ = s.Stop(ctx)
	<-s.Done()
}

func (b *etcdBackend) heal() {
	for i := range b.addrs {
		if s := b.replica(i); s != nil {
			s.API().StallWatches(false)
		}
	}
}

func (b *etcdBackend) close() {
	for _, p := range b.px {
		p.Close()
	}
	b.mu.Lock()
	rs := b.replicas
	b.replicas = nil
	b.mu.Unlock()
	for _, s := range rs {
		stopReplica(s, 5*time.Second)
	}
	b.cluster.Close()
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// startChaosBackend starts the named backend.
func startChaosBackend(t *testing.T, cfg chaosConfig, name string) (chaosBackend, error) {
	switch name {
	case "memory":
		return startMemoryBackend(t, cfg), nil
	case "etcd":
		return startEtcdBackend(t, cfg), nil
	}
	return nil, errors.New("unknown backend " + name)
}

// shuffledDeck deals every fault kind once per round, in a new random
// order each round, so that every kind fires in a short run.
type shuffledDeck struct {
	long  bool
	kinds []chaosFault
	next  int
	rng   *rand.Rand
	round int
}

func (d *shuffledDeck) deal() chaosFault {
	for {
		if d.next == 0 {
			d.rng.Shuffle(len(d.kinds), func(i, j int) { d.kinds[i], d.kinds[j] = d.kinds[j], d.kinds[i] })
		}
		f := d.kinds[d.next]
		d.next++
		round := d.round
		if d.next == len(d.kinds) {
			d.next = 0
			d.round++
		}
		if !f.rare || !d.long || round%rareEvery == 0 {
			return f
		}
	}
}

// rareEvery: in the long mode, rare faults come once every rareEvery rounds.
const rareEvery = 4

func (d *shuffledDeck) String() string {
	return fmt.Sprintf("round %d, %d/%d", d.round, d.next, len(d.kinds))
}
