package ikev2

// IKE_SA_INIT (RFC 7296 §1.2, §2.6, §2.7, §2.10, §2.14, §2.23):
//
//	Initiator                         Responder
//	HDR, [N(COOKIE),] SAi1, KEi, Ni,
//	  N(NAT_DETECTION_*), [N(SIGNATURE_HASH_ALGORITHMS)] -->
//	                              <-- HDR, SAr1, KEr, Nr, N(NAT_DETECTION_*), [CERTREQ,]
//	                                    [N(SIGNATURE_HASH_ALGORITHMS)]
//	                              <-- HDR, N(COOKIE)                  (stateless, §2.6)
//	                              <-- HDR, N(INVALID_KE_PAYLOAD)      (stateless, §1.2)
//	                              <-- HDR, N(NO_PROPOSAL_CHOSEN)      (stateless)
//
// The responder keeps nothing for a request it refuses, answers no request with more than
// amplificationFactor times its size, and holds the SAs it answers in the core's half-open
// table until IKE_AUTH completes.

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
	"oakley/ike/pki"
)

// startInit sends the first IKE_SA_INIT request, with the first group of our first proposal.
func (sa *ikeSA) startInit(now time.Time) error {
	props := ikeProps(sa.Conn.Cfg)
	groups := groupsOf(props)
	if len(groups) == 0 {
		return fail(0, ErrConfig, "no DH group in the IKE proposals")
	}
	var err error
	if sa.dh, err = sa.p.newDH(groups[0].Group); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNoProposalChosen, groups[0].Name, err)
	}
	sa.ni = sa.p.newNonce()
	sa.Log.Info("initiating IKE_SA_INIT", zap.Stringer("to", sa.Remote), zap.String("proposals", proposalsText(props)))
	return sa.sendInit(now)
}

// sendInit (re)builds and sends the IKE_SA_INIT request: the first time, after a COOKIE (the
// same payloads behind it, §2.6) and after INVALID_KE_PAYLOAD (a new KE).
func (sa *ikeSA) sendInit(now time.Time) error {
	cfg := sa.Conn.Cfg
	var payloads []wire.Payload
	if sa.cookie != nil {
		payloads = append(payloads, wire.NewNotify(wire.NotifyCookie, sa.cookie))
	}
	payloads = append(payloads,
		&wire.SA{Proposals: offer(wire.ProtoIKE, ikeProps(cfg), nil, false)},
		&wire.KeyExchange{Group: sa.dh.Group(), Data: sa.dh.Public()},
		&wire.Nonce{Data: sa.ni})
	payloads = append(payloads, sa.natNotifies(wire.SPI{})...)
	payloads = append(payloads, sa.fragNotify()...)
	if cfg.Auth == "pubkey" && !sa.p.hooks.noSigHash {
		payloads = append(payloads, hashAlgsNotify())
	}
	m, err := wire.EncodeMessage(wire.Header{SPIi: sa.spiI, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagInitiator}, payloads)
	if err != nil {
		return fmt.Errorf("ikev2: encoding IKE_SA_INIT: %w", err)
	}
	sa.initReq = m.Raw
	sa.setState(stInitSent)
	sa.retrans.Start(now, "IKE_SA_INIT", m.Raw)
	return nil
}

// hashAlgsNotify announces the RFC 7427 hashes we verify (§4).
func hashAlgsNotify() *wire.Notify {
	return wire.NewNotify(wire.NotifySignatureHashAlgorithms, pki.EncodeHashAlgs(pki.SupportedHashAlgs()))
}

// handleInitResponse processes the responder's IKE_SA_INIT answer: a COOKIE or
// INVALID_KE_PAYLOAD to retry with, a refusal, or its SA, KE and nonce, after which the keys
// exist and IKE_AUTH follows. A response that does not decode is dropped (it is not
// authenticated; the real one may still come).
func (sa *ikeSA) handleInitResponse(now time.Time, d *core.Datagram, h wire.Header) {
	m, err := wire.DecodeMessage(d.Raw)
	if err != nil {
		sa.p.Ctr.Inc(core.CtrMalformed)
		sa.Log.Debug("undecodable IKE_SA_INIT response", zap.Error(err))
		return
	}
	if h.MessageID != 0 {
		sa.p.Ctr.Inc(core.CtrUnexpected)
		return
	}
	for _, n := range m.Notifies() {
		switch n.NotifyType {
		case wire.NotifyCookie:
			sa.retryWithCookie(now, n)
			return
		case wire.NotifyInvalidKEPayload:
			sa.retryWithGroup(now, n)
			return
		}
		if n.NotifyType.IsError() {
			sa.p.Ctr.Inc(core.CtrErrorNotifiesIn)
			sa.failIKE(now, peerError(n), false)
			return
		}
	}
	if h.SPIr.IsZero() {
		sa.p.Ctr.Inc(core.CtrMalformed)
		return
	}
	if err := sa.acceptInitResponse(now, d, h, m); err != nil {
		sa.failIKE(now, err, false)
		return
	}
	sa.retrans.Stop()
	sa.float()
	sa.startAuth(now)
}

// acceptInitResponse checks the responder's choice, derives the keys and keeps what IKE_AUTH
// needs.
func (sa *ikeSA) acceptInitResponse(now time.Time, d *core.Datagram, h wire.Header, m *wire.Message) error {
	cfg := sa.Conn.Cfg
	sap, _ := m.Find(wire.PayloadSA).(*wire.SA)
	ke, _ := m.Find(wire.PayloadKE).(*wire.KeyExchange)
	nr, _ := m.Find(wire.PayloadNonce).(*wire.Nonce)
	if sap == nil || ke == nil || nr == nil {
		return fail(0, ErrMalformed, "IKE_SA_INIT response without SA, KE or Nr")
	}
	offered := offer(wire.ProtoIKE, ikeProps(cfg), nil, false)
	c, err := checkChoice(offered, sap, wire.ProtoIKE, 0)
	if err != nil {
		return err
	}
	if ke.Group != c.dh.Group || ke.Group != sa.dh.Group() {
		return fail(0, ErrInvalidKE, "responder chose group %s but sent a KE of group %d (we sent %d)", c.dh.Name, ke.Group, sa.dh.Group())
	}
	if err := checkNonce(nr.Data, c.prf); err != nil {
		return err
	}
	sa.spiR = h.SPIr
	sa.tr = ikeTransform{enc: c.enc, integ: c.integ, prf: c.prf, dh: c.dh}
	sa.nr = bytes.Clone(nr.Data)
	sa.initResp = d.Raw
	sa.processNATD(&m.Chain, d, h.SPIr)
	sa.peerInitNotifies(&m.Chain)
	for _, p := range m.Payloads {
		if cr, ok := p.(*wire.CertificateRequest); ok && cr.Encoding == wire.CertX509Signature {
			_ = sa.certReq.AddV2(cr.Data)
		}
	}
	gir, err := sa.dh.SharedSecret(ke.Data)
	if err != nil {
		return fail(0, ErrInvalidKE, "responder's KE: %v", err)
	}
	defer gir.Wipe()
	return sa.deriveKeys(gir)
}

// checkNonce applies §2.10: 16 to 256 octets, at least half the PRF's key size.
func checkNonce(n []byte, prf *crypto.Algorithm) error {
	if len(n) < wire.MinNonceLen || len(n) > wire.MaxNonceLen || prf != nil && len(n) < prf.Hash.Size()/2 {
		return fail(wire.NotifyInvalidSyntax, ErrMalformed, "nonce of %d octets", len(n))
	}
	return nil
}

// peerInitNotifies records what the peer's IKE_SA_INIT message announced.
func (sa *ikeSA) peerInitNotifies(c *wire.Chain) {
	sa.peerFragNotify(c)
	for _, n := range c.Notifies() {
		if n.NotifyType == wire.NotifySignatureHashAlgorithms {
			if hs, err := pki.ParseHashAlgs(n.Data); err == nil {
				sa.peerSigHash, sa.peerHashes = true, hs
			}
		}
	}
}

// deriveKeys computes SKEYSEED and the SK_* keys (§2.14) and the SK payload ciphers of both
// directions; the DH secret is wiped.
func (sa *ikeSA) deriveKeys(gir crypto.Key) error {
	prf, err := crypto.NewPRF(sa.tr.prf)
	if err != nil {
		return fail(wire.NotifyNoProposalChosen, ErrNoProposalChosen, "%v", err)
	}
	seed := skeyseed(prf, sa.ni, sa.nr, gir)
	defer seed.Wipe()
	k, err := deriveIKEKeys(prf, prf, seed, sa.ni, sa.nr, sa.spiI, sa.spiR, sa.tr.enc, sa.tr.integ)
	if err != nil {
		return err
	}
	if err := sa.installKeys(k); err != nil {
		return err
	}
	sa.dh.Wipe()
	sa.dh = nil
	return nil
}

// installKeys builds the SK ciphers for our role: the original initiator seals with SK_ei /
// SK_ai and opens with SK_er / SK_ar (§2.14).
func (sa *ikeSA) installKeys(k *ikeKeys) error {
	ei, err := wire.NewSKCipher(sa.tr.enc, sa.tr.integ, k.skEi, k.skAi, sa.p.Rand)
	if err != nil {
		k.wipe()
		return fail(wire.NotifyNoProposalChosen, ErrNoProposalChosen, "%v", err)
	}
	er, err := wire.NewSKCipher(sa.tr.enc, sa.tr.integ, k.skEr, k.skAr, sa.p.Rand)
	if err != nil {
		ei.Close()
		k.wipe()
		return fail(wire.NotifyNoProposalChosen, ErrNoProposalChosen, "%v", err)
	}
	if sa.Initiator {
		k.out, k.in = ei, er
	} else {
		k.out, k.in = er, ei
	}
	sa.keys = k
	sa.logIKEKeys(k)
	return nil
}

// retryWithCookie sends the request again with the responder's COOKIE first (§2.6).
func (sa *ikeSA) retryWithCookie(now time.Time, n *wire.Notify) {
	if sa.initRetries >= maxInitRetries || bytes.Equal(sa.cookie, n.Data) && sa.cookie != nil {
		sa.failIKE(now, fail(0, ErrTimeout, "the responder keeps asking for a COOKIE"), false)
		return
	}
	sa.initRetries++
	sa.cookie = bytes.Clone(n.Data)
	sa.Log.Info("responder asked for a COOKIE; retrying IKE_SA_INIT with it")
	if err := sa.sendInit(now); err != nil {
		sa.failIKE(now, err, false)
	}
}

// retryWithGroup answers INVALID_KE_PAYLOAD: a new KE of the group the responder wants, if
// we offered it (§1.2).
func (sa *ikeSA) retryWithGroup(now time.Time, n *wire.Notify) {
	g, err := n.KEGroup()
	if err != nil {
		sa.p.Ctr.Inc(core.CtrMalformed)
		return
	}
	sa.p.Ctr.Inc(core.CtrInvalidKE)
	ok := false
	for _, a := range groupsOf(ikeProps(sa.Conn.Cfg)) {
		if a.Group == g {
			ok = true
		}
	}
	if !ok || g == sa.dh.Group() || sa.initRetries >= maxInitRetries {
		sa.failIKE(now, fail(0, ErrNoProposalChosen, "responder asked for DH group %d with INVALID_KE_PAYLOAD, which we did not offer", g), false)
		return
	}
	sa.initRetries++
	sa.Log.Info("responder asked for another DH group (INVALID_KE_PAYLOAD); retrying IKE_SA_INIT", zap.Uint16("group", g))
	sa.dh.Wipe()
	if sa.dh, err = sa.p.newDH(g); err != nil {
		sa.failIKE(now, fmt.Errorf("%w: group %d: %v", ErrNoProposalChosen, g, err), false)
		return
	}
	if err := sa.sendInit(now); err != nil {
		sa.failIKE(now, err, false)
	}
}

// Responder.

// handleInitRequest answers an IKE_SA_INIT request: a retransmission from its cache, else
// (statelessly) a COOKIE, INVALID_KE_PAYLOAD or NO_PROPOSAL_CHOSEN, or a new half-open SA.
func (p *Protocol) handleInitRequest(now time.Time, d *core.Datagram, h wire.Header) {
	if sa := p.firsts[firstKey{h.SPIi, d.From}]; sa != nil {
		if bytes.Equal(sa.initReq, d.Raw) && sa.initResp != nil {
			p.Ctr.Inc(core.CtrDuplicates)
			// Answered again only while the initiator may still wait for it: once its
			// IKE_AUTH arrived (the SA is past IKE_SA_INIT), the copy is a network duplicate.
			if sa.state == stInitDone {
				// 30 s more to wait for its IKE_AUTH, counted from this copy (core/halfopen.go).
				p.Heard(sa.HalfOpen, now)
				p.Send(sa.initResp, sa.Local, d.From, d.NATT)
			}
		} else {
			p.Ctr.Inc(core.CtrUnexpected)
		}
		return
	}
	if h.MessageID != 0 || !h.FromInitiator() {
		p.Ctr.Inc(core.CtrMalformed)
		return
	}
	m, err := wire.DecodeMessage(d.Raw)
	if err != nil {
		p.Ctr.Inc(core.CtrMalformed)
		p.Log.Debug("undecodable IKE_SA_INIT request", zap.Stringer("from", d.From), zap.Error(err))
		return
	}
	sap, _ := m.Find(wire.PayloadSA).(*wire.SA)
	ke, _ := m.Find(wire.PayloadKE).(*wire.KeyExchange)
	ni, _ := m.Find(wire.PayloadNonce).(*wire.Nonce)
	if sap == nil || ke == nil || ni == nil || checkNonce(ni.Data, nil) != nil {
		p.Ctr.Inc(core.CtrMalformed)
		return
	}
	src := d.From.Addr()
	cands := p.Candidates(2, src)
	if len(cands) == 0 {
		p.Log.Info("IKE_SA_INIT from a peer no connection accepts; answering NO_PROPOSAL_CHOSEN", zap.Stringer("from", d.From))
		p.Ctr.Inc(core.CtrNoProposal)
		p.statelessNotify(d, h, wire.NotifyNoProposalChosen, nil)
		return
	}
	// §2.6: under load, only an initiator that proves it receives at its address gets state.
	if p.cookieNeeded(src) {
		var got []byte
		if len(m.Payloads) > 0 {
			if n, ok := m.Payloads[0].(*wire.Notify); ok && n.NotifyType == wire.NotifyCookie {
				got = n.Data
			}
		}
		if !p.cookieValid(now, got, ni.Data, src, h.SPIi) {
			if got != nil {
				p.Ctr.Inc(core.CtrCookiesInvalid)
			}
			p.Ctr.Inc(core.CtrCookiesSent)
			p.statelessNotify(d, h, wire.NotifyCookie, p.makeCookie(now, ni.Data, src, h.SPIi))
			return
		}
	}
	var (
		c       *choice
		matched []*core.Conn
	)
	for _, cs := range cands {
		x, err := selectProposal(ikeProps(cs.Cfg), sap.Proposals, selectOpts{proto: wire.ProtoIKE, preferGroup: ke.Group, insecure: cs.Cfg.InsecureAlgorithms})
		if err != nil {
			continue
		}
		if c == nil {
			c = x
		}
		if x.enc == c.enc && x.integ == c.integ && x.prf == c.prf && x.dh == c.dh {
			matched = append(matched, cs)
		}
	}
	if c == nil {
		p.Ctr.Inc(core.CtrNoProposal)
		p.Log.Info("IKE_SA_INIT: no proposal chosen", zap.Stringer("from", d.From), zap.String("ours", proposalsText(ikeProps(cands[0].Cfg))))
		p.statelessNotify(d, h, wire.NotifyNoProposalChosen, nil)
		return
	}
	if ke.Group != c.dh.Group {
		p.Ctr.Inc(core.CtrInvalidKE)
		p.Log.Debug("IKE_SA_INIT: asking for another DH group", zap.Stringer("from", d.From), zap.Uint16("sent", ke.Group), zap.Uint16("want", c.dh.Group))
		p.statelessNotify(d, h, wire.NotifyInvalidKEPayload, []byte{byte(c.dh.Group >> 8), byte(c.dh.Group)})
		return
	}
	sa := newIKESA(p, false, now)
	ho, ok := p.AdmitHalfOpen(now, src, sa.halfOpenExpired)
	if !ok {
		p.Log.Debug("half-open limit for this source reached, dropping IKE_SA_INIT", zap.Stringer("from", d.From))
		return
	}
	sa.HalfOpen = ho
	if err := sa.respondInit(now, d, h, m, c, matched); err != nil {
		p.CountError(err)
		p.Log.Debug("IKE_SA_INIT refused", zap.Stringer("from", d.From), zap.Error(err))
		sa.finish()
		p.ReleaseHalfOpen(ho)
	}
}

// respondInit builds the responder's SA from an accepted request and answers it.
func (sa *ikeSA) respondInit(now time.Time, d *core.Datagram, h wire.Header, m *wire.Message, c *choice, cands []*core.Conn) error {
	p := sa.p
	ke := m.Find(wire.PayloadKE).(*wire.KeyExchange)
	sa.candidates = cands
	sa.spiI, sa.spiR = h.SPIi, p.newSPI()
	sa.Remote, sa.NATT, sa.Local = d.From, d.NATT, d.Local.Addr()
	if !sa.Local.IsValid() || sa.Local.IsUnspecified() {
		sa.Local = netipZero
	}
	sa.first = firstKey{h.SPIi, d.From}
	sa.tr = ikeTransform{enc: c.enc, integ: c.integ, prf: c.prf, dh: c.dh}
	sa.ni = bytes.Clone(m.Find(wire.PayloadNonce).(*wire.Nonce).Data)
	if err := checkNonce(sa.ni, c.prf); err != nil {
		return err
	}
	sa.nr = p.newNonce()
	sa.setLog()
	var err error
	if sa.dh, err = p.newDH(c.dh.Group); err != nil {
		return fmt.Errorf("%w: %v", ErrNoProposalChosen, err)
	}
	gir, err := sa.dh.SharedSecret(ke.Data)
	if err != nil {
		return fail(0, ErrInvalidKE, "initiator's KE: %v", err)
	}
	defer gir.Wipe()
	pub := sa.dh.Public()
	if err := sa.deriveKeys(gir); err != nil {
		return err
	}
	sa.processNATD(&m.Chain, d, wire.SPI{})
	sa.peerInitNotifies(&m.Chain)
	payloads := []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{{Number: c.number, Protocol: wire.ProtoIKE, Transforms: c.transforms(wire.ProtoIKE)}}},
		&wire.KeyExchange{Group: c.dh.Group, Data: pub},
		&wire.Nonce{Data: sa.nr},
	}
	payloads = append(payloads, sa.natNotifies(sa.spiR)...)
	payloads = append(payloads, sa.fragNotify()...)
	if req := sa.certReqData(); req != nil {
		payloads = append(payloads, &wire.CertificateRequest{Encoding: wire.CertX509Signature, Data: req})
	}
	if sa.anyPubkey() && !p.hooks.noSigHash {
		payloads = append(payloads, hashAlgsNotify())
	}
	resp, err := wire.EncodeMessage(wire.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagResponse}, payloads)
	if err != nil {
		return fmt.Errorf("ikev2: encoding IKE_SA_INIT response: %w", err)
	}
	if len(resp.Raw) > amplificationFactor*len(d.Raw) {
		p.Ctr.Inc(core.CtrAmplificationDrops)
		return fmt.Errorf("%w: a %d-byte answer to a %d-byte IKE_SA_INIT request would amplify", errStop, len(resp.Raw), len(d.Raw))
	}
	sa.initReq, sa.initResp = d.Raw, resp.Raw
	sa.peerMID, sa.nextMID = 1, 0
	sa.setState(stInitDone)
	p.register(sa)
	p.firsts[sa.first] = sa
	sa.Log.Debug("IKE_SA_INIT answered", zap.String("proposal", sa.tr.String()), zap.Int("candidates", len(cands)))
	p.Send(resp.Raw, sa.Local, d.From, d.NATT)
	return nil
}

// anyPubkey reports whether a candidate connection authenticates with certificates.
func (sa *ikeSA) anyPubkey() bool {
	for _, cs := range sa.candidates {
		if cs.Cfg.Auth == "pubkey" {
			return true
		}
	}
	return sa.Conn != nil && sa.Conn.Cfg.Auth == "pubkey"
}

// statelessNotify answers an IKE_SA_INIT request with one unprotected notification and keeps
// nothing (§2.6, §1.2, §2.21.1); never more than amplificationFactor times the request.
func (p *Protocol) statelessNotify(d *core.Datagram, h wire.Header, t wire.NotifyType, data []byte) {
	m, err := wire.EncodeMessage(wire.Header{SPIi: h.SPIi, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagResponse}, []wire.Payload{wire.NewNotify(t, data)})
	if err != nil {
		return
	}
	if len(m.Raw) > amplificationFactor*len(d.Raw) {
		p.Ctr.Inc(core.CtrAmplificationDrops)
		return
	}
	if t.IsError() {
		p.Ctr.Inc(core.CtrErrorNotifiesOut)
	}
	local := d.Local.Addr()
	if local.IsUnspecified() {
		local = netipZero
	}
	p.Send(m.Raw, local, d.From, d.NATT)
}

// failIKE ends an IKE SA that did not come up: one log line, the counter, the SA is gone
// (notify: tell the peer in an INFORMATIONAL first, §2.21.2).
func (sa *ikeSA) failIKE(now time.Time, err error, notify bool) {
	if sa.state == stDead || sa.state == stDeleting {
		return
	}
	sa.p.CountError(err)
	sa.p.Ctr.Inc(core.CtrIKEFailed)
	msg := "IKE SA failed"
	if errors.Is(err, ErrAuthenticationFailed) {
		msg = "authentication failed"
	}
	sa.Log.Warn(msg, zap.Bool("initiator", sa.Initiator), zap.Stringer("state", sa.state), zap.Error(err))
	if notify && sa.keys != nil {
		if n, data := notifyOf(err); n != 0 {
			sa.sendErrorOnce(n, data)
		}
	}
	sa.destroy(now, false, err)
}
