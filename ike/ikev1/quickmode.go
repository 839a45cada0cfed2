package ikev1

// Quick Mode, RFC 2409 §5.5:
//
//	Initiator                                   Responder
//	HDR*, HASH(1), SA, Ni [, KE ] [, IDci, IDcr ] [, NAT-OA, NAT-OA ] -->
//	            <-- HDR*, HASH(2), SA, Nr [, KE ] [, IDci, IDcr ] [, N(RESPONDER-LIFETIME)] [, NAT-OA, NAT-OA ]
//	HDR*, HASH(3)                          -->
//
// HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [ | KE ] [ | IDci | IDcr ])
// HASH(2) = prf(SKEYID_a, M-ID | Ni_b | SA | Nr [ | KE ] [ | IDci | IDcr ])
// HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)
//
// The initiator installs both SAs after message 2; the responder installs its inbound SA
// when it sends message 2 (so the initiator's first packets find it) and switches its
// outbound after message 3. A rekey is a new Quick Mode; the old SAs stay until the new
// outbound is in use, then go after a grace period.
//
// Rekey collisions: an end does not start a rekey while the peer's rekey of the same unit
// waits for its message 3 (as strongSwan). When both ends' message 1s cross, both new pairs
// are installed and both replace the same pair; once both are established, the one whose
// Quick Mode has the lower of its two nonces (the lower "lowest nonce") is redundant, and
// both ends delete it after the grace period (core.ChildSA.resolveCollision). Both ends see
// the same nonces, so they choose the same pair; a peer that keeps both (strongSwan) follows
// our Delete, and a peer's Delete of the pair we kept keeps the other one instead.

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"oakley/ike/core"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/isakmp"
)

type qmState int

const (
	qmInit qmState = iota
	qmQM1Sent
	qmQM2Sent
	qmDone
	qmDead
)

// quickMode is one Quick Mode exchange. Owned by the Run goroutine.
type quickMode struct {
	sa        *ikeSA
	c         *Protocol
	mid       uint32
	initiator bool
	ch        *core.ChildState
	state     qmState
	rekeyOf   *core.ChildSA
	// peerRekeys (responder): our outbound SPI of the pair the peer's Quick Mode replaces,
	// as an oakley peer names it (OAKLEY-REKEY-SA); 0 when not named.
	peerRekeys uint32

	proto         isakmp.ProtocolID
	spiIn, spiOut uint32
	offer         []p2Transform
	tr            p2Transform
	trWire        p2Transform // responder: the chosen transform as the initiator proposed it
	ni, nr        []byte
	dh            keyExchange
	peerKE        []byte
	idci, idcr    *isakmp.Identification
	localTS       []esp.Selector
	remoteTS      []esp.Selector
	life          time.Duration
	lifeKB        uint64
	udp           bool

	retrans *core.Retransmitter
	pending *core.ChildSA // installed, outbound not yet switched
	log     *zap.Logger
}

func newQuickMode(sa *ikeSA, ch *core.ChildState, initiator bool, mid uint32) *quickMode {
	qm := &quickMode{sa: sa, c: sa.c, mid: mid, initiator: initiator, ch: ch}
	qm.retrans = sa.c.NewRetransmitter(sa.dest, qm.giveUp)
	qm.retrans.Transmit = sa.out
	qm.setLog()
	sa.qms[mid] = qm
	return qm
}

func (qm *quickMode) setLog() {
	f := []zap.Field{zap.Uint32("mid", qm.mid)}
	if qm.ch != nil {
		f = append(f, zap.String("child", qm.ch.Cfg.Name))
	}
	qm.log = qm.sa.Log.With(f...)
}

// hashLen is the size of HASH(1..3): the PRF output.
func (qm *quickMode) hashLen() int { return qm.sa.keys.prf.Size() }

// handleQuickMode routes a Quick Mode message (RFC 2409 §5.5). Only an established ISAKMP
// SA carries Quick Modes.
func (sa *ikeSA) handleQuickMode(now time.Time, in *inbound) error {
	h := &in.msg.Header
	if !sa.established() {
		sa.c.Ctr.Inc(core.CtrUnexpected)
		return fail(0, ErrUnexpected, "Quick Mode before Phase 1 completed")
	}
	if sa.txPending() {
		sa.c.Ctr.Inc(core.CtrUnexpected)
		sa.Log.Info("refusing Quick Mode: XAUTH / Mode Config has not completed")
		return fail(0, ErrUnexpected, "Quick Mode before XAUTH / Mode Config completed")
	}
	if !h.Flags.Has(isakmp.FlagEncryption) || h.MessageID == 0 {
		sa.c.Ctr.Inc(core.CtrMalformed)
		return fail(0, ErrMalformed, "Quick Mode without encryption or with M-ID 0")
	}
	if h.Flags.Has(isakmp.FlagCommit) {
		// RFC 2408 §3.1 / RFC 2409 §5.5: the commit bit asks for a CONNECTED notify. It is
		// neither encrypted nor authenticated (a man in the middle can set it), so like
		// Libreswan we process the exchange normally and ignore the bit.
		sa.Log.Debug("Quick Mode commit bit ignored", zap.Uint32("mid", h.MessageID))
	}
	qm := sa.qms[h.MessageID]
	var err error
	switch {
	case qm == nil && sa.seenMID(h.MessageID):
		sa.c.Ctr.Inc(core.CtrDuplicates)
		return nil
	case qm == nil && sa.responderQMs() >= maxResponderQMs:
		// A peer could otherwise open any number of exchanges, each installing an
		// inbound SA: bounded, counted, and refused like a retransmission we ignore.
		sa.c.Ctr.Inc(core.CtrExchangesRefused)
		return fail(0, ErrUnexpected, "%d Quick Modes already in progress", maxResponderQMs)
	case qm == nil:
		qm = newQuickMode(sa, nil, false, h.MessageID)
		err = qm.responderMessage1(now, in)
	case qm.initiator && qm.state == qmQM1Sent:
		err = qm.initiatorMessage2(now, in)
	case !qm.initiator && qm.state == qmQM2Sent:
		err = qm.responderMessage3(now, in)
	default:
		sa.c.Ctr.Inc(core.CtrUnexpected)
		return fail(0, ErrUnexpected, "Quick Mode message in state %d", qm.state)
	}
	if err != nil && !errors.Is(err, errStop) {
		qm.failed(now, err)
	}
	return err
}

// decryptVerified decrypts a Quick Mode message and checks its leading HASH payload
// against want(rest of message) before committing the IV.
func (qm *quickMode) decryptVerified(in *inbound, want func(rest []byte) []byte) (*isakmp.Chain, error) {
	d, err := qm.sa.decrypt(in.msg, true)
	if err != nil {
		return nil, err
	}
	c := d.chain
	if len(c.Payloads) == 0 || c.Payloads[0].Type() != isakmp.PayloadHash {
		return nil, fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "Quick Mode message does not start with HASH")
	}
	got := c.Payloads[0].(*isakmp.Hash).Data
	if !hmacEqual(got, want(c.Bytes[c.Spans[0].End:])) {
		qm.c.Ctr.Inc(core.CtrInvalidHash)
		return nil, fail(0, ErrInvalidHash, "Quick Mode HASH mismatch")
	}
	qm.sa.commitIV(in.msg.Header.MessageID, d.next, true)
	qm.sa.LastRecv = qm.c.Now
	qm.sa.heardProtected = true
	return c, nil
}

// startQM begins a Quick Mode for a child unit (rekeyOf: the pair it replaces).
func startQM(now time.Time, sa *ikeSA, ch *core.ChildState, rekeyOf *core.ChildSA) {
	if rekeyOf != nil && sa.peerRekeying(ch) {
		// The peer is rekeying the unit already (its Quick Mode waits for our message 3's
		// counterpart): its new pair replaces this one, so a rekey of ours would only make a
		// second pair. As strongSwan does, we leave it to the peer (and retry later should
		// its exchange fail).
		qmLog := sa.Log.With(zap.String("child", ch.Cfg.Name))
		qmLog.Info("not rekeying CHILD_SA: the peer is rekeying it")
		rekeyOf.RekeyFailed(now)
		return
	}
	qm := newQuickMode(sa, ch, true, sa.c.newMID(sa))
	qm.rekeyOf = rekeyOf
	ch.Pending = qm
	if err := qm.initiatorMessage1(now); err != nil {
		qm.failed(now, err)
	}
}

// initiatorMessage1 sends HASH(1), SA, Ni [, KE], IDci, IDcr [, NAT-OA x2].
func (qm *quickMode) initiatorMessage1(now time.Time) error {
	sa, ch := qm.sa, qm.ch
	qm.proto = v1Proto(ch)
	group := pfsGroup(ch.Props, sa.tr.group)
	spi, err := qm.c.DP.AllocSPI(qm.c.Rand)
	if err != nil {
		return fmt.Errorf("%w: allocating an SPI: %v", ErrInstall, err)
	}
	qm.spiIn = spi
	if err := qm.ourSelectors(); err != nil {
		return err
	}
	qm.udp = sa.nattInUse()
	if qm.proto == isakmp.ProtoAH && qm.udp {
		return fail(0, ErrNoProposalChosen, "AH cannot be UDP-encapsulated (a NAT was detected or encap = \"udp\"; use encap = \"raw\" without NAT)")
	}
	life, _ := ch.Cfg.Lifetime()
	if ch.Cfg.RekeyTime == 0 {
		life = 0 // no Life Duration: RFC 2407 §4.5's default
	}
	qm.lifeKB = ch.Cfg.LifeBytes / kilobyte
	mode := encapMode(ch.Mode() == esp.Transport, qm.udp, sa.natdDraft())
	qm.offer = expandP2(qm.proto, ch.Props, group, mode, life, qm.lifeKB)
	if len(qm.offer) == 0 {
		return fail(0, ErrNoProposalChosen, "child %q has no usable proposal", ch.Cfg.Name)
	}
	qm.ni = qm.c.newNonce()
	p := isakmp.Proposal{Number: 1, ProtocolID: qm.proto, SPI: be32(qm.spiIn)}
	for i, t := range qm.offer {
		p.Transforms = append(p.Transforms, isakmp.Transform{Number: uint8(i + 1), ID: t.id(), Attributes: t.attributes()})
	}
	payloads := []isakmp.Payload{
		&isakmp.Hash{Data: make([]byte, qm.hashLen())},
		&isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SituationIdentityOnly, Proposals: []isakmp.Proposal{p}},
		&isakmp.Nonce{Data: qm.ni},
	}
	if group != nil {
		if qm.dh, err = qm.c.newDH(group.Group); err != nil {
			return fmt.Errorf("%w: PFS group %s: %v", ErrNoProposalChosen, group.Name, err)
		}
		payloads = append(payloads, &isakmp.KeyExchange{Data: qm.dh.Public()})
	}
	payloads = append(payloads, qm.idci, qm.idcr)
	payloads = append(payloads, qm.natoaPayloads()...)
	if qm.rekeyOf != nil && sa.ext.oakley {
		// An oakley peer learns which pair this replaces: if its own rekey of that pair
		// completed before this arrives, it still sees the collision (crossedRekey).
		payloads = append(payloads, &isakmp.Notification{DOI: isakmp.DOIIPsec, ProtocolID: qm.proto,
			NotifyType: isakmp.NotifyOakleyRekeySA, SPI: be32(qm.rekeyOf.InSPI())})
	}
	raw, err := sa.encode(isakmp.ExchangeQuickMode, qm.mid, payloads, true, true, func(rest []byte) []byte {
		return quickModeHash1(sa.keys.prf, sa.keys.skeyidA, qm.mid, rest)
	})
	if err != nil {
		return err
	}
	qm.state = qmQM1Sent
	qm.log.Info("initiating Quick Mode", zap.String("proposals", describeProposals(ch.Props)),
		zap.String("local_ts", selectorsString(qm.localTS)), zap.String("remote_ts", selectorsString(qm.remoteTS)), zap.Bool("rekey", qm.rekeyOf != nil))
	hold := sa.quickModeHold(now)
	if hold > 0 {
		qm.log.Debug("holding Quick Mode back until the peer has surely processed MM6", zap.Duration("hold", hold))
	}
	qm.retrans.StartAfter(now, hold, "QM1", raw)
	return nil
}

// mm6Hold is how long a Main Mode responder holds back a Quick Mode of its own after MM6
// when nothing protected came from the initiator since.
const mm6Hold = 500 * time.Millisecond

// quickModeHold is how long to hold back a Quick Mode we start on sa. A Main Mode responder
// completes when it sends MM6, but the initiator derives the Phase 2 IVs from MM6 only when
// it has processed it: a Quick Mode that overtakes MM6 (reordered, or handled first by
// another of the peer's threads, as charon does) does not decrypt, and charon keeps the IV
// it derived for that message ID, so retransmissions fail too (PAYLOAD-MALFORMED; seen
// when a re-authentication collision made oakley rekey a pair onto charon's new SA at
// once). Anything protected from the initiator on this SA shows it has the keys.
func (sa *ikeSA) quickModeHold(now time.Time) time.Duration {
	if sa.Initiator || sa.aggressive || sa.heardProtected {
		return 0
	}
	return max(0, mm6Hold-now.Sub(sa.EstablishedAt))
}

// ourSelectors sets IDci / IDcr from the child's first local and remote selectors (one
// Quick Mode carries one pair; transport mode without selectors uses the endpoints).
func (qm *quickMode) ourSelectors() error {
	local, remote := qm.ch.LocalTS, qm.ch.RemoteTS
	if r := qm.rekeyOf; r != nil && len(r.Params().LocalTS) > 0 && len(r.Params().RemoteTS) > 0 {
		// A rekey proposes the identities of the pair it replaces: on a gateway those are
		// one client's virtual IP, not the connection's whole remote_ts.
		local, remote = r.Params().LocalTS, r.Params().RemoteTS
	} else if len(local) == 0 {
		local = []esp.Selector{hostSelector(qm.sa.ourIP())}
	}
	if len(remote) == 0 {
		remote = []esp.Selector{hostSelector(qm.sa.Remote.Addr())}
	}
	if s, ok := qm.sa.vipLocalSelector(local, remote[0]); ok && qm.rekeyOf == nil {
		// A Mode Config client: its side is the virtual IP the gateway assigned.
		local = []esp.Selector{s}
	}
	var err error
	if qm.idci, err = selectorID(local[0]); err != nil {
		return fmt.Errorf("%w: local selector %s: %v", ErrConfig, local[0], err)
	}
	if qm.idcr, err = selectorID(remote[0]); err != nil {
		return fmt.Errorf("%w: remote selector %s: %v", ErrConfig, remote[0], err)
	}
	qm.localTS, qm.remoteTS = local[:1], remote[:1]
	return nil
}

// natoaPayloads are the NAT-OA payloads of a transport-mode Quick Mode over NAT-T
// (RFC 3947 §5.2): the initiator's and the responder's original addresses.
func (qm *quickMode) natoaPayloads() []isakmp.Payload {
	if !qm.udp || qm.ch.Mode() != esp.Transport {
		return nil
	}
	me, peer := qm.sa.ourIP(), qm.sa.Remote.Addr()
	if !me.IsValid() {
		return nil
	}
	i, r := me, peer
	if !qm.initiator {
		i, r = peer, me
	}
	d := qm.sa.natdDraft()
	return []isakmp.Payload{&isakmp.NATOriginalAddress{Draft: d, Addr: i.Unmap()}, &isakmp.NATOriginalAddress{Draft: d, Addr: r.Unmap()}}
}

// initiatorMessage2: verify HASH(2), accept the responder's choice, install, send HASH(3).
func (qm *quickMode) initiatorMessage2(now time.Time, in *inbound) error {
	sa := qm.sa
	c, err := qm.decryptVerified(in, func(rest []byte) []byte {
		return quickModeHash2(sa.keys.prf, sa.keys.skeyidA, qm.mid, qm.ni, rest)
	})
	if err != nil {
		if errors.Is(err, ErrInvalidHash) || errors.Is(err, ErrMalformed) {
			return errStop // forged or corrupted: keep waiting for the real answer
		}
		return err
	}
	qm.retrans.Stop()
	if err := qm.checkResponderChoice(c); err != nil {
		return err
	}
	if qm.nr, err = nonceBody(c); err != nil {
		return err
	}
	if qm.dh != nil {
		if qm.peerKE, err = keData(c); err != nil {
			return err
		}
	}
	if err := qm.checkResponderIDs(c); err != nil {
		return err
	}
	qm.applyResponderLifetime(c)
	csa, err := qm.install(now)
	if err != nil {
		return err
	}
	raw, err := sa.encode(isakmp.ExchangeQuickMode, qm.mid, []isakmp.Payload{&isakmp.Hash{Data: quickModeHash3(sa.keys.prf, sa.keys.skeyidA, qm.mid, qm.ni, qm.nr)}}, true, true, nil)
	if err != nil {
		return err
	}
	// A retransmitted message 2 (our message 3 was lost) gets message 3 again.
	sa.replies.Remember(in.Hash, raw)
	sa.send(raw)
	qm.finish()
	if qm.rekeyOf != nil {
		// The peer installs its SAs when message 3 arrives: keep sending on the old SA
		// until the new one carries traffic or a second has passed (longer while the peer
		// still sends only on the old one; message 3 then goes again).
		csa.SetResendFinal(func() {
			if sa.established() {
				sa.send(raw)
			}
		})
		csa.ActivateLater(now, outboundSwitchDelay)
	} else {
		csa.Activate(now)
	}
	csa.Established(now)
	return nil
}

// checkResponderChoice accepts only one of our transforms (RFC 2409 §5.5).
func (qm *quickMode) checkResponderChoice(c *isakmp.Chain) error {
	s, i := payloadOf[*isakmp.SA](c)
	if i < 0 {
		return fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no SA payload in Quick Mode message 2")
	}
	if len(s.Proposals) != 1 || len(s.Proposals[0].Transforms) != 1 || s.Proposals[0].ProtocolID != qm.proto || len(s.Proposals[0].SPI) != 4 {
		return fail(isakmp.NotifyBadProposalSyntax, ErrNoProposalChosen, "responder's SA does not hold one %s transform with a 4-byte SPI", qm.proto)
	}
	got, err := parseP2Transform(qm.proto, &s.Proposals[0].Transforms[0])
	if err != nil {
		return fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "responder chose an unsupported transform: %v", err)
	}
	for _, t := range qm.offer {
		if t.sameAlgorithms(got) {
			qm.tr = t
			qm.tr.mode = got.mode
			qm.udp = modeIsUDP(got.mode) // the encapsulation both sides agreed on
			qm.life, qm.lifeKB = shorter(t.life, got.life), shorterKB(t.lifeKB, got.lifeKB)
			qm.spiOut = be32u(s.Proposals[0].SPI)
			return nil
		}
	}
	return fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "responder chose %s, which we did not offer", got)
}

func be32u(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// shorter returns the shorter of two lifetimes, 0 meaning unset.
func shorter(a, b time.Duration) time.Duration {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

func shorterKB(a, b uint64) uint64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// checkResponderIDs: if the responder returns identities they must lie within ours.
func (qm *quickMode) checkResponderIDs(c *isakmp.Chain) error {
	ids := idPayloads(c)
	if len(ids) == 0 {
		return nil
	}
	if len(ids) != 2 {
		return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "%d ID payloads in Quick Mode message 2", len(ids))
	}
	li, err := idSelectors(ids[0])
	if err != nil {
		return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "IDci %s: %v", idOfPayload(ids[0]), err)
	}
	ri, err := idSelectors(ids[1])
	if err != nil {
		return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "IDcr %s: %v", idOfPayload(ids[1]), err)
	}
	if qm.ch.Mode() == esp.Transport && qm.udp {
		li, ri = natTransportTS(li, qm.sa.ourIP()), natTransportTS(ri, qm.sa.Remote.Addr())
	}
	if !allWithin(li, qm.localTS) || !allWithin(ri, qm.remoteTS) {
		return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "responder returned %s === %s for %s === %s",
			selectorsString(li), selectorsString(ri), selectorsString(qm.localTS), selectorsString(qm.remoteTS))
	}
	qm.localTS, qm.remoteTS = li, ri
	return nil
}

func idPayloads(c *isakmp.Chain) []*isakmp.Identification {
	var out []*isakmp.Identification
	for _, p := range c.Payloads {
		if id, ok := p.(*isakmp.Identification); ok {
			out = append(out, id)
		}
	}
	return out
}

// applyResponderLifetime honours a RESPONDER-LIFETIME notification (RFC 2407 §4.6.3.1):
// Life Type / Life Duration attributes shorter than ours replace them.
func (qm *quickMode) applyResponderLifetime(c *isakmp.Chain) {
	for _, p := range c.Payloads {
		n, ok := p.(*isakmp.Notification)
		if !ok || n.NotifyType != isakmp.NotifyResponderLifetime {
			continue
		}
		attrs, err := isakmp.DecodeAttributes(n.Data)
		if err != nil {
			qm.log.Info("ignoring malformed RESPONDER-LIFETIME", zap.Error(err))
			continue
		}
		var lp lifeParser
		for _, a := range attrs {
			if _, err := lp.attr(a, isakmp.AttrSALifeType, isakmp.AttrSALifeDuration); err != nil {
				break
			}
		}
		if lp.secs > 0 {
			qm.life = shorter(qm.life, secondsDuration(lp.secs))
		}
		if lp.kbytes > 0 {
			qm.lifeKB = shorterKB(qm.lifeKB, lp.kbytes)
		}
		qm.log.Info("responder shortened the lifetime", zap.Duration("life", qm.life), zap.Uint64("life_kb", qm.lifeKB))
	}
}

// finish ends a successful exchange.
func (qm *quickMode) finish() {
	qm.state = qmDone
	qm.retrans.Stop()
	delete(qm.sa.qms, qm.mid)
	delete(qm.sa.p2ivs, qm.mid)
	qm.sa.rememberMID(qm.mid)
	qm.sa.quickModeEnded()
	if qm.ch != nil && qm.ch.Pending == core.Negotiation(qm) {
		qm.ch.Pending = nil
	}
	if qm.dh != nil {
		qm.dh.Wipe()
	}
}

// failed ends an exchange with an error: log, count, notify the peer, clean up.
func (qm *quickMode) failed(now time.Time, err error) {
	if qm.state == qmDead {
		return
	}
	qm.c.CountError(err)
	qm.c.Ctr.Inc(core.CtrChildFailed)
	n := notifyFor(err)
	fields := []zap.Field{zap.Bool("initiator", qm.initiator), zap.Error(err)}
	if n != 0 {
		fields = append(fields, zap.Stringer("notify", n))
	}
	qm.log.Warn("Quick Mode failed", fields...)
	if n != 0 && qm.sa.established() {
		spi := qm.spiIn
		if !qm.initiator {
			spi = qm.spiOut
		}
		var spiB []byte
		if spi != 0 {
			spiB = be32(spi)
		}
		proto := qm.proto
		if proto == 0 {
			proto = isakmp.ProtoESP
		}
		qm.sa.sendNotify(n, proto, spiB, nil)
	}
	qm.abort(now, err)
}

// Abort ends the exchange without telling the peer (core.Negotiation).
func (qm *quickMode) Abort(now time.Time, err error) { qm.abort(now, err) }

// abort ends an exchange without telling the peer.
func (qm *quickMode) abort(now time.Time, err error) { qm.end(now, err, true) }

// end ends the exchange and releases what it holds; failed: it counts as the unit's failure
// (and a rekey's, which is then retried).
func (qm *quickMode) end(now time.Time, err error, failed bool) {
	if qm.state == qmDead {
		return
	}
	qm.state = qmDead
	qm.retrans.Stop()
	delete(qm.sa.qms, qm.mid)
	delete(qm.sa.p2ivs, qm.mid)
	qm.sa.rememberMID(qm.mid)
	qm.sa.quickModeEnded()
	if qm.pending != nil {
		qm.pending.Remove(now, false, err)
		qm.pending = nil
	} else if qm.spiIn != 0 && qm.c.ChildByInboundSPI(qm.spiIn) == nil {
		qm.c.DP.ReleaseSPI(qm.spiIn)
	}
	if qm.dh != nil {
		qm.dh.Wipe()
	}
	if qm.ch != nil && qm.ch.Pending == core.Negotiation(qm) {
		qm.ch.Pending = nil
		if failed {
			qm.ch.Failed(now, err)
			if qm.rekeyOf != nil && qm.rekeyOf.Current() {
				qm.rekeyOf.RekeyFailed(now)
			}
		}
	}
}

// held reports whether this is our Quick Mode held back after MM6 (quickModeHold) and not
// sent yet.
func (qm *quickMode) held() bool {
	return qm.initiator && qm.state == qmQM1Sent && qm.retrans.Active() && qm.retrans.Sent == 0
}

// Withdraw ends our Quick Mode without counting a failure, nothing retried: the peer started
// one for the same unit while ours was held and had not left (its pair supersedes the one
// ours would have replaced), or its ISAKMP SA goes and the core starts it again on another
// (core.movable).
func (qm *quickMode) Withdraw(now time.Time, why string) {
	if qm.state == qmDead {
		return
	}
	qm.log.Info("withdrawing our Quick Mode", zap.String("why", why), zap.Bool("held", qm.held()))
	qm.end(now, nil, false)
}

// OnIKE is the ISAKMP SA the exchange runs on (core.movable).
func (qm *quickMode) OnIKE() core.IKESA { return qm.sa }

// giveUp: the peer stopped answering this Quick Mode.
func (qm *quickMode) giveUp(now time.Time) {
	if !qm.initiator && qm.state == qmQM2Sent && qm.pending != nil && qm.pending.Alive() {
		qm.keepPending(now)
	}
	qm.failed(now, fmt.Errorf("%w: Quick Mode message %d not answered", ErrTimeout, map[bool]int{true: 1, false: 2}[qm.initiator]))
}

// peerRekeying reports whether a Quick Mode the peer started for the unit is in progress.
func (sa *ikeSA) peerRekeying(ch *core.ChildState) bool {
	for _, qm := range sa.qms {
		if !qm.initiator && qm.ch == ch && qm.state == qmQM2Sent {
			return true
		}
	}
	return false
}

// responderQMs counts the Quick Modes the peer has in progress with us.
func (sa *ikeSA) responderQMs() int {
	n := 0
	for _, qm := range sa.qms {
		if !qm.initiator {
			n++
		}
	}
	return n
}

// seenMID / rememberMID keep the recent message IDs of Phase 2 and Informational
// exchanges, so a replayed old exchange is not processed again.
func (sa *ikeSA) seenMID(mid uint32) bool {
	for _, m := range sa.mids {
		if m == mid {
			return true
		}
	}
	return false
}

func (sa *ikeSA) rememberMID(mid uint32) {
	if sa.seenMID(mid) {
		return
	}
	sa.mids = append(sa.mids, mid)
	if len(sa.mids) > recentMIDs {
		sa.mids = sa.mids[1:]
	}
}

// gqmxy returns the PFS shared secret (RFC 2409 §5.5), checked per RFC 6989.
func (qm *quickMode) gqmxy() (crypto.Key, error) {
	if qm.dh == nil {
		return nil, nil
	}
	k, err := qm.dh.SharedSecret(qm.peerKE)
	if err != nil {
		return nil, fail(isakmp.NotifyInvalidKeyInformation, ErrInvalidKE, "PFS: %v", err)
	}
	return k, nil
}

func hmacEqual(a, b []byte) bool { return hmac.Equal(a, b) }
