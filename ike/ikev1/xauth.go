package ikev1

// XAUTH (draft-beaulieu-ike-xauth-02), generic user name and password, in Transaction
// exchanges after Phase 1 (transaction.go). The gateway (the Phase 1 responder, which
// accepted an XAUTHInit* method) asks, the client answers, the gateway tells the outcome:
//
//	server                                              client
//	CFG_REQUEST(XAUTH_TYPE, XAUTH_USER_NAME, XAUTH_USER_PASSWORD) -->
//	         <-- CFG_REPLY(XAUTH_TYPE, XAUTH_USER_NAME = name, XAUTH_USER_PASSWORD = pw)
//	CFG_SET(XAUTH_STATUS = OK | FAIL)                    -->
//	         <-- CFG_ACK(XAUTH_STATUS)
//
// A refused login deletes the ISAKMP SA on both sides. The password never appears in a
// log line; the server compares in constant time.

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"
	"unicode"

	"go.uber.org/zap"

	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// What our requests are, for retransmission logs and answers.
const (
	whatXAUTHRequest   = "XAUTH request"
	whatXAUTHStatus    = "XAUTH status"
	whatModeCfgRequest = "Mode Config request"
	whatModeCfgPush    = "Mode Config push"
)

// sendXAUTHRequest asks the client for its login (server).
func (sa *ikeSA) sendXAUTHRequest(now time.Time) {
	sa.Log.Info("XAUTH: asking the peer to log in")
	sa.sendTransaction(now, isakmp.CfgRequest, []isakmp.Attribute{
		isakmp.TV(isakmp.CfgXAUTHType, isakmp.XAUTHTypeGeneric),
		isakmp.TLV(isakmp.CfgXAUTHUserName, nil),
		isakmp.TLV(isakmp.CfgXAUTHUserPassword, nil),
	}, whatXAUTHRequest)
}

// xauthServerReply checks the client's login and sends the status (server).
func (sa *ikeSA) xauthServerReply(now time.Time, attrs *isakmp.ConfigAttributes) error {
	name, okName := attrs.Attr(isakmp.CfgXAUTHUserName)
	pass, okPass := attrs.Attr(isakmp.CfgXAUTHUserPassword)
	ok := false
	switch {
	case !okName || !okPass:
		sa.c.Ctr.Inc(core.CtrMalformed)
		sa.Log.Warn("XAUTH: the peer's reply lacks the user name or the password; refusing")
	case xauthTypeOf(attrs) != isakmp.XAUTHTypeGeneric:
		sa.Log.Warn("XAUTH: the peer answered with another XAUTH type; refusing", zap.Uint16("type", xauthTypeOf(attrs)))
	default:
		ok = checkLogin(sa.c.Cfg.Users, name.Value, pass.Value)
	}
	sa.tx.user = printable(string(name.Value), 255)
	if ok {
		sa.LoggedIn(sa.c.Cfg.User(string(name.Value)))
		sa.Log.Info("XAUTH: login accepted", zap.String("user", sa.tx.user))
	} else {
		sa.tx.refused = true
		sa.c.Ctr.Inc(core.CtrAuthFailures)
		sa.Log.Warn("XAUTH: login refused (unknown user or wrong password)", zap.String("user", sa.tx.user))
	}
	status := isakmp.XAUTHStatusFail
	if ok {
		status = isakmp.XAUTHStatusOK
	}
	sa.sendTransaction(now, isakmp.CfgSet, []isakmp.Attribute{isakmp.TV(isakmp.CfgXAUTHStatus, status)}, whatXAUTHStatus)
	return nil
}

// xauthServerAck: the client acknowledged the status; a refused client's SA goes.
func (sa *ikeSA) xauthServerAck(now time.Time) error {
	if sa.tx.refused {
		sa.c.Ctr.Inc(core.CtrIKEFailed)
		sa.destroy(now, true, fmt.Errorf("%w: XAUTH login of %q refused", ErrAuthenticationFailed, sa.tx.user))
		return nil
	}
	sa.tx.xauthDone = true
	// From now on the peer is its login: clients of a gateway often share the group's IKE
	// identity, so uniqueness (one SA per peer) and stable leases go by the XAUTH user, as
	// in strongSwan.
	sa.PeerID = core.KeyIDIdentity([]byte("xauth:" + sa.tx.user))
	sa.txNext(now)
	return nil
}

// xauthTypeOf returns the XAUTH_TYPE of a message (generic when absent).
func xauthTypeOf(attrs *isakmp.ConfigAttributes) uint16 {
	if a, ok := attrs.Attr(isakmp.CfgXAUTHType); ok {
		if v, err := a.Uint(); err == nil && v <= 0xffff {
			return uint16(v)
		}
		return 0xffff
	}
	return isakmp.XAUTHTypeGeneric
}

// checkLogin reports whether name and password are one of the users'. Every user is
// compared, each in constant time over SHA-256 digests (no early exit, no length leak).
func checkLogin(users []core.User, name, password []byte) bool {
	nd, pd := sha256.Sum256(name), sha256.Sum256(password)
	match := 0
	for _, u := range users {
		und, upd := sha256.Sum256([]byte(u.Name)), sha256.Sum256(u.Password)
		match |= subtle.ConstantTimeCompare(nd[:], und[:]) & subtle.ConstantTimeCompare(pd[:], upd[:])
	}
	return match == 1
}

// xauthClientRequest answers the gateway's login request (client).
func (sa *ikeSA) xauthClientRequest(now time.Time, attrs *isakmp.ConfigAttributes) (*isakmp.ConfigAttributes, error) {
	if sa.xauthRole() != "client" {
		sa.c.Ctr.Inc(core.CtrUnexpected)
		sa.Log.Warn("peer asks for an XAUTH login, but this connection is not an XAUTH client (xauth = \"client\")")
		return nil, fail(0, ErrUnexpected, "unsolicited XAUTH request")
	}
	if sa.tx.xauthDone {
		sa.c.Ctr.Inc(core.CtrUnexpected)
		return nil, fail(0, ErrUnexpected, "XAUTH request after the login completed")
	}
	sa.c.Timers.Stop(sa.tx.wait)
	if m, ok := attrs.Attr(isakmp.CfgXAUTHMessage); ok && len(m.Value) > 0 {
		sa.Log.Info("XAUTH: gateway says", zap.String("message", printable(string(m.Value), 256)))
	}
	if t := xauthTypeOf(attrs); t != isakmp.XAUTHTypeGeneric {
		err := fmt.Errorf("%w: the gateway asks for XAUTH type %d; only generic user name and password is supported", ErrAuthenticationFailed, t)
		sa.c.Ctr.Inc(core.CtrAuthFailures)
		sa.Log.Warn("XAUTH failed", zap.Error(err))
		sa.destroy(now, true, err)
		return nil, errStop
	}
	cfg := sa.Conn.Cfg
	var out []isakmp.Attribute
	for _, a := range attrs.Attributes {
		switch a.Type {
		case isakmp.CfgXAUTHType:
			out = append(out, isakmp.TV(isakmp.CfgXAUTHType, isakmp.XAUTHTypeGeneric))
		case isakmp.CfgXAUTHUserName:
			out = append(out, isakmp.TLV(isakmp.CfgXAUTHUserName, []byte(cfg.XAuthID)))
		case isakmp.CfgXAUTHUserPassword:
			out = append(out, isakmp.TLV(isakmp.CfgXAUTHUserPassword, cfg.XAuthPassword))
		}
	}
	sa.Log.Info("XAUTH: logging in", zap.String("user", cfg.XAuthID))
	return &isakmp.ConfigAttributes{CfgType: isakmp.CfgReply, Attributes: out}, nil
}

// xauthClientStatus acknowledges the gateway's verdict (client). A refusal deletes the SA
// once the ACK left (txAfterReply).
func (sa *ikeSA) xauthClientStatus(now time.Time, attrs *isakmp.ConfigAttributes) (*isakmp.ConfigAttributes, error) {
	if sa.xauthRole() != "client" {
		sa.c.Ctr.Inc(core.CtrUnexpected)
		return nil, fail(0, ErrUnexpected, "unsolicited XAUTH status")
	}
	st, ok := attrs.Attr(isakmp.CfgXAUTHStatus)
	if !ok {
		sa.c.Ctr.Inc(core.CtrMalformed)
		return nil, fail(0, ErrMalformed, "XAUTH SET without XAUTH_STATUS")
	}
	v, err := st.Uint()
	if err != nil {
		sa.c.Ctr.Inc(core.CtrMalformed)
		return nil, fail(0, ErrMalformed, "XAUTH_STATUS: %v", err)
	}
	sa.c.Timers.Stop(sa.tx.wait)
	if v == uint64(isakmp.XAUTHStatusOK) {
		sa.Log.Info("XAUTH: the gateway accepted our login", zap.String("user", sa.Conn.Cfg.XAuthID))
		sa.tx.xauthDone = true
	} else {
		sa.tx.refused = true
		sa.c.Ctr.Inc(core.CtrAuthFailures)
		sa.c.Ctr.Inc(core.CtrIKEFailed)
		sa.Log.Warn("XAUTH: the gateway refused our login (wrong user name or password?)", zap.String("user", sa.Conn.Cfg.XAuthID))
	}
	return &isakmp.ConfigAttributes{CfgType: isakmp.CfgAck, Attributes: []isakmp.Attribute{isakmp.TV(isakmp.CfgXAUTHStatus, uint16(min(v, 1)))}}, nil
}

// printable bounds a peer's text for the log and replaces what is not printable.
func printable(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	return strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}
