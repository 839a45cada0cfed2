package ikev2

import (
	"net/netip"
	"testing"
	"time"

	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// TestMOBIKE: with mobike on both sides, MOBIKE_SUPPORTED is exchanged in IKE_AUTH and the
// initiator uses the NAT-T port without a NAT. When A's address disappears and the route
// to B leaves from another address, A sends UPDATE_SA_ADDRESSES from it and both sides move
// the IKE SA and the child's outbound binding there, with the same SPIs and no rekey; B's
// next messages reach A at its new address. Negative controls: mobike off on either side
// (nothing negotiated, nobody moves: B keeps sending to the address that is gone), and
// an UPDATE_SA_ADDRESSES from the IKE SA's responder is ignored.
func TestMOBIKE(t *testing.T) {
	newA := netip.MustParseAddr("198.18.0.11")
	for _, tc := range []struct {
		name           string
		mobA, mobB     bool
		encap          string
		wantOn, moving bool
	}{
		{"udp", true, true, "udp", true, true},
		{"raw", true, true, "auto", true, true},
		{"initiator-off", false, true, "udp", false, false},
		{"responder-off", true, false, "udp", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
			a.MOBIKE, b.MOBIKE = tc.mobA, tc.mobB
			a.Encap, b.Encap = tc.encap, tc.encap
			n, x, y := pair(t, a, b)
			addrs := []netip.Addr{ipA, newA}
			x.p.hooks.localAddrs = func() []netip.Addr { return addrs }
			x.p.hooks.routeFrom = func(netip.Addr) netip.Addr { return addrs[len(addrs)-1] }
			var mobikeAuth int
			n.filter = func(from, to *node, m []byte) []byte {
				if h, err := wire.DecodeHeader(m); err == nil && h.Exchange == wire.ExchangeIKEAuth {
					sa := anySA(from)
					if dm, err := wire.DecodeEncrypted(m, sa.keys.out); err == nil && hasNotify(dm.Inner, wire.NotifyMOBIKESupported) {
						mobikeAuth++
					}
				}
				return m
			}
			x.core.Start(n.now)
			n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
			sx, sy := currentSA(x, "ab"), currentSA(y, "ba")
			if sx.mob.on != tc.wantOn || sy.mob.on != tc.wantOn || !sx.mob.client || sy.mob.client {
				t.Fatalf("MOBIKE on: A %v (client %v), B %v (client %v); want %v", sx.mob.on, sx.mob.client, sy.mob.on, sy.mob.client, tc.wantOn)
			}
			want := 0
			if tc.mobA {
				want = 1
			}
			if tc.wantOn {
				want = 2
			}
			if mobikeAuth != want {
				t.Fatalf("%d IKE_AUTH messages carried MOBIKE_SUPPORTED, want %d", mobikeAuth, want)
			}
			if tc.mobA && (!sx.NATT || !sy.NATT) {
				t.Fatalf("a MOBIKE initiator did not move to the NAT-T port: A %v, B %v", sx.NATT, sy.NATT)
			}
			ux, uy := unit(x, "ab", "net").Newest(), unit(y, "ba", "net").Newest()
			inX, inY := ux.InSPI(), uy.InSPI()

			// A's first address goes.
			addrs = []netip.Addr{newA}
			x.ip = newA
			n.runFor(3 * time.Second)
			moved := sy.Remote.Addr() == newA
			if moved != tc.moving || (sx.Local == newA) != tc.moving {
				t.Fatalf("after the move: A's IKE SA from %s, B's to %s (moving %v); trace:\n%s", sx.Local, sy.Remote, tc.moving, n.traceTail(10))
			}
			if !tc.moving {
				if x.ctr.Get(core.CtrMOBIKEMoves)+y.ctr.Get(core.CtrMOBIKEMoves) != 0 {
					t.Fatal("mobike_moves counted without MOBIKE")
				}
				return
			}
			if x.ctr.Get(core.CtrMOBIKEMoves) != 1 || y.ctr.Get(core.CtrMOBIKEMoves) != 1 {
				t.Fatalf("mobike_moves: A %d, B %d", x.ctr.Get(core.CtrMOBIKEMoves), y.ctr.Get(core.CtrMOBIKEMoves))
			}
			// The same child SAs, rebound: B sends ESP to A's new address, from A's side the
			// binding leaves from it.
			if unit(x, "ab", "net").Newest() != ux || unit(y, "ba", "net").Newest() != uy || ux.InSPI() != inX || uy.InSPI() != inY ||
				x.ctr.Get(core.CtrChildRekeys)+y.ctr.Get(core.CtrChildRekeys) != 0 {
				t.Fatal("the child SAs were renegotiated")
			}
			bind := unit(y, "ba", "net").Policy.Binding()
			if bind == nil || bind.Peer.Addr() != newA || ux.Params().Local != newA {
				t.Fatalf("B's outbound binding %+v, A's child local %s", bind, ux.Params().Local)
			}
			if wantEncap := map[string]esp.Encap{"udp": esp.EncapUDP, "auto": esp.EncapRaw}[tc.encap]; bind.Encap != wantEncap {
				t.Fatalf("encapsulation %v, want %v", bind.Encap, wantEncap)
			}
			// B's requests reach A at its new address: a liveness check is answered.
			before := n.delivered
			sy.sendLiveness(n.now)
			n.runFor(2 * time.Second)
			if n.delivered < before+2 || sy.out != nil {
				t.Fatalf("B's liveness check after the move was not answered; trace:\n%s", n.traceTail(6))
			}

			// An UPDATE_SA_ADDRESSES from the responder of the IKE SA is not followed.
			y.ip = netip.MustParseAddr("198.18.0.22")
			sy.enqueue(n.now, sy.updateRequest())
			n.runFor(2 * time.Second)
			if sx.Remote.Addr() != ipB || x.ctr.Get(core.CtrMOBIKEMoves) != 1 {
				t.Fatalf("A followed its responder to %s", sx.Remote)
			}
		})
	}
}

// TestMOBIKELocalAddrGone: a MOBIKE connection whose local_addr is no longer one of ours
// starts its IKE SA from the address the route to the peer uses; without mobike the
// configured local_addr stays (the control).
func TestMOBIKELocalAddrGone(t *testing.T) {
	newA := netip.MustParseAddr("198.18.0.11")
	for _, mob := range []bool{true, false} {
		a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
		a.MOBIKE, b.MOBIKE = mob, mob
		n, x, y := pair(t, a, b)
		x.ip = newA
		x.p.hooks.localAddrs = func() []netip.Addr { return []netip.Addr{newA} }
		x.p.hooks.routeFrom = func(netip.Addr) netip.Addr { return newA }
		x.core.Start(n.now)
		sa := anySA(x)
		if want := map[bool]netip.Addr{true: newA, false: ipA}[mob]; sa.Local != want {
			t.Fatalf("mobike %v: the IKE SA starts from %s, want %s", mob, sa.Local, want)
		}
		if mob {
			n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
			if currentSA(y, "ba").Remote.Addr() != newA {
				t.Fatalf("B sees A at %s", currentSA(y, "ba").Remote)
			}
		}
	}
}

// TestMOBIKEAfterIKERekey: the IKE SA that replaces a MOBIKE SA (rekeyed by either side)
// keeps MOBIKE, the client role and the address it moved to, and follows the next move.
func TestMOBIKEAfterIKERekey(t *testing.T) {
	second, third := netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("198.18.0.12")
	for _, bRekeys := range []bool{false, true} {
		a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
		a.MOBIKE, b.MOBIKE, a.Encap, b.Encap = true, true, "udp", "udp"
		n, x, y := pair(t, a, b)
		addrs := []netip.Addr{ipA}
		x.p.hooks.localAddrs = func() []netip.Addr { return addrs }
		x.p.hooks.routeFrom = func(netip.Addr) netip.Addr { return addrs[len(addrs)-1] }
		x.core.Start(n.now)
		n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
		move := func(to netip.Addr) {
			addrs, x.ip = []netip.Addr{to}, to
			n.runFor(3 * time.Second)
			if sy := currentSA(y, "ba"); sy.Remote.Addr() != to {
				t.Fatalf("B's IKE SA goes to %s, want %s", sy.Remote, to)
			}
		}
		move(second)
		old := currentSA(x, "ab")
		if bRekeys {
			currentSA(y, "ba").Rekey(n.now)
		} else {
			old.Rekey(n.now)
		}
		n.runUntil(func() bool { return currentSA(x, "ab") != old && currentSA(y, "ba").spiI == currentSA(x, "ab").spiI }, time.Minute)
		nx, ny := currentSA(x, "ab"), currentSA(y, "ba")
		if !nx.mob.on || !nx.mob.client || !ny.mob.on || ny.mob.client || nx.Local != second || ny.Remote.Addr() != second {
			t.Fatalf("B rekeyed %v: new SAs: A on %v client %v from %s; B on %v client %v to %s",
				bRekeys, nx.mob.on, nx.mob.client, nx.Local, ny.mob.on, ny.mob.client, ny.Remote)
		}
		move(third)
		if x.ctr.Get(core.CtrMOBIKEMoves) != 2 || y.ctr.Get(core.CtrMOBIKEMoves) != 2 {
			t.Fatalf("mobike_moves: A %d, B %d", x.ctr.Get(core.CtrMOBIKEMoves), y.ctr.Get(core.CtrMOBIKEMoves))
		}
	}
}
