package tun

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/proxy"
)

// connectTo encodes ATYP DST.ADDR DST.PORT for an IP target.
func connectTo(ap netip.AddrPort) []byte { return appendAddr(nil, ap) }

// connectToName encodes a DOMAINNAME target.
func connectToName(name string, port uint16) []byte {
	b := append([]byte{socksAtypDomain, byte(len(name))}, name...)
	return binary.BigEndian.AppendUint16(b, port)
}

// socksDialRaw opens a TCP connection to the proxy, nothing sent yet.
func socksDialRaw(t *testing.T, proxyAddr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// socksDial negotiates no-auth and sends one request, written by hand from RFC 1928 so
// the test does not share code with the server.
func socksDial(t *testing.T, proxyAddr string, cmd byte, addr []byte) net.Conn {
	t.Helper()
	c := socksDialRaw(t, proxyAddr)
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		t.Fatal(err)
	}
	var sel [2]byte
	if _, err := io.ReadFull(c, sel[:]); err != nil || sel != [2]byte{5, 0} {
		t.Fatalf("method selection = %v, %v; want [5 0]", sel, err)
	}
	if _, err := c.Write(append([]byte{5, cmd, 0}, addr...)); err != nil {
		t.Fatal(err)
	}
	return c
}

// expectReply reads a reply and checks REP; it returns BND.ADDR:BND.PORT.
func expectReply(t *testing.T, c net.Conn, want byte) netip.AddrPort {
	t.Helper()
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("reading the reply (want REP %d): %v", want, err)
	}
	if hdr[0] != 5 || hdr[1] != want || hdr[2] != 0 {
		t.Fatalf("reply header %v; want [5 %d 0 ...]", hdr, want)
	}
	var ip []byte
	switch hdr[3] {
	case 1:
		ip = make([]byte, 4)
	case 4:
		ip = make([]byte, 16)
	default:
		t.Fatalf("reply ATYP %d", hdr[3])
	}
	port := make([]byte, 2)
	if _, err := io.ReadFull(c, ip); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, port); err != nil {
		t.Fatal(err)
	}
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a, binary.BigEndian.Uint16(port))
}

// TestSOCKS5HTTP drives the proxy with an independent SOCKS5 client (x/net/proxy) and an
// HTTP server inside the far site; the server sees the near site's tunnel address.
func TestSOCKS5HTTP(t *testing.T) {
	p := newPair(t, NetstackOptions{})
	ln, err := p.b.Net().ListenTCPAddrPort(netip.AddrPortFrom(addrB4, 80))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.RemoteAddr+" "+r.URL.Path)
	})}
	done := make(chan struct{})
	go func() { defer close(done); hs.Serve(ln) }()
	defer func() { hs.Close(); <-done }()

	at, err := p.a.ServeSOCKS5(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := proxy.SOCKS5("tcp", at.String(), nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DialContext: d.(proxy.ContextDialer).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	resp, err := client.Get("http://198.51.100.1/path")
	if err != nil {
		t.Fatalf("GET through SOCKS5: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "hello 192.0.2.1:") || !strings.HasSuffix(string(body), " /path") {
		t.Errorf("body %q; want the server to see 192.0.2.1 and /path", body)
	}
}

func TestSOCKS5Connect(t *testing.T) {
	p := newPair(t, NetstackOptions{})
	srv := newServers(t)
	for _, a := range []netip.Addr{addrB4, addrB6} {
		ln, err := p.b.Net().ListenTCPAddrPort(netip.AddrPortFrom(a, 7))
		if err != nil {
			t.Fatal(err)
		}
		srv.tcpEcho(ln)
	}
	at, err := p.a.ServeSOCKS5(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		addr    []byte
		wantBnd netip.Addr
	}{
		{"ipv4", connectTo(netip.MustParseAddrPort("198.51.100.1:7")), addrA4},
		{"ipv6", connectTo(netip.MustParseAddrPort("[2001:db8:b::1]:7")), addrA6},
		{"ipv4 literal as a name", connectToName("198.51.100.1", 7), addrA4},
		{"ipv6 literal as a name", connectToName("[2001:db8:b::1]", 7), addrA6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := socksDial(t, at.String(), socksCmdConnect, tc.addr)
			bnd := expectReply(t, c, socksSucceeded)
			if bnd.Addr() != tc.wantBnd || bnd.Port() == 0 {
				t.Errorf("BND = %v; want %v and the connection's port", bnd, tc.wantBnd)
			}
			echoRoundTrip(t, c, "through socks "+tc.name)
		})
	}
}

func TestSOCKS5ErrorReplies(t *testing.T) {
	p := newPair(t, NetstackOptions{})
	at, err := p.a.ServeSOCKS5(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cmd  byte
		addr []byte
		want byte
	}{
		{"refused", socksCmdConnect, connectTo(netip.MustParseAddrPort("198.51.100.1:9")), socksConnectionRefused},
		{"refused ipv6", socksCmdConnect, connectTo(netip.MustParseAddrPort("[2001:db8:b::1]:9")), socksConnectionRefused},
		{"domain name", socksCmdConnect, connectToName("db.example", 5432), socksHostUnreachable},
		{"bind", socksCmdBind, connectTo(netip.MustParseAddrPort("198.51.100.1:7")), socksCommandNotSupported},
		{"unknown command", 9, connectTo(netip.MustParseAddrPort("198.51.100.1:7")), socksCommandNotSupported},
		{"unknown address type", socksCmdConnect, []byte{7, 1, 2, 3, 4, 0, 7}, socksAddrNotSupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := socksDial(t, at.String(), tc.cmd, tc.addr)
			expectReply(t, c, tc.want)
			if n, err := c.Read(make([]byte, 1)); err == nil {
				t.Errorf("connection still open after an error reply (read %d bytes)", n)
			}
		})
	}
	t.Run("no acceptable method", func(t *testing.T) {
		c := socksDialRaw(t, at.String())
		c.Write([]byte{5, 2, 1, 2}) // GSSAPI, username/password
		var sel [2]byte
		if _, err := io.ReadFull(c, sel[:]); err != nil || sel != [2]byte{5, 0xff} {
			t.Fatalf("method selection = %v, %v; want [5 255]", sel, err)
		}
	})
	t.Run("socks4", func(t *testing.T) {
		c := socksDialRaw(t, at.String())
		c.Write([]byte{4, 1, 0, 7, 198, 51, 100, 1, 0})
		if n, err := c.Read(make([]byte, 8)); err == nil {
			t.Errorf("SOCKS4 request answered with %d bytes; want the connection closed", n)
		}
	})
}

// TestSOCKS5UDPAssociate relays datagrams both ways for IPv4 and IPv6 targets, and checks
// the header on answers names their source.
func TestSOCKS5UDPAssociate(t *testing.T) {
	p := newPair(t, NetstackOptions{})
	srv := newServers(t)
	for _, a := range []netip.Addr{addrB4, addrB6} {
		pc, err := p.b.Net().ListenUDPAddrPort(netip.AddrPortFrom(a, 7))
		if err != nil {
			t.Fatal(err)
		}
		srv.udpEcho(pc)
	}
	at, err := p.a.ServeSOCKS5(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctl := socksDial(t, at.String(), socksCmdAssociate, connectTo(netip.MustParseAddrPort("0.0.0.0:0")))
	relay := expectReply(t, ctl, socksSucceeded)
	if relay.Addr() != netip.MustParseAddr("127.0.0.1") || relay.Port() == 0 {
		t.Fatalf("relay address %v; want 127.0.0.1 and a port", relay)
	}
	u, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(relay))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for _, dst := range []netip.AddrPort{netip.MustParseAddrPort("198.51.100.1:7"), netip.MustParseAddrPort("[2001:db8:b::1]:7")} {
		msg := "datagram to " + dst.String()
		dgram := append(appendAddr([]byte{0, 0, 0}, dst), msg...)
		u.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := u.Write(dgram); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		n, err := u.Read(buf)
		if err != nil {
			t.Fatalf("%v: no answer through the relay: %v", dst, err)
		}
		frag, src, data, err := parseUDPHeader(buf[:n])
		if err != nil || frag != 0 {
			t.Fatalf("%v: answer header: frag %d, %v", dst, frag, err)
		}
		if got, _ := src.resolve(); got != dst {
			t.Errorf("answer source %v; want %v", src, dst)
		}
		payload, seen, _ := bytes.Cut(data, []byte("|"))
		if string(payload) != msg {
			t.Errorf("answer %q; want %q", payload, msg)
		}
		if wantSrc := map[bool]netip.Addr{true: addrA4, false: addrA6}[dst.Addr().Is4()]; !strings.Contains(string(seen), wantSrc.String()) {
			t.Errorf("server saw the datagram from %s; want %v", seen, wantSrc)
		}
	}
	// A fragment must be dropped (RFC 1928 §7), so no answer comes back.
	u.Write(append(appendAddr([]byte{0, 0, 1}, netip.MustParseAddrPort("198.51.100.1:7")), "fragment"...))
	u.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := u.Read(make([]byte, 2048)); err == nil {
		t.Errorf("a fragment got an answer (%d bytes); want it dropped", n)
	}
}

func TestSOCKS5ContextStops(t *testing.T) {
	p := newPair(t, NetstackOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	at, err := p.a.ServeSOCKS5(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", at.String())
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("proxy still accepting after its context was canceled")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReadRequestPrefixes(t *testing.T) {
	full := append([]byte{5, 1, 0}, connectToName("198.51.100.1", 443)...)
	req, err := readRequest(bytes.NewReader(full))
	if err != nil || req.cmd != 1 || req.dst.name != "198.51.100.1" || req.dst.port != 443 {
		t.Fatalf("readRequest = %+v, %v", req, err)
	}
	for i := range full {
		if _, err := readRequest(bytes.NewReader(full[:i])); err == nil {
			t.Errorf("readRequest accepted a %d-byte prefix", i)
		}
	}
	for _, ap := range []netip.AddrPort{netip.MustParseAddrPort("192.0.2.9:1"), netip.MustParseAddrPort("[2001:db8::9]:65535")} {
		b := appendReply(nil, socksSucceeded, ap)
		req, err := readRequest(bytes.NewReader(b)) // a reply has the request's shape
		if err != nil || req.dst.ip != ap.Addr() || req.dst.port != ap.Port() {
			t.Errorf("round trip of %v: %+v, %v", ap, req, err)
		}
	}
}

func TestDialReplyCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want byte
	}{
		{&net.OpError{Op: "connect", Err: io.ErrUnexpectedEOF}, socksGeneralFailure},
		{context.DeadlineExceeded, socksHostUnreachable},
		{&net.OpError{Op: "connect", Err: errString("no route to host")}, socksHostUnreachable},
		{&net.OpError{Op: "connect", Err: errString("network is unreachable")}, socksNetworkUnreachable},
		{&net.OpError{Op: "connect", Err: errString("connection was refused")}, socksConnectionRefused},
	} {
		if got := dialReplyCode(tc.err); got != tc.want {
			t.Errorf("dialReplyCode(%v) = %d; want %d", tc.err, got, tc.want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func FuzzReadRequest(f *testing.F) {
	f.Add(append([]byte{5, 1, 0}, connectToName("198.51.100.1", 443)...))
	f.Add(append([]byte{5, 3, 0}, connectTo(netip.MustParseAddrPort("[2001:db8::1]:53"))...))
	f.Add([]byte{5, 1, 0, 3, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := readRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Whatever parsed must have come from the input: re-encode and compare.
		var enc []byte
		if req.dst.name != "" {
			enc = append([]byte{5, req.cmd, b[2]}, connectToName(req.dst.name, req.dst.port)...)
		} else {
			atyp := byte(socksAtypIPv6)
			if req.dst.ip.Is4() {
				atyp = socksAtypIPv4
			}
			enc = append(append([]byte{5, req.cmd, b[2], atyp}, req.dst.ip.AsSlice()...), byte(req.dst.port>>8), byte(req.dst.port))
		}
		if !bytes.HasPrefix(b, enc) {
			t.Fatalf("parsed %+v from %x, re-encoded %x", req, b, enc)
		}
	})
}

func FuzzParseUDPHeader(f *testing.F) {
	f.Add(append(appendAddr([]byte{0, 0, 0}, netip.MustParseAddrPort("198.51.100.1:7")), "data"...))
	f.Add(append([]byte{0, 0, 0}, connectToName("x.example", 1)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		frag, _, data, err := parseUDPHeader(b)
		if err != nil {
			return
		}
		if frag != b[2] || len(data) > len(b)-4 || !bytes.HasSuffix(b, data) {
			t.Fatalf("parseUDPHeader(%x): frag %d, data %x", b, frag, data)
		}
	})
}
