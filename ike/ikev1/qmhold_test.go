package ikev1

import (
	"bytes"
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// onPeersNewSA runs fn once, at the step where nd has established an ISAKMP SA the peer
// initiated, other than first (the peer's re-authentication, with nd its Main Mode
// responder).
func onPeersNewSA(n *lnet, nd *node, first *ikeSA, fn func(s *ikeSA)) {
	done := false
	n.afterStep = func() {
		if done {
			return
		}
		for _, s := range nd.c.sas {
			if s != first && !s.Initiator && s.established() {
				done = true
				fn(s)
				return
			}
		}
	}
}

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
	onPeersNewSA(n, b, first, func(s *ikeSA) {
		started, second = n.now, s
		s.StartChild(n.now, b.unit("ba", "net"), nil)
	})
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
	onPeersNewSA(n, b, first, func(s *ikeSA) {
		second = s
		s.StartChild(n.now, b.unit("ba", "net"), nil) // held
		if sa2 := currentSA(a.c, "ab"); sa2 != nil && sa2.Initiator {
			sa2.StartChild(n.now, a.unit("ab", "net"), nil) // A's leaves at once
		}
	})
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

// TestDuplicateLoserQuickModeMoves: A decides duplicates. A re-authenticates, and B's own
// re-authentication follows closely: A renegotiates the pair on B's new SA (strongSwan
// moves its pairs onto the SA of ours it answered, and would remove them with it), holding
// QM1 back after MM6. Within the hold B re-authenticates again: the SA the held Quick Mode
// waits on loses, and the Quick Mode must move to the survivor instead of leaving on an SA
// about to be deleted (the pair it makes would go with that SA at a strongSwan peer), or of
// dying with it.
func TestDuplicateLoserQuickModeMoves(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	b.conns[0].RemoteAddr = ipA // B can re-authenticate
	establish(t, n, a, b)
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	orig := currentSA(a.c, "ab")
	orig.Rekey(n.now)
	n.runUntil(func() bool {
		return currentSA(a.c, "ab") != orig && currentSA(b.c, "ba").cookies() != nil &&
			bytes.Equal(currentSA(b.c, "ba").cookies(), currentSA(a.c, "ab").cookies())
	}, 10*time.Second)
	first := currentSA(a.c, "ab")
	if !first.Initiator || !first.Conn.Decides(first.Base()) {
		t.Fatal("the test wants A's own re-authentication first, and A to decide duplicates")
	}
	unit := a.unit("ab", "net")
	sent := map[string]int{} // A's Quick Mode messages per ISAKMP SA (responder cookie)
	n.filter = func(from, to *node, m []byte) []byte {
		if h, err := isakmp.DecodeHeader(m); err == nil && from == a && h.ExchangeType == isakmp.ExchangeQuickMode {
			sent[string(h.ResponderCookie[:])]++
		}
		return m
	}
	pendingOn := func() *ikeSA {
		if qm, ok := unit.Pending.(*quickMode); ok && qm.held() {
			return qm.sa
		}
		return nil
	}

	n.runFor(time.Second)             // B's Main Mode starts after A's SA was established: no collision
	currentSA(b.c, "ba").Rekey(n.now) // B re-authenticates (in strongSwan's case, the SA A's replaced)
	n.runUntil(func() bool { return pendingOn() != nil }, 10*time.Second)
	second := pendingOn()
	if second == first || second.Initiator {
		t.Fatal("A's renegotiation does not wait on B's new SA")
	}
	n.runUntil(func() bool { return bytes.Equal(currentSA(b.c, "ba").cookies(), second.cookies()) }, time.Second)
	if pendingOn() != second {
		t.Fatal("the held Quick Mode left before B had established its SA")
	}
	n.runFor(100 * time.Millisecond)  // B's next Main Mode starts after its SA was up
	currentSA(b.c, "ba").Rekey(n.now) // a third SA, within the hold
	n.runUntil(func() bool { return pendingOn() != second }, time.Second)
	third := pendingOn()
	if third == nil || third == second || third.Initiator {
		t.Fatalf("the held Quick Mode did not move to B's third SA (pending on %v)", third)
	}
	n.runFor(time.Minute)
	if got := sent[string(second.ckyR[:])]; got != 0 {
		t.Fatalf("A sent %d Quick Mode messages on the SA that lost", got)
	}
	if sent[string(third.ckyR[:])] == 0 {
		t.Fatal("no Quick Mode on the surviving SA")
	}
	if ia, ib := ikeCount(a), ikeCount(b); ia != 1 || ib != 1 {
		t.Fatalf("%d / %d established ISAKMP SAs, want one each", ia, ib)
	}
	if currentSA(a.c, "ab") != third || !bytes.Equal(currentSA(b.c, "ba").cookies(), third.cookies()) {
		t.Fatal("the ends kept a different ISAKMP SA than the third")
	}
	na, nb := unit.Newest(), b.unit("ba", "net").Newest()
	if na == nil || nb == nil || na.InSPI() != nb.OutSPI() || na.OutSPI() != nb.InSPI() {
		t.Fatal("the ends' newest pairs differ")
	}
	if got := a.ctr.Get(core.CtrChildFailed); got != 0 {
		t.Fatalf("%d child failures counted", got)
	}
}

// TestPeerReauthOfSettledSA: B re-authenticates A's ISAKMP SA, one that replaced nothing
// (1 s after it came up) or one up for a minute. B's new SA replaces it, and B brings the
// pair over (as strongSwan does): A renegotiates nothing (it does only when B's SA follows
// a re-authentication of A's closely, reauthCrossing), and the pair stays.
func TestPeerReauthOfSettledSA(t *testing.T) {
	for _, wait := range []time.Duration{time.Second, time.Minute} {
		n, a, b := newPair(t, pairOpts{})
		b.conns[0].RemoteAddr = ipA
		establish(t, n, a, b)
		n.runFor(wait)
		first := currentSA(a.c, "ab")
		if !first.Initiator || !first.Conn.Decides(first.Base()) {
			t.Fatal("the test wants A's own SA first, and A to decide duplicates")
		}
		pair := a.unit("ab", "net").Newest()
		n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
		qms := 0
		n.filter = func(from, to *node, m []byte) []byte {
			if h, err := isakmp.DecodeHeader(m); err == nil && h.ExchangeType == isakmp.ExchangeQuickMode {
				qms++
			}
			return m
		}
		currentSA(b.c, "ba").Rekey(n.now)
		n.runFor(30 * time.Second)
		if qms != 0 {
			t.Fatalf("after %s: %d Quick Mode messages after B's re-authentication", wait, qms)
		}
		if ia, ib := ikeCount(a), ikeCount(b); ia != 1 || ib != 1 {
			t.Fatalf("after %s: %d / %d established ISAKMP SAs, want one each", wait, ia, ib)
		}
		if currentSA(a.c, "ab") == first {
			t.Fatalf("after %s: B's new SA did not replace A's", wait)
		}
		if a.unit("ab", "net").Newest() != pair || !childUp(a, "ab", "net") || !childUp(b, "ba", "net") {
			t.Fatalf("after %s: the pair changed or went down", wait)
		}
	}
}
