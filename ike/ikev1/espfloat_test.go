package ikev1

import (
	"net/netip"
	"testing"
	"time"

	"oakley/esp"
	"oakley/ike/core"
)

// moved makes the data plane report that ESP-in-UDP verified under the pair's inbound SA
// came from another source.
func (nd *node) moved(now time.Time, csa *core.ChildSA, from netip.AddrPort) {
	nd.core.HandleEvents(now, esp.Events{SA: []esp.SAEvent{{Kind: esp.EventSourceMoved, SA: inOf(csa), From: from}}})
}

// TestPublicEndFollowsESPSource: the NAT in front of the initiator remaps it to a new port
// and the first thing from there is ESP; the responder, which is not behind a NAT, moves the
// ISAKMP SA and its pairs to the new port at once (RFC 3947 §4), not at the next IKE message.
func TestPublicEndFollowsESPSource(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	public := netip.MustParseAddr("203.0.113.5")
	n.natted(a, public)
	ca, cb := establish(t, n, a, b)
	saA, saB := currentSA(a.c, "ab"), currentSA(b.c, "ba")
	old := netip.AddrPortFrom(public, 34500)
	if got := inOf(cb).WatchedSource(); got != old {
		t.Fatalf("the responder's inbound SA watches %v, want the peer's NAT-T mapping %v", got, old)
	}

	// The NAT's new mapping; no IKE message crosses before the ESP report.
	n.natBox.ports[4500] = 20001
	rebound := netip.AddrPortFrom(public, 20001)
	b.moved(n.now, cb, rebound)
	if saB.Remote != rebound || cb.Params().Peer != rebound || b.policy("ba", "net").Binding().Peer != rebound {
		t.Fatalf("after ESP from %v the responder sends IKE to %v, ESP to %v (binding %v)",
			rebound, saB.Remote, cb.Params().Peer, b.policy("ba", "net").Binding().Peer)
	}
	if got := inOf(cb).WatchedSource(); got != rebound {
		t.Fatalf("the inbound SA watches %v after the move, want %v", got, rebound)
	}
	if got := b.ctr.Get(core.CtrESPFloats); got != 1 {
		t.Fatalf("esp_floats %d, want 1", got)
	}
	b.moved(n.now, cb, rebound) // the same source again: nothing to do
	if got := b.ctr.Get(core.CtrESPFloats); got != 1 {
		t.Fatalf("esp_floats %d after a report of the current source, want 1", got)
	}

	// The NATed end does not follow ESP: its peer has not moved.
	elsewhere := netip.MustParseAddrPort("198.51.100.77:4500")
	aPeer := saA.Remote
	a.moved(n.now, ca, elsewhere)
	if saA.Remote != aPeer || ca.Params().Peer != aPeer || a.ctr.Get(core.CtrESPFloats) != 0 {
		t.Fatalf("the NATed end moved to %v (ESP to %v) on a report of %v", saA.Remote, ca.Params().Peer, elsewhere)
	}

	// The tunnel keeps working at the new port: DPD, rekeys and re-authentication.
	n.runFor(2 * time.Hour)
	if !childUp(a, "ab", "net") || !childUp(b, "ba", "net") || currentSA(b.c, "ba").Remote != rebound {
		t.Fatal("the tunnel did not survive at the new port")
	}
}

// TestNoNATDoesNotFollowESPSource: without a NAT the SA does not move on an ESP report (raw
// ESP is not watched at all; a report is ignored all the same).
func TestNoNATDoesNotFollowESPSource(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	_, cb := establish(t, n, a, b)
	saB := currentSA(b.c, "ba")
	before := saB.Remote
	if got := inOf(cb).WatchedSource(); got.IsValid() {
		t.Fatalf("raw ESP inbound SA watches %v", got)
	}
	b.moved(n.now, cb, netip.MustParseAddrPort("198.51.100.77:4500"))
	if saB.Remote != before || b.ctr.Get(core.CtrESPFloats) != 0 {
		t.Fatalf("moved to %v without a NAT", saB.Remote)
	}
}
