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
