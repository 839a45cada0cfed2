package ikev1

// Aggressive Mode with pre-shared keys, RFC 2409 §5 and §5.4:
//
//	Initiator                                   Responder
//	HDR, SA, KE, Ni, IDii, VID             -->
//	                                       <--  HDR, SA, KE, Nr, IDir, HASH_R, VID, NAT-D, NAT-D
//	HDR*, HASH_I, NAT-D, NAT-D             -->  (encrypted, as strongSwan sends it; a
//	                                             plaintext one is accepted)
//
// The identities travel in the clear and HASH_R can be attacked offline (ike-scan -A +
// psk-crack), so a responder needs Connection.InsecureAlgorithms (STANDARDS.md).

import (
	"fmt"
	"oakley/ike/core"
	"time"

	"go.uber.org/zap"

	"oakley/ike/isakmp"
)

// handleAggressive routes an Aggressive Mode message by state and role.
func (sa *ikeSA) handleAggressive(now time.Time, in *inbound) error {
	var err error
	switch {
	case sa.Initiator && sa.state == p1AM1Sent:
		err = sa.amInitiatorMessage2(now, in)
	case !sa.Initiator && sa.state == p1Start:
		err = sa.amResponderMessage1(now, in)
	case !sa.Initiator && sa.state == p1AM2Sent:
		err = sa.amResponderMessage3(now, in)
	default:
		sa.c.Ctr.Inc(core.CtrUnexpected)
		return fail(0, ErrUnexpected, "Aggressive Mode message in state %s", sa.state)
	}
	return sa.phase1Step(now, in, err)
}

// startAggressive sends AM1. Its one KE fixes the group: only transforms of the first
// configured group are offered.
func (sa *ikeSA) startAggressive(now time.Time) error {
	life, _ := sa.Conn.Cfg.Lifetime()
	all := expandP1(props(sa.Conn), sa.auth.method(), life)
	for _, t := range all {
		if t.group == all[0].group {
			sa.offer = append(sa.offer, t)
		}
	}
	sa.tr = sa.offer[0]
	if err := sa.newKeyExchange(); err != nil {
		return err
	}
	id := sa.localIDPayload()
	payloads := []isakmp.Payload{p1SA(sa.offer), &isakmp.KeyExchange{Data: sa.gxi}, &isakmp.Nonce{Data: sa.ni}, id}
	payloads = append(payloads, sa.vendorIDs(sa.Conn.Cfg.EncapOf())...)
	m, err := sa.encodePlain(isakmp.ExchangeAggressive, payloads)
	if err != nil {
		return err
	}
	sa.saiB = append([]byte(nil), m.Chain.Body(0)...)
	sa.setState(p1AM1Sent)
	sa.Log.Info("initiating Aggressive Mode", zap.String("proposals", describeProposals(props(sa.Conn))))
	sa.retrans.Start(now, "AM1", m.Raw)
	return nil
}

// amInitiatorMessage2: check the choice, derive keys, authenticate the responder, then
// prove ourselves in AM3.
func (sa *ikeSA) amInitiatorMessage2(now time.Time, in *inbound) error {
	c, err := plainChain(in)
	if err != nil {
		return err
	}
	sa.processVendorIDs(c)
	tr, err := sa.checkResponderChoice(c)
	if err != nil {
		return err
	}
	if tr.group != sa.tr.group {
		return fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "responder chose group %s, our KE is %s", tr.group.Name, sa.tr.group.Name)
	}
	sa.tr = tr
	ke, nr, err := keNonce(c)
	if err != nil {
		return err
	}
	id, i := payloadOf[*isakmp.Identification](c)
	if i < 0 {
		return fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no IDir payload in Aggressive Mode message 2")
	}
	sa.gxr, sa.nr = ke, nr
	if err := sa.deriveKeys(sa.gxr); err != nil {
		return err
	}
	if err := sa.auth.verify(c, sa.peerHash(c.Body(i)), id); err != nil {
		return err
	}
	if !idMatches(sa.Conn.Cfg.RemoteID, id) {
		return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "responder identified as %q, expected %q", idOfPayload(id), sa.Conn.Cfg.RemoteID)
	}
	sa.retrans.Stop()
	sa.peerID = id
	sa.processNATD(c, in)
	sa.float()
	own := sa.localIDPayload()
	// HDR*, HASH_I, NAT-D, NAT-D as strongSwan sends it (no INITIAL-CONTACT: optional,
	// RFC 2407 §4.6.3.3, and Aggressive Mode peers do not expect it here).
	proof, err := sa.auth.proof(sa.ourHash(idBody(own)))
	if err != nil {
		return err
	}
	payloads := append(proof, sa.natdPayloads()...)
	raw, err := sa.encode(isakmp.ExchangeAggressive, 0, payloads, true, true, nil)
	if err != nil {
		return err
	}
	// AM3 is the last message: a retransmitted AM2 is answered with it again.
	sa.replies.Remember(in.Hash, raw)
	sa.send(raw)
	sa.establish(now)
	return nil
}

// amResponderMessage1: choose a connection by the initiator's identity, a transform, make
// our KE and keys, and answer with HASH_R.
func (sa *ikeSA) amResponderMessage1(now time.Time, in *inbound) error {
	c, err := plainChain(in)
	if err != nil {
		return err
	}
	s, si := payloadOf[*isakmp.SA](c)
	if si < 0 {
		return fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no SA payload in Aggressive Mode message 1")
	}
	id, ii := payloadOf[*isakmp.Identification](c)
	if ii < 0 {
		return fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no IDii payload in Aggressive Mode message 1")
	}
	ke, ni, err := keNonce(c)
	if err != nil {
		return err
	}
	cands := sa.c.responderCandidates(in.From, true, id)
	if len(cands) == 0 {
		if any := sa.c.responderCandidates(in.From, true, nil); len(any) > 0 {
			return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "no Aggressive Mode connection for identity %q", idOfPayload(id))
		}
		return &protoError{notify: isakmp.NotifyAuthenticationFailed, err: fmt.Errorf("%w: %w: Aggressive Mode with a pre-shared key from %s (needs aggressive = true and insecure_algorithms on a matching connection)",
			ErrAuthenticationFailed, errRefused, in.From.Addr())}
	}
	prop, tr, chosen, conn := selectP1(s, cands)
	if conn == nil {
		return fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "peer offered [%s], configured [%s]", describeP1Offer(s), describeProposals(props(cands[0])))
	}
	sa.bindConn(conn, cands)
	sa.tr = chosen
	sa.saiB = append([]byte(nil), c.Body(si)...)
	sa.peerID, sa.peerIDB = id, append([]byte(nil), c.Body(ii)...)
	sa.processVendorIDs(c)
	sa.gxi, sa.ni = ke, ni
	if err := sa.newKeyExchange(); err != nil {
		return err
	}
	if err := sa.deriveKeys(sa.gxi); err != nil {
		return err
	}
	sa.processNATD(c, in)
	own := sa.localIDPayload()
	required := []isakmp.Payload{echoSA(s, prop, tr, nil), &isakmp.KeyExchange{Data: sa.gxr}, &isakmp.Nonce{Data: sa.nr}, own}
	proof, err := sa.auth.proof(sa.ourHash(idBody(own)))
	if err != nil {
		return err
	}
	required = append(required, proof...)
	// The irreducible excess over the request: HASH_R, the NAT-D payloads when the initiator
	// asked for NAT-T, and as much as our nonce and identity are longer than the initiator's
	// (about 50 bytes against ike-scan's minimal AM1, which asks for no NAT-T).
	natd := sa.natdPayloads()
	pc, err := isakmp.EncodePayloads(append(append([]isakmp.Payload{}, proof...), natd...))
	if err != nil {
		return err
	}
	allowance := len(pc.Bytes) + max(0, len(sa.nr)-len(sa.ni)) + max(0, len(idBody(own))-len(sa.peerIDB))
	m, err := sa.fitFirstReply(isakmp.ExchangeAggressive, len(in.msg.Raw), allowance, required, reverse(sa.vendorIDs(conn.Cfg.EncapOf())), natd)
	if err != nil {
		return err
	}
	if m == nil {
		sa.c.Ctr.Inc(core.CtrAmplificationDrops)
		sa.destroy(now, false, fmt.Errorf("%w: answer would amplify", ErrMalformed))
		return errStop
	}
	sa.setState(p1AM2Sent)
	sa.reply(in, m.Raw)
	return nil
}

// amResponderMessage3: verify HASH_I, finish NAT detection, establish.
func (sa *ikeSA) amResponderMessage3(now time.Time, in *inbound) error {
	chain := &in.msg.Chain
	var next []byte
	if in.msg.Header.Flags.Has(isakmp.FlagEncryption) {
		d, err := sa.decrypt(in.msg, true)
		if err != nil {
			return fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "cannot decrypt Aggressive Mode message 3 (pre-shared keys differ?): %v", err)
		}
		chain, next = d.chain, d.next
	}
	if err := sa.auth.verify(chain, sa.peerHash(sa.peerIDB), sa.peerID); err != nil {
		return err
	}
	if next != nil {
		sa.commitIV(0, next, true)
	}
	sa.processNATD(chain, in)
	sa.updatePeer(in)
	sa.processPhase1Notifies(now, chain)
	sa.replies.Remember(in.Hash, nil)
	sa.establish(now)
	return nil
}
