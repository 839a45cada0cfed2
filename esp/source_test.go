package esp

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// sourceMoves returns the EventSourceMoved events pending for sa.
func sourceMoves(d *Dataplane, sa *SA) []netip.AddrPort {
	var out []netip.AddrPort
	for _, e := range d.TakeEvents().SA {
		if e.Kind == EventSourceMoved && e.SA == sa {
			out = append(out, e.From)
		}
	}
	return out
}

// TestSourceMovedOnlyOnVerifiedDatagrams: an inbound ESP-in-UDP SA that watches the peer's
// source reports a new one once, and only for a datagram that verified and passed the
// replay window (RFC 3947 §4: a NAT may remap the peer; a forged or replayed datagram
// from elsewhere must not move it).
func TestSourceMovedOnlyOnVerifiedDatagrams(t *testing.T) {
	a, b := newSites(t, "aes128gcm16", "", 8, 1)
	captured := make(chan []byte, 16)
	b.bind.drop = func(p []byte) bool {
		if len(p) > 40 && binary.BigEndian.Uint32(p) == 0x2002 {
			captured <- append([]byte(nil), p...)
			return true
		}
		return false
	}
	var esp [6][]byte
	for i := range esp {
		a.dev.In <- udpPacket(innerSrc4, innerDst4, 60, byte(i))
		esp[i] = recvPacket(t, captured)
	}
	b.bind.drop = nil
	b.in.WatchSource(siteAddrA)
	rebound := netip.MustParseAddrPort("198.18.0.1:20001")
	again := netip.MustParseAddrPort("198.18.0.1:20002")
	verified := func(n uint64) { waitFor(t, func() bool { return b.in.Stats.Packets.Load() == n }) }

	b.bind.inject(siteAddrA, esp[0])
	verified(1)
	if got := sourceMoves(b.dp, b.in); len(got) != 0 {
		t.Fatalf("moved to %v on a datagram from the watched source", got)
	}
	forged := append([]byte(nil), esp[1]...)
	forged[30] ^= 1
	b.bind.inject(rebound, forged)
	waitFor(t, func() bool { return b.in.Stats.Errors[ClassIntegrity].Load() == 1 })
	b.bind.inject(rebound, esp[0]) // a replay
	waitFor(t, func() bool { return b.in.Stats.Errors[ClassReplay].Load() == 1 })
	if got := sourceMoves(b.dp, b.in); len(got) != 0 || b.in.WatchedSource() != siteAddrA {
		t.Fatalf("moved to %v (watching %v) on a forged or replayed datagram", got, b.in.WatchedSource())
	}

	b.bind.inject(rebound, esp[1])
	verified(2)
	if got := sourceMoves(b.dp, b.in); len(got) != 1 || got[0] != rebound || b.in.WatchedSource() != rebound {
		t.Fatalf("moves %v, watching %v; want one move to %v", got, b.in.WatchedSource(), rebound)
	}
	b.bind.inject(rebound, esp[2])
	verified(3)
	if got := sourceMoves(b.dp, b.in); len(got) != 0 {
		t.Fatalf("moved again to %v from the source already reported", got)
	}

	// Two moves before the key manager looks: one event, with the latest source.
	b.bind.inject(siteAddrA, esp[3])
	verified(4)
	b.bind.inject(again, esp[4])
	verified(5)
	if got := sourceMoves(b.dp, b.in); len(got) != 1 || got[0] != again {
		t.Fatalf("moves %v; want one, to %v", got, again)
	}

	// Not watching: nothing is reported.
	b.in.WatchSource(netip.AddrPort{})
	b.bind.inject(rebound, esp[5])
	verified(6)
	if got := sourceMoves(b.dp, b.in); len(got) != 0 {
		t.Fatalf("moved to %v while not watching", got)
	}
}
