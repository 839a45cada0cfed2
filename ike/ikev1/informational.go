package ikev1

// Informational exchanges (RFC 2408 §4.8, RFC 2409 §5.7): one message, protected by the
// ISAKMP SA with HASH(1) = prf(SKEYID_a, M-ID | N/D) once keys exist, unprotected before
// (errors during Phase 1). Notifications (RFC 2408 §3.14; DPD RFC 3706; INITIAL-CONTACT
// RFC 2407 §4.6.3.3) and Deletes (RFC 2408 §3.15).

import (
	"encoding/binary"
	"net/netip"
	"oakley/ike/core"
	"time"

	"go.uber.org/zap"

	"oakley/ike/isakmp"
)

// handleInformational processes an Informational message.
func (sa *ikeSA) handleInformational(now time.Time, in *inbound) error {
	if !in.msg.Header.Flags.Has(isakmp.FlagEncryption) {
		return sa.unprotectedInformational(now, in)
	}
	if sa.keys == nil {
		sa.c.Ctr.Inc(core.CtrUnexpected)
		return fail(0, ErrUnexpected, "encrypted Informational before keys exist")
	}
	d, err := sa.decrypt(in.msg, false)
	if err != nil {
		sa.c.CountError(err)
		return sa.undecryptableAnswer(now, in, err)
	}
	c := d.chain
	if len(c.Payloads) == 0 || c.Payloads[0].Type() != isakmp.PayloadHash {
		sa.c.Ctr.Inc(core.CtrMalformed)
		return fail(0, ErrMalformed, "Informational without a leading HASH")
	}
	mid := in.msg.Header.MessageID
	if sa.seenMID(mid) {
		sa.c.Ctr.Inc(core.CtrDuplicates)
		return nil // a replayed (or retransmitted) Informational is not processed twice
	}
	want := quickModeHash1(sa.keys.prf, sa.keys.skeyidA, mid, c.Bytes[c.Spans[0].End:])
	if !hmacEqual(c.Payloads[0].(*isakmp.Hash).Data, want) {
		sa.c.Ctr.Inc(core.CtrInvalidHash)
		return sa.undecryptableAnswer(now, in, fail(0, ErrInvalidHash, "Informational HASH(1) mismatch"))
	}
	sa.replies.Remember(in.Hash, nil)
	sa.rememberMID(mid)
	sa.LastRecv = now
	sa.heardProtected = true
	if sa.established() {
		sa.updatePeer(in)
	}
	for _, p := range c.Payloads[1:] {
		switch p := p.(type) {
		case *isakmp.Notification:
			sa.handleNotify(now, p, true)
		case *isakmp.Delete:
			sa.handleDelete(now, p)
		}
		if sa.state == p1Dead {
			break
		}
	}
	return nil
}

// unprotectedInformational: before Phase 1 completes a peer can only tell us in the clear
// why it refused; afterwards unprotected messages are ignored (they could be forged).
func (sa *ikeSA) unprotectedInformational(now time.Time, in *inbound) error {
	if sa.established() {
		sa.c.Ctr.Inc(core.CtrUnprotectedDropped)
		return fail(0, ErrUnexpected, "unprotected Informational on an established ISAKMP SA")
	}
	sa.replies.Remember(in.Hash, nil)
	for _, p := range in.msg.Payloads {
		if n, ok := p.(*isakmp.Notification); ok {
			sa.handleNotify(now, n, false)
			if sa.state == p1Dead {
				break
			}
		}
	}
	return nil
}

// handleNotify acts on one notification.
func (sa *ikeSA) handleNotify(now time.Time, n *isakmp.Notification, protected bool) {
	sa.c.Ctr.Inc(core.CtrNotifiesIn)
	switch n.NotifyType {
	case isakmp.NotifyRUThere, isakmp.NotifyRUThereAck:
		if protected {
			sa.handleDPD(now, n)
		}
		return
	case isakmp.NotifyInitialContact:
		if protected {
			sa.initialContactReceived(now)
		}
		return
	}
	if !n.NotifyType.IsError() {
		sa.Log.Debug("notification", zap.Stringer("type", n.NotifyType))
		return
	}
	sa.c.Ctr.Inc(core.CtrErrorNotifiesIn)
	hint := ""
	switch n.NotifyType {
	case isakmp.NotifyAuthenticationFailed, isakmp.NotifyInvalidHashInformation:
		hint = " (" + sa.hint() + ")"
	case isakmp.NotifyNoProposalChosen:
		if sa.Conn != nil && authFamily(sa.Conn.Cfg) == authPubkey && !sa.established() {
			hint = " (with certificates, IKEv1 peers must sign with the same key type: an RSA peer and an ECDSA peer cannot meet)"
		}
	}
	// A Quick Mode of ours the peer refused (SPI = our proposal's SPI)?
	if len(n.SPI) == 4 {
		spi := binary.BigEndian.Uint32(n.SPI)
		for _, qm := range sa.qms {
			if qm.initiator && qm.spiIn == spi {
				qm.log.Warn("peer refused Quick Mode: "+n.NotifyType.String()+hint, zap.Bool("protected", protected))
				qm.abort(now, fail(0, ErrPeerNotify, "peer sent %s", n.NotifyType))
				return
			}
		}
	}
	if !sa.established() {
		msg := sa.modeName() + " failed: peer sent " + n.NotifyType.String() + hint
		if n.NotifyType == isakmp.NotifyAuthenticationFailed {
			msg = "authentication failed: " + sa.hint() + " (peer sent AUTHENTICATION-FAILED)"
			sa.c.Ctr.Inc(core.CtrAuthFailures)
		}
		sa.Log.Warn(msg, zap.Bool("protected", protected), zap.Stringer("state", sa.state))
		sa.c.Ctr.Inc(core.CtrIKEFailed)
		sa.destroy(now, false, fail(0, ErrPeerNotify, "peer sent %s%s", n.NotifyType, hint))
		return
	}
	// An error about one of our Quick Modes without SPI: the only one in flight.
	for _, qm := range sa.qms {
		if qm.initiator && qm.state == qmQM1Sent && len(sa.qms) == 1 {
			qm.log.Warn("peer refused Quick Mode: " + n.NotifyType.String())
			qm.abort(now, fail(0, ErrPeerNotify, "peer sent %s", n.NotifyType))
			return
		}
	}
	// A protected error about the ISAKMP SA itself (its cookies as SPI): the peer refused
	// what Phase 1 concluded, e.g. our identity after our last Main Mode message, and has
	// dropped the SA; so do we (as strongSwan does). Not once a Quick Mode completed under
	// the SA (the peer accepted us), and never for PAYLOAD-MALFORMED: that is the peer's
	// complaint about one message it could not decrypt or parse, and it keeps the SA
	// (strongSwan sends it, for one, when a Quick Mode answer arrives after it forgot the
	// exchange's IV: it tracks three exchanges per ISAKMP SA).
	if protected && n.ProtocolID == isakmp.ProtoISAKMP && (len(n.SPI) == 0 || equalBytes(n.SPI, sa.cookies())) &&
		!sa.madePairs && n.NotifyType != isakmp.NotifyPayloadMalformed {
		sa.Log.Warn("peer refused the ISAKMP SA: "+n.NotifyType.String()+hint, zap.Bool("protected", protected))
		sa.c.Ctr.Inc(core.CtrIKEFailed)
		for _, csa := range sa.ownedChildren() {
			csa.Remove(now, false, fail(0, ErrPeerNotify, "peer sent %s", n.NotifyType))
		}
		sa.destroy(now, false, fail(0, ErrPeerNotify, "peer sent %s%s", n.NotifyType, hint))
		return
	}
	sa.Log.Warn("peer sent "+n.NotifyType.String()+hint, zap.String("spi", hexOf(n.SPI)))
}

// initialContactReceived: the peer has no other SA with us (it restarted): delete the
// other ISAKMP SAs and child SAs we have with it (RFC 2407 §4.6.3.3), locally.
func (sa *ikeSA) initialContactReceived(now time.Time) {
	if sa.Conn == nil {
		return
	}
	for _, o := range append([]core.IKESA(nil), sa.Conn.IKEs()...) {
		// Only established SAs are stale state; one still negotiating may be the peer's
		// own simultaneous attempt and must complete.
		other, ok := o.(*ikeSA)
		if !ok || other == sa || !other.established() || other.Remote.Addr() != sa.Remote.Addr() {
			continue
		}
		other.Log.Info("INITIAL-CONTACT: deleting stale ISAKMP SA")
		for _, csa := range other.ownedChildren() {
			csa.Remove(now, false, fail(0, ErrDeleted, "INITIAL-CONTACT"))
		}
		other.destroy(now, false, fail(0, ErrDeleted, "INITIAL-CONTACT"))
	}
}

// processPhase1Notifies handles the notifications inside MM5/MM6/AM3 (INITIAL-CONTACT).
func (sa *ikeSA) processPhase1Notifies(now time.Time, c *isakmp.Chain) {
	for _, p := range c.Payloads {
		if n, ok := p.(*isakmp.Notification); ok {
			sa.handleNotify(now, n, true)
		}
	}
}

// refusedAfterPhase1 is how soon after Phase 1 a Delete of the new SA means the peer
// refused what the last message proved.
const refusedAfterPhase1 = 10 * time.Second

// refusedWhat names what an authentication method proves, for that log line.
func (sa *ikeSA) refusedWhat() string {
	if sa.Conn != nil && usesCerts(sa.Conn.Cfg) {
		return "certificate, identity or signature?"
	}
	return "identity?"
}

// handleDelete removes what a Delete names (RFC 2408 §3.15): an ISAKMP SA by its cookies,
// IPsec SAs by the SPIs the peer receives on (our outbound SPIs).
func (sa *ikeSA) handleDelete(now time.Time, d *isakmp.Delete) {
	sa.c.Ctr.Inc(core.CtrDeletesIn)
	switch d.ProtocolID {
	case isakmp.ProtoISAKMP:
		for _, spi := range d.SPIs {
			if len(spi) != 16 {
				continue
			}
			var k saKey
			copy(k.i[:], spi[:8])
			copy(k.r[:], spi[8:])
			target := sa.c.sas[k]
			if target == nil || target.Conn != sa.Conn {
				continue
			}
			if target.txPending() {
				sa.c.Ctr.Inc(core.CtrIKEFailed)
				target.Log.Warn("peer deleted the ISAKMP SA before XAUTH / Mode Config completed (login refused, or no address for us?)")
				target.destroy(now, false, fail(0, ErrPeerNotify, "peer deleted the ISAKMP SA during XAUTH / Mode Config"))
				continue
			}
			if !target.Initiator && target.established() && now.Sub(target.EstablishedAt) < refusedAfterPhase1 && !target.madePairs && len(target.ownedChildren()) == 0 {
				// A Main Mode responder completes when it sends MM6; an initiator that then
				// refuses it (strongSwan, for a certificate it does not accept) deletes the
				// SA at once instead of sending an error.
				sa.c.Ctr.Inc(core.CtrIKEFailed)
				target.Log.Warn("peer deleted the ISAKMP SA right after Phase 1: it refused our " + target.refusedWhat())
				target.destroy(now, false, fail(0, ErrPeerNotify, "peer deleted the ISAKMP SA right after Phase 1"))
				continue
			}
			target.Log.Info("peer deleted the ISAKMP SA")
			target.destroy(now, false, fail(0, ErrDeleted, "peer sent Delete"))
		}
	case isakmp.ProtoESP, isakmp.ProtoAH:
		if sa.Conn == nil {
			return
		}
		for _, spi := range d.SPIs {
			if len(spi) != 4 {
				continue
			}
			v := binary.BigEndian.Uint32(spi)
			found := false
			for _, ch := range sa.Conn.Children {
				for _, csa := range append([]*core.ChildSA(nil), ch.SAs...) {
					if csa.OutSPI() == v && v1Proto(csa.Unit()) == d.ProtocolID {
						found = true
						csa.Remove(now, false, fail(0, ErrDeleted, "peer sent Delete"))
					}
				}
			}
			if !found {
				sa.Log.Debug("Delete for an unknown SPI", zap.String("spi", hexOf(spi)))
			}
		}
	default:
		sa.Log.Debug("Delete for protocol", zap.Stringer("protocol", d.ProtocolID))
	}
}

// sendInformational sends one protected Informational message: HASH(1) followed by the
// payloads, with a fresh message ID. It returns the datagram (nil if none went).
func (sa *ikeSA) sendInformational(payloads []isakmp.Payload) []byte {
	return sa.sendInformationalTo(payloads, sa.Remote, sa.NATT)
}

// sendInformationalTo is sendInformational to an explicit address (a peer whose Phase 1 is
// still in progress, answered where its message came from).
func (sa *ikeSA) sendInformationalTo(payloads []isakmp.Payload, to netip.AddrPort, natt bool) []byte {
	if sa.keys == nil {
		return nil
	}
	mid := sa.c.newMID(sa)
	sa.rememberMID(mid)
	all := append([]isakmp.Payload{&isakmp.Hash{Data: make([]byte, sa.keys.prf.Size())}}, payloads...)
	raw, err := sa.encode(isakmp.ExchangeInformational, mid, all, true, false, func(rest []byte) []byte {
		return quickModeHash1(sa.keys.prf, sa.keys.skeyidA, mid, rest)
	})
	if err != nil {
		sa.Log.Warn("cannot encode Informational", zap.Error(err))
		return nil
	}
	sa.out(raw, sa.Local, to, natt)
	return raw
}

// sendNotify sends a protected notification (or an unprotected one before Phase 1 ends).
func (sa *ikeSA) sendNotify(t isakmp.NotifyType, proto isakmp.ProtocolID, spi, data []byte) {
	n := &isakmp.Notification{DOI: isakmp.DOIIPsec, ProtocolID: proto, NotifyType: t, SPI: spi, Data: data}
	sent := true
	if !sa.established() {
		sent = sa.sendPlainNotifyPayload(n, sa.Remote, sa.NATT)
	} else {
		sa.sendInformational([]isakmp.Payload{n})
	}
	if sent && t.IsError() {
		sa.c.Ctr.Inc(core.CtrErrorNotifiesOut)
	}
}

// sendPlainNotify sends an unprotected error notification about this ISAKMP SA (SPI = the
// cookies), for failures before the peer shares our keys.
func (sa *ikeSA) sendPlainNotify(t isakmp.NotifyType, to netip.AddrPort, natt bool) {
	if sa.sendPlainNotifyPayload(&isakmp.Notification{DOI: isakmp.DOIIPsec, ProtocolID: isakmp.ProtoISAKMP, NotifyType: t, SPI: sa.cookies()}, to, natt) {
		sa.c.Ctr.Inc(core.CtrErrorNotifiesOut)
	}
}

// sendPlainNotifyPayload sends n unprotected; false when it was not sent (it could not be
// encoded, or it would be larger than the unproven first message it answers).
func (sa *ikeSA) sendPlainNotifyPayload(n *isakmp.Notification, to netip.AddrPort, natt bool) bool {
	h := isakmp.Header{InitiatorCookie: sa.ckyI, ResponderCookie: sa.ckyR, ExchangeType: isakmp.ExchangeInformational, MessageID: sa.c.newMID(sa)}
	m, err := isakmp.EncodeMessage(h, []isakmp.Payload{n})
	if err != nil {
		return false
	}
	// A refusal of a first message is an answer to an unproven address: no larger than
	// what that message carried (STANDARDS.md: no amplification).
	if !sa.Initiator && sa.state == p1Start && len(m.Raw) > sa.firstLen {
		sa.c.Ctr.Inc(core.CtrAmplificationDrops)
		return false
	}
	sa.out(m.Raw, sa.Local, to, natt)
	return true
}

// sendDeleteISAKMP tells the peer this ISAKMP SA is gone (SPI = CKY-I | CKY-R).
func (sa *ikeSA) sendDeleteISAKMP() {
	sa.c.Ctr.Inc(core.CtrDeletesOut)
	sa.sendInformational([]isakmp.Payload{&isakmp.Delete{DOI: isakmp.DOIIPsec, ProtocolID: isakmp.ProtoISAKMP, SPISize: 16, SPIs: [][]byte{sa.cookies()}}})
}

// sendDeleteChild tells the peer IPsec SAs are gone: our inbound SPIs (the ones it sends to).
// The message may go again, unchanged, while nothing else follows it (repeatDelete).
func (sa *ikeSA) sendDeleteChild(proto isakmp.ProtocolID, spis []uint32) {
	sa.c.Ctr.Inc(core.CtrDeletesOut)
	d := &isakmp.Delete{DOI: isakmp.DOIIPsec, ProtocolID: proto, SPISize: 4}
	for _, s := range spis {
		d.SPIs = append(d.SPIs, be32(s))
	}
	raw := sa.sendInformational([]isakmp.Payload{d})
	if raw == nil || sa.state != p1Established {
		return
	}
	sa.lastDelete = deleteRepeat{raw: raw, after: sa.sent, left: len(deleteRepeatDelays)}
	sa.c.Timers.Arm(sa.repeatTimer, sa.c.Now.Add(deleteRepeatDelays[0]))
}

// deleteRepeatDelays are the waits before each further copy of a Delete (repeatDelete).
var deleteRepeatDelays = [...]time.Duration{time.Second, 2 * time.Second}

// repeatDelete sends the last Delete again, the same datagram, if this SA has sent nothing
// since. An Informational exchange is not acknowledged (RFC 2408 §4.8), and a lost Delete
// leaves the peer a pair we no longer have: strongSwan (charon.delete_rekeyed = no) lists
// it until it expires. A new Informational for each copy cannot be used: charon keeps the
// IVs of only its last three exchanges per ISAKMP SA (max_ikev1_exchanges), and an extra
// exchange pushed out the IV of a Quick Mode in progress. An identical copy costs the peer
// nothing the first did not: charon takes a datagram equal to the last request it
// processed for a retransmission before it decrypts anything, oakley answers a duplicate
// from its reply cache, and a peer that lost the first processes the copy as it would have
// the first. Once anything else went out, the copy would no longer be the peer's last
// request: charon would decrypt and process it again, which brings its exchange back
// among the three whose IVs it keeps, pushing out another's, so the repeats stop.
func (sa *ikeSA) repeatDelete(now time.Time) {
	d := &sa.lastDelete
	if d.raw == nil || sa.state != p1Established || sa.sent != d.after || d.left == 0 {
		*d = deleteRepeat{}
		return
	}
	sa.c.Ctr.Inc(core.CtrDeletesRepeated)
	sa.out(d.raw, sa.Local, sa.Remote, sa.NATT)
	d.after, d.left = sa.sent, d.left-1
	if d.left == 0 {
		*d = deleteRepeat{}
		return
	}
	sa.c.Timers.Arm(sa.repeatTimer, now.Add(deleteRepeatDelays[len(deleteRepeatDelays)-d.left]))
}

// out hands a datagram of this SA to the socket and counts it (repeatDelete).
func (sa *ikeSA) out(msg []byte, local netip.Addr, to netip.AddrPort, natt bool) {
	sa.sent++
	sa.c.Send(msg, local, to, natt)
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// undecryptableAnswer handles an encrypted Informational we cannot read. After we sent Main
// Mode message 5, that is what a peer with another pre-shared key answers (strongSwan sends
// an encrypted PAYLOAD-MALFORMED, since our MM5 decrypted to garbage for it): the second such
// answer ends the negotiation at once instead of after every retransmission. One alone could
// be a forgery, which must not be able to kill a negotiation.
func (sa *ikeSA) undecryptableAnswer(now time.Time, in *inbound, err error) error {
	if sa.established() || !sa.Initiator || sa.state != p1MM5Sent {
		return err
	}
	sa.undecryptable++
	if sa.undecryptable < 2 {
		return err
	}
	return sa.phase1Failed(now, fail(0, ErrAuthenticationFailed,
		"the peer's encrypted answers to Main Mode message 5 do not decrypt (%s): %v", sa.hint(), err), in.From, in.NATT)
}
