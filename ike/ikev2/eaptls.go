package ikev2

// EAP-TLS in IKE_AUTH (RFC 5216; RFC 9190 when TLS 1.3 is negotiated), in both roles, after
// EAP-Identity as with MS-CHAPv2 (eap.go):
//
//	gateway: Request/EAP-TLS Start
//	client:  Response ClientHello                         (fragments: acknowledged by
//	gateway: Request ServerHello … ServerHelloDone        an empty packet of the other
//	client:  Response Certificate … Finished              side, RFC 5216 §3.1)
//	gateway: Request ChangeCipherSpec, Finished (TLS 1.2) / 0x00 application data (TLS 1.3)
//	client:  Response (empty)
//	gateway: EAP-Success
//
// The client verifies the gateway's TLS certificate with cacerts (and CRLs) and binds it to
// the gateway's IKE identity; the gateway demands a client certificate, verifies it the same
// way and binds it to the client's EAP identity (pki.BindID, as for certificate AUTH). The
// MSK is the TLS exporter's (eaptls_conn.go); both AUTHs after EAP use it (§2.16). Neither
// keys nor the MSK are logged. Malformed framing is refused, logged and counted
// (eap_tls_malformed; eap_tls_overflows for a message over 64 KiB).

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
	"oakley/ike/pki"
)

// eapTLSMaxVersion is the highest TLS version we offer (tests lower it to run TLS 1.2).
var eapTLSMaxVersion uint16 = tls.VersionTLS13

// eapTLSTestOverride, set only by tests, replaces the client's EAP-TLS answers (a peer
// that misbehaves).
var eapTLSTestOverride func(request []byte) []byte

// eapTLS is the EAP-TLS part of an eapState.
type eapTLS struct {
	engine  *tlsEngine
	run     func(net.Conn) (crypto.Key, error)
	reasm   eapTLSReasm
	frag    eapTLSFrag
	done    bool          // the handshake finished and the MSK is derived
	peer    *pki.Verified // the peer's verified certificate (set by the TLS goroutine)
	version uint16        // the negotiated TLS version (set by the TLS goroutine)
	logged  bool
	err     error // client: the handshake failed, the gateway was told (alert or ack)
}

func (t *eapTLS) close() {
	if t != nil {
		t.engine.close()
	}
}

// eapMethodName names a connection's EAP method for logs and status.
func eapMethodName(eap string) string {
	if eap == "tls" {
		return "EAP-TLS"
	}
	return "EAP-MSCHAPv2"
}

// eapMethodType is the EAP type of a connection's method.
func eapMethodType(eap string) uint8 {
	if eap == "tls" {
		return eapTypeTLS
	}
	return eapTypeMSCHAPv2
}

// tlsCertificate is our chain and key for crypto/tls.
func tlsCertificate(c *pki.Credentials) *tls.Certificate {
	tc := &tls.Certificate{PrivateKey: c.Signer(), Leaf: c.Leaf()}
	for _, x := range c.Chain() {
		if isSelfSignedCA(x) {
			continue // the trust anchor is the peer's to have
		}
		tc.Certificate = append(tc.Certificate, x.Raw)
	}
	return tc
}

func isSelfSignedCA(c *x509.Certificate) bool {
	return c.IsCA && string(c.RawIssuer) == string(c.RawSubject)
}

// verifyTLSPeer is the certificate check both roles run inside the handshake: the chain
// against cacerts/remote_cert and CRLs at now, the end entity bound to id.
func verifyTLSPeer(t *eapTLS, trust *pki.Trust, id core.Identity, now time.Time, raw [][]byte) error {
	if trust == nil {
		return errors.New("no cacerts to verify the peer's TLS certificate")
	}
	var chain []*x509.Certificate
	for _, der := range raw {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("peer TLS certificate: %w", err)
		}
		chain = append(chain, c)
	}
	v, err := trust.Verify(chain, now)
	if err != nil {
		return fmt.Errorf("peer TLS certificate not accepted: %w", err)
	}
	if err := pki.BindID(v.Leaf, id); err != nil {
		return fmt.Errorf("peer TLS certificate: %w", err)
	}
	t.peer = v
	return nil
}

// newEAPTLSClient prepares the client's handshake: our certificate, the gateway's verified
// against cacerts and bound to its IKE identity.
func (sa *ikeSA) newEAPTLSClient() (*eapTLS, error) {
	cfg := sa.Conn.Cfg
	if cfg.Creds == nil {
		return nil, errors.New("EAP-TLS needs our certificate and key")
	}
	gw, err := peerIdentity(sa.peerID)
	if err != nil {
		return nil, err
	}
	t := &eapTLS{engine: newTLSEngine()}
	now, cert := sa.p.Now, tlsCertificate(cfg.Creds)
	tc := &tls.Config{
		Rand:       sa.p.Rand,
		Time:       func() time.Time { return now },
		MinVersion: tls.VersionTLS12,
		MaxVersion: eapTLSMaxVersion,
		// Our own certificate whatever CAs the gateway names: its refusal is clearer than
		// an empty Certificate message.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil },
		// crypto/tls's verification is replaced by pki's (VerifyPeerCertificate): the
		// gateway's certificate is checked like its IKE certificate.
		InsecureSkipVerify:     true,
		SessionTicketsDisabled: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyTLSPeer(t, cfg.Trust, gw, now, raw)
		},
	}
	t.run = runTLSClient(tc, &t.version)
	return t, nil
}

// newEAPTLSServer prepares the gateway's handshake for a client that gave identity.
func (sa *ikeSA) newEAPTLSServer(identity string) (*eapTLS, error) {
	cfg := sa.Conn.Cfg
	if cfg.Creds == nil || cfg.Trust == nil {
		return nil, errors.New("an EAP-TLS gateway needs its certificate and key, and cacerts")
	}
	id, err := pki.ParseID(identity)
	if err != nil {
		return nil, fmt.Errorf("EAP identity %q: %w", identity, err)
	}
	t := &eapTLS{engine: newTLSEngine()}
	now := sa.p.Now
	pool := x509.NewCertPool()
	for _, a := range cfg.Trust.Anchors() {
		pool.AddCert(a)
	}
	tc := &tls.Config{
		Rand:         sa.p.Rand,
		Time:         func() time.Time { return now },
		MinVersion:   tls.VersionTLS12,
		MaxVersion:   eapTLSMaxVersion,
		Certificates: []tls.Certificate{*tlsCertificate(cfg.Creds)},
		// A client certificate is demanded; pki verifies it (VerifyPeerCertificate). The
		// pool only names our CAs in the CertificateRequest.
		ClientAuth:             tls.RequireAnyClientCert,
		ClientCAs:              pool,
		SessionTicketsDisabled: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyTLSPeer(t, cfg.Trust, id, now, raw)
		},
	}
	t.run = runTLSServer(tc, &t.version)
	return t, nil
}

// eapTLSBad counts and wraps a framing error of the peer's EAP-TLS packet.
func (sa *ikeSA) eapTLSBad(err error) error {
	if errors.Is(err, errEAPTLSOverflow) {
		sa.p.Ctr.Inc(core.CtrEAPTLSOverflows)
	} else {
		sa.p.Ctr.Inc(core.CtrEAPTLSMalformed)
	}
	return fail(wire.NotifyAuthenticationFailed, ErrMalformed, "EAP-TLS: %v", err)
}

// eapTLSInput handles one EAP-TLS packet of the peer (both roles): it returns the Type-Data
// of our answer, or nil for "nothing to send" (gateway: the handshake is over and acked).
func (sa *ikeSA) eapTLSInput(t *eapTLS, d []byte, client bool) ([]byte, error) {
	p, err := parseEAPTLS(d)
	if err != nil {
		return nil, sa.eapTLSBad(err)
	}
	if p.start() {
		if !client || t.engine.started {
			return nil, sa.eapTLSBad(fmt.Errorf("%w: unexpected Start", errEAPTLSMalformed))
		}
		return sa.eapTLSStep(t, nil)
	}
	if p.ack() && !t.reasm.active {
		if t.frag.pending() {
			return t.frag.next(), nil
		}
		if !client && t.done {
			return nil, nil
		}
		return nil, sa.eapTLSBad(fmt.Errorf("%w: acknowledgement with no fragment outstanding", errEAPTLSMalformed))
	}
	if t.frag.pending() {
		return nil, sa.eapTLSBad(fmt.Errorf("%w: data while our fragments are not all acknowledged", errEAPTLSMalformed))
	}
	msg, err := t.reasm.add(p)
	if err != nil {
		return nil, sa.eapTLSBad(err)
	}
	if msg == nil {
		return []byte{0}, nil // acknowledge the fragment
	}
	if (client && !t.engine.started) || t.done {
		return nil, sa.eapTLSBad(fmt.Errorf("%w: TLS data outside the handshake", errEAPTLSMalformed))
	}
	return sa.eapTLSStep(t, msg)
}

// eapTLSStep runs TLS over one received message (nil: start) and frames what it answers.
func (sa *ikeSA) eapTLSStep(t *eapTLS, msg []byte) ([]byte, error) {
	if !t.engine.started && msg != nil {
		// The server's goroutine starts by waiting for the ClientHello.
		if s := t.engine.step(t.run, nil); s.done || len(s.out) > 0 {
			return nil, &tlsFailure{err: fmt.Errorf("TLS server did not wait for the ClientHello: %v", s.err)}
		}
	}
	s := t.engine.step(t.run, msg)
	if s.err != nil {
		return s.out, &tlsFailure{err: s.err, alert: len(s.out) > 0}
	}
	if s.done {
		t.done = true
		sa.eap.msk = s.msk
	}
	if len(s.out) == 0 {
		if s.done {
			return []byte{0}, nil // nothing more to say: the final acknowledgement
		}
		return nil, &tlsFailure{err: errors.New("TLS waits for data without answering")}
	}
	t.frag = eapTLSFrag{msg: s.out}
	return t.frag.next(), nil
}

// tlsFailure is a failed TLS handshake; alert when TLS wrote one (returned as output).
type tlsFailure struct {
	err   error
	alert bool
}

func (f *tlsFailure) Error() string { return "EAP-TLS handshake failed: " + f.err.Error() }

// Client.

// clientEAPTLS answers a gateway's EAP-TLS request.
func (sa *ikeSA) clientEAPTLS(d []byte) ([]byte, error) {
	st := sa.eap
	if eapTLSTestOverride != nil {
		return eapTLSTestOverride(d), nil
	}
	if st.tls == nil {
		t, err := sa.newEAPTLSClient()
		if err != nil {
			return nil, fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "EAP-TLS: %v", err)
		}
		st.tls = t
	}
	if st.tls.err != nil {
		return nil, st.tls.err
	}
	out, err := sa.eapTLSInput(st.tls, d, true)
	var tf *tlsFailure
	if errors.As(err, &tf) {
		// RFC 5216 §2.1.3: the gateway learns of the failure from our alert, or from our
		// acknowledgement of its own; its EAP-Failure then ends the run (clientEAP).
		st.tls.err = fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "%v", tf)
		sa.Log.Info("EAP-TLS failed; telling the gateway", zap.Error(st.tls.err))
		if len(out) > 0 && len(out) <= eapTLSFragment {
			st.tls.frag = eapTLSFrag{msg: out}
			return st.tls.frag.next(), nil
		}
		return []byte{0}, nil
	}
	if err != nil {
		return nil, err
	}
	if st.tls.done && !st.tls.logged {
		st.tls.logged = true
		subject := ""
		if st.tls.peer != nil {
			subject = st.tls.peer.Subject
		}
		sa.Log.Info("EAP-TLS handshake done; the gateway's TLS certificate verified", zap.String("tls", tls.VersionName(st.tls.version)), zap.String("subject", subject))
	}
	return out, nil
}

// Gateway.

// gatewayEAPTLSStart follows the client's EAP identity: EAP-TLS Start.
func (sa *ikeSA) gatewayEAPTLSStart() ([]wire.Payload, func(time.Time)) {
	st := sa.eap
	t, err := sa.newEAPTLSServer(st.identity)
	if err != nil {
		return sa.eapRefuse(fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "EAP-TLS: %v", err), true)
	}
	st.tls, st.step = t, eapWaitTLS
	sa.Log.Info("EAP identity received; starting EAP-TLS", zap.String("eap_id", st.identity))
	return sa.eapRequest(eapTypeTLS, []byte{eapTLSFlagS}), nil
}

// gatewayEAPTLS handles a client's EAP-TLS response.
func (sa *ikeSA) gatewayEAPTLS(e *wire.EAP) ([]wire.Payload, func(time.Time)) {
	st := sa.eap
	if e.EAPType() != eapTypeTLS {
		return sa.eapRefuse(fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "EAP type %d instead of EAP-TLS", e.EAPType()), true)
	}
	out, err := sa.eapTLSInput(st.tls, e.TypeData(), false)
	var tf *tlsFailure
	if errors.As(err, &tf) {
		err = fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "client %q: %v", st.identity, tf)
		if tf.alert && len(out) > 0 && len(out) <= eapTLSFragment {
			// The client learns why from TLS's alert; its answer gets EAP-Failure.
			st.step, st.err = eapWaitFailureAck, err
			sa.Log.Info("refusing the EAP-TLS login; sending the TLS alert", zap.String("eap_id", st.identity), zap.Error(err))
			st.tls.frag = eapTLSFrag{msg: out}
			return sa.eapRequest(eapTypeTLS, st.tls.frag.next()), nil
		}
		return sa.eapRefuse(err, true)
	}
	if err != nil {
		return sa.eapRefuse(err, true)
	}
	if out == nil { // the client acknowledged our last flight
		if st.tls.peer == nil || st.msk == nil {
			return sa.eapRefuse(fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "EAP-TLS ended without a client certificate"), true)
		}
		sa.peerCert = st.tls.peer
		st.step = eapWaitAuth
		sa.Log.Info("EAP-TLS: client certificate verified", zap.String("eap_id", st.identity), zap.String("tls", tls.VersionName(st.tls.version)), zap.String("subject", st.tls.peer.Subject))
		return []wire.Payload{wire.NewEAP(wire.EAPSuccess, st.ident, 0, nil)}, nil
	}
	return sa.eapRequest(eapTypeTLS, out), nil
}
