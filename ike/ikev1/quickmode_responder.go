package ikev1

// The responder's side of Quick Mode (RFC 2409 §5.5): choosing a child by the proposed
// identities and a transform from the offer, answering with HASH(2) (and RESPONDER-LIFETIME
// when we want a shorter lifetime, RFC 2407 §4.6.3.1), installing the inbound SA at once
// and switching the outbound one when HASH(3) arrives.

import (
	"errors"
	"fmt"
	"net/netip"
	"oakley/ike/core"
	"time"

	"go.uber.org/zap"

	"oakley/esp"
	"oakley/ike/isakmp"
)

// responderMessage1: verify HASH(1), pick a child by the identities and a transform,
// answer with HASH(2) and install the inbound SA.
func (qm *quickMode) responderMessage1(now time.Time, in *inbound) error {
	sa := qm.sa
	c, err := qm.decryptVerified(in, func(rest []byte) []byte {
		return quickModeHash1(sa.keys.prf, sa.keys.skeyidA, qm.mid, rest)
	})
	if err != nil {
		delete(sa.qms, qm.mid)
		sa.quickModeEnded()
		if errors.Is(err, ErrInvalidHash) || errors.Is(err, ErrMalformed) {
			sa.Log.Info("dropping Quick Mode message 1", zap.Error(err))
			return errStop
		}
		return err
	}
	sa.rememberMID(qm.mid)
	s, i := payloadOf[*isakmp.SA](c)
	if i < 0 {
		return fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no SA payload in Quick Mode message 1")
	}
	if qm.ni, err = nonceBody(c); err != nil {
		return err
	}
	// The initiator's SPI names the exchange in any error notification we send.
	if len(s.Proposals) > 0 && len(s.Proposals[0].SPI) == 4 {
		qm.proto, qm.spiOut = s.Proposals[0].ProtocolID, be32u(s.Proposals[0].SPI)
	}
	if err := qm.pickChild(c, s); err != nil {
		return err
	}
	qm.peerRekeys = rekeyNotify(c, sa.ext.oakley)
	if own, ok := qm.ch.Pending.(*quickMode); ok && own != qm && own.held() {
		own.Withdraw(now, "the peer started one for the same CHILD_SA first") // ours never left: no crossing
	}
	if err := sa.checkLeasedTS(qm.remoteTS); err != nil {
		return err
	}
	if qm.tr.group != nil {
		if qm.peerKE, err = keData(c); err != nil {
			return err
		}
		if qm.dh, err = qm.c.newDH(qm.tr.group.Group); err != nil {
			return fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "PFS group %s: %v", qm.tr.group.Name, err)
		}
	}
	spi, err := qm.c.DP.AllocSPI(qm.c.Rand)
	if err != nil {
		return fmt.Errorf("%w: allocating an SPI: %v", ErrInstall, err)
	}
	qm.spiIn = spi
	qm.nr = qm.c.newNonce()
	return qm.responderAnswer(now, in, c, s)
}

// responderAnswer builds message 2 and installs the SAs (outbound switched on message 3).
func (qm *quickMode) responderAnswer(now time.Time, in *inbound, c *isakmp.Chain, s *isakmp.SA) error {
	sa := qm.sa
	prop, tr := qm.chosenWire(s)
	payloads := []isakmp.Payload{
		&isakmp.Hash{Data: make([]byte, qm.hashLen())},
		echoSA(s, prop, tr, be32(qm.spiIn)),
		&isakmp.Nonce{Data: qm.nr},
	}
	if qm.dh != nil {
		payloads = append(payloads, &isakmp.KeyExchange{Data: qm.dh.Public()})
	}
	if ids := idPayloads(c); len(ids) == 2 {
		payloads = append(payloads, &isakmp.Identification{IDType: ids[0].IDType, ProtocolID: ids[0].ProtocolID, Port: ids[0].Port, Data: ids[0].Data},
			&isakmp.Identification{IDType: ids[1].IDType, ProtocolID: ids[1].ProtocolID, Port: ids[1].Port, Data: ids[1].Data})
	}
	if n := qm.responderLifetime(); n != nil {
		payloads = append(payloads, n)
	}
	payloads = append(payloads, qm.natoaPayloads()...)
	csa, err := qm.install(now)
	if err != nil {
		return err
	}
	qm.pending = csa
	csa.SetConfirm(qm.confirmedByTraffic)
	raw, err := sa.encode(isakmp.ExchangeQuickMode, qm.mid, payloads, true, true, func(rest []byte) []byte {
		return quickModeHash2(sa.keys.prf, sa.keys.skeyidA, qm.mid, qm.ni, rest)
	})
	if err != nil {
		csa.Remove(now, false, err)
		return err
	}
	qm.state = qmQM2Sent
	sa.replies.Remember(in.Hash, raw)
	// Retransmitted until message 3 arrives: without it our outbound SA stays unused.
	qm.retrans.Start(now, "QM2", raw)
	return nil
}

// chosenWire finds the proposal and transform qm.tr came from, to echo them.
func (qm *quickMode) chosenWire(s *isakmp.SA) (*isakmp.Proposal, *isakmp.Transform) {
	for pi := range s.Proposals {
		p := &s.Proposals[pi]
		if p.ProtocolID != qm.proto {
			continue
		}
		for ti := range p.Transforms {
			t, err := parseP2Transform(p.ProtocolID, &p.Transforms[ti])
			if err == nil && t == qm.trWire {
				return p, &p.Transforms[ti]
			}
		}
	}
	return &s.Proposals[0], &s.Proposals[0].Transforms[0]
}

// responderLifetime returns a RESPONDER-LIFETIME notification when our lifetime is
// shorter than the initiator's (RFC 2407 §4.6.3.1), nil otherwise.
func (qm *quickMode) responderLifetime() *isakmp.Notification {
	var attrs []isakmp.Attribute
	theirs := qm.trWire.life
	if theirs == 0 {
		theirs = core.DefaultLifetime
	}
	if qm.life > 0 && qm.life < theirs {
		attrs = append(attrs, isakmp.TV(isakmp.AttrSALifeType, isakmp.LifeTypeSeconds), isakmp.IntAttr(isakmp.AttrSALifeDuration, uint64(qm.life/time.Second)))
	}
	if qm.lifeKB > 0 && (qm.trWire.lifeKB == 0 || qm.lifeKB < qm.trWire.lifeKB) {
		attrs = append(attrs, isakmp.TV(isakmp.AttrSALifeType, isakmp.LifeTypeKilobytes), isakmp.IntAttr(isakmp.AttrSALifeDuration, qm.lifeKB))
	}
	if len(attrs) == 0 {
		return nil
	}
	data, err := isakmp.EncodeAttributes(attrs)
	if err != nil {
		return nil
	}
	return &isakmp.Notification{DOI: isakmp.DOIIPsec, ProtocolID: qm.proto, NotifyType: isakmp.NotifyResponderLifetime, SPI: be32(qm.spiOut), Data: data}
}

// responderMessage3: verify HASH(3) and start using the new SAs.
func (qm *quickMode) responderMessage3(now time.Time, in *inbound) error {
	sa := qm.sa
	c, err := qm.decryptVerified(in, func([]byte) []byte {
		return quickModeHash3(sa.keys.prf, sa.keys.skeyidA, qm.mid, qm.ni, qm.nr)
	})
	if err != nil {
		return errStop // keep waiting (and retransmitting) for a genuine message 3
	}
	if len(c.Payloads) != 1 {
		qm.log.Debug("Quick Mode message 3 carries extra payloads", zap.Int("payloads", len(c.Payloads)))
	}
	sa.replies.Remember(in.Hash, nil)
	qm.responderDone(now)
	return nil
}

// confirmedByTraffic: the initiator's first packet on the new pair arrived before message 3.
// It installed the pair when our message 2 arrived, and a packet that verifies under keys
// derived from both nonces shows that as well as HASH(3) would; message 3 itself was lost
// (or is late). Waiting for it, while the initiator's retransmissions of it depend on ours
// of message 2, kept a chaos-collisions round against strongSwan half done for 90 s.
func (qm *quickMode) confirmedByTraffic(now time.Time) {
	if qm.state != qmQM2Sent || qm.pending == nil {
		return
	}
	qm.c.Ctr.Inc(core.CtrConfirmedByTraffic)
	qm.log.Info("the initiator sends on the new pair: taking that for the missing Quick Mode message 3")
	qm.responderDone(now)
}

// keepPending keeps the pair of a Quick Mode whose message 2 was never answered. The
// initiator installs the pair when our message 2 arrives; if every message 3 and every
// answer to our retransmissions were lost, it sends on the pair while we would no longer
// know its SPI, until its rekey. Kept, the pair completes on the initiator's first packet
// (as confirmedByTraffic does while the exchange still waits); core removes it once a newer
// pair of the unit is established or at its soft lifetime (core.KeepUnconfirmed).
func (qm *quickMode) keepPending(now time.Time) {
	csa, log, ctr := qm.pending, qm.log, qm.c.Ctr
	qm.pending = nil
	log.Info("keeping the new pair for the initiator's traffic: Quick Mode message 3 never came")
	csa.KeepUnconfirmed(now, func(now time.Time) {
		ctr.Inc(core.CtrConfirmedByTraffic)
		log.Info("the initiator sends on the pair of a Quick Mode that timed out: completing it")
		csa.Activate(now)
		csa.Established(now)
	})
}

// responderDone completes a Quick Mode as responder: the outbound SA takes traffic.
func (qm *quickMode) responderDone(now time.Time) {
	qm.retrans.Stop()
	csa := qm.pending
	qm.pending = nil
	csa.SetConfirm(nil)
	qm.finish()
	if !csa.Alive() {
		// The pair was evicted while QM3 was on its way (core.MaxPairsPerChild): nothing to
		// switch to, and nothing to report as established.
		qm.log.Info("Quick Mode completed for a pair already evicted; ignoring it")
		qm.c.Ctr.Inc(core.CtrUnexpected)
		return
	}
	csa.Activate(now)
	csa.Established(now)
}

// pickChild is the responder's choice (RFC 2409 §5.5, RFC 4301 §4.4.1): the first child of
// the connection whose configured selectors contain the proposed identities (equal or
// narrower; we narrow nothing ourselves), and the first of the initiator's transforms it
// accepts.
func (qm *quickMode) pickChild(c *isakmp.Chain, s *isakmp.SA) error {
	sa := qm.sa
	ids := idPayloads(c)
	var localTS, remoteTS []esp.Selector
	switch len(ids) {
	case 0:
		remoteTS, localTS = []esp.Selector{hostSelector(sa.Remote.Addr())}, []esp.Selector{hostSelector(sa.ourIP())}
	case 2:
		var err error
		if remoteTS, err = idSelectors(ids[0]); err != nil {
			return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "IDci %s: %v", idOfPayload(ids[0]), err)
		}
		if localTS, err = idSelectors(ids[1]); err != nil {
			return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "IDcr %s: %v", idOfPayload(ids[1]), err)
		}
	default:
		return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "%d ID payloads in Quick Mode message 1", len(ids))
	}
	var tsMatch *core.ChildState
	proposedLocal, proposedRemote := localTS, remoteTS
	for _, ch := range sa.Conn.Children {
		localTS, remoteTS = proposedLocal, proposedRemote
		if ch.Mode() == esp.Transport && sa.nattInUse() && len(ids) == 2 {
			// Transport mode through a NAT: the peer's ID carries its private address
			// (RFC 3947 §5.2 sends it in NAT-OA); the SA protects the IKE endpoints, as
			// strongSwan does.
			remoteTS = natTransportTS(remoteTS, sa.Remote.Addr())
			localTS = natTransportTS(localTS, sa.ourIP())
		}
		cfgLocal, cfgRemote := ch.LocalTS, ch.RemoteTS
		if len(cfgLocal) == 0 {
			cfgLocal = []esp.Selector{hostSelector(sa.ourIP())}
		}
		if len(cfgRemote) == 0 {
			cfgRemote = []esp.Selector{hostSelector(sa.Remote.Addr())}
		}
		if !allWithin(localTS, cfgLocal) || !allWithin(remoteTS, cfgRemote) {
			continue
		}
		if tsMatch == nil {
			tsMatch = ch
		}
		if qm.chooseTransform(ch, s) {
			qm.ch = ch
			qm.localTS, qm.remoteTS = localTS, remoteTS
			qm.setLog()
			return nil
		}
	}
	if tsMatch == nil {
		return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "no child of connection %q accepts %s === %s (peer's view: IDci %s, IDcr %s)",
			sa.Conn.Cfg.Name, selectorsString(localTS), selectorsString(remoteTS), idOfPayloadOrNone(ids, 0), idOfPayloadOrNone(ids, 1))
	}
	return fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "child %q: peer offered [%s], configured [%s] (%s mode)",
		tsMatch.Name(), describeP2Offer(s), describeProposals(tsMatch.Props), tsMatch.Mode())
}

func idOfPayloadOrNone(ids []*isakmp.Identification, i int) string {
	if i < len(ids) {
		return idOfPayload(ids[i])
	}
	return "(none)"
}

// chooseTransform picks the first of the initiator's transforms that child ch accepts.
func (qm *quickMode) chooseTransform(ch *core.ChildState, s *isakmp.SA) bool {
	for pi := range s.Proposals {
		p := &s.Proposals[pi]
		if p.ProtocolID != v1Proto(ch) || len(p.SPI) != 4 {
			continue
		}
		for ti := range p.Transforms {
			t, err := parseP2Transform(p.ProtocolID, &p.Transforms[ti])
			if err != nil || modeIsTransport(t.mode) != (ch.Mode() == esp.Transport) {
				continue
			}
			if p.ProtocolID == isakmp.ProtoAH && modeIsUDP(t.mode) {
				continue // RFC 3947 §5.1: UDP encapsulation is for ESP only
			}
			if !p2Acceptable(ch.Props, t, ch.Conn.Cfg.InsecureAlgorithms) {
				continue
			}
			qm.proto, qm.tr, qm.trWire = p.ProtocolID, t, t
			qm.spiOut = be32u(p.SPI)
			qm.udp = modeIsUDP(t.mode) // follow the proposed mode, as the peer will
			theirs := t.life
			if theirs == 0 {
				theirs = core.DefaultLifetime
			}
			qm.life = theirs
			if ours, rekey := ch.Cfg.Lifetime(); rekey && ours < theirs {
				qm.life = ours
			}
			qm.lifeKB = shorterKB(t.lifeKB, ch.Cfg.LifeBytes/kilobyte)
			return true
		}
	}
	return false
}

// natTransportTS replaces a single-host selector by the host the SA really talks to
// (transport mode behind a NAT); other selectors are left alone.
func natTransportTS(ts []esp.Selector, host netip.Addr) []esp.Selector {
	if len(ts) != 1 || !ts[0].Prefix.IsSingleIP() || !host.IsValid() {
		return ts
	}
	s := ts[0]
	s.Prefix = netip.PrefixFrom(host.Unmap(), host.Unmap().BitLen())
	return []esp.Selector{s}
}

// rekeyNotify returns the SPI an oakley peer's OAKLEY-REKEY-SA notification names (the
// peer's inbound SPI of the pair its Quick Mode replaces), 0 when there is none or the peer
// is not oakley (the type is private use: another peer may mean something else by it).
func rekeyNotify(c *isakmp.Chain, peerIsOakley bool) uint32 {
	if !peerIsOakley {
		return 0
	}
	for _, p := range c.Payloads {
		if n, ok := p.(*isakmp.Notification); ok && n.NotifyType == isakmp.NotifyOakleyRekeySA && len(n.SPI) == 4 {
			return be32u(n.SPI)
		}
	}
	return 0
}
