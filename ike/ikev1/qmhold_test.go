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

// TestHeldQuickModeWithdrawn: B holds its Quick Mode back after MM6 and A starts one for the
// same unit meanwhile: B withdraws its own, which never left, instead of counting a crossing
// that A cannot see (each end would keep a different pair). One new pair, on both ends.
func TestHeldQuickModeWithdrawn(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	establish(t, n, a, b)
	first := currentSA(b.c, "ba")
	var bQM1 int
	var second *ikeSA
	n.afterStep = func() {
		if second != nil {
			return
		}
		for _, s := range b.c.sas {
			if s != first && !s.Initiator && s.established() {
				second = s
				s.StartChild(n.now, b.unit("ba", "net"), nil) // held
				if sa2 := currentSA(a.c, "ab"); sa2 != nil && sa2.Initiator {
					sa2.StartChild(n.now, a.unit("ab", "net"), nil) // A's leaves at once
				}
				return
			}
		}
	}
	n.filter = func(from, to *node, m []byte) []byte {
		h, err := isakmp.DecodeHeader(m)
		if err == nil && from == b && second != nil && h.ExchangeType == isakmp.ExchangeQuickMode &&
			h.InitiatorCookie == second.ckyI && h.ResponderCookie == second.ckyR && h.Flags.Has(isakmp.FlagEncryption) {
			if qm, ok := second.qms[h.MessageID]; ok && qm.initiator {
				bQM1++
			}
		}
		return m
	}
	if _, err := a.c.Initiate(n.now, a.conn("ab"), currentSA(a.c, "ab")); err != nil {
		t.Fatal(err)
	}
	n.runUntil(func() bool { return second != nil }, time.Minute)
	n.runFor(time.Minute)
	if bQM1 != 0 {
		t.Fatalf("B sent %d messages of its own Quick Mode; it should have withdrawn it", bQM1)
	}
	if a.ctr.Get(core.CtrRekeyCollisions) != 0 || b.ctr.Get(core.CtrRekeyCollisions) != 0 {
		t.Fatalf("rekey collisions counted: A %d, B %d", a.ctr.Get(core.CtrRekeyCollisions), b.ctr.Get(core.CtrRekeyCollisions))
	}
	if !childUp(a, "ab", "net") || !childUp(b, "ba", "net") {
		t.Fatal("child down")
	}
	ua, ub := a.unit("ab", "net"), b.unit("ba", "net")
	na, nb := ua.Newest(), ub.Newest()
	if na == nil || nb == nil || na.InSPI() != nb.OutSPI() || na.OutSPI() != nb.InSPI() {
		t.Fatal("the ends' newest pairs differ")
	}
}
