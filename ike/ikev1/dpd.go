package ikev1

// Dead Peer Detection, RFC 3706: the core decides when to check (core/dpd.go); IKEv1's
// check is R-U-THERE (§5: an Informational notification, SPI = the cookies, data = a 32-bit
// sequence number), answered by R-U-THERE-ACK with the same number. Requests are answered
// whenever the peer announced DPD.

import (
	"encoding/binary"
	"time"

	"go.uber.org/zap"

	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// SendLiveness sends R-U-THERE with the next sequence number (RFC 3706 §5.3, §5.5); false
// when the peer did not announce DPD.
func (sa *ikeSA) SendLiveness(now time.Time) bool {
	if !sa.ext.dpd || !sa.established() {
		return false
	}
	if sa.dpdSeq == 0 {
		// RFC 3706 §5.5: the first sequence number is random.
		sa.dpdSeq = binary.BigEndian.Uint32(sa.c.RandBytes(4))&0x7fffffff | 1
	}
	sa.dpdSeq++
	sa.sendNotify(isakmp.NotifyRUThere, isakmp.ProtoISAKMP, sa.cookies(), binary.BigEndian.AppendUint32(nil, sa.dpdSeq))
	return true
}

// handleDPD answers R-U-THERE and accepts R-U-THERE-ACK (RFC 3706 §5.2, §5.3).
func (sa *ikeSA) handleDPD(now time.Time, n *isakmp.Notification) {
	seq, err := n.DPDSequence()
	if err != nil || !equalBytes(n.SPI, sa.cookies()) {
		sa.c.Ctr.Inc(core.CtrMalformed)
		sa.Log.Debug("ignoring malformed DPD notification", zap.Error(err))
		return
	}
	switch n.NotifyType {
	case isakmp.NotifyRUThere:
		sa.c.Ctr.Inc(core.CtrDPDRequestsIn)
		if sa.established() {
			sa.sendNotify(isakmp.NotifyRUThereAck, isakmp.ProtoISAKMP, sa.cookies(), binary.BigEndian.AppendUint32(nil, seq))
		}
	case isakmp.NotifyRUThereAck:
		if seq == sa.dpdSeq && sa.DPDPending() {
			sa.c.LivenessAck(now, sa)
		}
	}
}
