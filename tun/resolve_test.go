package tun

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/net/dns/dnsmessage"
)

// fakeDNS is a DNS server on B's stack (UDP and TCP port 53 of addrB4), written from RFC
// 1035 with dnsmessage's builder, answering from a table:
//
//	www.example.         A 198.51.100.80, AAAA 2001:db8:b::80
//	alias.example.       CNAME www.example.
//	big.example.         truncated over UDP; 20 A records over TCP
//	broken.example.      SERVFAIL
//	forged.example.      an answer with the wrong ID (then nothing)
//	garbage.example.     bytes that are no DNS message
//	silent.example.      no answer
//	anything else        NXDOMAIN
type fakeDNS struct {
	udp, tcp atomic.Int64 // queries seen
}

func startFakeDNS(t *testing.T, s *servers, b *Netstack) *fakeDNS {
	t.Helper()
	f := &fakeDNS{}
	at := netip.AddrPortFrom(addrB4, 53)
	pc, err := b.Net().ListenUDPAddrPort(at)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := b.Net().ListenTCPAddrPort(at)
	if err != nil {
		t.Fatal(err)
	}
	s.add(pc)
	s.add(ln)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			f.udp.Add(1)
			if out := f.answer(buf[:n], false); out != nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.tcp.Add(1)
			var l [2]byte
			if _, err := io.ReadFull(c, l[:]); err == nil {
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, q); err == nil {
					if out := f.answer(q, true); out != nil {
						c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...))
					}
				}
			}
			c.Close()
		}
	}()
	return f
}

func (f *fakeDNS) answer(query []byte, tcp bool) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := q.Name.String()
	rh := dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	hdr := func(n string, typ dnsmessage.Type) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(n), Type: typ, Class: dnsmessage.ClassINET, TTL: 60}
	}
	var build func(b *dnsmessage.Builder) error
	switch name {
	case "www.example.", "alias.example.":
		build = func(b *dnsmessage.Builder) error {
			owner := name
			if name == "alias.example." {
				if err := b.CNAMEResource(hdr(name, dnsmessage.TypeCNAME), dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("www.example.")}); err != nil {
					return err
				}
				owner = "www.example."
			}
			if q.Type == dnsmessage.TypeA {
				return b.AResource(hdr(owner, dnsmessage.TypeA), dnsmessage.AResource{A: [4]byte{198, 51, 100, 80}})
			}
			if q.Type == dnsmessage.TypeAAAA {
				return b.AAAAResource(hdr(owner, dnsmessage.TypeAAAA), dnsmessage.AAAAResource{AAAA: netip.MustParseAddr("2001:db8:b::80").As16()})
			}
			return nil
		}
	case "big.example.":
		if !tcp {
			rh.Truncated = true
			break
		}
		build = func(b *dnsmessage.Builder) error {
			for i := range 20 {
				if q.Type != dnsmessage.TypeA {
					break
				}
				if err := b.AResource(hdr(name, dnsmessage.TypeA), dnsmessage.AResource{A: [4]byte{198, 51, 100, byte(100 + i)}}); err != nil {
					return err
				}
			}
			return nil
		}
	case "broken.example.":
		rh.RCode = dnsmessage.RCodeServerFailure
	case "forged.example.":
		rh.ID++
	case "garbage.example.":
		return []byte("this is not a DNS message")
	case "silent.example.":
		return nil
	default:
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil
	}
	if build != nil && build(&b) != nil {
		return nil
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// TestLookupHost resolves through the tunnel with a fake server on the far stack: A and
// AAAA, a CNAME, the TCP fallback on truncation, the cache; and the failures: NXDOMAIN,
// SERVFAIL, forged IDs, garbage, silence, bad names, no servers.
func TestLookupHost(t *testing.T) {
	defer func(d time.Duration) { dnsAttemptTimeout = d }(dnsAttemptTimeout)
	dnsAttemptTimeout = 500 * time.Millisecond
	p := newPair(t, NetstackOptions{})
	s := newServers(t)
	f := startFakeDNS(t, s, p.b)
	ctx := context.Background()

	if _, err := p.a.LookupHost(ctx, "www.example"); !errors.Is(err, ErrNoDNS) {
		t.Fatalf("without servers: %v, want ErrNoDNS", err)
	}
	if f.udp.Load() != 0 {
		t.Fatal("a query was sent without servers")
	}
	p.a.SetDNSServers([]netip.Addr{addrB4, addrB4, netip.IPv4Unspecified()})
	if got := p.a.DNSServers(); !slices.Equal(got, []netip.Addr{addrB4}) {
		t.Fatalf("servers %v, want [%v]", got, addrB4)
	}

	want := []netip.Addr{netip.MustParseAddr("198.51.100.80"), netip.MustParseAddr("2001:db8:b::80")}
	for _, name := range []string{"www.example", "WWW.Example.", "alias.example"} {
		got, err := p.a.LookupHost(ctx, name)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("LookupHost(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	// www.example was looked up twice: the second from the cache (2 queries each for www
	// and alias).
	if n := f.udp.Load(); n != 4 {
		t.Errorf("%d UDP queries, want 4 (the second www.example from the cache)", n)
	}

	got, err := p.a.LookupHost(ctx, "big.example")
	if err != nil || len(got) != maxAnswerAddrs || got[0] != netip.MustParseAddr("198.51.100.100") {
		t.Fatalf("big.example (TCP fallback, at most maxAnswerAddrs kept): %v, %v", got, err)
	}
	if f.tcp.Load() == 0 {
		t.Error("no TCP query after a truncated answer")
	}

	for _, c := range []struct {
		name string
		want error
	}{
		{"nowhere.example", ErrNameNotFound},
		{"broken.example", ErrDNSFailed},
		{"forged.example", ErrDNSFailed},
		{"garbage.example", ErrDNSFailed},
		{"silent.example", ErrDNSFailed},
		{"bad name.example", errBadName},
		{"-x.example", errBadName},
		{strings.Repeat("a", 64) + ".example", errBadName},
		{"", errBadName},
	} {
		if _, err := p.a.LookupHost(ctx, c.name); !errors.Is(err, c.want) {
			t.Errorf("LookupHost(%q) = %v, want %v", c.name, err, c.want)
		}
	}
	cnt := p.a.DNSCounters()
	if cnt.NotFound != 1 || cnt.Failures != 4 || cnt.Lookups != 9 {
		t.Errorf("counters %+v, want 9 lookups, 1 not found, 4 failures", cnt)
	}

	// The servers go away: names are refused again, and the cache is gone.
	p.a.SetDNSServers(nil)
	if _, err := p.a.LookupHost(ctx, "www.example"); !errors.Is(err, ErrNoDNS) {
		t.Errorf("after the servers were withdrawn: %v, want ErrNoDNS", err)
	}
	// A server the tunnel has no route to answers nothing: a failure, bounded in time.
	p.a.SetDNSServers([]netip.Addr{netip.MustParseAddr("203.0.113.53")})
	if _, err := p.a.LookupHost(ctx, "www.example"); !errors.Is(err, ErrDNSFailed) {
		t.Errorf("with an unreachable server: %v, want ErrDNSFailed", err)
	}
}

// TestSOCKS5ConnectByName: CONNECT to a DOMAINNAME is resolved with the pushed servers and
// carried through the tunnel; a name that does not exist gets "host unreachable", one the
// servers fail on "general failure", any name without servers "host unreachable".
func TestSOCKS5ConnectByName(t *testing.T) {
	p := newPair(t, NetstackOptions{})
	s := newServers(t)
	startFakeDNS(t, s, p.b)
	// Of the name's addresses (IPv4 first), 198.51.100.80 is on B.
	if err := p.b.AddAddress(netip.MustParsePrefix("198.51.100.80/32")); err != nil {
		t.Fatal(err)
	}
	ln, err := p.b.Net().ListenTCPAddrPort(netip.MustParseAddrPort("198.51.100.80:7"))
	if err != nil {
		t.Fatal(err)
	}
	s.tcpEcho(ln)

	addr, err := p.a.ServeSOCKS5(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := socksDial(t, addr.String(), socksCmdConnect, connectToName("www.example", 7))
	expectReply(t, c, socksHostUnreachable) // no servers yet
	p.a.SetDNSServers([]netip.Addr{addrB4})
	c = socksDial(t, addr.String(), socksCmdConnect, connectToName("www.example", 7))
	if bnd := expectReply(t, c, socksSucceeded); bnd.Addr() != addrA4 {
		t.Errorf("BND.ADDR %v, want %v", bnd, addrA4)
	}
	echoRoundTrip(t, c, "hello by name")
	c = socksDial(t, addr.String(), socksCmdConnect, connectToName("nowhere.example", 7))
	expectReply(t, c, socksHostUnreachable)
	c = socksDial(t, addr.String(), socksCmdConnect, connectToName("broken.example", 7))
	expectReply(t, c, socksGeneralFailure)
}

// TestNetstackAddAddress: a stack opened without addresses (VirtualIPs) takes one at run
// time, which becomes the source of connections (ahead of an address it was opened with);
// removing it takes the route of its family with it.
func TestNetstackAddAddress(t *testing.T) {
	log := zaptest.NewLogger(t)
	a, err := OpenNetstack(NetstackOptions{VirtualIPs: true}, log.Named("A"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenNetstack(NetstackOptions{Addresses: []netip.Addr{addrB4, addrB6}}, log.Named("B"))
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	p := &pair{a: a, b: b}
	p.pumps.Add(2)
	go p.pump(a, b)
	go p.pump(b, a)
	t.Cleanup(p.close)
	if _, err := OpenNetstack(NetstackOptions{}, log); err == nil {
		t.Fatal("a stack without addresses and without VirtualIPs was opened")
	}

	s := newServers(t)
	seen := make(chan string, 4)
	ln, err := b.Net().ListenTCPAddrPort(netip.AddrPortFrom(addrB4, 9))
	if err != nil {
		t.Fatal(err)
	}
	s.add(ln)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			seen <- c.RemoteAddr().String()
			c.Close()
		}
	}()
	dial := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := a.Net().DialContextTCPAddrPort(ctx, netip.AddrPortFrom(addrB4, 9))
		if err != nil {
			return "", err
		}
		c.Close()
		select {
		case from := <-seen:
			h, _, _ := net.SplitHostPort(from)
			return h, nil
		case <-time.After(10 * time.Second):
			return "", errors.New("the server saw no connection")
		}
	}
	if _, err := dial(); err == nil {
		t.Fatal("a stack without addresses connected")
	}
	vip := netip.MustParsePrefix("203.0.113.7/32")
	if err := a.AddAddress(vip); err != nil {
		t.Fatal(err)
	}
	if err := a.AddAddress(vip); err != nil {
		t.Fatalf("adding the address again: %v", err)
	}
	if got := a.Addresses(); !slices.Equal(got, []netip.Addr{vip.Addr()}) {
		t.Fatalf("Addresses() = %v", got)
	}
	if from, err := dial(); err != nil || from != vip.Addr().String() {
		t.Fatalf("connection from %q, %v; want from %v", from, err, vip.Addr())
	}
	vip2 := netip.MustParsePrefix("203.0.113.8/32")
	if err := a.AddAddress(vip2); err != nil {
		t.Fatal(err)
	}
	if from, err := dial(); err != nil || from != vip2.Addr().String() {
		t.Fatalf("connection from %q, %v; want from the newest address %v", from, err, vip2.Addr())
	}
	if err := a.RemoveAddress(vip2); err != nil {
		t.Fatal(err)
	}
	if from, err := dial(); err != nil || from != vip.Addr().String() {
		t.Fatalf("connection from %q, %v; want from %v after the newer one left", from, err, vip.Addr())
	}
	if err := a.RemoveAddress(vip); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveAddress(vip); err == nil {
		t.Error("removing an address twice succeeded")
	}
	if len(a.Addresses()) != 0 {
		t.Errorf("Addresses() = %v after removal", a.Addresses())
	}
	if _, err := dial(); err == nil {
		t.Fatal("connected after the address was removed")
	}
	for _, bad := range []string{"0.0.0.0/32", "224.0.0.1/32"} {
		if err := a.AddAddress(netip.MustParsePrefix(bad)); err == nil {
			t.Errorf("AddAddress(%s) succeeded", bad)
		}
	}
	// An address the stack was opened with is not removable, and adding it is a no-op.
	if err := b.AddAddress(netip.PrefixFrom(addrB4, 32)); err != nil {
		t.Error(err)
	}
	if err := b.RemoveAddress(netip.PrefixFrom(addrB4, 32)); err == nil {
		t.Error("removed an address the stack was opened with")
	}
}

func TestParseAnswerRejects(t *testing.T) {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("www.example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	id, msg, err := newQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	// Our own query is not an answer (QR = 0).
	if _, _, _, err := parseAnswer(msg, id, q); !errors.Is(err, errMismatch) {
		t.Errorf("a query accepted as an answer: %v", err)
	}
	f := &fakeDNS{}
	ans := f.answer(msg, false)
	if addrs, _, _, err := parseAnswer(ans, id, q); err != nil || len(addrs) != 1 {
		t.Fatalf("the fake server's answer: %v, %v", addrs, err)
	}
	if _, _, _, err := parseAnswer(ans, id+1, q); !errors.Is(err, errMismatch) {
		t.Errorf("an answer with another ID accepted: %v", err)
	}
	other := q
	other.Type = dnsmessage.TypeAAAA
	if _, _, _, err := parseAnswer(ans, id, other); !errors.Is(err, errMismatch) {
		t.Errorf("an answer to another question accepted: %v", err)
	}
	for i := range len(ans) {
		if addrs, _, _, err := parseAnswer(ans[:i], id, q); err == nil {
			t.Errorf("prefix of %d bytes accepted: %v", i, addrs)
		}
	}
}

// TestParseAnswerUnusable: answers that point at loopback, unspecified or multicast
// addresses are no answers.
func TestParseAnswerUnusable(t *testing.T) {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("www.example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	for _, a := range []string{"127.0.0.1", "0.0.0.0", "224.0.0.1", "198.51.100.80"} {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, Response: true})
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
			dnsmessage.AResource{A: netip.MustParseAddr(a).As4()})
		msg, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		addrs, _, _, err := parseAnswer(msg, 7, q)
		if usable := a == "198.51.100.80"; usable != (err == nil) {
			t.Errorf("answer %s: %v, %v", a, addrs, err)
		}
	}
}

func FuzzParseAnswer(f *testing.F) {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("www.example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	_, msg, _ := newQuery(q)
	fd := &fakeDNS{}
	f.Add(fd.answer(msg, false))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return
		}
		addrs, ttl, trunc, err := parseAnswer(b, binary.BigEndian.Uint16(b), q)
		if err == nil && !trunc && (len(addrs) == 0 || len(addrs) > maxAnswerAddrs || ttl > dnsCacheMaxTTL) {
			t.Fatalf("accepted %v ttl %v", addrs, ttl)
		}
	})
}

// TestSOCKS5UDPAssociateByName: a UDP datagram to a DOMAINNAME goes to the address the
// pushed servers give it; without servers, or to a name that does not exist, it is dropped.
func TestSOCKS5UDPAssociateByName(t *testing.T) {
	p := newPair(t, NetstackOptions{})
	s := newServers(t)
	startFakeDNS(t, s, p.b)
	web := netip.MustParseAddr("198.51.100.80")
	if err := p.b.AddAddress(netip.PrefixFrom(web, 32)); err != nil {
		t.Fatal(err)
	}
	pc, err := p.b.Net().ListenUDPAddrPort(netip.AddrPortFrom(web, 7))
	if err != nil {
		t.Fatal(err)
	}
	s.udpEcho(pc)
	at, err := p.a.ServeSOCKS5(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctl := socksDial(t, at.String(), socksCmdAssociate, connectTo(netip.MustParseAddrPort("0.0.0.0:0")))
	relay := expectReply(t, ctl, socksSucceeded)
	u, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(relay))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	send := func(name string) ([]byte, error) {
		if _, err := u.Write(append(append([]byte{0, 0, 0}, connectToName(name, 7)...), "to "+name...)); err != nil {
			t.Fatal(err)
		}
		u.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 2048)
		n, err := u.Read(buf)
		return buf[:n], err
	}
	if b, err := send("www.example"); err == nil {
		t.Fatalf("a datagram to a name crossed without DNS servers: %q", b)
	}
	p.a.SetDNSServers([]netip.Addr{addrB4})
	b, err := send("www.example")
	if err != nil {
		t.Fatalf("no answer to a datagram by name: %v", err)
	}
	_, src, data, err := parseUDPHeader(b)
	if err != nil || src.ip != web || !strings.HasPrefix(string(data), "to www.example|") {
		t.Fatalf("answer from %v: %q, %v", src, data, err)
	}
	if b, err := send("nowhere.example"); err == nil {
		t.Fatalf("a datagram to a name that does not exist got an answer: %q", b)
	}
}
