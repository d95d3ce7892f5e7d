package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Options.
const (
	DefaultMaxConns    = 1024
	DefaultBufferSize  = 32 << 10
	DefaultDialTimeout = 5 * time.Second
)

// Options configure a Proxy. Zero values select the defaults.
type Options struct {
	// Listen is the address to listen on; it must be a loopback address
	// (default "127.0.0.1:0": a free port).
	Listen string
	// MaxConns bounds the connections open at once; a connection accepted
	// past it is reset at once (default DefaultMaxConns).
	MaxConns int
	// BufferSize is the size of the buffer of each direction of each
	// connection (default DefaultBufferSize).
	BufferSize int
	// DialTimeout bounds connecting to the target (default
	// DefaultDialTimeout); a connection whose dial fails is reset.
	DialTimeout time.Duration
}

// Direction names one way of a proxied connection.
type Direction int

const (
	// ToServer is the client-to-server direction.
	ToServer Direction = iota
	// ToClient is the server-to-client direction.
	ToClient
)

// String returns "to-server" or "to-client".
func (d Direction) String() string {
	if d == ToClient {
		return "to-client"
	}
	return "to-server"
}

// Stats counts what a Proxy did.
type Stats struct {
	// Accepted counts connections accepted, Rejected those reset at once
	// (MaxConns reached, refusing, or the target could not be dialled).
	Accepted, Rejected int64
	// Open is the number of connections open now.
	Open int
}

// Proxy forwards loopback TCP connections to a target and injects faults.
// All its methods are safe for concurrent use.
type Proxy struct {
	target string
	opts   Options
	ln     net.Listener
	ctx    context.Context // ended by Close: stops dials and delays
	cancel context.CancelFunc
	wg     sync.WaitGroup

	accepted, rejected atomic.Int64
	nextID             atomic.Uint64

	mu     sync.Mutex
	conns  map[uint64]*Conn
	stall  bool
	delay  time.Duration
	refuse bool
	closed bool
}

// New listens on opts.Listen and forwards every connection to target, a
// loopback "host:port".
func New(target string, opts Options) (*Proxy, error) {
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = DefaultBufferSize
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if err := checkLoopback(target); err != nil {
		return nil, fmt.Errorf("faultproxy: target: %w", err)
	}
	if err := checkLoopback(opts.Listen); err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{target: target, opts: opts, ln: ln, ctx: ctx, cancel: cancel, conns: make(map[uint64]*Conn)}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// checkLoopback accepts "host:port" where host is a loopback IP or
// "localhost".
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", addr)
	}
	return nil
}

// Addr is the address the proxy listens on, e.g. "127.0.0.1:41234".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is "http://" + Addr().
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Target is the address connections are forwarded to.
func (p *Proxy) Target() string { return p.target }

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	open := len(p.conns)
	p.mu.Unlock()
	return Stats{Accepted: p.accepted.Load(), Rejected: p.rejected.Load(), Open: open}
}

// Conns returns the open connections, oldest first.
func (p *Proxy) Conns() []*Conn {
	p.mu.Lock()
	cs := make([]*Conn, 0, len(p.conns))
	for _, c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	slices.SortFunc(cs, func(a, b *Conn) int { return int(a.id) - int(b.id) })
	return cs
}

// CutAll cuts every open connection (see Conn.Cut) and returns how many.
func (p *Proxy) CutAll() int {
	cs := p.Conns()
	for _, c := range cs {
		c.Cut()
	}
	return len(cs)
}

// ResetAll resets every open connection (see Conn.Reset) and returns how
// many.
func (p *Proxy) ResetAll() int {
	cs := p.Conns()
	for _, c := range cs {
		c.Reset()
	}
	return len(cs)
}

// SetStall stalls (true) or resumes (false) every connection, open and
// future, on top of each connection's own Stall.
func (p *Proxy) SetStall(stall bool) {
	p.mu.Lock()
	p.stall = stall
	cs := make([]*Conn, 0, len(p.conns))
	for _, c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	for _, c := range cs {
		c.wake()
	}
}

// SetDelay adds d before every chunk forwarded on every connection, open
// and future, on top of each connection's own delay. 0 removes it.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = max(d, 0)
	p.mu.Unlock()
}

// SetRefuse makes the proxy reset every new connection at once (true), as
// a server that is down, or accept them again (false). Open connections
// are not touched.
func (p *Proxy) SetRefuse(refuse bool) {
	p.mu.Lock()
	p.refuse = refuse
	p.mu.Unlock()
}

// Close stops listening, closes every connection and returns once every
// goroutine of the proxy has ended. It may be called more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if already {
		p.wg.Wait()
		return nil
	}
	p.cancel()
	err := p.ln.Close()
	for _, c := range p.Conns() {
		c.Cut()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		cc, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient error (e.g. too many open files): wait a little
			// rather than spin.
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.accepted.Add(1)
		p.mu.Lock()
		reject := p.closed || p.refuse || len(p.conns) >= p.opts.MaxConns
		var c *Conn
		if !reject {
			c = &Conn{id: p.nextID.Add(1), p: p, client: cc.(*net.TCPConn), done: make(chan struct{}), changed: make(chan struct{})}
			p.conns[c.id] = c
		}
		p.mu.Unlock()
		if reject {
			p.rejected.Add(1)
			resetConn(cc)
			continue
		}
		p.wg.Add(1)
		go c.run()
	}
}

// state returns the global stall and delay.
func (p *Proxy) state() (bool, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stall, p.delay
}

func (p *Proxy) remove(c *Conn) {
	p.mu.Lock()
	delete(p.conns, c.id)
	p.mu.Unlock()
}

// resetConn closes c with an RST.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// Conn is one proxied connection: a client connection accepted by the
// proxy and the connection the proxy opened to the target for it.
type Conn struct {
	id     uint64
	p      *Proxy
	client *net.TCPConn

	mu        sync.Mutex
	server    *net.TCPConn // nil until dialled
	stall     bool
	delay     time.Duration
	halfClose [2]bool // by Direction: FIN sent that way, later data discarded
	closing   bool
	done      chan struct{} // closed once both sides are closed
	changed   chan struct{} // closed and replaced when stall or closing changes
	up, down  atomic.Int64
}

// ID numbers connections in the order they were accepted, from 1.
func (c *Conn) ID() uint64 { return c.id }

// Done is closed once the connection is closed on both sides.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Bytes returns the bytes forwarded so far to the server and to the client.
func (c *Conn) Bytes() (toServer, toClient int64) { return c.up.Load(), c.down.Load() }

// Cut closes both sides of the connection: each sees a clean close (FIN),
// whatever was in flight is lost. (The kernel sends an RST instead on a
// side whose bytes the proxy had not read yet.)
func (c *Conn) Cut() { c.shut(false) }

// Reset closes both sides of the connection with an RST (SO_LINGER 0).
func (c *Conn) Reset() { c.shut(true) }

// Stall stops forwarding in both directions (true), keeping both sides
// open, or resumes it (false). Data read meanwhile is held, not lost.
func (c *Conn) Stall(stall bool) {
	c.mu.Lock()
	c.stall = stall
	c.mu.Unlock()
	c.wake()
}

// SetDelay adds d before every chunk forwarded on this connection, in both
// directions; 0 removes it.
func (c *Conn) SetDelay(d time.Duration) {
	c.mu.Lock()
	c.delay = max(d, 0)
	c.mu.Unlock()
}

// HalfClose sends a FIN in direction dir only: with ToClient the client
// reads EOF while what it writes still reaches the server, whose later
// data is discarded; ToServer the reverse. Once both directions are closed
// the connection is.
func (c *Conn) HalfClose(dir Direction) {
	c.mu.Lock()
	if c.closing || c.halfClose[dir] {
		c.mu.Unlock()
		return
	}
	c.halfClose[dir] = true
	dst := c.client
	if dir == ToServer {
		dst = c.server
	}
	c.mu.Unlock()
	if dst != nil {
		_ = dst.CloseWrite()
	}
	c.wake()
}

// wake tells the connection's goroutines that its state changed.
func (c *Conn) wake() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// shut closes both sides, with an RST if reset.
func (c *Conn) shut(reset bool) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	server := c.server
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	closeFn := func(tc *net.TCPConn) { _ = tc.Close() }
	if reset {
		closeFn = func(tc *net.TCPConn) { resetConn(tc) }
	}
	closeFn(c.client)
	if server != nil {
		closeFn(server)
	}
}

// run dials the target and forwards both directions until both end.
func (c *Conn) run() {
	defer c.p.wg.Done()
	defer close(c.done)
	defer c.p.remove(c)
	d := net.Dialer{Timeout: c.p.opts.DialTimeout}
	sc, err := d.DialContext(c.p.ctx, "tcp", c.p.target)
	if err != nil {
		c.p.rejected.Add(1)
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		resetConn(c.client)
		return
	}
	c.mu.Lock()
	c.server = sc.(*net.TCPConn)
	closing := c.closing
	halfToServer := c.halfClose[ToServer]
	c.mu.Unlock()
	if closing { // cut or reset while dialling
		_ = sc.Close()
		return
	}
	if halfToServer {
		_ = c.server.CloseWrite()
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.pipe(ToClient, c.server, c.client, &c.down)
	}()
	c.pipe(ToServer, c.client, c.server, &c.up)
	wg.Wait()
	c.shut(false)
}

// pipe forwards src to dst, one read at a time, honouring stalls, delays
// and half-closes. On EOF it passes the FIN on; on any other error it
// closes the whole connection.
func (c *Conn) pipe(dir Direction, src, dst *net.TCPConn, count *atomic.Int64) {
	buf := make([]byte, c.p.opts.BufferSize)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			discard, ok := c.wait(dir)
			if !ok {
				return
			}
			if !discard {
				if _, err := dst.Write(buf[:n]); err != nil {
					c.shut(false)
					return
				}
				count.Add(int64(n))
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				c.mu.Lock()
				already := c.halfClose[dir]
				c.halfClose[dir] = true
				c.mu.Unlock()
				if !already {
					_ = dst.CloseWrite()
				}
				return
			}
			c.shut(false)
			return
		}
	}
}

// wait blocks while the connection is stalled, then sleeps the delay. It
// reports whether the chunk is to be discarded (the direction was
// half-closed) and false in ok once the connection is closing.
func (c *Conn) wait(dir Direction) (discard, ok bool) {
	for {
		gstall, gdelay := c.p.state()
		c.mu.Lock()
		closing, stall, delay, half, changed := c.closing, c.stall || gstall, c.delay+gdelay, c.halfClose[dir], c.changed
		c.mu.Unlock()
		switch {
		case closing:
			return false, false
		case half:
			return true, true
		case stall:
			select {
			case <-changed:
			case <-c.p.ctx.Done():
				return false, false
			}
			continue
		case delay > 0:
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-changed:
				t.Stop()
				continue // a stall, a close or a half-close may have come meanwhile
			case <-c.p.ctx.Done():
				t.Stop()
				return false, false
			}
		}
		return false, true
	}
}
