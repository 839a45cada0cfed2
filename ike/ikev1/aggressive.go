package ikev1

// Aggressive Mode, RFC 2409 §5 (§5.1 signatures, §5.2/§5.3 public-key encryption, §5.4
// pre-shared keys):
//
//	Initiator                                   Responder
//	HDR, SA, KE, Ni, IDii, [CERTREQ,] VID  -->
//	                                       <--  HDR, SA, KE, Nr, IDir, HASH_R | [CERT,] SIG_R,
//	                                                 [CERTREQ,] VID, NAT-D, NAT-D
//	HDR*, HASH_I | [CERT,] SIG_I, NAT-D, NAT-D -->  (encrypted, as strongSwan sends it; a
//	                                                 plaintext one is accepted)
//
// With public-key encryption the nonces, identities (and, revised mode, KE values) go
// encrypted as in Main Mode's messages 3 and 4 (pke_exchange.go). AM1 fixes the group (one
// KE) and the method (what it encrypts, how); the revised mode also fixes the cipher and
// hash, whose Ke_i already encrypts AM1. With a pre-shared key the identities travel in the
// clear and HASH_R can be attacked offline (ike-scan -A + psk-crack), so a responder needs
// Connection.InsecureAlgorithms (STANDARDS.md).

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

// startAggressive sends AM1. Its one KE fixes the group, and its content the
// authentication method: only transforms of the first configured group and method (and,
// for the revised public-key mode, cipher and hash) are offered.
func (sa *ikeSA) startAggressive(now time.Time) error {
	life, _ := sa.Conn.Cfg.Lifetime()
	methods := authMethods(sa.Conn.Cfg)
	if len(methods) == 0 {
		return fail(0, ErrConfig, "connection %q has no usable authentication method", sa.Conn.Cfg.Name)
	}
	all := expandP1(props(sa.Conn), methods[0], life)
	for _, t := range all {
		if t.group == all[0].group && (methods[0] != isakmp.AuthRSAEncRevised || t.enc == all[0].enc && t.hash == all[0].hash) {
			sa.offer = append(sa.offer, t)
		}
	}
	sa.tr = sa.offer[0]
	sa.auth = newAuthenticator(sa.Conn.Cfg, sa.tr.auth)
	if err := sa.newKeyExchange(); err != nil {
		return err
	}
	payloads := []isakmp.Payload{p1SA(sa.offer)}
	if sa.usesPKE() {
		if err := sa.pkeInitiatorSetup(); err != nil {
			return err
		}
		enc, err := sa.pkeOwnPayloads()
		if err != nil {
			return err
		}
		payloads = append(payloads, enc...)
	} else {
		payloads = append(payloads, &isakmp.KeyExchange{Data: sa.gxi}, &isakmp.Nonce{Data: sa.ni}, sa.localIDPayload())
		payloads = append(payloads, sa.certReqPayloads()...)
	}
	payloads = append(payloads, sa.vendorIDs(sa.Conn.Cfg.EncapOf())...)
	m, err := sa.encodePlain(isakmp.ExchangeAggressive, payloads)
	if err != nil {
		return err
	}
	sa.saiB = append([]byte(nil), m.Chain.Body(0)...)
	sa.setState(p1AM1Sent)
	sa.Log.Info("initiating Aggressive Mode", zap.String("proposals", describeProposals(props(sa.Conn))), zap.String("auth", authFamily(sa.Conn.Cfg)))
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
	sa.collectCertReqs(c)
	var id *isakmp.Identification
	var idB []byte
	if sa.usesPKE() {
		o, err := sa.pkeOpen(c)
		if err != nil {
			return err
		}
		sa.gxr, sa.nr, sa.pke.peerIDB = o.ke, o.nonce, o.idB
		idB, id = o.idB, identificationOf(o.idB)
	} else {
		ke, nr, err := keNonce(c)
		if err != nil {
			return err
		}
		p, i := payloadOf[*isakmp.Identification](c)
		if i < 0 {
			return fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no IDir payload in Aggressive Mode message 2")
		}
		sa.gxr, sa.nr = ke, nr
		idB, id = c.Body(i), p
	}
	if err := sa.deriveKeys(sa.gxr); err != nil {
		return err
	}
	if err := sa.auth.verify(sa, c, sa.peerHash(idB), id); err != nil {
		return err
	}
	if sa.usesPKE() {
		if err := sa.pkeCheckPeer(id); err != nil {
			return err
		}
	} else if !idMatches(sa.Conn.Cfg.RemoteID, id) {
		return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "responder identified as %q, expected %q", idOfPayload(id), sa.Conn.Cfg.RemoteID)
	}
	sa.retrans.Stop()
	sa.peerID = id
	sa.processNATD(c, in)
	sa.float()
	own := sa.localIDPayload()
	// HDR*, HASH_I | [CERT,] SIG_I, NAT-D, NAT-D as strongSwan sends it (no
	// INITIAL-CONTACT: optional, RFC 2407 §4.6.3.3, and Aggressive Mode peers do not expect
	// it here).
	proof, err := sa.auth.proof(sa, sa.ourHash(idBody(own)))
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

// amResponderMessage1: choose a connection (by the initiator's identity; with public-key
// encryption by address first, the identity being encrypted to a connection's key), a
// transform, make our KE and keys, and answer with our proof.
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
	pke := offersPKE(s)
	var cands []*core.Conn
	if pke {
		cands = sa.c.responderCandidates(in.From, true, nil)
	} else {
		cands = sa.c.responderCandidates(in.From, true, id)
	}
	if len(cands) == 0 {
		if any := sa.c.responderCandidates(in.From, true, nil); len(any) > 0 {
			return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "no Aggressive Mode connection for identity %q", idOfPayload(id))
		}
		what := "Aggressive Mode with a pre-shared key from %s (needs aggressive = true and insecure_algorithms on a matching connection)"
		if offersCerts(s) {
			what = "Aggressive Mode with certificates from %s (needs aggressive = true on a matching connection)"
		}
		return &protoError{notify: isakmp.NotifyAuthenticationFailed, err: fmt.Errorf("%w: %w: "+what,
			ErrAuthenticationFailed, errRefused, in.From.Addr())}
	}
	prop, tr, chosen, conn := selectP1(s, cands)
	if conn == nil {
		return fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "peer offered [%s], configured [%s]%s", describeP1Offer(s), describeProposals(props(cands[0])), methodMismatch(s, cands))
	}
	sa.tr = chosen
	sa.bindConn(conn, cands)
	sa.saiB = append([]byte(nil), c.Body(si)...)
	sa.processVendorIDs(c)
	sa.collectCertReqs(c)
	if sa.usesPKE() {
		if err := sa.newKeyExchange(); err != nil {
			return err
		}
		o, err := sa.pkeOpen(c)
		if err != nil {
			return err
		}
		sa.gxi, sa.ni = o.ke, o.nonce
		sa.pkeResponderPick(o)
		sa.peerIDB = o.idB
	} else {
		ke, ni, err := keNonce(c)
		if err != nil {
			return err
		}
		sa.peerID, sa.peerIDB = id, append([]byte(nil), c.Body(ii)...)
		sa.gxi, sa.ni = ke, ni
		if err := sa.newKeyExchange(); err != nil {
			return err
		}
	}
	if err := sa.deriveKeys(sa.gxi); err != nil {
		return err
	}
	sa.processNATD(c, in)
	own := sa.localIDPayload()
	var required []isakmp.Payload
	if sa.usesPKE() {
		enc, err := sa.pkeOwnPayloads()
		if err != nil {
			return err
		}
		required = append([]isakmp.Payload{echoSA(s, prop, tr, nil)}, enc...)
	} else {
		required = []isakmp.Payload{echoSA(s, prop, tr, nil), &isakmp.KeyExchange{Data: sa.gxr}, &isakmp.Nonce{Data: sa.nr}, own}
	}
	proof, err := sa.auth.proof(sa, sa.ourHash(idBody(own)))
	if err != nil {
		return err
	}
	required = append(append(required, proof...), sa.certReqPayloads()...)
	// The irreducible excess over the request: our proof (HASH_R, or CERT and SIG), the
	// NAT-D payloads when the initiator asked for NAT-T, and as much as our nonce and
	// identity are longer than the initiator's (about 50 bytes against ike-scan's minimal
	// AM1, which asks for no NAT-T); with public-key encryption our encrypted nonce and
	// identity.
	natd := sa.natdPayloads()
	pc, err := isakmp.EncodePayloads(append(append([]isakmp.Payload{}, proof...), natd...))
	if err != nil {
		return err
	}
	allowance := len(pc.Bytes) + max(0, len(sa.nr)-len(sa.ni)) + max(0, len(idBody(own))-len(sa.peerIDB))
	if sa.usesPKE() {
		allowance += 2 * sa.pke.peerKey.Size()
	}
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

// offeredMethod is the authentication method of an offer's first usable transform.
func offeredMethod(s *isakmp.SA) isakmp.AuthMethod {
	for pi := range s.Proposals {
		for ti := range s.Proposals[pi].Transforms {
			if t, err := parseP1Transform(&s.Proposals[pi].Transforms[ti]); err == nil {
				return t.auth
			}
		}
	}
	return 0
}

// offersPKE reports whether an offer uses public-key encryption.
func offersPKE(s *isakmp.SA) bool {
	m := offeredMethod(s)
	return m == isakmp.AuthRSAEnc || m == isakmp.AuthRSAEncRevised
}

// offersCerts reports whether an offer authenticates with certificates.
func offersCerts(s *isakmp.SA) bool { return offersPKE(s) || isSigMethod(offeredMethod(s)) }

// amResponderMessage3: verify the initiator's proof, finish NAT detection, establish.
func (sa *ikeSA) amResponderMessage3(now time.Time, in *inbound) error {
	chain := &in.msg.Chain
	var next []byte
	if in.msg.Header.Flags.Has(isakmp.FlagEncryption) {
		d, err := sa.decrypt(in.msg, true)
		if err != nil {
			return fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "cannot decrypt Aggressive Mode message 3 (%s): %v", sa.auth.failureHint(), err)
		}
		chain, next = d.chain, d.next
		if sa.peerSharesKeys() {
			sa.commitIV(0, next, true)
		}
	}
	if err := sa.auth.verify(sa, chain, sa.peerHash(sa.peerIDB), sa.peerID); err != nil {
		return err
	}
	if next != nil {
		sa.commitIV(0, next, true)
	}
	if sa.usesPKE() {
		if err := sa.pkeCheckPeer(sa.peerID); err != nil {
			return err
		}
	}
	sa.processNATD(chain, in)
	sa.updatePeer(in)
	sa.processPhase1Notifies(now, chain)
	sa.replies.Remember(in.Hash, nil)
	sa.establish(now)
	return nil
}
