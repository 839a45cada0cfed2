package ikev2

// A pair the peer made with us (we answered its CREATE_CHILD_SA or IKE_AUTH) exists at the
// peer only once our answer arrived there: until then the peer retransmits its request, and
// a REKEY_SA or a Delete of ours naming the pair is answered CHILD_SA_NOT_FOUND or ignored.
// Measured against strongSwan under 20% IKE loss: our rekey of such a pair got
// CHILD_SA_NOT_FOUND, we replaced and deleted it, and charon installed it afterwards (its
// retransmission got our answer) and sent on a pair we no longer had; every later round
// failed with it. So a rekey of ours waits until the peer shows it has the pair: its next
// request on the IKE SA (with a window of one it sends that only after our answer arrived),
// or a packet on the pair's inbound SA. The wait is bounded by the retransmission schedule's
// length (the peer gives up by then); pairs rekeyed on a newer IKE SA are not held.

import (
	"time"

	"go.uber.org/zap"

	"oakley/ike/core"
)

// answeredPair is a pair we made as responder: next is the peer's Message ID that shows it
// got our answer (one past the creating request's), until the end of the wait.
type answeredPair struct {
	next  uint32
	until time.Time
}

// confirmPoll is how often a held rekey looks whether the peer has shown it has the pair.
const confirmPoll = 250 * time.Millisecond

// answeredChild records a pair we made in answer to the peer's request (called once the
// answer is sent: sa.peerMID is then one past the request's Message ID).
func (sa *ikeSA) answeredChild(now time.Time, csa *core.ChildSA) {
	for x := range sa.answered {
		sa.peerMayLack(now, x) // forgets the confirmed and the dead
	}
	sa.answered[csa] = answeredPair{next: sa.peerMID + 1, until: now.Add(sa.p.Cfg.Retransmit.Total())}
}

// peerMayLack reports whether the peer may not yet have the pair csa (see above).
func (sa *ikeSA) peerMayLack(now time.Time, csa *core.ChildSA) bool {
	a, ok := sa.answered[csa]
	if !ok {
		return false
	}
	if !csa.Alive() || csa.IKE() != core.IKESA(sa) || sa.state != stEstablished || int32(sa.peerMID-a.next) >= 0 ||
		csa.InboundPackets() > 0 || !now.Before(a.until) {
		delete(sa.answered, csa)
		return false
	}
	return true
}

// deferRekey holds our rekey of csa until the peer has it (or the wait ends), then starts
// it on the pair's IKE SA, if the pair is still the one in use and nothing else runs.
func (sa *ikeSA) deferRekey(now time.Time, ch *core.ChildState, csa *core.ChildSA) {
	if sa.deferred[csa] {
		return
	}
	sa.deferred[csa] = true
	sa.p.Ctr.Inc(core.CtrRekeysDeferred)
	csa.Logger().Info("rekey waits: the peer has not yet shown it has this CHILD_SA (our answer that made it may be lost)",
		zap.Duration("at_most", sa.answered[csa].until.Sub(now).Round(time.Second)))
	var t *core.Timer
	t = core.NewTimer("child-rekey-deferred", func(now time.Time) {
		if !csa.Current() || sa.state == stDead {
			delete(sa.deferred, csa)
			return
		}
		if sa.peerMayLack(now, csa) || ch.Pending != nil {
			sa.p.Timers.Arm(t, now.Add(confirmPoll))
			return
		}
		delete(sa.deferred, csa)
		cur, _ := csa.IKE().(*ikeSA)
		for cur != nil && cur.state == stRekeyed && cur.successor != nil {
			cur = cur.successor
		}
		if cur == nil || !cur.established() {
			return
		}
		csa.Logger().Info("the peer has the CHILD_SA (or the wait ended): rekeying it")
		cur.startChildExchange(now, ch, csa, false)
	})
	sa.p.Timers.Arm(t, now.Add(confirmPoll))
}
