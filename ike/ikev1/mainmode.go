package ikev1

// Main Mode (Identity Protection) with pre-shared keys, RFC 2409 §5 and §5.4:
//
//	Initiator                          Responder
//	HDR, SA, VID                  -->
//	                              <--  HDR, SA, VID
//	HDR, KE, Ni, NAT-D, NAT-D     -->
//	                              <--  HDR, KE, Nr, NAT-D, NAT-D
//	HDR*, IDii, HASH_I [, N(IC)]  -->                     (on the NAT-T port if NAT-T)
//	                              <--  HDR*, IDir, HASH_R
//
// NAT-D payloads and the float to the NAT-T port are RFC 3947 §3–4; INITIAL-CONTACT is
// RFC 2407 §4.6.3.3.

import (
	"fmt"
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

// startMainMode sends MM1: our offer and vendor IDs.
func (sa *ikeSA) startMainMode(now time.Time) error {
	life, _ := sa.Conn.Cfg.Lifetime()
	sa.offer = expandP1(props(sa.Conn), sa.auth.method(), life)
	payloads := append([]isakmp.Payload{p1SA(sa.offer)}, sa.vendorIDs(sa.Conn.Cfg.EncapOf())...)
	m, err := sa.encodePlain(isakmp.ExchangeMainMode, payloads)
	if err != nil {
		return err
	}
	sa.saiB = append([]byte(nil), m.Chain.Body(0)...)
	sa.setState(p1MM1Sent)
	sa.Log.Info("initiating Main Mode", zap.String("proposals", describeProposals(props(sa.Conn))))
	sa.retrans.Start(now, "MM1", m.Raw)
	return nil
}

// mmInitiatorMessage2: the responder's choice must be one of our transforms; then send our
// KE, nonce and NAT-D.
func (sa *ikeSA) mmInitiatorMessage2(now time.Time, in *inbound) error {
	c, err := plainChain(in)
	if err != nil {
		return err
	}
	sa.processVendorIDs(c)
	if sa.tr, err = sa.checkResponderChoice(c); err != nil {
		return err
	}
	sa.retrans.Stop()
	if err := sa.newKeyExchange(); err != nil {
		return err
	}
	payloads := []isakmp.Payload{&isakmp.KeyExchange{Data: sa.gxi}, &isakmp.Nonce{Data: sa.ni}}
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
	return p1Transform{}, fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "responder chose %s, which we did not offer (offered %s)", got, describeProposals(props(sa.Conn)))
}

// mmInitiatorMessage4: derive the keys, detect NATs, float, and prove our identity.
func (sa *ikeSA) mmInitiatorMessage4(now time.Time, in *inbound) error {
	c, err := plainChain(in)
	if err != nil {
		return err
	}
	ke, nr, err := keNonce(c)
	if err != nil {
		return err
	}
	sa.gxr, sa.nr = ke, nr
	if err := sa.deriveKeys(sa.gxr); err != nil {
		return err
	}
	sa.retrans.Stop()
	sa.processNATD(c, in)
	sa.float()
	id := sa.localIDPayload()
	payloads := []isakmp.Payload{id}
	proof, err := sa.auth.proof(sa.ourHash(idBody(id)))
	if err != nil {
		return err
	}
	payloads = append(payloads, proof...)
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

// mmInitiatorMessage6: decrypt, check the responder's identity and HASH_R.
func (sa *ikeSA) mmInitiatorMessage6(now time.Time, in *inbound) error {
	d, id, i, err := sa.openMainModeAuth(in, 6, "IDir")
	if err != nil {
		return err
	}
	if err := sa.auth.verify(d.chain, sa.peerHash(d.chain.Body(i)), id); err != nil {
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

// mmResponderMessage1: choose a connection and a transform from the initiator's offer.
func (sa *ikeSA) mmResponderMessage1(now time.Time, in *inbound) error {
	c, err := plainChain(in)
	if err != nil {
		return err
	}
	s, si := payloadOf[*isakmp.SA](c)
	if si < 0 {
		return fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no SA payload in Main Mode message 1")
	}
	cands := sa.c.responderCandidates(in.From, false, nil)
	if len(cands) == 0 {
		return fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "no connection accepts Main Mode from %s", in.From.Addr())
	}
	prop, tr, chosen, conn := selectP1(s, cands)
	if conn == nil {
		return fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "peer offered [%s], configured [%s]", describeP1Offer(s), describeProposals(props(cands[0])))
	}
	sa.bindConn(conn, cands)
	sa.tr = chosen
	sa.saiB = append([]byte(nil), c.Body(si)...)
	sa.processVendorIDs(c) // now that the connection (and its encap) is known
	m, err := sa.fitFirstReply(isakmp.ExchangeMainMode, len(in.msg.Raw), 0,
		[]isakmp.Payload{echoSA(s, prop, tr, nil)}, reverse(sa.vendorIDs(conn.Cfg.EncapOf())), nil)
	if err != nil {
		return err
	}
	if m == nil {
		sa.c.Ctr.Inc(core.CtrAmplificationDrops)
		sa.destroy(now, false, fmt.Errorf("%w: answer would amplify", ErrMalformed))
		return errStop
	}
	sa.setState(p1MM2Sent)
	sa.reply(in, m.Raw)
	return nil
}

// reverse returns vendor IDs lowest priority last, so fitFirstReply drops ours first and
// the NAT-T one last.
func reverse(p []isakmp.Payload) []isakmp.Payload {
	out := make([]isakmp.Payload, len(p))
	for i := range p {
		out[len(p)-1-i] = p[i]
	}
	return out
}

// bindConn attaches a responder SA to the connection it negotiates for.
func (sa *ikeSA) bindConn(conn *core.Conn, cands []*core.Conn) {
	sa.Conn = conn
	sa.candidates = cands
	sa.auth = newAuthenticator(conn.Cfg)
	sa.setLog()
}

// reply sends a responder's answer and remembers it for a retransmitted request.
func (sa *ikeSA) reply(in *inbound, raw []byte) {
	to, natt := sa.replyTo(in)
	sa.replies.Remember(in.Hash, raw)
	sa.lastReply = raw
	sa.c.Send(raw, sa.Local, to, natt)
}

// mmResponderMessage3: our KE and nonce, the keys (PSK chosen by the peer's address, the
// only thing Main Mode reveals before message 5) and NAT-D.
func (sa *ikeSA) mmResponderMessage3(now time.Time, in *inbound) error {
	c, err := plainChain(in)
	if err != nil {
		return err
	}
	ke, ni, err := keNonce(c)
	if err != nil {
		return err
	}
	sa.gxi, sa.ni = ke, ni
	if err := sa.newKeyExchange(); err != nil {
		return err
	}
	if err := sa.deriveKeys(sa.gxi); err != nil {
		return err
	}
	sa.processNATD(c, in)
	payloads := []isakmp.Payload{&isakmp.KeyExchange{Data: sa.gxr}, &isakmp.Nonce{Data: sa.nr}}
	payloads = append(payloads, sa.natdPayloads()...)
	m, err := sa.encodePlain(isakmp.ExchangeMainMode, payloads)
	if err != nil {
		return err
	}
	sa.setState(p1MM4Sent)
	sa.reply(in, m.Raw)
	// MM3 carries the cookie MM2 sent to the initiator's address: it receives there, so a
	// flood of spoofed first messages evicts this entry last (core/halfopen.go).
	sa.c.Answered(sa.HalfOpen)
	return nil
}

// mmResponderMessage5: decrypt, identify the peer, verify HASH_I, answer with our
// identity and HASH_R.
func (sa *ikeSA) mmResponderMessage5(now time.Time, in *inbound) error {
	d, id, i, err := sa.openMainModeAuth(in, 5, "IDii")
	if err != nil {
		return err
	}
	// HASH_I first: the pre-shared key was chosen by address, so it does not depend on the
	// identity. Only a peer that proved it holds our keys learns whether its identity is
	// acceptable, and an INVALID-ID-INFORMATION to it travels protected, with the Phase 1 IV
	// advanced past this message as the peer's is (RFC 2409 Appendix B).
	if err := sa.auth.verify(d.chain, sa.peerHash(d.chain.Body(i)), id); err != nil {
		return err
	}
	sa.commitIV(0, d.next, true)
	if err := sa.pickConnByID(id); err != nil {
		return err
	}
	sa.peerID = id
	sa.updatePeer(in)
	sa.processPhase1Notifies(now, d.chain)
	own := sa.localIDPayload()
	proof, err := sa.auth.proof(sa.ourHash(idBody(own)))
	if err != nil {
		return err
	}
	payloads := append([]isakmp.Payload{own}, proof...)
	raw, err := sa.encode(isakmp.ExchangeMainMode, 0, payloads, true, true, nil)
	if err != nil {
		return err
	}
	sa.reply(in, raw)
	sa.establish(now)
	return nil
}

// pickConnByID checks the initiator's identity against the chosen connection; when it
// names another candidate with the same pre-shared key (the key already used for
// SKEYID), the SA moves to that connection.
func (sa *ikeSA) pickConnByID(id *isakmp.Identification) error {
	if idMatches(sa.Conn.Cfg.RemoteID, id) {
		return nil
	}
	for _, cs := range sa.candidates {
		if cs == sa.Conn || !idMatches(cs.Cfg.RemoteID, id) || !p1Acceptable(props(cs), sa.tr, sa.tr.auth, cs.Cfg.InsecureAlgorithms) {
			continue
		}
		if other := newAuthenticator(cs.Cfg); sa.auth.sameSKEYID(other) {
			sa.Conn, sa.auth = cs, other
			sa.setLog()
			return nil
		}
	}
	return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "peer identified as %q, connection %q expects %q", idOfPayload(id), sa.Conn.Cfg.Name, sa.Conn.Cfg.RemoteID)
}

// selectP1 is the responder's choice (RFC 2409 §5): the first of the initiator's
// transforms, in its order, that a candidate connection's proposals accept; among
// connections the first in configuration order (addressed ones before %any) wins.
func selectP1(s *isakmp.SA, cands []*core.Conn) (*isakmp.Proposal, *isakmp.Transform, p1Transform, *core.Conn) {
	for pi := range s.Proposals {
		p := &s.Proposals[pi]
		if p.ProtocolID != isakmp.ProtoISAKMP {
			continue
		}
		for ti := range p.Transforms {
			t, err := parseP1Transform(&p.Transforms[ti])
			if err != nil {
				continue
			}
			for _, cs := range cands {
				if p1Acceptable(props(cs), t, isakmp.AuthPreSharedKey, cs.Cfg.InsecureAlgorithms) {
					return p, &p.Transforms[ti], t, cs
				}
			}
		}
	}
	return nil, nil, p1Transform{}, nil
}

// openMainModeAuth decrypts Main Mode message n (5 or 6) and finds its identification
// payload (named idName in errors), returning it and its index in the chain.
func (sa *ikeSA) openMainModeAuth(in *inbound, n int, idName string) (*decrypted, *isakmp.Identification, int, error) {
	if !in.msg.Header.Flags.Has(isakmp.FlagEncryption) {
		return nil, nil, 0, fail(0, ErrUnexpected, "unencrypted Main Mode message %d", n)
	}
	d, err := sa.decrypt(in.msg, true)
	if err != nil {
		return nil, nil, 0, fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "cannot decrypt Main Mode message %d (pre-shared keys differ?): %v", n, err)
	}
	id, i := payloadOf[*isakmp.Identification](d.chain)
	if i < 0 {
		return nil, nil, 0, fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no %s payload in Main Mode message %d", idName, n)
	}
	return d, id, i, nil
}
