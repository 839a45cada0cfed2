package tun

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

var (
	addrA4 = netip.MustParseAddr("192.0.2.1")
	addrA6 = netip.MustParseAddr("2001:db8:a::1")
	addrB4 = netip.MustParseAddr("198.51.100.1")
	addrB6 = netip.MustParseAddr("2001:db8:b::1")
)

// pair is two Netstacks joined back to back: whatever one sends out of its device is
// written into the other's, as two ESP peers would.
type pair struct {
	a, b  *Netstack
	pumps sync.WaitGroup
}

func newPair(t *testing.T, opts NetstackOptions) *pair {
	t.Helper()
	log := zaptest.NewLogger(t)
	optsA, optsB := opts, opts
	optsA.Addresses = []netip.Addr{addrA4, addrA6}
	optsB.Addresses = []netip.Addr{addrB4, addrB6}
	a, err := OpenNetstack(optsA, log.Named("A"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenNetstack(optsB, log.Named("B"))
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	p := &pair{a: a, b: b}
	p.pumps.Add(2)
	go p.pump(a, b)
	go p.pump(b, a)
	t.Cleanup(p.close)
	return p
}

// pump copies packets from src's Read to dst's Write until src closes: one reader and one
// writer per device, as the package contract requires.
func (p *pair) pump(src, dst Device) {
	defer p.pumps.Done()
	bufs := [][]byte{make([]byte, MinOffset+65535)}
	sizes := []int{0}
	for {
		n, err := src.Read(bufs, sizes, MinOffset)
		if err != nil {
			return
		}
		for i := 0; i < n; i++ {
			_, _ = dst.Write([][]byte{bufs[i][:MinOffset+sizes[i]]}, MinOffset)
		}
	}
}

// close shuts A, then B: closing A ends the A→B pump (A's Read fails), so B's writer has
// stopped before B closes.
func (p *pair) close() {
	p.a.Close()
	p.b.Close()
	p.pumps.Wait()
}

// servers runs test servers inside a tunnel and stops them at cleanup.
type servers struct {
	wg      sync.WaitGroup
	mu      sync.Mutex
	closers []io.Closer
}

func newServers(t *testing.T) *servers {
	s := &servers{}
	t.Cleanup(s.stop)
	return s
}

func (s *servers) add(c io.Closer) {
	s.mu.Lock()
	s.closers = append(s.closers, c)
	s.mu.Unlock()
}

func (s *servers) stop() {
	s.mu.Lock()
	cs := s.closers
	s.closers = nil
	s.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	s.wg.Wait()
}

// tcpEcho serves a TCP echo on ln: every byte comes back.
func (s *servers) tcpEcho(ln net.Listener) {
	s.add(ln)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.add(c)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
}

// udpEcho answers every datagram on pc with its payload, "|", and the source address it
// saw, so tests can tell which socket a relay used.
func (s *servers) udpEcho(pc net.PacketConn) {
	s.add(pc)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			reply := append(append(append([]byte(nil), buf[:n]...), '|'), from.String()...)
			pc.WriteTo(reply, from)
		}
	}()
}

// echoRoundTrip writes msg on c and expects it back.
func echoRoundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q; want %q", got, msg)
	}
}

// udpRoundTrip sends msg on c and returns the echo server's answer split into payload and
// the source address the server saw.
func udpRoundTrip(t *testing.T, c net.Conn, msg string) (payload, seenFrom string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("udp write: %v", err)
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("udp read: %v", err)
	}
	p, from, ok := strings.Cut(string(buf[:n]), "|")
	if !ok {
		t.Fatalf("udp answer %q has no source", buf[:n])
	}
	return p, from
}

func TestOpenNetstackValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts NetstackOptions
	}{
		{"no addresses", NetstackOptions{}},
		{"unspecified", NetstackOptions{Addresses: []netip.Addr{netip.IPv4Unspecified()}}},
		{"zero addr", NetstackOptions{Addresses: []netip.Addr{{}}}},
		{"v6 small MTU", NetstackOptions{Addresses: []netip.Addr{addrA6}, MTU: 1200}},
		{"huge MTU", NetstackOptions{Addresses: []netip.Addr{addrA4}, MTU: 70000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := OpenNetstack(tc.opts, nil)
			if err == nil {
				n.Close()
				t.Fatalf("OpenNetstack(%+v) succeeded", tc.opts)
			}
			if !strings.HasPrefix(err.Error(), "tun: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	n, err := OpenNetstack(NetstackOptions{Addresses: []netip.Addr{addrA4}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if mtu, _ := n.MTU(); mtu != DefaultMTU {
		t.Errorf("default MTU = %d; want %d", mtu, DefaultMTU)
	}
}

func TestForwardTCP(t *testing.T) {
	p := newPair(t, NetstackOptions{})
	srv := newServers(t)
	for _, dst := range []netip.Addr{addrB4, addrB6} {
		ln, err := p.b.Net().ListenTCPAddrPort(netip.AddrPortFrom(dst, 7))
		if err != nil {
			t.Fatal(err)
		}
		srv.tcpEcho(ln)
		ctx, cancel := context.WithCancel(context.Background())
		at, err := p.a.Forward(ctx, "tcp", "127.0.0.1:0", netip.AddrPortFrom(dst, 7).String())
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", at.String())
		if err != nil {
			t.Fatal(err)
		}
		echoRoundTrip(t, c, "hello through the tunnel to "+dst.String())
		echoRoundTrip(t, c, strings.Repeat("x", 200000)) // many segments, both ways
		c.Close()

		// Canceling the context stops the listener.
		cancel()
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.Dial("tcp", at.String())
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatal("forward still accepting after its context was canceled")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestForwardUDPSessionsExpire(t *testing.T) {
	p := newPair(t, NetstackOptions{UDPIdleTimeout: 200 * time.Millisecond})
	srv := newServers(t)
	pc, err := p.b.Net().ListenUDPAddrPort(netip.AddrPortFrom(addrB4, 53))
	if err != nil {
		t.Fatal(err)
	}
	srv.udpEcho(pc)
	at, err := p.a.Forward(context.Background(), "udp", "127.0.0.1:0", "198.51.100.1:53")
	if err != nil {
		t.Fatal(err)
	}
	c1, err := net.Dial("udp", at.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := net.Dial("udp", at.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()

	msg, from1 := udpRoundTrip(t, c1, "one")
	if msg != "one" || !strings.HasPrefix(from1, addrA4.String()+":") {
		t.Fatalf("answer %q seen from %q; want %q from %v", msg, from1, "one", addrA4)
	}
	if _, again := udpRoundTrip(t, c1, "one again"); again != from1 {
		t.Errorf("second datagram of a client came from %s, first from %s; want the same session", again, from1)
	}
	if msg, from2 := udpRoundTrip(t, c2, "two"); msg != "two" || from2 == from1 {
		t.Errorf("second client: %q from %s; want its own session (not %s)", msg, from2, from1)
	}
	time.Sleep(5 * 200 * time.Millisecond)
	if _, later := udpRoundTrip(t, c1, "after idle"); later == from1 {
		t.Errorf("after the idle timeout the client still used session %s; want a new one", from1)
	}
}

func TestExposeTCP(t *testing.T) {
	p := newPair(t, NetstackOptions{})
	srv := newServers(t)
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.tcpEcho(host)
	for _, at := range []netip.AddrPort{netip.AddrPortFrom(addrB4, 2222), netip.AddrPortFrom(addrB6, 2222)} {
		got, err := p.b.Expose(context.Background(), "tcp", at.String(), host.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != at.String() {
			t.Errorf("Expose bound %v; want %v", got, at)
		}
		c, err := p.a.Net().DialContextTCPAddrPort(context.Background(), at)
		if err != nil {
			t.Fatalf("dial %v through the tunnel: %v", at, err)
		}
		echoRoundTrip(t, c, "from the far site to a local service via "+at.String())
		c.Close()
	}
}

func TestExposeUDP(t *testing.T) {
	p := newPair(t, NetstackOptions{})
	srv := newServers(t)
	host, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.udpEcho(host)
	at := netip.AddrPortFrom(addrB4, 5353)
	if _, err := p.b.Expose(context.Background(), "udp", at.String(), host.LocalAddr().String()); err != nil {
		t.Fatal(err)
	}
	c, err := p.a.Net().DialUDPAddrPort(netip.AddrPort{}, at)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if msg, from := udpRoundTrip(t, c, "ping"); msg != "ping" || !strings.HasPrefix(from, "127.0.0.1:") {
		t.Errorf("answer %q seen from %q; want %q from the host side", msg, from, "ping")
	}
}

func TestForwardExposeValidate(t *testing.T) {
	n, err := OpenNetstack(NetstackOptions{Addresses: []netip.Addr{addrA4}}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func() (net.Addr, error)
	}{
		{"forward sctp", func() (net.Addr, error) { return n.Forward(ctx, "sctp", "127.0.0.1:0", "198.51.100.1:1") }},
		{"forward to a name", func() (net.Addr, error) { return n.Forward(ctx, "tcp", "127.0.0.1:0", "db.example:5432") }},
		{"forward to v6 without a v6 address", func() (net.Addr, error) { return n.Forward(ctx, "tcp", "127.0.0.1:0", "[2001:db8::1]:80") }},
		{"forward bad listen", func() (net.Addr, error) { return n.Forward(ctx, "tcp", "127.0.0.1:99999", "198.51.100.1:1") }},
		{"expose on a foreign address", func() (net.Addr, error) { return n.Expose(ctx, "tcp", "203.0.113.1:22", "127.0.0.1:22") }},
		{"expose on a name", func() (net.Addr, error) { return n.Expose(ctx, "udp", "me.example:22", "127.0.0.1:22") }},
	} {
		if a, err := tc.call(); err == nil {
			t.Errorf("%s: succeeded with %v", tc.name, a)
		} else if !strings.HasPrefix(err.Error(), "tun: ") {
			t.Errorf("%s: error %q lacks the package prefix", tc.name, err)
		}
	}
}

// TestNetstackCloseNoLeak opens every kind of service with live connections, closes both
// stacks, and expects every goroutine started since to be gone and every client to see its
// connection end.
func TestNetstackCloseNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		p := newPair(t, NetstackOptions{})
		srv := newServers(t)
		ctx := context.Background()
		ln, err := p.b.Net().ListenTCPAddrPort(netip.AddrPortFrom(addrB4, 7))
		if err != nil {
			t.Fatal(err)
		}
		srv.tcpEcho(ln)
		pc, err := p.b.Net().ListenUDPAddrPort(netip.AddrPortFrom(addrB4, 7))
		if err != nil {
			t.Fatal(err)
		}
		srv.udpEcho(pc)
		host, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv.tcpEcho(host)

		var clients []net.Conn
		fwd, err := p.a.Forward(ctx, "tcp", "127.0.0.1:0", "198.51.100.1:7")
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", fwd.String())
		if err != nil {
			t.Fatal(err)
		}
		echoRoundTrip(t, c, "forward")
		clients = append(clients, c)

		fwdU, err := p.a.Forward(ctx, "udp", "127.0.0.1:0", "198.51.100.1:7")
		if err != nil {
			t.Fatal(err)
		}
		u, err := net.Dial("udp", fwdU.String())
		if err != nil {
			t.Fatal(err)
		}
		udpRoundTrip(t, u, "forward udp")
		defer u.Close()

		socks, err := p.a.ServeSOCKS5(ctx, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := socksDial(t, socks.String(), socksCmdConnect, connectTo(netip.AddrPortFrom(addrB4, 7)))
		expectReply(t, s, socksSucceeded)
		echoRoundTrip(t, s, "socks")
		clients = append(clients, s)
		ua := socksDial(t, socks.String(), socksCmdAssociate, connectTo(netip.AddrPortFrom(netip.IPv4Unspecified(), 0)))
		expectReply(t, ua, socksSucceeded)
		clients = append(clients, ua)
		half := socksDialRaw(t, socks.String()) // a client stuck in the handshake
		clients = append(clients, half)

		if _, err := p.b.Expose(ctx, "tcp", "198.51.100.1:2222", host.Addr().String()); err != nil {
			t.Fatal(err)
		}
		e, err := p.a.Net().DialContextTCPAddrPort(ctx, netip.MustParseAddrPort("198.51.100.1:2222"))
		if err != nil {
			t.Fatal(err)
		}
		echoRoundTrip(t, e, "expose")
		defer e.Close()

		srv.stop()
		p.close()
		p.close() // Close is idempotent
		for i, c := range clients {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 64)); err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				t.Errorf("client %d: read after Close = %v; want the connection closed", i, err)
			}
			c.Close()
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			var buf bytes.Buffer
			pprof.Lookup("goroutine").WriteTo(&buf, 1)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestNetstackServiceAfterClose(t *testing.T) {
	n, err := OpenNetstack(NetstackOptions{Addresses: []netip.Addr{addrA4}}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if a, err := n.ServeSOCKS5(context.Background(), "127.0.0.1:0"); err == nil {
		t.Errorf("ServeSOCKS5 after Close succeeded (%v)", a)
	}
	if a, err := n.Forward(context.Background(), "udp", "127.0.0.1:0", "198.51.100.1:1"); err == nil {
		t.Errorf("Forward after Close succeeded (%v)", a)
	}
}
