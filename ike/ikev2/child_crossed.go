package ikev2

// A child rekey collision seen late (RFC 7296 §2.8.1). Both ends rekeyed the same pair;
// the peer's request was lost, and its retransmission arrives after our own rekey of the
// pair completed (the peer answered ours while its own waited: a collision to it). Refused
// with TEMPORARY_FAILURE (§2.25), strongSwan 5.9.8 puts the old pair back to installed
// for its retry, so our Delete of it no longer makes it switch to our new pair, whose
// outbound SA it never installs: its traffic stopped (chaos-collisions against strongSwan,
// 20% IKE loss, 2-3 rounds of 15). So the request is accepted as the other half of the
// collision, and the four nonces decide as they do when the requests cross in order: the
// new pair made with the lowest nonce is redundant and its maker deletes it; the winner's
// maker deletes the old pair.

import (
	"bytes"
	"fmt"
	"time"

	"go.uber.org/zap"

	"oakley/ike/core"
)

// ownRekey is a rekey of ours that completed: the new pair, the exchange's nonces, and the
// deletion of the old pair (retireLater).
type ownRekey struct {
	newPair *core.ChildSA
	ni, nr  []byte
	retire  *retirement
}

// recordOwnRekey keeps our completed rekey of old until old is gone.
func (sa *ikeSA) recordOwnRekey(old *core.ChildSA, r *ownRekey) {
	for o := range sa.ownRekeys {
		if !o.Alive() {
			delete(sa.ownRekeys, o)
		}
	}
	sa.ownRekeys[old] = r
}

// crossedRekey returns our completed rekey of old when the peer's REKEY_SA names old after
// it (the peer's own rekey of old crossed ours), if our new pair is still the one in use.
func (sa *ikeSA) crossedRekey(old *core.ChildSA) *ownRekey {
	r := sa.ownRekeys[old]
	if r == nil || !old.Alive() || !r.newPair.Current() {
		return nil
	}
	return r
}

// settleCrossed decides a late collision once our answer that made theirs is sent: the
// pair made with the lowest of the four nonces is redundant (§2.8.1). Unless our Delete of
// the old pair has left already: it reaches the peer before our answer, and a peer that
// gets the Delete of the pair it is rekeying keeps the pair the deleting end made and
// deletes its own (strongSwan: a rekey/delete collision; childCollisionLost alike). Deciding
// by the nonces then left no pair when ours lost (chaos-collisions against strongSwan).
func (sa *ikeSA) settleCrossed(now time.Time, old *core.ChildSA, own *ownRekey, theirs *core.ChildSA, ni, nr []byte) {
	delete(sa.ownRekeys, old)
	sa.p.Ctr.Inc(core.CtrRekeyCollisions)
	sa.p.Ctr.Inc(core.CtrLateCollisions)
	theirs.Established(now)
	if deleted := own.retire.left(); deleted || bytes.Compare(lowerNonce(own.ni, own.nr), lowerNonce(ni, nr)) > 0 {
		// Ours wins: the peer deletes its pair; we go on deleting the old one.
		theirs.Supersede()
		theirs.Logger().Info("CHILD_SA rekey collision (the peer's request came after ours completed) won: the peer deletes this redundant pair",
			zap.Bool("old_pair_deleted_first", deleted))
		return
	}
	// Ours is redundant: the peer sends on its pair once our answer arrives and deletes the
	// old one itself (our Delete of it, in the middle of its rekey, would make strongSwan
	// install our redundant pair). We switch to theirs when the peer is seen on it, then
	// delete ours.
	mine := own.newPair
	own.retire.cancel(&sa.p.Timers)
	mine.Logger().Info("CHILD_SA rekey collision (the peer's request came after ours completed) lost: this pair goes once the peer's is in use",
		zap.String("kept_spi_in", fmt.Sprintf("%08x", theirs.InSPI())))
	theirs.ActivateLater(now, outboundSwitchFallback)
	var t *core.Timer
	t = core.NewTimer("child-collision-late", func(now time.Time) {
		if !mine.Alive() || !theirs.Alive() {
			return // theirs gone before it took the traffic: ours stays in use
		}
		if !theirs.Bound() {
			sa.p.Timers.Arm(t, now.Add(confirmPoll))
			return
		}
		mine.Remove(now, true, fail(0, ErrDeleted, "redundant after a rekey collision"))
	})
	sa.p.Timers.Arm(t, now.Add(confirmPoll))
}
