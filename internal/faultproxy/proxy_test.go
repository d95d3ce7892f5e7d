package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer echoes every connection's bytes back until it closes, and
// records what each connection sent before its EOF.
type echoServer struct {
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
	ends  chan connEnd // how connections ended, if anyone reads them
	echo  bool
}

// connEnd is what a connection sent to the echo server and the read error
// that ended it (io.EOF for a FIN).
type connEnd struct {
	got string
	err error
}

// end waits for the next connection to end.
func (s *echoServer) end(t *testing.T) connEnd {
	t.Helper()
	select {
	case e := <-s.ends:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no server connection ended")
		return connEnd{}
	}
}

func startEcho(t *testing.T, echo bool) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, ends: make(chan connEnd, 16), echo: echo}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				var all strings.Builder
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					all.Write(buf[:n])
					if n > 0 && s.echo {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						end := connEnd{got: all.String(), err: err}
						select {
						case s.ends <- end:
						default: // nobody is looking (churn)
						}
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func startProxy(t *testing.T, target string, opts Options) *Proxy {
	t.Helper()
	p, err := New(target, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// waitConns waits until the proxy has n open connections and returns them.
func waitConns(t *testing.T, p *Proxy, n int) []*Conn {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cs := p.Conns(); len(cs) == n {
			return cs
		}
	}
	t.Fatalf("proxy has %d connections, want %d", len(p.Conns()), n)
	return nil
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Time{})
	if string(buf) != msg {
		t.Fatalf("echo %q, want %q", buf, msg)
	}
}

func TestForwardsBothWays(t *testing.T) {
	s := startEcho(t, true)
	p := startProxy(t, s.ln.Addr().String(), Options{})
	c := dial(t, p)
	for i := range 100 {
		roundTrip(t, c, strings.Repeat("x", i+1))
	}
	cs := waitConns(t, p, 1)
	// A client's FIN reaches the server, whose close ends the connection.
	_ = c.CloseWrite()
	if e := s.end(t); len(e.got) != 5050 || !errors.Is(e.err, io.EOF) {
		t.Fatalf("server got %d bytes, then %v", len(e.got), e.err)
	}
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	<-cs[0].Done()
	if up, down := cs[0].Bytes(); up != 5050 || down != 5050 {
		t.Fatalf("bytes %d up %d down, want 5050 each", up, down)
	}
	if st := p.Stats(); st.Accepted != 1 || st.Rejected != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCutClosesBothSides(t *testing.T) {
	s := startEcho(t, true)
	p := startProxy(t, s.ln.Addr().String(), Options{})
	c := dial(t, p)
	roundTrip(t, c, "hello")
	cs := waitConns(t, p, 1)
	cs[0].Cut()
	<-cs[0].Done()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("client read after cut: %d, %v; want EOF", n, err)
	}
	if e := s.end(t); e.got != "hello" || !errors.Is(e.err, io.EOF) {
		t.Fatalf("server saw %q then %v; want EOF", e.got, e.err)
	}
	waitConns(t, p, 0)
}

func TestResetSendsRST(t *testing.T) {
	s := startEcho(t, true)
	p := startProxy(t, s.ln.Addr().String(), Options{})
	c := dial(t, p)
	roundTrip(t, c, "hello")
	if n := p.ResetAll(); n != 1 {
		t.Fatalf("ResetAll reset %d", n)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client read after reset: %v; want ECONNRESET", err)
	}
	if e := s.end(t); !errors.Is(e.err, syscall.ECONNRESET) {
		t.Fatalf("server read after reset: %v; want ECONNRESET", e.err)
	}
}

func TestStallHoldsThenResumes(t *testing.T) {
	s := startEcho(t, true)
	p := startProxy(t, s.ln.Addr().String(), Options{})
	c := dial(t, p)
	roundTrip(t, c, "a")
	cs := waitConns(t, p, 1)
	cs[0].Stall(true)
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 8)); n != 0 || !errors.Is(err, syscall.EAGAIN) && !isTimeout(err) {
		t.Fatalf("read while stalled: %d, %v; want a timeout", n, err)
	}
	cs[0].Stall(false)
	buf := make([]byte, 4)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "held" {
		t.Fatalf("after resume read %q, %v", buf, err)
	}
	// The global stall works the same way, on top of the connection's.
	p.SetStall(true)
	if _, err := c.Write([]byte("g")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("read while globally stalled: %v; want a timeout", err)
	}
	p.SetStall(false)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf[:1]); err != nil || buf[0] != 'g' {
		t.Fatalf("after global resume read %q, %v", buf[:1], err)
	}
}

func TestStalledConnectionCutAndClose(t *testing.T) {
	s := startEcho(t, true)
	p := startProxy(t, s.ln.Addr().String(), Options{})
	c := dial(t, p)
	roundTrip(t, c, "a")
	p.SetStall(true)
	if _, err := c.Write([]byte("b")); err != nil {
		t.Fatal(err)
	}
	// A stalled connection still cuts at once (with an RST if the proxy
	// had not read "b" yet), and Close ends its goroutines (goleak checks).
	if n := p.CutAll(); n != 1 {
		t.Fatalf("cut %d", n)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after cut: %v", err)
	}
	dial(t, p)
	waitConns(t, p, 1)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Open != 0 {
		t.Fatalf("open after Close: %d", st.Open)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestDelay(t *testing.T) {
	s := startEcho(t, true)
	p := startProxy(t, s.ln.Addr().String(), Options{})
	c := dial(t, p)
	roundTrip(t, c, "warm")
	const d = 50 * time.Millisecond
	p.SetDelay(d)
	start := time.Now()
	roundTrip(t, c, "slow") // delayed each way
	if el := time.Since(start); el < 2*d {
		t.Fatalf("round trip took %s with a delay of %s each way", el, d)
	}
	p.SetDelay(0)
	cs := waitConns(t, p, 1)
	cs[0].SetDelay(d)
	start = time.Now()
	roundTrip(t, c, "again")
	if el := time.Since(start); el < 2*d {
		t.Fatalf("round trip took %s with a connection delay of %s", el, d)
	}
	// Order is kept under delay.
	cs[0].SetDelay(time.Millisecond)
	var want strings.Builder
	for i := range 20 {
		msg := strings.Repeat(string(rune('a'+i)), 3)
		want.WriteString(msg)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, want.Len())
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != want.String() {
		t.Fatalf("read %q, %v; want %q", got, err, want.String())
	}
}

func TestHalfCloseToClient(t *testing.T) {
	s := startEcho(t, false)
	p := startProxy(t, s.ln.Addr().String(), Options{})
	c := dial(t, p)
	if _, err := c.Write([]byte("before ")); err != nil {
		t.Fatal(err)
	}
	cs := waitConns(t, p, 1)
	cs[0].HalfClose(ToClient)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("client read after half-close: %v; want EOF", err)
	}
	// The other direction still flows.
	if _, err := c.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	_ = c.CloseWrite()
	if e := s.end(t); e.got != "before after" || !errors.Is(e.err, io.EOF) {
		t.Fatalf("server got %q, then %v", e.got, e.err)
	}
}

func TestHalfCloseToServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := startProxy(t, ln.Addr().String(), Options{})
	c := dial(t, p)
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(srv, buf[:1]); err != nil || buf[0] != 'x' {
		t.Fatalf("server read %q, %v", buf[:1], err)
	}
	waitConns(t, p, 1)[0].HalfClose(ToServer)
	if _, err := srv.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("server read after half-close: %v; want EOF", err)
	}
	// The server can still talk to the client.
	if _, err := srv.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("client read %q, %v", buf, err)
	}
}

// expectReset dials the proxy and expects the connection to be reset, at
// once or at the first read.
func expectReset(t *testing.T, p *Proxy) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("dial: %v; want a reset", err)
		}
		return
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read: %v; want a reset", err)
	}
}

func TestMaxConnsAndRefuse(t *testing.T) {
	s := startEcho(t, true)
	p := startProxy(t, s.ln.Addr().String(), Options{MaxConns: 2})
	a, b := dial(t, p), dial(t, p)
	roundTrip(t, a, "a")
	roundTrip(t, b, "b")
	expectReset(t, p) // a third is one too many
	b.Close()
	waitConns(t, p, 1)
	p.SetRefuse(true)
	expectReset(t, p)
	roundTrip(t, a, "a still works")
	p.SetRefuse(false)
	roundTrip(t, dial(t, p), "accepted again")
	if st := p.Stats(); st.Accepted != 5 || st.Rejected != 2 || st.Open != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDeadTargetResets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := startProxy(t, addr, Options{DialTimeout: time.Second})
	expectReset(t, p)
	if st := p.Stats(); st.Rejected != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, target := range []string{"10.0.0.1:80", "example.com:80", "0.0.0.0:80", "nonsense"} {
		if p, err := New(target, Options{}); err == nil {
			p.Close()
			t.Errorf("New(%q) accepted a target off loopback", target)
		}
	}
	if p, err := New("127.0.0.1:1", Options{Listen: "0.0.0.0:0"}); err == nil {
		p.Close()
		t.Error("New listened off loopback")
	}
	for _, target := range []string{"127.0.0.1:80", "[::1]:80", "localhost:80"} {
		p, err := New(target, Options{})
		if err != nil {
			t.Errorf("New(%q): %v", target, err)
			continue
		}
		p.Close()
	}
}

// Many connections under every fault at once, then Close: nothing hangs and
// no goroutine is left (goleak).
func TestChurnThenClose(t *testing.T) {
	s := startEcho(t, true)
	p := startProxy(t, s.ln.Addr().String(), Options{MaxConns: 64})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.Dial("tcp", p.Addr())
				if err != nil {
					continue
				}
				_ = c.SetDeadline(time.Now().Add(time.Second))
				r := bufio.NewReader(c)
				for j := range 5 {
					if _, err := c.Write([]byte{byte('a' + (w+i+j)%26)}); err != nil {
						break
					}
					if _, err := r.ReadByte(); err != nil {
						break
					}
				}
				c.Close()
			}
		}()
	}
	faults := []func(){
		func() { p.CutAll() },
		func() { p.ResetAll() },
		func() { p.SetStall(true); time.Sleep(5 * time.Millisecond); p.SetStall(false) },
		func() { p.SetDelay(time.Millisecond); time.Sleep(5 * time.Millisecond); p.SetDelay(0) },
		func() {
			for _, c := range p.Conns() {
				c.HalfClose(Direction(c.ID() % 2))
			}
		},
	}
	for i := range 100 {
		faults[i%len(faults)]()
		time.Sleep(2 * time.Millisecond)
	}
	p.SetStall(true)
	time.Sleep(20 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if st := p.Stats(); st.Open != 0 || st.Accepted == 0 {
		t.Fatalf("stats %+v", st)
	}
}
