package esp

// The data plane keeps no state per sender of IKE datagrams (issue 8 item 2: it once stored
// every sender's endpoint before anything was validated, and nothing removed them). A flood
// of IKE datagrams from 100,000 distinct spoofed sources must leave the heap where it was,
// while a real peer's ESP and IKE still get through.

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	ocrypto "oakley/crypto"
)

// floodSources is how many distinct spoofed sources a flood uses.
const floodSources = 100_000

// heapAfterGC is the live heap once garbage (and sync.Pool contents) is collected.
func heapAfterGC() uint64 {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// spoofedSource is the i-th of the flood's sources: distinct addresses in 2001:db8::/32.
func spoofedSource(i int) netip.AddrPort {
	var a [16]byte
	copy(a[:], netip.MustParseAddr("2001:db8:f100::").AsSlice())
	binary.BigEndian.PutUint32(a[12:], uint32(i)+1)
	return netip.AddrPortFrom(netip.AddrFrom16(a), uint16(1024+i%60000))
}

// floodIKE sends n IKE datagrams (non-ESP marker + a 28-byte ISAKMP header) from n distinct
// sources to b, keeping at most a few hundred in flight (each in-flight datagram is a
// 64 KiB buffer of the in-memory network), and every step-th one calls between.
func floodIKE(b *memBind, n, step int, between func(i int)) {
	msg := make([]byte, NonESPMarkerLen+28)
	for i := range n {
		binary.BigEndian.PutUint64(msg[NonESPMarkerLen:], uint64(i)+1) // initiator cookie
		msg[NonESPMarkerLen+17] = 0x10                                 // version 1.0
		msg[NonESPMarkerLen+18] = 2                                    // Main Mode
		binary.BigEndian.PutUint32(msg[NonESPMarkerLen+24:], 28)
		for len(b.rx) > 256 {
			time.Sleep(50 * time.Microsecond)
		}
		b.inject(spoofedSource(i), msg)
		if between != nil && (i+1)%step == 0 {
			between(i)
		}
	}
}

type floodResult struct {
	before, after uint64 // live heap before and after the flood
	ikeSeen       uint64 // IKE datagrams handed to OnIKE
	served        int    // the real peer's packets that crossed during the flood
}

// floodSites builds two data planes joined by an in-memory network with an AES-GCM SA pair
// (as newSites does), B's IKE messages going to onIKE, which must not block.
func floodSites(t *testing.T, cacheEndpoints bool, onIKE func(m []byte, from, local netip.AddrPort)) (a, b *site) {
	t.Helper()
	n := newMemNet()
	mk := func(addr netip.AddrPort, on func(m []byte, from, local netip.AddrPort)) *site {
		s := &site{dev: newMemDevice(64), bind: n.bind(addr.Addr().String(), 64)}
		s.bind.uncached = !cacheEndpoints
		var err error
		if s.dp, err = New(Options{Device: s.dev, NATT: s.bind, NATTPort: addr.Port(), Workers: 1, OnIKE: on}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b = mk(siteAddrA, func([]byte, netip.AddrPort, netip.AddrPort) {}), mk(siteAddrB, onIKE)
	e := ocrypto.Lookup("aes128gcm16")
	netA := []Selector{SelectorFor(netip.MustParsePrefix("192.0.2.0/24"))}
	netB := []Selector{SelectorFor(netip.MustParsePrefix("198.51.100.0/24"))}
	install := func(s *site, spi uint32, dir Direction, local, remote []Selector) *SA {
		sa, err := s.dp.Install(Config{SPI: spi, Dir: dir, Proto: ESP, Mode: Tunnel, Enc: e,
			EncKey: bytes.Repeat([]byte{7}, e.KeyLen()), Replay: 1024, Local: local, Remote: remote,
			LocalAddr: siteAddrA.Addr(), RemoteAddr: siteAddrB.Addr(), MTU: 1400})
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	a.out = install(a, 0x3003, Outbound, netA, netB)
	b.in = install(b, 0x3003, Inbound, netB, netA)
	a.policy = &Policy{Name: "net", Local: netA, Remote: netB, Action: Protect}
	a.dp.SPD.Add(a.policy)
	if err := a.dp.Bind(a.policy, a.out, siteAddrB, netip.Addr{}, EncapUDP, 1400); err != nil {
		t.Fatal(err)
	}
	a.dp.Start()
	b.dp.Start()
	t.Cleanup(func() {
		for _, s := range []*site{a, b} {
			s.dp.Close()
			s.dev.Close()
			s.dp.Wait()
		}
	})
	return a, b
}

// runIKEFlood floods B's NAT-T port from floodSources sources while A, the real peer, sends
// a packet through the tunnel every 5,000 datagrams, then checks that an IKE message of A
// still arrives with A's address. With cacheEndpoints the test network's bind keeps one
// endpoint per source (the table the data plane once kept), for the negative control.
func runIKEFlood(t *testing.T, cacheEndpoints bool) floodResult {
	t.Helper()
	var seen atomic.Uint64
	legit := make(chan netip.AddrPort, 4)
	a, b := floodSites(t, cacheEndpoints, func(m []byte, from, local netip.AddrPort) {
		if seen.Add(1); from == siteAddrA {
			legit <- from
		}
	})
	// Warm up (pools, goroutines, channel buffers) before the first measurement.
	a.dev.In <- udpPacket(innerSrc4, innerDst4, 100, 1)
	recvPacket(t, b.dev.Out)
	floodIKE(b.bind, 1000, 1000, nil)
	waitCount(t, &seen, 1000)
	var res floodResult
	res.before = heapAfterGC()

	var want [][]byte
	floodIKE(b.bind, floodSources, 5000, func(i int) {
		p := udpPacket(innerSrc4, innerDst4, 200, byte(i/5000))
		want = append(want, p)
		a.dev.In <- p
	})
	waitCount(t, &seen, 1000+floodSources)
	for i := range want {
		if got := recvPacket(t, b.dev.Out); !bytes.Equal(got, want[i]) {
			t.Fatalf("the real peer's packet %d differs after crossing during the flood", i)
		}
		res.served++
	}
	res.ikeSeen = seen.Load() - 1000
	// The real peer's IKE message is delivered with its own address.
	if err := a.dp.SendIKE(make([]byte, 28), netip.Addr{}, siteAddrB, true); err != nil {
		t.Fatal(err)
	}
	select {
	case from := <-legit:
		if from != siteAddrA {
			t.Fatalf("the real peer's IKE message came from %s", from)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the real peer's IKE message was not delivered after the flood")
	}
	res.after = heapAfterGC()
	runtime.KeepAlive(b)
	return res
}

func waitCount(t *testing.T, c *atomic.Uint64, want uint64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for c.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("counter at %d, want %d", c.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// floodHeapLimit is the growth of the live heap a flood from floodSources sources may cause:
// under 20 bytes per source, where one stored endpoint per source costs ~100.
const floodHeapLimit = 2 << 20

func TestIKEFloodKeepsNoStatePerSource(t *testing.T) {
	r := runIKEFlood(t, false)
	growth := int64(r.after) - int64(r.before)
	t.Logf("%d IKE datagrams from %d sources: %d handed to IKE; live heap %d -> %d bytes (%+d); %d packets of the real peer crossed during the flood",
		floodSources, floodSources, r.ikeSeen, r.before, r.after, growth, r.served)
	if r.ikeSeen < floodSources {
		t.Fatalf("only %d of %d IKE datagrams reached OnIKE", r.ikeSeen, floodSources)
	}
	if raceEnabled {
		t.Log("memory not checked under -race (its instrumentation allocates)")
		return
	}
	if growth > floodHeapLimit {
		t.Fatalf("the live heap grew by %d bytes during a flood from %d sources (limit %d): state kept per source", growth, floodSources, floodHeapLimit)
	}
}

// TestIKEFloodHeapCheckSeesPerSourceState is the negative control: the same flood, with the
// test network's bind keeping one endpoint per source (the table the data plane once kept),
// must fail the heap check above.
func TestIKEFloodHeapCheckSeesPerSourceState(t *testing.T) {
	if raceEnabled {
		t.Skip("memory not checked under -race")
	}
	r := runIKEFlood(t, true)
	growth := int64(r.after) - int64(r.before)
	t.Logf("with one endpoint kept per source: live heap %d -> %d bytes (%+d)", r.before, r.after, growth)
	if growth <= floodHeapLimit {
		t.Fatalf("a table of %d endpoints grew the heap by only %d bytes: the check cannot see per-source state", floodSources, growth)
	}
}

// TestEventsBoundedUnderTraffic: what the data plane queues for the key manager is bounded
// by the SAs and policies, not by traffic. 100,000 packets through an SA with soft and hard
// packet limits leave one soft and one hard event; 100,000 packets of distinct flows on a
// policy without an SA leave one pending acquire (at most one signal per second).
func TestEventsBoundedUnderTraffic(t *testing.T) {
	a, b := floodSites(t, false, func([]byte, netip.AddrPort, netip.AddrPort) {})
	go func() {
		for p := range b.dev.Out {
			memFree(p)
		}
	}()
	e := ocrypto.Lookup("aes128gcm16")
	netA := []Selector{SelectorFor(netip.MustParsePrefix("192.0.2.0/24"))}
	netB := []Selector{SelectorFor(netip.MustParsePrefix("198.51.100.0/24"))}
	limited, err := a.dp.Install(Config{SPI: 0x4004, Dir: Outbound, Proto: ESP, Mode: Tunnel, Enc: e,
		EncKey: bytes.Repeat([]byte{8}, e.KeyLen()), Local: netA, Remote: netB,
		LocalAddr: siteAddrA.Addr(), RemoteAddr: siteAddrB.Addr(), MTU: 1400,
		Life: Lifetime{SoftPackets: 900, HardPackets: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.dp.Bind(a.policy, limited, siteAddrB, netip.Addr{}, EncapUDP, 1400); err != nil {
		t.Fatal(err)
	}
	a.dp.Retire(a.out)
	heap0 := heapAfterGC()
	pkt := udpPacket(innerSrc4, innerDst4, 100, 1)
	for range floodSources {
		a.dev.In <- pkt
	}
	waitFor(t, func() bool { return a.dp.Stat.DevRx.Load() >= floodSources })
	ev := a.dp.TakeEvents()
	kinds := map[EventKind]int{}
	for _, x := range ev.SA {
		if x.SA != limited {
			t.Fatalf("event %s for another SA", x.Kind)
		}
		kinds[x.Kind]++
	}
	t.Logf("%d packets through an SA with soft/hard packet limits 900/1000: events %v, %d sealed", floodSources, kinds, limited.Seq())
	// The batch that crosses the hard limit is cut at it (esp.go Prepare): exactly 1000
	// packets leave.
	if len(ev.SA) != 2 || kinds[EventSoft] != 1 || kinds[EventHard] != 1 || limited.Seq() != 1000 {
		t.Fatalf("events %v (want one soft, one hard), %d packets sealed (want 1000)", kinds, limited.Seq())
	}
	// The packets after the hard limit found the policy without a live SA: one acquire.
	if len(ev.Acquires) != 1 {
		t.Fatalf("%d acquires after the hard limit, want 1", len(ev.Acquires))
	}
	if again := a.dp.TakeEvents(); len(again.SA)+len(again.Acquires) != 0 {
		t.Fatalf("events taken twice: %+v", again)
	}

	// Acquires: no SA on the policy, 100,000 packets of distinct flows (after the second
	// the rate limit asks for since the last acquire).
	a.dp.Unbind(a.policy)
	time.Sleep(1100 * time.Millisecond)
	noSA := a.dp.Stat.NoSA.Load()
	start := time.Now()
	for i := range floodSources {
		p := udpPacket(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), innerDst4, 60, 2)
		binary.BigEndian.PutUint16(p[20:], uint16(i>>8)) // source port
		a.dev.In <- p
	}
	waitFor(t, func() bool { return a.dp.Stat.NoSA.Load()-noSA >= floodSources })
	elapsed := time.Since(start)
	ev = a.dp.TakeEvents()
	signals := a.policy.Acquires.Load() - 1
	heap1 := heapAfterGC()
	t.Logf("%d packets of distinct flows on a policy without an SA in %s: %d acquire pending, %d signalled (rate limit 1/s); live heap %d -> %d bytes",
		floodSources, elapsed.Round(time.Millisecond), len(ev.Acquires), signals, heap0, heap1)
	if len(ev.Acquires) != 1 || ev.Acquires[0].Policy != a.policy {
		t.Fatalf("%d acquires pending, want 1 for the policy", len(ev.Acquires))
	}
	if max := uint64(elapsed/time.Second) + 1; signals > max {
		t.Fatalf("%d acquire signals in %s (at most one per second)", signals, elapsed)
	}
	if !raceEnabled && int64(heap1)-int64(heap0) > floodHeapLimit {
		t.Fatalf("the live heap grew by %d bytes", int64(heap1)-int64(heap0))
	}
}
