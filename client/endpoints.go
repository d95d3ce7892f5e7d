package client

// Server selection for several API server replicas (Config.Hosts).
//
// Invariant: requests go to the current endpoint while it is up. An
// endpoint is marked down for a cooldown when a request to it fails with a
// transport error or a 503, or when a watch stream from it breaks; while it
// is down, requests go to the next endpoint that is up, in configuration
// order, and the first one that answers becomes the current endpoint
// (sticky: the client does not round-robin and does not go back to the
// first endpoint when it recovers, only when the current one fails). When
// every endpoint is down, the one whose cooldown ends first is tried:
// selection never refuses to send a request.
//
// Nothing here is tied to a server's identity beyond its URL being
// reachable: resourceVersions are shared by all replicas, so a watch or a
// paged list resumes on any of them, and with a single URL (one server, or
// a load balancer whose backends change) selection always returns it.

import (
	"net/url"
	"sync/atomic"
	"time"
)

// Cooldown of an endpoint after consecutive failures: 1s, 2s, 4s, ... up
// to 30s; a success resets it.
const (
	endpointCooldownMin = time.Second
	endpointCooldownMax = 30 * time.Second
)

// endpoint is one API server URL.
type endpoint struct {
	index  int
	base   *url.URL
	host   string // base.String(), for logs and Client.Host
	origin string // scheme://host, the WebSocket Origin header

	failures  atomic.Int32 // consecutive failures; 0: up
	downUntil atomic.Int64 // unix nanoseconds; the endpoint is down before it
}

func newEndpoint(i int, base *url.URL) *endpoint {
	return &endpoint{index: i, base: base, host: base.String(), origin: base.Scheme + "://" + base.Host}
}

// fail marks e down for a cooldown that doubles with consecutive failures.
func (e *endpoint) fail(now time.Time) {
	n := e.failures.Add(1)
	d := endpointCooldownMax
	if n <= 5 { // 1s << 5 = 32s > max
		d = min(endpointCooldownMin<<(n-1), endpointCooldownMax)
	}
	e.downUntil.Store(now.Add(d).UnixNano())
}

// up reports whether e may be tried first at now.
func (e *endpoint) up(now int64) bool { return e.downUntil.Load() <= now }

// succeed marks e up again. It writes only when e was marked, so the hot
// path of a healthy client stays read-only.
func (e *endpoint) succeed() {
	if e.failures.Load() != 0 {
		e.failures.Store(0)
		e.downUntil.Store(0)
	}
}

// endpoints is the ordered set of a Client's servers and the sticky choice
// among them.
type endpoints struct {
	list []*endpoint
	cur  atomic.Int32 // index of the current endpoint
	now  func() time.Time
}

func newEndpoints(bases []*url.URL) *endpoints {
	es := &endpoints{list: make([]*endpoint, len(bases)), now: time.Now}
	for i, b := range bases {
		es.list[i] = newEndpoint(i, b)
	}
	return es
}

// current returns the endpoint requests go to first.
func (es *endpoints) current() *endpoint { return es.list[es.cur.Load()] }

// pick returns the endpoint for the next attempt of a request that has
// already tried those in tried: the current endpoint if it is up and
// untried, else the first untried endpoint after it that is up, else the
// untried one whose cooldown ends first. With every endpoint tried it
// starts over (the caller decides whether to retry at all).
func (es *endpoints) pick(tried *triedSet) *endpoint {
	n := len(es.list)
	if n == 1 {
		return es.list[0]
	}
	if tried.len() >= n {
		tried.reset()
	}
	now := es.now().UnixNano()
	start := int(es.cur.Load())
	var best *endpoint
	for k := 0; k < n; k++ {
		e := es.list[(start+k)%n]
		if tried.has(e.index) {
			continue
		}
		if e.up(now) {
			return e
		}
		if best == nil || e.downUntil.Load() < best.downUntil.Load() {
			best = e
		}
	}
	return best
}

// succeeded records that e answered. If the current endpoint is down, e
// becomes the current one; it reports whether that happened.
func (es *endpoints) succeeded(e *endpoint) (switched bool) {
	e.succeed()
	if len(es.list) == 1 {
		return false
	}
	cur := es.cur.Load()
	if int(cur) == e.index || es.list[cur].up(es.now().UnixNano()) {
		return false
	}
	return es.cur.CompareAndSwap(cur, int32(e.index))
}

// failed marks e down.
func (es *endpoints) failed(e *endpoint) { e.fail(es.now()) }

// hosts returns every endpoint's URL, in configuration order.
func (es *endpoints) hosts() []string {
	out := make([]string, len(es.list))
	for i, e := range es.list {
		out[i] = e.host
	}
	return out
}

// triedSet records which endpoints one request has tried in the current
// round of failover. The zero value is empty; it allocates only past 64
// endpoints.
type triedSet struct {
	bits  uint64
	more  map[int]struct{}
	count int
}

func (t *triedSet) has(i int) bool {
	if i < 64 {
		return t.bits&(1<<uint(i)) != 0
	}
	_, ok := t.more[i]
	return ok
}

func (t *triedSet) add(i int) {
	if t.has(i) {
		return
	}
	t.count++
	if i < 64 {
		t.bits |= 1 << uint(i)
		return
	}
	if t.more == nil {
		t.more = make(map[int]struct{})
	}
	t.more[i] = struct{}{}
}

func (t *triedSet) len() int { return t.count }

func (t *triedSet) reset() { *t = triedSet{} }
