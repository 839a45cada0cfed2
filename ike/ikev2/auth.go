package ikev2

// IKE_AUTH (RFC 7296 §1.2, §2.15, §2.16 (EAP in eap.go), §3.5–§3.8):
//
//	Initiator                         Responder
//	HDR, SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, [N(INITIAL_CONTACT),]
//	         SAi2, TSi, TSr, [N(USE_TRANSPORT_MODE)]}  -->
//	                              <-- HDR, SK {IDr, [CERT,] AUTH, SAr2, TSi, TSr,
//	                                           [N(USE_TRANSPORT_MODE)]}
//
// The responder picks its connection by IDi (and IDr when sent) among the candidates for
// the initiator's address; a failure to authenticate is AUTHENTICATION_FAILED in the
// response (responder) or in an INFORMATIONAL (initiator, §2.21.2). A child the responder
// refuses (TS_UNACCEPTABLE, NO_PROPOSAL_CHOSEN) does not stop the IKE SA (§1.2). The
// configuration payload of remote access (CP, cp.go) rides in the same exchange.

import (
	"time"

	"go.uber.org/zap"

	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// startAuth sends IKE_AUTH with the first wanted child (§1.2), right after IKE_SA_INIT.
func (sa *ikeSA) startAuth(now time.Time) {
	sa.setState(stAuthSent)
	sa.nextMID = 1
	for _, ch := range sa.Conn.Children {
		if ch.Want && ch.Pending == nil && ch.Newest() == nil {
			sa.first1 = newChildExchange(sa, ch, nil)
			sa.first1.inAuth = true
			ch.Pending = sa.first1
			break
		}
	}
	sa.enqueue(now, &request{exch: wire.ExchangeIKEAuth, what: "IKE_AUTH", build: sa.buildAuthRequest, onResp: sa.handleAuthResponse})
}

// buildAuthRequest builds the initiator's IKE_AUTH payloads.
func (sa *ikeSA) buildAuthRequest(now time.Time) ([]wire.Payload, error) {
	cfg := sa.Conn.Cfg
	sa.localID = idPayload(sa.localIdentity(), false)
	payloads := []wire.Payload{sa.localID}
	eap := eapClient(cfg)
	if !eap {
		payloads = append(payloads, sa.ourCerts(cfg)...)
	}
	if req := sa.certReqData(); req != nil {
		payloads = append(payloads, &wire.CertificateRequest{Encoding: wire.CertX509Signature, Data: req})
	}
	if id := cfg.RemoteID; !id.Any && !wildcardID(id) {
		payloads = append(payloads, idPayload(id, true))
	}
	if !eap {
		// §2.16: an EAP client leaves AUTH out; it follows the EAP run (eap.go).
		auth, err := sa.ourAuth(cfg, sa.authOctets(true, sa.localID))
		if err != nil {
			return nil, err
		}
		payloads = append(payloads, auth)
	}
	if cp := sa.cpRequest(); cp != nil {
		payloads = append(payloads, cp)
	}
	if !sa.Conn.HasEstablishedPeer(sa) {
		payloads = append(payloads, wire.NewNotify(wire.NotifyInitialContact, nil))
	}
	payloads = append(payloads, sa.mobikeNotify()...)
	if sa.first1 != nil {
		child, err := sa.first1.requestPayloads(now)
		if err != nil {
			sa.first1.failed(now, err)
			sa.first1 = nil
		} else {
			payloads = append(payloads, child...)
		}
	}
	return payloads, nil
}

// wildcardID reports whether a configured identity is a pattern ("*" in a DN or name):
// such an identity cannot be sent as IDr.
func wildcardID(id core.Identity) bool {
	for _, b := range id.Data {
		if b == '*' {
			return true
		}
	}
	return false
}

// handleAuthResponse authenticates the responder and completes the IKE SA, then the first
// child.
func (sa *ikeSA) handleAuthResponse(now time.Time, m *wire.Message) error {
	c := m.Inner
	idr, _ := c.Find(wire.PayloadIDr).(*wire.Identification)
	auth, _ := c.Find(wire.PayloadAUTH).(*wire.Auth)
	if idr == nil || auth == nil {
		for _, n := range c.Notifies() {
			if n.NotifyType.IsError() {
				sa.p.Ctr.Inc(core.CtrErrorNotifiesIn)
				sa.failIKE(now, peerError(n), false)
				return errStop
			}
		}
		sa.failIKE(now, fail(wire.NotifyInvalidSyntax, ErrMalformed, "IKE_AUTH response without IDr or AUTH"), true)
		return errStop
	}
	cfg := sa.Conn.Cfg
	id, err := peerIdentity(idr)
	if err == nil && !core.MatchID(cfg.RemoteID, id.Type, id.Data) {
		err = fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "the responder is %s, we expect %s", id, cfg.RemoteID)
	}
	if err == nil {
		sa.collectCertReqs(c)
		err = sa.verifyPeerAuth(cfg, auth, sa.authOctets(false, idr), c, id)
	}
	if err != nil {
		sa.failIKE(now, err, true)
		return errStop
	}
	sa.peerID = idr
	if eapClient(cfg) {
		if err := sa.startEAPClient(now, c); err != nil {
			sa.failIKE(now, err, true)
		}
		return errStop
	}
	return sa.authCompleted(now, c)
}

// authCompleted establishes the IKE SA once the responder is authenticated (initiator):
// MOBIKE, notifications, the configuration payload and the first child.
func (sa *ikeSA) authCompleted(now time.Time, c *wire.Chain) error {
	sa.mobikeAuthResponse(c)
	sa.processStatusNotifies(now, c)
	sa.AuthChild = sa.first1 != nil && authChildAnswered(c)
	sa.establish(now)
	if err := sa.takeCPReply(now, c); err != nil {
		sa.cpFailed(now, err)
		return errStop
	}
	if fc := sa.first1; fc != nil {
		sa.first1 = nil
		fc.completeInAuth(now, c)
	}
	return nil
}

// collectCertReqs adds the CERTREQs of a message to what the peer asked for.
func (sa *ikeSA) collectCertReqs(c *wire.Chain) {
	for _, p := range c.Payloads {
		if cr, ok := p.(*wire.CertificateRequest); ok && cr.Encoding == wire.CertX509Signature {
			_ = sa.certReq.AddV2(cr.Data)
		}
	}
}

// handleAuthRequest is the responder's IKE_AUTH: choose the connection by the peer's
// identity, authenticate it, answer with our identity and proof, and the first child.
func (sa *ikeSA) handleAuthRequest(now time.Time, d *core.Datagram, m *wire.Message) ([]wire.Payload, func(time.Time)) {
	c := m.Inner
	refuse := func(err error) ([]wire.Payload, func(time.Time)) {
		n, data := notifyOf(err)
		if n == 0 {
			n = wire.NotifyAuthenticationFailed
		}
		sa.p.Ctr.Inc(core.CtrErrorNotifiesOut)
		return []wire.Payload{&wire.Notify{NotifyType: n, Data: data}}, func(now time.Time) { sa.failIKE(now, err, false) }
	}
	idi, _ := c.Find(wire.PayloadIDi).(*wire.Identification)
	auth, _ := c.Find(wire.PayloadAUTH).(*wire.Auth)
	if idi == nil {
		return refuse(fail(wire.NotifyInvalidSyntax, ErrMalformed, "IKE_AUTH request without IDi"))
	}
	id, err := peerIdentity(idi)
	if err != nil {
		return refuse(err)
	}
	idr, _ := c.Find(wire.PayloadIDr).(*wire.Identification)
	// §2.16: an initiator that wants EAP leaves AUTH out; only a gateway with eap takes it,
	// and such a gateway takes nothing else.
	wantEAP := auth == nil
	cs := sa.chooseConn(id, idr, wantEAP)
	if cs == nil && wantEAP {
		return refuse(fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "the peer %s wants EAP (no AUTH), and no connection for it demands eap", id))
	}
	if cs == nil {
		return refuse(fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "no connection accepts the identity %s from %s", id, sa.Remote.Addr()))
	}
	sa.Conn = cs
	sa.setLog()
	if wantEAP {
		resp, after, err := sa.startEAPGateway(now, d, c, idi)
		if err != nil {
			return refuse(err)
		}
		return resp, after
	}
	sa.collectCertReqs(c)
	if err := sa.verifyPeerAuth(cs.Cfg, auth, sa.authOctets(false, idi), c, id); err != nil {
		return refuse(err)
	}
	sa.peerID = idi
	sa.updatePeer(now, d)
	sa.localID = idPayload(sa.localIdentity(), true)
	resp := []wire.Payload{sa.localID}
	resp = append(resp, sa.mobikeAuthRequest(c)...)
	resp = append(resp, sa.ourCerts(cs.Cfg)...)
	ourAuth, err := sa.ourAuth(cs.Cfg, sa.authOctets(true, sa.localID))
	if err != nil {
		return refuse(err)
	}
	resp = append(resp, ourAuth)
	childResp, commit := sa.respondAuthChild(now, c, id.String())
	resp = append(resp, childResp...)
	return resp, func(now time.Time) {
		sa.processStatusNotifies(now, c)
		sa.AuthChild = commit != nil
		sa.establish(now)
		if commit != nil {
			commit(now)
		}
	}
}

// chooseConn returns the first candidate whose remote_id matches the peer's identity and,
// when the peer named the identity it wants (IDr), whose local_id is that one; an EAP
// gateway when the peer wants EAP, another connection when it does not.
func (sa *ikeSA) chooseConn(id core.Identity, idr *wire.Identification, wantEAP bool) *core.Conn {
	for _, cs := range sa.candidates {
		cfg := cs.Cfg
		if eapGateway(cfg) != wantEAP || !core.MatchID(cfg.RemoteID, id.Type, id.Data) {
			continue
		}
		if idr != nil && !cfg.LocalID.Any && !core.MatchID(cfg.LocalID, core.IDType(idr.IDType), idr.Data) {
			continue
		}
		return cs
	}
	if len(sa.candidates) > 0 {
		sa.Log.Info("no connection accepts the peer's identity", zap.Stringer("identity", id), zap.String("idr", idString(idr)))
	}
	return nil
}

// authChildAnswered reports whether an IKE_AUTH response makes the first child: an SA
// payload and no error notification.
func authChildAnswered(c *wire.Chain) bool {
	for _, n := range c.Notifies() {
		if n.NotifyType.IsError() {
			return false
		}
	}
	return c.Find(wire.PayloadSA) != nil
}
