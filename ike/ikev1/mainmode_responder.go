package ikev1

// Main Mode, RFC 2409 §5, responder side (the exchange is drawn in mainmode.go). The
// connection is chosen in three steps: by the initiator's address and offer (message 1);
// with public-key encryption by its decrypted identity (message 3); otherwise by its
// identity once message 5 decrypts (pickConnByID), which SKEYID allows because it does
// not depend on the credential (signatures), or is the same for both connections (the same
// pre-shared key).

import (
	"fmt"
	"strings"
	"time"

	"oakley/ike/core"
	"oakley/ike/isakmp"
	"oakley/ike/pki"
)

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
		return fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "peer offered [%s], configured [%s]%s", describeP1Offer(s), describeProposals(props(cands[0])), methodMismatch(s, cands))
	}
	sa.tr = chosen
	sa.bindConn(conn, cands)
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

// bindConn attaches a responder SA to the connection it negotiates for, with the
// authentication method of the chosen transform.
func (sa *ikeSA) bindConn(conn *core.Conn, cands []*core.Conn) {
	sa.Conn = conn
	sa.candidates = cands
	sa.auth = newAuthenticator(conn.Cfg, sa.tr.auth)
	sa.setLog()
}

// reply sends a responder's answer and remembers it for a retransmitted request.
func (sa *ikeSA) reply(in *inbound, raw []byte) {
	to, natt := sa.replyTo(in)
	sa.replies.Remember(in.Hash, raw)
	sa.lastReply = raw
	sa.transmit(raw, sa.Local, to, natt)
}

// mmResponderMessage3: our KE and nonce, the keys (a pre-shared key chosen by the peer's
// address, the only thing Main Mode reveals before message 5), CERTREQs for our trusted
// CAs, NAT-D. With public-key encryption: open the initiator's encrypted nonce and
// identity, choose the connection by that identity, answer with ours encrypted.
func (sa *ikeSA) mmResponderMessage3(now time.Time, in *inbound) error {
	c, err := plainChain(in)
	if err != nil {
		return err
	}
	sa.collectCertReqs(c)
	var payloads []isakmp.Payload
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
		if err := sa.deriveKeys(sa.gxi); err != nil {
			return err
		}
		if payloads, err = sa.pkeOwnPayloads(); err != nil {
			return err
		}
	} else {
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
		payloads = append([]isakmp.Payload{&isakmp.KeyExchange{Data: sa.gxr}, &isakmp.Nonce{Data: sa.nr}}, sa.certReqPayloads()...)
	}
	sa.processNATD(c, in)
	payloads = append(payloads, sa.natdPayloads()...)
	m, err := sa.encodePlain(isakmp.ExchangeMainMode, payloads)
	if err != nil {
		return err
	}
	sa.setState(p1MM4Sent)
	sa.reply(in, m.Raw)
	// MM3 carries the cookie MM2 sent to the initiator's address: it receives there, so a
	// flood of spoofed first messages evicts this entry last (core/halfopen.go).
	sa.c.Answered(sa.HalfOpen, now)
	return nil
}

// mmResponderMessage5: decrypt, identify the peer, verify its proof, answer with our
// identity and proof.
func (sa *ikeSA) mmResponderMessage5(now time.Time, in *inbound) error {
	if sa.usesPKE() {
		return sa.mmResponderMessage5PKE(now, in)
	}
	d, id, i, err := sa.openMainModeAuth(in, 5, "IDii")
	if err != nil {
		return err
	}
	sa.collectCertReqs(d.chain)
	if sa.peerSharesKeys() {
		// Signatures: SKEYID did not depend on the credential, so the identity may choose
		// the connection, whose trust then verifies the certificate. MM5 decrypted: the
		// peer has our keys, and what we answer goes protected, under the IV it expects.
		sa.commitIV(0, d.next, true)
		if err := sa.pickConnByID(id); err != nil {
			return err
		}
		if err := sa.auth.verify(sa, d.chain, sa.peerHash(d.chain.Body(i)), id); err != nil {
			return err
		}
	} else {
		// A pre-shared key was chosen by address, so HASH_I first: only a peer that proved
		// it holds our keys learns whether its identity is acceptable, and an
		// INVALID-ID-INFORMATION to it travels protected, with the Phase 1 IV advanced past
		// this message as the peer's is (RFC 2409 Appendix B).
		if err := sa.auth.verify(sa, d.chain, sa.peerHash(d.chain.Body(i)), id); err != nil {
			return err
		}
		sa.commitIV(0, d.next, true)
		if err := sa.pickConnByID(id); err != nil {
			return err
		}
	}
	sa.peerID = id
	sa.updatePeer(in)
	sa.processPhase1Notifies(now, d.chain)
	own := sa.localIDPayload()
	proof, err := sa.auth.proof(sa, sa.ourHash(idBody(own)))
	if err != nil {
		return err
	}
	return sa.mmResponderFinish(now, in, append([]isakmp.Payload{own}, proof...))
}

// mmResponderMessage5PKE: HDR*, HASH_I; the identity came (encrypted) in message 3. Every
// decryption failure of message 3 fails here, like a wrong HASH_I.
func (sa *ikeSA) mmResponderMessage5PKE(now time.Time, in *inbound) error {
	d, err := sa.openMainModeMessage(in, 5)
	if err != nil {
		return err
	}
	if err := sa.auth.verify(sa, d.chain, sa.peerHash(sa.pke.peerIDB), nil); err != nil {
		return err
	}
	sa.commitIV(0, d.next, true)
	if err := sa.pkeCheckPeer(sa.peerID); err != nil {
		return err
	}
	sa.updatePeer(in)
	sa.processPhase1Notifies(now, d.chain)
	proof, err := sa.auth.proof(sa, sa.ourHash(idBody(sa.localIDPayload())))
	if err != nil {
		return err
	}
	return sa.mmResponderFinish(now, in, proof)
}

// mmResponderFinish sends MM6 and establishes the SA.
func (sa *ikeSA) mmResponderFinish(now time.Time, in *inbound, payloads []isakmp.Payload) error {
	raw, err := sa.encode(isakmp.ExchangeMainMode, 0, payloads, true, true, nil)
	if err != nil {
		return err
	}
	sa.reply(in, raw)
	sa.establish(now)
	return nil
}

// pickConnByID checks the initiator's identity against the chosen connection; when it
// names another candidate that accepts the proposal and derives the same SKEYID (the same
// pre-shared key; any credential of the same signature method), the SA moves to it.
func (sa *ikeSA) pickConnByID(id *isakmp.Identification) error {
	if idMatches(sa.Conn.Cfg.RemoteID, id) {
		return nil
	}
	for _, cs := range sa.candidates {
		if cs == sa.Conn || !idMatches(cs.Cfg.RemoteID, id) || !p1AcceptableFor(cs, sa.tr) {
			continue
		}
		if other := newAuthenticator(cs.Cfg, sa.tr.auth); sa.auth.sameSKEYID(other) {
			sa.Conn, sa.auth = cs, other
			sa.setLog()
			return nil
		}
	}
	return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "peer identified as %q, connection %q expects %q", idOfPayload(id), sa.Conn.Cfg.Name, sa.Conn.Cfg.RemoteID)
}

// selectP1 is the responder's choice (RFC 2409 §5): the first of the initiator's
// transforms, in its order, that a candidate connection accepts (algorithms and
// authentication method); among connections the first in configuration order (addressed
// ones before %any) wins.
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
				if p1AcceptableFor(cs, t) {
					return p, &p.Transforms[ti], t, cs
				}
			}
		}
	}
	return nil, nil, p1Transform{}, nil
}

// methodMismatch explains a refused offer whose algorithms would do but whose
// authentication method no candidate uses. In IKEv1 the proposal names one method for both
// peers (RFC 2409 Appendix A), so for signatures both need the same key type.
func methodMismatch(s *isakmp.SA, cands []*core.Conn) string {
	offered := map[isakmp.AuthMethod]bool{}
	var names []string
	for pi := range s.Proposals {
		for ti := range s.Proposals[pi].Transforms {
			t, err := parseP1Transform(&s.Proposals[pi].Transforms[ti])
			if err != nil || offered[t.auth] {
				continue
			}
			offered[t.auth] = true
			names = append(names, t.auth.String())
		}
	}
	var ours []string
	for _, m := range authMethods(cands[0].Cfg) {
		if offered[m] {
			return ""
		}
		ours = append(ours, m.String())
	}
	msg := fmt.Sprintf("; the peer authenticates with %s, connection %q with %s", strings.Join(names, ", "), cands[0].Cfg.Name, strings.Join(ours, ", "))
	sigs := 0
	for m := range offered {
		if isSigMethod(m) {
			sigs++
		}
	}
	if sigs > 0 && authFamily(cands[0].Cfg) == authPubkey {
		msg += " (in IKEv1 both peers sign with the one method the proposal names: an RSA peer and an ECDSA peer, or ECDSA peers on different curves, cannot meet; give both the same key type, or use IKEv2)"
	}
	return msg
}

// isSigMethod reports whether m is a signature method oakley implements.
func isSigMethod(m isakmp.AuthMethod) bool {
	switch pki.V1Method(m) {
	case pki.V1RSASig, pki.V1ECDSA256, pki.V1ECDSA384, pki.V1ECDSA521:
		return true
	}
	return false
}
