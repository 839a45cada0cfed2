package ikev2

import (
	"net/netip"
	"testing"
	"time"

	"oakley/esp"
	"oakley/ike/core"
)

// espMoved makes the data plane report that ESP-in-UDP verified under the pair's inbound SA
// came from another source.
func espMoved(nd *node, now time.Time, csa *core.ChildSA, from netip.AddrPort) {
	in, _ := csa.SAs()
	nd.core.HandleEvents(now, esp.Events{SA: []esp.SAEvent{{Kind: esp.EventSourceMoved, SA: in, From: from}}})
}

// TestPublicEndFollowsESPSource: the NAT in front of the initiator remaps it to a new port and
// the first thing from there is ESP; the responder, which is not behind a NAT, moves the IKE
// SA and its children to the new port at once (RFC 7296 §2.23), not at the next IKE message.
// The end behind the NAT does not follow, and neither does an SA with MOBIKE (RFC 4555 §3.8).
func TestPublicEndFollowsESPSource(t *testing.T) {
	for _, mobike := range []bool{false, true} {
		a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
		a.MOBIKE, b.MOBIKE = mobike, mobike
		n, x, y := pair(t, a, b)
		public := netip.MustParseAddr("198.18.1.254")
		n.natted(x, public)
		x.core.Start(n.now)
		n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
		sx, sy := currentSA(x, "ab"), currentSA(y, "ba")
		cx, cy := unit(x, "ab", "net").Newest(), unit(y, "ba", "net").Newest()
		old := netip.AddrPortFrom(public, 34500)
		if sy.Remote != old || cy.Params().Peer != old {
			t.Fatalf("mobike %v: the responder sends IKE to %v, ESP to %v; want the mapping %v", mobike, sy.Remote, cy.Params().Peer, old)
		}

		// The NAT's new mapping; no IKE message crosses before the ESP report.
		n.natBox.ports[4500] = 20001
		rebound := netip.AddrPortFrom(public, 20001)
		espMoved(y, n.now, cy, rebound)
		if mobike {
			if sy.Remote != old || y.ctr.Get(core.CtrESPFloats) != 0 {
				t.Fatalf("with MOBIKE the responder followed ESP to %v", sy.Remote)
			}
			continue
		}
		in, _ := cy.SAs()
		if sy.Remote != rebound || cy.Params().Peer != rebound || in.WatchedSource() != rebound {
			t.Fatalf("after ESP from %v the responder sends IKE to %v, ESP to %v, watches %v",
				rebound, sy.Remote, cy.Params().Peer, in.WatchedSource())
		}
		if got := y.ctr.Get(core.CtrESPFloats); got != 1 {
			t.Fatalf("esp_floats %d, want 1", got)
		}
		espMoved(y, n.now, cy, rebound) // the current source again: nothing to do
		if got := y.ctr.Get(core.CtrESPFloats); got != 1 {
			t.Fatalf("esp_floats %d after a report of the current source, want 1", got)
		}

		// The NATed end does not follow ESP: its peer has not moved.
		elsewhere := netip.MustParseAddrPort("198.51.100.77:4500")
		xPeer := sx.Remote
		espMoved(x, n.now, cx, elsewhere)
		if sx.Remote != xPeer || cx.Params().Peer != xPeer || x.ctr.Get(core.CtrESPFloats) != 0 {
			t.Fatalf("the NATed end moved to %v (ESP to %v) on a report of %v", sx.Remote, cx.Params().Peer, elsewhere)
		}

		// The tunnel keeps working at the new port: DPD, rekeys, re-authentication.
		n.runFor(2 * time.Hour)
		if !childUp(x, "ab", "net") || !childUp(y, "ba", "net") || currentSA(y, "ba").Remote != rebound {
			t.Fatalf("the tunnel did not survive at the new port: responder at %v", currentSA(y, "ba").Remote)
		}
	}
}

// TestNoNATDoesNotFollowESPSource: without a NAT an ESP report moves nothing.
func TestNoNATDoesNotFollowESPSource(t *testing.T) {
	n, _, y := established(t, "aes128gcm16-prfsha256-ecp256", "aes128gcm16")
	sy, cy := currentSA(y, "ba"), unit(y, "ba", "net").Newest()
	before := sy.Remote
	espMoved(y, n.now, cy, netip.MustParseAddrPort("198.51.100.77:4500"))
	if sy.Remote != before || y.ctr.Get(core.CtrESPFloats) != 0 {
		t.Fatalf("moved to %v without a NAT", sy.Remote)
	}
}
