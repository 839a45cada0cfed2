package ikev2

import (
	"bytes"
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

// nattedPair is A behind a NAT (public address 198.18.1.254) and B, with MOBIKE on both or
// neither, and the child up.
func nattedPair(t *testing.T, mobike bool) (*lnet, *node, *node, netip.Addr) {
	t.Helper()
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	a.MOBIKE, b.MOBIKE = mobike, mobike
	n, x, y := pair(t, a, b)
	public := netip.MustParseAddr("198.18.1.254")
	n.natted(x, public)
	x.core.Start(n.now)
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	return n, x, y, public
}

// TestPublicEndFollowsESPSource: the NAT in front of the initiator remaps it to a new port and
// the first thing from there is ESP; the responder, which is not behind a NAT, moves the IKE
// SA and its children to the new port at once (RFC 7296 §2.23), not at the next IKE message.
// The end behind the NAT does not follow; with MOBIKE only a new port is followed, a new
// address is the client's to announce (RFC 4555 §3.5).
func TestPublicEndFollowsESPSource(t *testing.T) {
	for _, mobike := range []bool{false, true} {
		n, x, y, public := nattedPair(t, mobike)
		sx, sy := currentSA(x, "ab"), currentSA(y, "ba")
		cx, cy := unit(x, "ab", "net").Newest(), unit(y, "ba", "net").Newest()
		old := netip.AddrPortFrom(public, 34500)
		if sy.Remote != old || cy.Params().Peer != old {
			t.Fatalf("mobike %v: the responder sends IKE to %v, ESP to %v; want the mapping %v", mobike, sy.Remote, cy.Params().Peer, old)
		}

		// The NAT's new mapping; no IKE message crosses before the ESP report.
		n.natBox.ports[4500] = 20001
		rebound := netip.AddrPortFrom(public, 20001)
		if mobike {
			// Another address is MOBIKE's to announce (UPDATE_SA_ADDRESSES); a new port
			// of the same address is the NAT's, followed as without MOBIKE.
			elsewhere := netip.AddrPortFrom(netip.MustParseAddr("198.18.1.253"), 20001)
			espMoved(y, n.now, cy, elsewhere)
			if sy.Remote != old || y.ctr.Get(core.CtrESPFloats) != 0 {
				t.Fatalf("with MOBIKE the responder followed ESP to another address, %v", sy.Remote)
			}
		}
		espMoved(y, n.now, cy, rebound)
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

// TestMOBIKEClientFindsNewMapping: a MOBIKE client behind a NAT puts NAT detection in its
// liveness checks; the peer answers with the hash of the mapping it sees. When the NAT maps
// the client to a new port, the next check's answer differs from the last and the client
// sends UPDATE_SA_ADDRESSES (a peer with MOBIKE, strongSwan, follows nothing else; RFC 4555
// §3.5). The same mapping again: nothing more.
func TestMOBIKEClientFindsNewMapping(t *testing.T) {
	n, x, y, public := nattedPair(t, true)
	sx, sy := currentSA(x, "ab"), currentSA(y, "ba")
	if !sx.mob.on || !sx.natMappingChecked() {
		t.Fatal("want MOBIKE on and the client behind the NAT")
	}
	check := func() {
		t.Helper()
		sx.sendLiveness(n.now)
		n.runFor(time.Second)
	}
	check() // the first answer: the mapping is confirmed with UPDATE_SA_ADDRESSES, no move counted
	first := sx.mob.natDst
	if first == nil || x.ctr.Get(core.CtrMOBIKEMoves) != 0 {
		t.Fatalf("after the first check: mapping hash %x, mobike_moves %d", first, x.ctr.Get(core.CtrMOBIKEMoves))
	}
	check()
	if x.ctr.Get(core.CtrMOBIKEMoves) != 0 {
		t.Fatal("the same mapping counted as a move")
	}
	n.natBox.ports[4500] = 20001
	check()
	if got := x.ctr.Get(core.CtrMOBIKEMoves); got != 1 {
		t.Fatalf("mobike_moves %d after the NAT's new mapping, want 1", got)
	}
	if bytes.Equal(sx.mob.natDst, first) {
		t.Fatal("the mapping hash did not change")
	}
	if want := netip.AddrPortFrom(public, 20001); sy.Remote != want || unit(y, "ba", "net").Newest().Params().Peer != want {
		t.Fatalf("the responder sends IKE to %v, ESP to %v; want %v", sy.Remote, unit(y, "ba", "net").Newest().Params().Peer, want)
	}
	check()
	if got := x.ctr.Get(core.CtrMOBIKEMoves); got != 1 {
		t.Fatalf("mobike_moves %d after another check of the same mapping, want 1", got)
	}
}
