package esp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	ocrypto "oakley/crypto"
)

type site struct {
	dev    *memDevice
	bind   *memBind
	dp     *Dataplane
	policy *Policy
	in     *SA
	out    *SA
	ike    chan []byte
}

var (
	siteAddrA = netip.MustParseAddrPort("198.18.0.1:4500")
	siteAddrB = netip.MustParseAddrPort("198.18.0.2:4500")
)

// newSites builds two data planes joined by an in-memory network, with manually keyed SAs in
// both directions for 192.0.2.0/24 <-> 198.51.100.0/24 (and the 2001:db8:a/b::/48 pair).
func newSites(t testing.TB, enc, integ string, batch int, workers int) (a, b *site) {
	t.Helper()
	n := newMemNet()
	mk := func(addr netip.AddrPort) *site {
		s := &site{dev: newMemDevice(batch), bind: n.bind(addr.Addr().String(), batch), ike: make(chan []byte, 16)}
		var err error
		s.dp, err = New(Options{Device: s.dev, NATT: s.bind, NATTPort: addr.Port(), Workers: workers,
			OnIKE: func(m []byte, from, local netip.AddrPort) { s.ike <- append([]byte(nil), m...) }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b = mk(siteAddrA), mk(siteAddrB)
	e := ocrypto.Lookup(enc)
	var ia *ocrypto.Algorithm
	var ik []byte
	if integ != "" {
		ia = ocrypto.Lookup(integ)
		ik = bytes.Repeat([]byte{9}, ia.KeyLen())
	}
	netA := []Selector{SelectorFor(netip.MustParsePrefix("192.0.2.0/24")), SelectorFor(netip.MustParsePrefix("2001:db8:a::/48"))}
	netB := []Selector{SelectorFor(netip.MustParsePrefix("198.51.100.0/24")), SelectorFor(netip.MustParsePrefix("2001:db8:b::/48"))}
	mkSA := func(s *site, spi uint32, dir Direction, local, remote []Selector, la, ra netip.Addr, key byte) *SA {
		sa, err := s.dp.Install(Config{SPI: spi, Dir: dir, Proto: ESP, Mode: Tunnel, Enc: e, Integ: ia,
			EncKey: bytes.Repeat([]byte{key}, e.KeyLen()), IntegKey: ik, Replay: 1024,
			Local: local, Remote: remote, LocalAddr: la, RemoteAddr: ra, MTU: 1400})
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	a.out = mkSA(a, 0x2002, Outbound, netA, netB, siteAddrA.Addr(), siteAddrB.Addr(), 1)
	b.in = mkSA(b, 0x2002, Inbound, netB, netA, siteAddrB.Addr(), siteAddrA.Addr(), 1)
	b.out = mkSA(b, 0x1001, Outbound, netB, netA, siteAddrB.Addr(), siteAddrA.Addr(), 2)
	a.in = mkSA(a, 0x1001, Inbound, netA, netB, siteAddrA.Addr(), siteAddrB.Addr(), 2)
	for _, x := range []struct {
		s          *site
		peer       netip.AddrPort
		local, rem []Selector
	}{{a, siteAddrB, netA, netB}, {b, siteAddrA, netB, netA}} {
		x.s.policy = &Policy{Name: "net", Local: x.local, Remote: x.rem, Action: Protect}
		x.s.dp.SPD.Add(x.s.policy)
		if err := x.s.dp.Bind(x.s.policy, x.s.out, x.peer, netip.Addr{}, EncapUDP, 1400); err != nil {
			t.Fatal(err)
		}
		x.s.dp.Start()
	}
	t.Cleanup(func() {
		for _, s := range []*site{a, b} {
			s.dp.Close()
			s.dev.Close()
			s.dp.Wait()
		}
	})
	return a, b
}

func recvPacket(t testing.TB, ch chan []byte) []byte {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a packet")
	}
	return nil
}

func TestDataplaneBothWays(t *testing.T) {
	for _, s := range []suite{{"aes128gcm16", ""}, {"aes256", "sha256"}} {
		for _, workers := range []int{1, 2} {
			a, b := newSites(t, s.enc, s.integ, 64, workers)
			const n = 200
			var want [][]byte
			for i := range n {
				var p []byte
				if i%3 == 0 {
					p = udpPacket(innerSrc6, innerDst6, 100+i, byte(i))
				} else {
					p = udpPacket(innerSrc4, innerDst4, 60+i*5, byte(i))
				}
				want = append(want, p)
				a.dev.In <- p
			}
			for i := range n {
				if got := recvPacket(t, b.dev.Out); !bytes.Equal(got, want[i]) {
					t.Fatalf("%s workers=%d: packet %d differs or is out of order", s.enc, workers, i)
				}
			}
			reply := udpPacket(innerDst4, innerSrc4, 300, 7)
			b.dev.In <- reply
			if got := recvPacket(t, a.dev.Out); !bytes.Equal(got, reply) {
				t.Fatal("reply differs")
			}
			if b.in.Stats.Packets.Load() != n || a.in.Stats.Packets.Load() != 1 {
				t.Fatalf("counters %d %d", b.in.Stats.Packets.Load(), a.in.Stats.Packets.Load())
			}
		}
	}
}

func TestDataplaneIKEAndKeepalive(t *testing.T) {
	a, b := newSites(t, "aes128gcm16", "", 8, 1)
	if err := a.dp.SendIKE([]byte("0123456789abcdef0123456789ab"), netip.Addr{}, siteAddrB, true); err != nil {
		t.Fatal(err)
	}
	if got := recvPacket(t, b.ike); string(got) != "0123456789abcdef0123456789ab" {
		t.Fatalf("IKE message %q", got)
	}
	if err := a.dp.SendKeepalive(netip.Addr{}, siteAddrB); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for b.dp.Stat.Keepalives.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if b.dp.Stat.Keepalives.Load() != 1 {
		t.Fatal("keepalive not counted")
	}
}

func TestDataplaneDrops(t *testing.T) {
	a, b := newSites(t, "aes128gcm16", "", 8, 1)
	// No policy covers 203.0.113.0/24.
	a.dev.In <- udpPacket(netip.MustParseAddr("203.0.113.1"), innerDst4, 60, 1)
	// Unknown SPI arriving at b.
	bogus := make([]byte, 64)
	binary.BigEndian.PutUint32(bogus, 0xdeadbeef)
	a.bind.Send([][]byte{bogus}, memEndpoint{siteAddrB})
	// Tampered ESP: flip a byte of everything a sends from now on.
	b.bind.drop = func(p []byte) bool {
		if len(p) > 40 && binary.BigEndian.Uint32(p) == 0x2002 {
			p[30] ^= 1
		}
		return false
	}
	a.dev.In <- udpPacket(innerSrc4, innerDst4, 80, 2)
	waitFor(t, func() bool {
		return a.dp.Stat.NoPolicy.Load() == 1 && b.dp.Stat.UnknownSPI.Load() == 1 && b.in.Stats.Errors[ClassIntegrity].Load() == 1
	})
	// Too big with DF: an ICMP error comes back out of a's device, nothing is sent.
	big := udpPacket(innerSrc4, innerDst4, 1450, 3)
	big[6] |= 0x40
	binary.BigEndian.PutUint16(big[10:], 0)
	binary.BigEndian.PutUint16(big[10:], Checksum(big[:20], 0))
	a.dev.In <- big
	icmp := recvPacket(t, a.dev.Out)
	if icmp[9] != ProtoICMP || icmp[20] != 3 || icmp[21] != 4 || binary.BigEndian.Uint16(icmp[26:]) != 1400 {
		t.Fatalf("not a fragmentation-needed with MTU 1400: %x", icmp[:32])
	}
	if Checksum(icmp[20:], 0) != 0 || Checksum(icmp[:20], 0) != 0 {
		t.Fatal("ICMP checksums wrong")
	}
	// No SA: traffic on a policy without a binding triggers an acquire, once per second.
	a.policy.SetOutbound(nil)
	for range 5 {
		a.dev.In <- udpPacket(innerSrc4, innerDst4, 60, 4)
	}
	waitFor(t, func() bool { return a.dp.Stat.NoSA.Load() == 5 })
	select {
	case <-a.dp.Wake():
	default:
		t.Fatal("no wake-up for an acquire")
	}
	ev := a.dp.TakeEvents()
	if len(ev.Acquires) != 1 || ev.Acquires[0].Policy != a.policy || a.policy.Acquires.Load() != 1 {
		t.Fatalf("acquires %+v, counted %d; want one for the policy", ev.Acquires, a.policy.Acquires.Load())
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClampMSS(t *testing.T) {
	mk := func(mss uint16) []byte {
		syn := make([]byte, 44)
		putIPv4Header(syn, 44, 1, ProtoTCP, innerSrc4, innerDst4)
		tcp := syn[20:]
		tcp[12] = 6 << 4 // 24-byte header: one MSS option
		tcp[13] = 0x02   // SYN
		tcp[20], tcp[21] = 2, 4
		binary.BigEndian.PutUint16(tcp[22:], mss)
		binary.BigEndian.PutUint16(tcp[16:], tcpChecksum(syn))
		return syn
	}
	syn := mk(1460)
	if !ClampMSS(syn, 1400) || binary.BigEndian.Uint16(syn[42:]) != 1360 {
		t.Fatalf("MSS %d", binary.BigEndian.Uint16(syn[42:]))
	}
	if got, want := binary.BigEndian.Uint16(syn[36:]), tcpChecksum(syn); got != want {
		t.Fatalf("incremental checksum %#x, recomputed %#x", got, want)
	}
	if ClampMSS(syn, 1400) {
		t.Fatal("clamped twice")
	}
	if small := mk(1200); ClampMSS(small, 1400) {
		t.Fatal("raised a smaller MSS")
	}
}

func tcpChecksum(p []byte) uint16 {
	seg := append([]byte(nil), p[20:]...)
	seg[16], seg[17] = 0, 0
	var sum uint32
	for i := 12; i < 20; i += 2 {
		sum += uint32(p[i])<<8 | uint32(p[i+1])
	}
	sum += ProtoTCP + uint32(len(seg))
	return Checksum(seg, sum)
}

func TestDataplaneNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		a, b := newSites(t, "aes128gcm16", "", 8, 2)
		a.dev.In <- udpPacket(innerSrc4, innerDst4, 60, 1)
		recvPacket(t, b.dev.Out)
		for _, s := range []*site{a, b} {
			s.dp.Close()
			s.dev.Close()
			s.dp.Wait()
		}
	}()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Fatalf("%d goroutines before, %d after", before, g)
	}
}

// BenchmarkPipeline runs two whole data planes joined in memory (no sockets, no TUN, no
// root): site A's device reads inner packets, A encapsulates and "sends" them, B receives,
// decapsulates and writes them to its device. It reports inner bytes per second delivered and
// allocations, so the pipeline can be profiled without namespaces:
//
//	go test ./esp -run ^$ -bench Pipeline -cpuprofile cpu.out
func BenchmarkPipeline(b *testing.B) {
	for _, s := range []suite{{"aes128gcm16", ""}, {"aes256gcm16", ""}, {"aes128", "sha256"}} {
		for _, size := range []int{64, 1400} {
			b.Run(fmt.Sprintf("%s/%d", suiteName(s), size), func(b *testing.B) {
				a, z := newSites(b, s.enc, s.integ, 64, 0)
				pkt := udpPacket(innerSrc4, innerDst4, max(size, 28), 1)
				b.SetBytes(int64(len(pkt)))
				b.ReportAllocs()
				b.ResetTimer()
				go func() {
					for range b.N {
						a.dev.In <- pkt
					}
				}()
				for range b.N {
					memFree(<-z.dev.Out)
				}
				b.StopTimer()
				if e := z.in.Stats.ErrorTotal(); e != 0 {
					b.Fatalf("%d packets refused", e)
				}
			})
		}
	}
}

// TestDataplaneLargeIKE: receive buffers hold one tunnel packet (MTU + 512), not 64 KB; a
// larger IKE message (certificates) still reaches the key manager whole through the bind's
// Oversize hook, and an ESP datagram that large is dropped and counted, never cut and
// processed.
func TestDataplaneLargeIKE(t *testing.T) {
	a, b := newSites(t, "aes128gcm16", "", 8, 1)
	if b.dp.inRoom >= 5000 {
		t.Fatalf("receive room %d: the test needs a message larger than it", b.dp.inRoom)
	}
	msg := bytes.Repeat([]byte("large IKE message "), 300) // 5,400 bytes
	if err := a.dp.SendIKE(msg, netip.Addr{}, siteAddrB, true); err != nil {
		t.Fatal(err)
	}
	if got := recvPacket(t, b.ike); !bytes.Equal(got, msg) {
		t.Fatalf("IKE message of %d bytes arrived as %d bytes", len(msg), len(got))
	}
	esp := make([]byte, 5400)
	binary.BigEndian.PutUint32(esp, 0x2002) // b's inbound SPI
	binary.BigEndian.PutUint32(esp[4:], 1)
	ep, err := a.bind.ParseEndpoint(siteAddrB.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.bind.Send([][]byte{esp}, ep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.dp.Stat.Oversized.Load() == 1 })
	if n := b.in.Stats.ErrorTotal() + b.in.Stats.Packets.Load(); n != 0 {
		t.Fatalf("the oversized ESP datagram reached its SA (%d packets or errors)", n)
	}
}
