package ikev2

import (
	"net/netip"
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// TestReassembly: a peer that sends its requests in SKF fragments (RFC 7383) is understood:
// the fragments are verified, reassembled by the SA's bounded Reassembler (in any order),
// and the request answered once. We do not fragment ourselves, so we never announce
// IKEV2_FRAGMENTATION_SUPPORTED.
func TestReassembly(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	n, x, y := pair(t, a, b)
	fragmented := 0
	var replies [][]byte
	n.filter = func(from, to *node, m []byte) []byte {
		h, err := wire.DecodeHeader(m)
		if err != nil || from != x || h.IsResponse() || h.Exchange == wire.ExchangeIKESAInit {
			if h.Exchange == wire.ExchangeIKESAInit && from == y {
				if mm, _ := wire.DecodeMessage(m); mm != nil && hasNotify(&mm.Chain, wire.NotifyIKEv2FragmentationSupported) {
					t.Error("IKEV2_FRAGMENTATION_SUPPORTED announced")
				}
			}
			return m
		}
		sa := anySA(x)
		dm, err := wire.DecodeEncrypted(m, sa.keys.out)
		if err != nil {
			t.Fatal(err)
		}
		frags, err := wire.EncodeFragments(dm.Header, dm.Inner.Payloads, sa.keys.out, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(frags) < 2 {
			return m // small enough (a Delete)
		}
		fragmented++
		defer func() {
			for _, r := range replies {
				x.core.HandleDatagram(n.now, r, netip.AddrPortFrom(ipB, 4500), netip.AddrPortFrom(ipA, 4500))
			}
			replies = nil
		}()
		// Deliver in reverse order, one twice; then the whole request again (a
		// retransmission): answered from the cache, not reassembled again.
		for i := len(frags) - 1; i >= 0; i-- {
			y.core.HandleDatagram(n.now, frags[i].Raw, netip.AddrPortFrom(ipA, 4500), netip.AddrPortFrom(ipB, 4500))
			if i == len(frags)-1 {
				y.core.HandleDatagram(n.now, frags[i].Raw, netip.AddrPortFrom(ipA, 4500), netip.AddrPortFrom(ipB, 4500))
			}
		}
		answers := len(y.core.TakeOut())
		for _, f := range frags {
			y.core.HandleDatagram(n.now, f.Raw, netip.AddrPortFrom(ipA, 4500), netip.AddrPortFrom(ipB, 4500))
		}
		if again := y.core.TakeOut(); answers != 1 || len(again) != 1 {
			t.Errorf("%d answers to the fragments, %d to their retransmission; want 1 and 1", answers, len(again))
		} else {
			replies = append(replies, again[0].Msg)
		}
		return nil
	}
	x.core.Start(n.now)
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	u := unit(x, "ab", "net")
	anySA(x).StartChild(n.now, u, u.Newest())
	n.runFor(5 * time.Second)
	if fragmented != 2 || x.ctr.Get(core.CtrChildRekeys) != 1 {
		t.Fatalf("fragmented %d requests, rekeys %d", fragmented, x.ctr.Get(core.CtrChildRekeys))
	}
	if st := anySA(y).reasm.Stats(); st.Completed != 2 || st.Duplicates != 2 || anySA(y).reasm.Pending() != 0 {
		t.Fatalf("reassembly stats %+v", st)
	}
	// A forged fragment is refused before it is stored.
	sa := anySA(y)
	frags, _ := wire.EncodeFragments(wire.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: wire.ExchangeInformational, Flags: wire.FlagInitiator, MessageID: sa.peerMID},
		[]wire.Payload{}, anySA(x).keys.out, 200)
	bad := append([]byte(nil), frags[0].Raw...)
	bad[len(bad)-1] ^= 1
	before := y.ctr.Get(core.CtrDecryptFailures)
	y.core.HandleDatagram(n.now, bad, netip.AddrPortFrom(ipA, 4500), netip.AddrPortFrom(ipB, 4500))
	if y.ctr.Get(core.CtrDecryptFailures) != before+1 || len(y.core.TakeOut()) != 0 {
		t.Fatal("a forged fragment was not refused")
	}
}
