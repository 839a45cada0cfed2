package ikev1

// Main Mode (Identity Protection), RFC 2409 §5, initiator side; the responder is in
// mainmode_responder.go. With a pre-shared key (§5.4) or signatures (§5.1):
//
//	Initiator                                    Responder
//	HDR, SA, VID                            -->
//	                                        <--  HDR, SA, VID
//	HDR, KE, Ni, NAT-D, NAT-D               -->
//	                                        <--  HDR, KE, Nr, [CERTREQ,] NAT-D, NAT-D
//	HDR*, IDii, HASH_I | [CERT,] SIG_I,
//	      [CERTREQ,] [N(IC)]                -->  (on the NAT-T port if NAT-T)
//	                                        <--  HDR*, IDir, HASH_R | [CERT,] SIG_R
//
// With public-key encryption (§5.2, §5.3) messages 3 and 4 carry the encrypted nonces and
// identities (pke_exchange.go) and messages 5 and 6 only HASH_I / HASH_R. CERTREQ and CERT
// travel where strongSwan puts them (certs.go). NAT-D payloads and the float to the NAT-T
// port are RFC 3947 §3–4; INITIAL-CONTACT is RFC 2407 §4.6.3.3.

import (
	"oakley/ike/core"
	"time"

	"go.uber.org/zap"

	"oakley/ike/isakmp"
)

// handleMainMode routes a Main Mode message by state and role.
func (sa *ikeSA) handleMainMode(now time.Time, in *inbound) error {
	var err error
	switch {
	case sa.Initiator && sa.state == p1MM1Sent:
		err = sa.mmInitiatorMessage2(now, in)
	case sa.Initiator && sa.state == p1MM3Sent:
		err = sa.mmInitiatorMessage4(now, in)
	case sa.Initiator && sa.state == p1MM5Sent:
		err = sa.mmInitiatorMessage6(now, in)
	case !sa.Initiator && sa.state == p1Start:
		err = sa.mmResponderMessage1(now, in)
	case !sa.Initiator && sa.state == p1MM2Sent:
		err = sa.mmResponderMessage3(now, in)
	case !sa.Initiator && sa.state == p1MM4Sent:
		err = sa.mmResponderMessage5(now, in)
	default:
		sa.c.Ctr.Inc(core.CtrUnexpected)
		return fail(0, ErrUnexpected, "Main Mode message in state %s", sa.state)
	}
	return sa.phase1Step(now, in, err)
}

// startMainMode sends MM1: our offer (every authentication method the connection can use)
// and vendor IDs.
func (sa *ikeSA) startMainMode(now time.Time) error {
	life, _ := sa.Conn.Cfg.Lifetime()
	sa.offer = expandP1Methods(props(sa.Conn), authMethods(sa.Conn.Cfg), life)
	if len(sa.offer) == 0 {
		return fail(0, ErrConfig, "connection %q has no usable authentication method", sa.Conn.Cfg.Name)
	}
	payloads := append([]isakmp.Payload{p1SA(sa.offer)}, sa.vendorIDs(sa.Conn.Cfg.EncapOf())...)
	m, err := sa.encodePlain(isakmp.ExchangeMainMode, payloads)
	if err != nil {
		return err
	}
	sa.saiB = append([]byte(nil), m.Chain.Body(0)...)
	sa.setState(p1MM1Sent)
	sa.Log.Info("initiating Main Mode", zap.String("proposals", describeProposals(props(sa.Conn))), zap.String("auth", authFamily(sa.Conn.Cfg)))
	sa.retrans.Start(now, "MM1", m.Raw)
	return nil
}

// mmInitiatorMessage2: the responder's choice must be one of our transforms; it fixes the
// authentication method. Then send our KE, nonce and NAT-D (encrypted ones with public-key
// encryption).
func (sa *ikeSA) mmInitiatorMessage2(now time.Time, in *inbound) error {
	c, err := plainChain(in)
	if err != nil {
		return err
	}
	sa.processVendorIDs(c)
	if sa.tr, err = sa.checkResponderChoice(c); err != nil {
		return err
	}
	sa.auth = newAuthenticator(sa.Conn.Cfg, sa.tr.auth)
	sa.retrans.Stop()
	if err := sa.newKeyExchange(); err != nil {
		return err
	}
	var payloads []isakmp.Payload
	if sa.usesPKE() {
		if err := sa.pkeInitiatorSetup(); err != nil {
			return err
		}
		if payloads, err = sa.pkeOwnPayloads(); err != nil {
			return err
		}
	} else {
		payloads = []isakmp.Payload{&isakmp.KeyExchange{Data: sa.gxi}, &isakmp.Nonce{Data: sa.ni}}
	}
	payloads = append(payloads, sa.natdPayloads()...)
	m, err := sa.encodePlain(isakmp.ExchangeMainMode, payloads)
	if err != nil {
		return err
	}
	sa.setState(p1MM3Sent)
	sa.retrans.Start(now, "MM3", m.Raw)
	return nil
}

// newKeyExchange draws our DH private value and nonce (RFC 2409 §5).
func (sa *ikeSA) newKeyExchange() error {
	dh, err := sa.c.newDH(sa.tr.group.Group)
	if err != nil {
		return fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "DH group %s: %v", sa.tr.group.Name, err)
	}
	sa.dh = dh
	if sa.Initiator {
		sa.gxi, sa.ni = dh.Public(), sa.c.newNonce()
	} else {
		sa.gxr, sa.nr = dh.Public(), sa.c.newNonce()
	}
	return nil
}

// checkResponderChoice accepts a responder's SA payload only if it holds one transform
// that is one of ours (RFC 2409 §5: the responder MUST choose from the offer).
func (sa *ikeSA) checkResponderChoice(c *isakmp.Chain) (p1Transform, error) {
	s, i := payloadOf[*isakmp.SA](c)
	if i < 0 {
		return p1Transform{}, fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no SA payload")
	}
	if len(s.Proposals) != 1 || len(s.Proposals[0].Transforms) != 1 || s.Proposals[0].ProtocolID != isakmp.ProtoISAKMP {
		return p1Transform{}, fail(isakmp.NotifyBadProposalSyntax, ErrNoProposalChosen, "responder's SA payload does not hold exactly one ISAKMP transform")
	}
	got, err := parseP1Transform(&s.Proposals[0].Transforms[0])
	if err != nil {
		return p1Transform{}, fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "responder chose an unsupported transform: %v", err)
	}
	for _, t := range sa.offer {
		if t.sameAlgorithms(got) {
			// Keep the shorter lifetime of the two (RFC 2409 Appendix A).
			if got.life == 0 || got.life > t.life && t.life > 0 {
				got.life = t.life
			}
			return got, nil
		}
	}
	return p1Transform{}, fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "responder chose %s/%s, which we did not offer (offered %s)", got, got.auth, describeProposals(props(sa.Conn)))
}

// mmInitiatorMessage4: open what the responder sent, derive the keys, detect NATs, float,
// and prove our identity.
func (sa *ikeSA) mmInitiatorMessage4(now time.Time, in *inbound) error {
	c, err := plainChain(in)
	if err != nil {
		return err
	}
	if sa.usesPKE() {
		o, err := sa.pkeOpen(c)
		if err != nil {
			return err
		}
		sa.gxr, sa.nr, sa.pke.peerIDB = o.ke, o.nonce, o.idB
	} else {
		ke, nr, err := keNonce(c)
		if err != nil {
			return err
		}
		sa.gxr, sa.nr = ke, nr
	}
	sa.collectCertReqs(c)
	if err := sa.deriveKeys(sa.gxr); err != nil {
		return err
	}
	sa.retrans.Stop()
	sa.processNATD(c, in)
	sa.float()
	id := sa.localIDPayload()
	proof, err := sa.auth.proof(sa, sa.ourHash(idBody(id)))
	if err != nil {
		return err
	}
	var payloads []isakmp.Payload
	if sa.usesPKE() {
		payloads = proof // HDR*, HASH_I (§5.2: the identity went in message 3)
	} else {
		payloads = append(append([]isakmp.Payload{id}, proof...), sa.certReqPayloads()...)
	}
	if !sa.Conn.HasEstablishedPeer(sa) {
		payloads = append(payloads, sa.initialContact())
	}
	raw, err := sa.encode(isakmp.ExchangeMainMode, 0, payloads, true, true, nil)
	if err != nil {
		return err
	}
	sa.setState(p1MM5Sent)
	sa.retrans.Start(now, "MM5", raw)
	return nil
}

// mmInitiatorMessage6: decrypt, check the responder's proof and identity.
func (sa *ikeSA) mmInitiatorMessage6(now time.Time, in *inbound) error {
	if sa.usesPKE() {
		return sa.mmInitiatorMessage6PKE(now, in)
	}
	d, id, i, err := sa.openMainModeAuth(in, 6, "IDir")
	if err != nil {
		return err
	}
	if sa.peerSharesKeys() {
		// MM6 decrypted, so the responder has our keys: a notification about a refused
		// certificate goes protected, under the IV it expects (RFC 2409 Appendix B).
		sa.commitIV(0, d.next, true)
	}
	if err := sa.auth.verify(sa, d.chain, sa.peerHash(d.chain.Body(i)), id); err != nil {
		return err
	}
	// MM6 is authentic: advance the Phase 1 IV past it before anything else, so that an
	// INVALID-ID-INFORMATION we send about it is encrypted under the IV the responder
	// expects (RFC 2409 Appendix B).
	sa.commitIV(0, d.next, true)
	if !idMatches(sa.Conn.Cfg.RemoteID, id) {
		return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "responder identified as %q, expected %q", idOfPayload(id), sa.Conn.Cfg.RemoteID)
	}
	sa.peerID = id
	sa.processPhase1Notifies(now, d.chain)
	sa.updatePeer(in)
	sa.establish(now)
	return nil
}

// mmInitiatorMessage6PKE: HDR*, HASH_R; the responder's identity came in message 4.
func (sa *ikeSA) mmInitiatorMessage6PKE(now time.Time, in *inbound) error {
	d, err := sa.openMainModeMessage(in, 6)
	if err != nil {
		return err
	}
	if err := sa.auth.verify(sa, d.chain, sa.peerHash(sa.pke.peerIDB), nil); err != nil {
		return err
	}
	sa.commitIV(0, d.next, true)
	id := identificationOf(sa.pke.peerIDB)
	if err := sa.pkeCheckPeer(id); err != nil {
		return err
	}
	sa.peerID = id
	sa.processPhase1Notifies(now, d.chain)
	sa.updatePeer(in)
	sa.establish(now)
	return nil
}

// openMainModeMessage decrypts Main Mode message n (5 or 6).
func (sa *ikeSA) openMainModeMessage(in *inbound, n int) (*decrypted, error) {
	if !in.msg.Header.Flags.Has(isakmp.FlagEncryption) {
		return nil, fail(0, ErrUnexpected, "unencrypted Main Mode message %d", n)
	}
	d, err := sa.decrypt(in.msg, true)
	if err != nil {
		return nil, fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "cannot decrypt Main Mode message %d (%s): %v", n, sa.auth.failureHint(), err)
	}
	return d, nil
}

// openMainModeAuth decrypts Main Mode message n (5 or 6) and finds its identification
// payload (named idName in errors), returning it and its index in the chain.
func (sa *ikeSA) openMainModeAuth(in *inbound, n int, idName string) (*decrypted, *isakmp.Identification, int, error) {
	d, err := sa.openMainModeMessage(in, n)
	if err != nil {
		return nil, nil, 0, err
	}
	id, i := payloadOf[*isakmp.Identification](d.chain)
	if i < 0 {
		return nil, nil, 0, fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no %s payload in Main Mode message %d", idName, n)
	}
	return d, id, i, nil
}
