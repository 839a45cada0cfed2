package ikev1

import (
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// TestResponderHoldsQuickModeAfterMM6: a Main Mode responder that starts a Quick Mode at
// the instant it sends MM6 (a re-authentication collision makes oakley renegotiate a pair on
// the peer's brand-new SA) holds QM1 back mm6Hold, so it cannot overtake MM6: the initiator
// derives the Phase 2 IVs from MM6, and charon, finding QM1 first, failed to decrypt it and
// every retransmission of it (PAYLOAD-MALFORMED). Once the initiator sent anything
// protected on the SA, no hold.
func TestResponderHoldsQuickModeAfterMM6(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	establish(t, n, a, b)
	first := currentSA(b.c, "ba")
	var started, qm1 time.Time
	var second *ikeSA
	n.afterStep = func() {
		if second != nil {
			return
		}
		for _, s := range b.c.sas {
			if s != first && !s.Initiator && s.established() {
				started, second = n.now, s
				s.StartChild(n.now, b.unit("ba", "net"), nil)
				return
			}
		}
	}
	n.filter = func(from, to *node, m []byte) []byte {
		h, err := isakmp.DecodeHeader(m)
		if err == nil && from == b && second != nil && h.ExchangeType == isakmp.ExchangeQuickMode &&
			h.InitiatorCookie == second.ckyI && h.ResponderCookie == second.ckyR && qm1.IsZero() {
			qm1 = n.now // B's first Quick Mode message on the new SA
		}
		return m
	}
	if _, err := a.c.Initiate(n.now, a.conn("ab"), currentSA(a.c, "ab")); err != nil { // a re-authentication
		t.Fatal(err)
	}
	n.runUntil(func() bool { return !qm1.IsZero() }, time.Minute)
	if held := qm1.Sub(started); held < mm6Hold {
		t.Fatalf("the Main Mode responder sent QM1 %s after MM6, want at least %s", held, mm6Hold)
	}
	n.runFor(time.Minute)
	if !childUp(a, "ab", "net") || !childUp(b, "ba", "net") {
		t.Fatal("the held Quick Mode did not complete")
	}
	if got := b.ctr.Get(core.CtrRetransmits); got != 0 {
		t.Fatalf("%d retransmissions: the hold counted as one", got)
	}

	// The initiator's own Quick Mode proves it has the keys: no hold on that SA any more.
	sa := currentSA(b.c, "ba")
	if sa.Initiator {
		t.Skip("B's current SA is its own")
	}
	sa.heardProtected = true
	if hold := sa.quickModeHold(n.now); hold != 0 {
		t.Fatalf("hold %s after the initiator was heard", hold)
	}
}
