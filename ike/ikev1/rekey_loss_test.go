package ikev1

import (
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// TestRekeySwitchWaitsForLostQM3: our rekey's Quick Mode message 3 is lost three times, so
// the peer installs the new pair only at its third retransmission of message 2 (7 s on the
// tests' schedule), and until then it sends on the old pair only. A strongSwan responder
// has no inbound SA for the new pair before message 3 either, so switching our outbound
// traffic after outboundSwitchDelay lost everything we sent until then, and deleting the old
// pair RekeyGrace later left the peer without any outbound SA (seen in
// TestReliability/chaos-collisions with 20% IKE loss: 1,178 echoes lost against oakley, a
// strongSwan end with no pair at all). The switch must wait while the peer sends on the old
// pair and not on the new one, and happen once it does.
func TestRekeySwitchWaitsForLostQM3(t *testing.T) {
	n, a, b := newPair(t, pairOpts{esp: []string{"aes128gcm16"}})
	oldA, oldB := establish(t, n, a, b)
	polA, polB := a.policy("ab", "net"), b.policy("ba", "net")
	qmFromA, dropped := 0, 0
	n.filter = func(from, to *node, m []byte) []byte {
		h, err := isakmp.DecodeHeader(m)
		if err != nil || from != a || h.ExchangeType != isakmp.ExchangeQuickMode {
			return m
		}
		// a's first Quick Mode message is message 1; the next three are message 3 and its
		// two resends (answers to b's retransmitted message 2).
		if qmFromA++; qmFromA >= 2 && dropped < 3 {
			dropped++
			return nil
		}
		return m
	}
	// The peer's traffic: on the old pair until b switched to the new one, then on that.
	var newA, newB *core.ChildSA
	bSwitchedAt, aSwitchedAt := time.Time{}, time.Time{}
	var violation string
	n.afterStep = func() {
		if newA == nil {
			for _, x := range a.unit("ab", "net").SAs {
				if x != oldA {
					newA = x
				}
			}
		}
		if newB == nil {
			for _, x := range b.unit("ba", "net").SAs {
				if x != oldB {
					newB = x
				}
			}
		}
		bSwitched := newB != nil && polB.Binding() != nil && polB.Binding().SA == outOf(newB)
		if bSwitched && bSwitchedAt.IsZero() {
			bSwitchedAt = n.now
		}
		if bSwitched && newA != nil {
			inOf(newA).Stats.Packets.Add(1)
		} else if oldA.Alive() {
			inOf(oldA).Stats.Packets.Add(1)
		}
		aSwitched := newA != nil && polA.Binding() != nil && polA.Binding().SA == outOf(newA)
		if aSwitched && aSwitchedAt.IsZero() {
			aSwitchedAt = n.now
		}
		if violation == "" && !bSwitched {
			switch {
			case aSwitched:
				violation = "a sends on the new pair"
			case !oldA.Alive():
				violation = "a deleted the old pair"
			}
			if violation != "" {
				violation += " at " + n.now.Sub(epoch).String() + ", before b has it (b has not received Quick Mode message 3)"
			}
		}
	}
	a.softExpire(oldA)
	n.runUntil(func() bool { return !aSwitchedAt.IsZero() && !oldA.Alive() && !oldB.Alive() }, time.Minute)
	if violation != "" {
		t.Fatal(violation)
	}
	if dropped != 3 {
		t.Fatalf("dropped %d of a's Quick Mode messages 3, want 3", dropped)
	}
	if d := aSwitchedAt.Sub(bSwitchedAt); d < 0 || d > 2*time.Second {
		t.Errorf("a switched %s after b (b at %s): want within 2 s once the peer uses the new pair", d, bSwitchedAt.Sub(epoch))
	}
	if got := a.ctr.Get(core.CtrSwitchesHeld); got != 1 {
		t.Errorf("%s = %d, want 1", core.CtrSwitchesHeld, got)
	}
	t.Logf("b installed the new pair at %s (message 3 dropped %d times); a switched at %s", bSwitchedAt.Sub(epoch), dropped, aSwitchedAt.Sub(epoch))
}

// TestPayloadMalformedKeepsSA: a protected PAYLOAD-MALFORMED without an SPI on an ISAKMP SA
// that carries pairs is the peer's complaint about one message, not a refusal of the SA.
// strongSwan sent one when our Quick Mode answer arrived after it had forgotten that
// exchange's IV, and kept its SA; oakley took it as a refusal and tore down the ISAKMP SA
// with its new pair (chaos-collisions, IKEv1 against strongSwan with 20% IKE loss: 232
// echoes lost until charon re-authenticated 36 s later). Right after Phase 1, before any
// Quick Mode, a protected INVALID-ID-INFORMATION still drops the SA (TestUnexpectedPeerID).
func TestPayloadMalformedKeepsSA(t *testing.T) {
	for _, tc := range []struct {
		notify isakmp.NotifyType
		keep   bool
	}{
		{isakmp.NotifyPayloadMalformed, true},
		{isakmp.NotifyInvalidIDInformation, true}, // a pair was made: the peer accepted us
	} {
		t.Run(tc.notify.String(), func(t *testing.T) {
			n, a, b := newPair(t, pairOpts{esp: []string{"aes128gcm16"}})
			ca, _ := establish(t, n, a, b)
			currentSA(b.c, "ba").sendNotify(tc.notify, isakmp.ProtoISAKMP, nil, nil)
			n.runFor(time.Second)
			if kept := currentSA(a.c, "ab") != nil && ca.Alive(); kept != tc.keep {
				t.Fatalf("after a protected %s: ISAKMP SA and pair kept = %v, want %v", tc.notify, kept, tc.keep)
			}
			if a.ctr.Get(core.CtrErrorNotifiesIn) != 1 {
				t.Errorf("error_notifies_in = %d, want 1", a.ctr.Get(core.CtrErrorNotifiesIn))
			}
		})
	}
}

// TestDeletesWaitForQuickMode: a Delete we send while the peer's Quick Mode waits for its
// message 3 (lost once) goes only when that Quick Mode is done: strongSwan tracks the IVs of
// three exchanges per ISAKMP SA, and each Informational is a new one. A collision's
// redundant pair, whose SAs stay only until its Delete reaches the peer, is announced at
// once.
func TestDeletesWaitForQuickMode(t *testing.T) {
	for _, redundant := range []bool{false, true} {
		t.Run(map[bool]string{false: "old-pair", true: "redundant-pair"}[redundant], func(t *testing.T) {
			n, a, b := newPair(t, pairOpts{esp: []string{"aes128gcm16"}})
			ca, cb := establish(t, n, a, b)
			qmFromB, dropped := 0, false
			var qmDoneAt, deleteAt time.Time
			n.filter = func(from, to *node, m []byte) []byte {
				h, err := isakmp.DecodeHeader(m)
				if err != nil {
					return m
				}
				switch {
				case from == b && h.ExchangeType == isakmp.ExchangeQuickMode:
					if qmFromB++; qmFromB == 2 && !dropped { // b's message 3
						dropped = true
						return nil
					}
				case from == a && h.ExchangeType == isakmp.ExchangeInformational && deleteAt.IsZero():
					deleteAt = n.now
				}
				return m
			}
			b.softExpire(cb)
			n.runUntil(func() bool { return dropped }, time.Minute)
			sa := currentSA(a.c, "ab")
			if len(sa.qms) != 1 {
				t.Fatalf("a runs %d Quick Modes after b's message 3 was lost, want 1", len(sa.qms))
			}
			if redundant {
				ca.MarkAwaitingDelete()
			}
			sa.SendDeleteChildren(n.now, []*core.ChildSA{ca})
			sentAt := n.now
			n.runUntil(func() bool {
				if qmDoneAt.IsZero() && len(sa.qms) == 0 {
					qmDoneAt = n.now
				}
				return !deleteAt.IsZero()
			}, time.Minute)
			if redundant {
				if !deleteAt.Equal(sentAt) {
					t.Fatalf("the redundant pair's Delete went %s later, want at once", deleteAt.Sub(sentAt))
				}
				return
			}
			if qmDoneAt.IsZero() || deleteAt.Before(qmDoneAt) {
				t.Fatalf("the Delete went %s after it was sent, while b's Quick Mode still ran", deleteAt.Sub(sentAt))
			}
			if d := deleteAt.Sub(sentAt); d <= 0 || d > 5*time.Second {
				t.Fatalf("the Delete waited %s, want until message 3's retransmission (about 1 s)", d)
			}
		})
	}
}
