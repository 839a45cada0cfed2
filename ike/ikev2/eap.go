package ikev2

// EAP in IKE_AUTH (RFC 7296 §2.16) with EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2-02,
// RFC 2759) or EAP-TLS (eaptls.go), as client (eap set, no pools) and gateway (eap and pools):
//
//	Initiator                         Responder
//	HDR, SK {IDi, [CERTREQ,] [IDr,] [CP,] SAi2, TSi, TSr}  -->
//	                              <-- HDR, SK {IDr, CERT, AUTH, EAP(Request/Identity)}
//	HDR, SK {EAP(Response/Identity)}  -->
//	                              <-- HDR, SK {EAP(Request/MSCHAPv2 Challenge)}
//	HDR, SK {EAP(Response/MSCHAPv2 Response)}  -->
//	                              <-- HDR, SK {EAP(Request/MSCHAPv2 Success)}
//	HDR, SK {EAP(Response/MSCHAPv2 Success)}  -->
//	                              <-- HDR, SK {EAP(Success)}
//	HDR, SK {AUTH}  -->
//	                              <-- HDR, SK {AUTH, [CP,] SAr2, TSi, TSr}
//
// The gateway proves itself with its certificate in its first answer; the client verifies
// it before it sends anything about its user. The last two AUTH payloads are computed like
// a pre-shared key's with the MSK as the key (§2.15), over the same octets as without EAP,
// so they bind the EAP run to this IKE SA. The client's CP, SA and TS of its first message
// are answered in the last response: its virtual IP is leased for its EAP identity.
//
// A wrong password or an unknown user gets MS-CHAPv2 Failure (error 691), and its
// acknowledgement EAP-Failure with AUTHENTICATION_FAILED; anything unexpected gets the latter
// at once. The IKE SA goes (counted in auth_failures); no
// password, hash or MSK is logged. The client checks the gateway's MS-CHAPv2 authenticator
// response (proof that it knows the password too) before it accepts Success.

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// EAP method types (RFC 3748 §5, IANA) and MS-CHAPv2 op codes.
const (
	eapTypeIdentity = 1
	eapTypeNak      = 3
	eapTypeMSCHAPv2 = 26

	mschapOpChallenge = 1
	mschapOpResponse  = 2
	mschapOpSuccess   = 3
	mschapOpFailure   = 4

	mschapResponseValueLen = 49 // PeerChallenge 16 | Reserved 8 | NT-Response 24 | Flags 1
	maxEAPIdentity         = 255
	// eapServerName is the Name of our MS-CHAPv2 Challenge (informational).
	eapServerName = "oakley"
)

type eapStep uint8

const (
	eapWaitIdentity   eapStep = iota // gateway: Request/Identity sent
	eapWaitResponse                  // gateway: MS-CHAPv2 Challenge sent
	eapWaitSuccessAck                // gateway: MS-CHAPv2 Success sent
	eapWaitAuth                      // gateway: EAP-Success sent, the client's AUTH expected
	eapWaitFailureAck                // gateway: MS-CHAPv2 Failure or TLS alert sent (err says why)
	eapWaitTLS                       // gateway: EAP-TLS in progress (eaptls.go)
	eapClientRun                     // client: answering the gateway's requests
	eapClientAuth                    // client: our MSK-based AUTH sent
)

// eapState is an IKE SA's EAP run, in either role. The MSK is wiped when the SA goes.
type eapState struct {
	step     eapStep
	ident    uint8       // gateway: the Identifier of our last request
	first    *wire.Chain // gateway: the client's first IKE_AUTH message (CP, SA, TS)
	identity string      // the EAP identity (gateway: as the client gave it)
	authChal []byte
	peerChal []byte
	ntResp   []byte
	userName string // the Name the client sent in its MS-CHAPv2 Response (gateway)
	msk      crypto.Key
	tls      *eapTLS // EAP-TLS (eaptls.go)
	refused  bool    // client: the gateway sent MS-CHAPv2 Failure
	err      error   // gateway: why the login was refused (eapWaitFailureAck)
}

func (e *eapState) wipe() {
	if e != nil {
		e.msk.Wipe()
		e.msk = nil
		e.tls.close()
	}
}

// eapClient reports whether a connection authenticates itself with EAP (no pools).
func eapClient(cfg *core.Connection) bool { return cfg.EAP != "" && len(cfg.Pools) == 0 }

// eapGateway reports whether a connection demands EAP from its clients (eap and pools).
func eapGateway(cfg *core.Connection) bool { return cfg.EAP != "" && len(cfg.Pools) > 0 }

// mschapPacket builds MS-CHAPv2 Type-Data: op code, MS-CHAPv2-ID, MS-Length, value.
func mschapPacket(op, id uint8, value []byte) []byte {
	b := []byte{op, id, 0, 0}
	b = append(b, value...)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// eapMsg returns the EAP payload of a message, if any.
func eapMsg(c *wire.Chain) *wire.EAP {
	e, _ := c.Find(wire.PayloadEAP).(*wire.EAP)
	return e
}

// Client.

// startEAPClient follows the gateway's first IKE_AUTH answer, whose certificate AUTH was
// verified: the EAP run begins with the request it carries.
func (sa *ikeSA) startEAPClient(now time.Time, c *wire.Chain) error {
	e := eapMsg(c)
	if e == nil {
		return fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "the gateway authenticated itself but did not start EAP (it does not demand eap = %q?)", sa.Conn.Cfg.EAP)
	}
	sa.eap = &eapState{step: eapClientRun}
	sa.authDesc = eapMethodName(sa.Conn.Cfg.EAP) + " " + sa.Conn.Cfg.EAPID
	sa.Log.Info("gateway authenticated with its certificate; starting EAP", zap.String("eap_id", sa.Conn.Cfg.EAPID))
	return sa.clientEAP(now, e)
}

// clientEAP handles one EAP packet from the gateway: an answer for a request, our AUTH after
// Success, the end after Failure.
func (sa *ikeSA) clientEAP(now time.Time, e *wire.EAP) error {
	st := sa.eap
	switch e.Code() {
	case wire.EAPSuccess:
		if st.msk == nil {
			return fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "EAP Success before %s authenticated the gateway", eapMethodName(sa.Conn.Cfg.EAP))
		}
		st.step = eapClientAuth
		sa.enqueue(now, &request{exch: wire.ExchangeIKEAuth, what: "IKE_AUTH (EAP AUTH)", build: sa.buildEAPAuth, onResp: sa.handleEAPAuthResponse})
		return nil
	case wire.EAPFailure:
		if st.tls != nil && st.tls.err != nil {
			return st.tls.err
		}
		if st.refused {
			return fail(0, ErrAuthenticationFailed, "the gateway refused our EAP login as %q (MS-CHAPv2 Failure: wrong password or unknown user)", sa.Conn.Cfg.EAPID)
		}
		return fail(0, ErrAuthenticationFailed, "the gateway refused our EAP login as %q (EAP-Failure)", sa.Conn.Cfg.EAPID)
	case wire.EAPRequest:
	default:
		return fail(wire.NotifyAuthenticationFailed, ErrMalformed, "EAP %s from the gateway", e.Code())
	}
	typ, data, err := sa.eapAnswer(e)
	if err != nil {
		return err
	}
	msg := wire.NewEAP(wire.EAPResponse, e.Identifier(), typ, data)
	sa.enqueue(now, &request{exch: wire.ExchangeIKEAuth, what: "IKE_AUTH (EAP)",
		build:  func(time.Time) ([]wire.Payload, error) { return []wire.Payload{msg}, nil },
		onResp: sa.handleEAPResponse})
	return nil
}

// eapAnswer computes the client's Response to a Request: the identity, the MS-CHAPv2
// Response, the Success or Failure acknowledgement, or a Nak for another method.
func (sa *ikeSA) eapAnswer(e *wire.EAP) (uint8, []byte, error) {
	cfg, st := sa.Conn.Cfg, sa.eap
	switch e.EAPType() {
	case eapTypeIdentity:
		return eapTypeIdentity, []byte(cfg.EAPID), nil
	case eapMethodType(cfg.EAP):
	default:
		sa.Log.Info("gateway proposes another EAP method; asking for ours (Nak)", zap.Uint8("type", e.EAPType()), zap.String("eap", eapMethodName(cfg.EAP)))
		return eapTypeNak, []byte{eapMethodType(cfg.EAP)}, nil
	}
	if cfg.EAP == "tls" {
		d, err := sa.clientEAPTLS(e.TypeData())
		return eapTypeTLS, d, err
	}
	d := e.TypeData()
	if len(d) < 1 {
		return 0, nil, fail(wire.NotifyAuthenticationFailed, ErrMalformed, "empty MS-CHAPv2 request")
	}
	switch d[0] {
	case mschapOpChallenge:
		if len(d) < 5+mschapChallengeLen || d[4] != mschapChallengeLen {
			return 0, nil, fail(wire.NotifyAuthenticationFailed, ErrMalformed, "MS-CHAPv2 Challenge of %d octets", len(d))
		}
		st.authChal = bytes.Clone(d[5 : 5+mschapChallengeLen])
		st.peerChal = make([]byte, mschapChallengeLen)
		if _, err := sa.p.Rand.Read(st.peerChal); err != nil {
			return 0, nil, fmt.Errorf("ikev2: random peer challenge: %w", err)
		}
		st.ntResp = generateNTResponse(st.authChal, st.peerChal, cfg.EAPID, cfg.EAPPassword)
		v := []byte{mschapResponseValueLen}
		v = append(v, st.peerChal...)
		v = append(v, make([]byte, 8)...)
		v = append(v, st.ntResp...)
		v = append(v, 0)
		v = append(v, cfg.EAPID...)
		return eapTypeMSCHAPv2, mschapPacket(mschapOpResponse, d[1], v), nil
	case mschapOpSuccess:
		if st.ntResp == nil {
			return 0, nil, fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "MS-CHAPv2 Success before our Response")
		}
		pw := ntPasswordHash(cfg.EAPPassword)
		defer pw.Wipe()
		want := generateAuthenticatorResponse(pw, st.ntResp, st.peerChal, st.authChal, cfg.EAPID)
		got := ""
		if len(d) >= 4+len(want) {
			got = strings.ToUpper(string(d[4 : 4+len(want)]))
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return 0, nil, fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "the gateway's MS-CHAPv2 authenticator response is wrong: it does not know our password")
		}
		st.msk = mschapMSK(pw, st.ntResp)
		return eapTypeMSCHAPv2, []byte{mschapOpSuccess}, nil
	case mschapOpFailure:
		st.refused = true
		msg := ""
		if len(d) > 4 {
			msg = printable(d[4:])
		}
		sa.Log.Warn("the gateway refused our MS-CHAPv2 login", zap.String("eap_id", cfg.EAPID), zap.String("message", msg))
		return eapTypeMSCHAPv2, []byte{mschapOpFailure}, nil
	}
	return 0, nil, fail(wire.NotifyAuthenticationFailed, ErrMalformed, "MS-CHAPv2 op code %d from the gateway", d[0])
}

// printable keeps the printable ASCII of a peer's message for a log line (at most 128).
func printable(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if s.Len() >= 128 {
			break
		}
		if c >= 0x20 && c < 0x7f {
			s.WriteByte(c)
		}
	}
	return s.String()
}

// handleEAPResponse takes the gateway's next EAP packet (or its refusal).
func (sa *ikeSA) handleEAPResponse(now time.Time, m *wire.Message) error {
	c := m.Inner
	if e := eapMsg(c); e != nil {
		if err := sa.clientEAP(now, e); err != nil {
			sa.failIKE(now, err, false)
			return errStop
		}
		return nil
	}
	sa.failIKE(now, sa.peerRefusal(c, "IKE_AUTH response without EAP"), false)
	return errStop
}

// peerRefusal is the error notification of a response, or a malformed-message error.
func (sa *ikeSA) peerRefusal(c *wire.Chain, what string) error {
	for _, n := range c.Notifies() {
		if n.NotifyType.IsError() {
			sa.p.Ctr.Inc(core.CtrErrorNotifiesIn)
			return peerError(n)
		}
	}
	return fail(wire.NotifyInvalidSyntax, ErrMalformed, "%s", what)
}

// buildEAPAuth is our last IKE_AUTH request: AUTH with the MSK over our octets.
func (sa *ikeSA) buildEAPAuth(time.Time) ([]wire.Payload, error) {
	return []wire.Payload{&wire.Auth{Method: wire.AuthSharedKeyMIC, Data: pskAuth(sa.keys.prf, sa.eap.msk, sa.authOctets(true, sa.localID))}}, nil
}

// handleEAPAuthResponse checks the gateway's MSK-based AUTH and completes the IKE SA and
// its first child.
func (sa *ikeSA) handleEAPAuthResponse(now time.Time, m *wire.Message) error {
	c := m.Inner
	auth, _ := c.Find(wire.PayloadAUTH).(*wire.Auth)
	if auth == nil {
		sa.failIKE(now, sa.peerRefusal(c, "last IKE_AUTH response without AUTH"), false)
		return errStop
	}
	if err := sa.checkMSKAuth(auth, sa.peerID); err != nil {
		sa.failIKE(now, err, true)
		return errStop
	}
	sa.eap.wipe()
	sa.Log.Info(eapMethodName(sa.Conn.Cfg.EAP)+" authentication completed", zap.String("eap_id", sa.Conn.Cfg.EAPID))
	return sa.authCompleted(now, c)
}

// checkMSKAuth verifies the peer's AUTH computed with the MSK (§2.16) over its octets.
func (sa *ikeSA) checkMSKAuth(auth *wire.Auth, peerID *wire.Identification) error {
	if auth.Method != wire.AuthSharedKeyMIC {
		return fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "the peer's AUTH after EAP uses %s, not the shared key MIC with the MSK", auth.Method)
	}
	want := pskAuth(sa.keys.prf, sa.eap.msk, sa.authOctets(false, peerID))
	defer crypto.Wipe(want)
	if subtle.ConstantTimeCompare(want, auth.Data) != 1 {
		return fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "AUTH from the EAP MSK mismatch")
	}
	return nil
}

// Gateway.

// startEAPGateway answers an IKE_AUTH request without AUTH on a connection that demands EAP:
// our identity, certificate and AUTH, and EAP Request/Identity. The request is kept for the
// last answer (its CP, SA and TS).
func (sa *ikeSA) startEAPGateway(now time.Time, d *core.Datagram, c *wire.Chain, idi *wire.Identification) ([]wire.Payload, func(time.Time), error) {
	cfg := sa.Conn.Cfg
	sa.collectCertReqs(c)
	sa.peerID = idi
	sa.updatePeer(now, d)
	sa.localID = idPayload(sa.localIdentity(), true)
	resp := []wire.Payload{sa.localID}
	resp = append(resp, sa.ourCerts(cfg)...)
	ourAuth, err := sa.ourAuth(cfg, sa.authOctets(true, sa.localID))
	if err != nil {
		return nil, nil, err
	}
	var id [1]byte
	if _, err := sa.p.Rand.Read(id[:]); err != nil {
		return nil, nil, fmt.Errorf("ikev2: random EAP identifier: %w", err)
	}
	sa.eap = &eapState{step: eapWaitIdentity, ident: id[0], first: c}
	resp = append(resp, ourAuth, wire.NewEAP(wire.EAPRequest, sa.eap.ident, eapTypeIdentity, nil))
	sa.Log.Info("peer asks for EAP: authenticated ourselves with our certificate, asking for its EAP identity", zap.String("idi", idString(idi)))
	return resp, func(time.Time) { sa.setState(stEAP) }, nil
}

// eapRequest sends the gateway's next EAP request with a new Identifier.
func (sa *ikeSA) eapRequest(typ uint8, data []byte) []wire.Payload {
	sa.eap.ident++
	return []wire.Payload{wire.NewEAP(wire.EAPRequest, sa.eap.ident, typ, data)}
}

// handleEAPRequest is the gateway's side of the IKE_AUTH exchanges after the first: the EAP
// conversation, then the client's AUTH and our last answer.
func (sa *ikeSA) handleEAPRequest(now time.Time, m *wire.Message) ([]wire.Payload, func(time.Time)) {
	st, c := sa.eap, m.Inner
	if st.step == eapWaitAuth {
		return sa.eapFinish(now, c)
	}
	e := eapMsg(c)
	if e == nil {
		return sa.eapRefuse(fail(wire.NotifyAuthenticationFailed, ErrMalformed, "IKE_AUTH request without EAP during EAP"), false)
	}
	if e.Code() != wire.EAPResponse || e.Identifier() != st.ident {
		return sa.eapRefuse(fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "unexpected EAP %s (identifier %d, expected a Response to %d)", e.Code(), e.Identifier(), st.ident), true)
	}
	if e.EAPType() == eapTypeNak {
		return sa.eapRefuse(fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "the client refuses %s (Nak, it wants %v)", eapMethodName(sa.Conn.Cfg.EAP), e.TypeData()), true)
	}
	d := e.TypeData()
	switch st.step {
	case eapWaitIdentity:
		if e.EAPType() != eapTypeIdentity {
			return sa.eapRefuse(fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "EAP type %d instead of the identity", e.EAPType()), true)
		}
		if len(d) == 0 || len(d) > maxEAPIdentity || !utf8.Valid(d) || bytes.ContainsFunc(d, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return sa.eapRefuse(fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "unusable EAP identity of %d octets", len(d)), true)
		}
		st.identity = string(d)
		if sa.Conn.Cfg.EAP == "tls" {
			return sa.gatewayEAPTLSStart()
		}
		st.authChal = make([]byte, mschapChallengeLen)
		if _, err := sa.p.Rand.Read(st.authChal); err != nil {
			return sa.eapRefuse(fmt.Errorf("ikev2: random challenge: %w", err), true)
		}
		st.step = eapWaitResponse
		v := append([]byte{mschapChallengeLen}, st.authChal...)
		v = append(v, eapServerName...)
		sa.Log.Info("EAP identity received; sending the MS-CHAPv2 challenge", zap.String("eap_id", st.identity))
		return sa.eapRequest(eapTypeMSCHAPv2, mschapPacket(mschapOpChallenge, sa.eap.ident+1, v)), nil
	case eapWaitResponse:
		if e.EAPType() != eapTypeMSCHAPv2 || len(d) < 5+mschapResponseValueLen || d[0] != mschapOpResponse || d[4] != mschapResponseValueLen {
			return sa.eapRefuse(fail(wire.NotifyAuthenticationFailed, ErrMalformed, "malformed MS-CHAPv2 Response (%d octets)", len(d)), true)
		}
		v := d[5:]
		st.peerChal = bytes.Clone(v[:16])
		st.ntResp = bytes.Clone(v[24:48])
		st.userName = string(d[5+mschapResponseValueLen:])
		return sa.eapCheckResponse()
	case eapWaitTLS:
		return sa.gatewayEAPTLS(e)
	case eapWaitFailureAck:
		// Whatever the client answers to MS-CHAPv2 Failure, EAP ends with Failure.
		return sa.eapRefuse(st.err, true)
	case eapWaitSuccessAck:
		if e.EAPType() != eapTypeMSCHAPv2 || len(d) < 1 || d[0] != mschapOpSuccess {
			return sa.eapRefuse(fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "the client did not acknowledge MS-CHAPv2 Success"), true)
		}
		st.step = eapWaitAuth
		// RFC 3748 §4.2: Success carries the Identifier of the Response it answers.
		return []wire.Payload{wire.NewEAP(wire.EAPSuccess, sa.eap.ident, 0, nil)}, nil
	}
	return sa.eapRefuse(fail(0, ErrUnexpected, "EAP in state %d", st.step), true)
}

// eapCheckResponse verifies the client's NT-Response with the password of the user its EAP
// identity names, and answers MS-CHAPv2 Success with our authenticator response.
func (sa *ikeSA) eapCheckResponse() ([]wire.Payload, func(time.Time)) {
	st := sa.eap
	var user *core.User
	for i := range sa.p.Cfg.Users {
		if u := &sa.p.Cfg.Users[i]; u.Name == st.identity {
			user = u
		}
	}
	if user == nil {
		// Computed anyway, so an unknown user costs what a wrong password does.
		generateNTResponse(st.authChal, st.peerChal, st.userName, []byte("-"))
		return sa.mschapFailure(fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "EAP-MSCHAPv2: unknown user %q", st.identity))
	}
	pw := ntPasswordHash(user.Password)
	defer pw.Wipe()
	want := challengeResponse(challengeHash(st.peerChal, st.authChal, st.userName), pw)
	if subtle.ConstantTimeCompare(want, st.ntResp) != 1 {
		return sa.mschapFailure(fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "EAP-MSCHAPv2: wrong password for %q", st.identity))
	}
	st.msk = mschapMSK(pw, st.ntResp)
	st.step = eapWaitSuccessAck
	sa.LoggedIn(user)
	msg := generateAuthenticatorResponse(pw, st.ntResp, st.peerChal, st.authChal, st.userName) + " M=welcome"
	sa.Log.Info("EAP-MSCHAPv2: password verified", zap.String("eap_id", st.identity))
	return sa.eapRequest(eapTypeMSCHAPv2, mschapPacket(mschapOpSuccess, sa.eap.ident+1, []byte(msg))), nil
}

// mschapFailure answers a refused login with MS-CHAPv2 Failure (RFC 2759 §6: error 691,
// no retry), as Windows and strongSwan expect; the client's acknowledgement gets EAP-Failure
// and AUTHENTICATION_FAILED (eapRefuse). A client that never acknowledges is dropped with
// the half-open IKE SA (30 s), and counted then.
func (sa *ikeSA) mschapFailure(err error) ([]wire.Payload, func(time.Time)) {
	st := sa.eap
	st.step, st.err = eapWaitFailureAck, err
	sa.Log.Info("refusing the EAP login; sending MS-CHAPv2 Failure", zap.String("eap_id", st.identity), zap.Error(err))
	msg := "E=691 R=0 C=" + strings.ToUpper(hex.EncodeToString(st.authChal)) + " V=3 M=authentication failed"
	return sa.eapRequest(eapTypeMSCHAPv2, mschapPacket(mschapOpFailure, sa.eap.ident+1, []byte(msg))), nil
}

// eapInformational is an INFORMATIONAL request of the client during EAP: strongSwan answers
// MS-CHAPv2 Failure (R=0) with AUTHENTICATION_FAILED there instead of an acknowledgement; a
// client may also delete the IKE SA. Either ends the run (with our refusal, if we made one);
// anything else is answered empty.
func (sa *ikeSA) eapInformational(m *wire.Message) ([]wire.Payload, func(time.Time)) {
	var err error
	for _, p := range m.Inner.Payloads {
		switch x := p.(type) {
		case *wire.Notify:
			if x.NotifyType.IsError() && err == nil {
				sa.p.Ctr.Inc(core.CtrErrorNotifiesIn)
				err = peerError(x)
			}
		case *wire.Delete:
			if x.Protocol == wire.ProtoIKE && err == nil {
				err = fmt.Errorf("%w: the client deleted the IKE SA during EAP", ErrDeleted)
			}
		}
	}
	if err == nil {
		return []wire.Payload{}, nil
	}
	if sa.eap.err != nil {
		err = sa.eap.err
	}
	return []wire.Payload{}, func(now time.Time) { sa.failIKE(now, err, false) }
}

// eapRefuse ends the run: EAP-Failure (when the conversation got that far) with
// AUTHENTICATION_FAILED, and the IKE SA goes.
func (sa *ikeSA) eapRefuse(err error, failure bool) ([]wire.Payload, func(time.Time)) {
	n, data := notifyOf(err)
	if n == 0 {
		n = wire.NotifyAuthenticationFailed
	}
	var resp []wire.Payload
	if failure {
		// RFC 3748 §4.2: the Identifier of the Response it answers.
		resp = append(resp, wire.NewEAP(wire.EAPFailure, sa.eap.ident, 0, nil))
	}
	sa.p.Ctr.Inc(core.CtrErrorNotifiesOut)
	resp = append(resp, &wire.Notify{NotifyType: n, Data: data})
	return resp, func(now time.Time) { sa.failIKE(now, err, false) }
}

// eapFinish verifies the client's MSK-based AUTH and answers with ours, the configuration
// payload (the lease for the EAP identity) and the first child of the client's first message.
func (sa *ikeSA) eapFinish(now time.Time, c *wire.Chain) ([]wire.Payload, func(time.Time)) {
	st := sa.eap
	auth, _ := c.Find(wire.PayloadAUTH).(*wire.Auth)
	if auth == nil {
		return sa.eapRefuse(fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "IKE_AUTH after EAP-Success without AUTH"), false)
	}
	if err := sa.checkMSKAuth(auth, sa.peerID); err != nil {
		return sa.eapRefuse(err, false)
	}
	ours := &wire.Auth{Method: wire.AuthSharedKeyMIC, Data: pskAuth(sa.keys.prf, st.msk, sa.authOctets(true, sa.localID))}
	st.wipe()
	sa.eapID = st.identity
	resp := []wire.Payload{ours}
	resp = append(resp, sa.mobikeAuthRequest(st.first)...)
	childResp, commit := sa.respondAuthChild(now, st.first, "eap:"+st.identity)
	resp = append(resp, childResp...)
	first := st.first
	st.first = nil
	sa.Log.Info(eapMethodName(sa.Conn.Cfg.EAP)+" client authenticated", zap.String("eap_id", st.identity), zap.String("idi", idString(sa.peerID)))
	return resp, func(now time.Time) {
		sa.processStatusNotifies(now, first)
		sa.establish(now)
		if commit != nil {
			commit(now)
		}
	}
}
