package ikev2

// Authentication methods (RFC 7296 §2.15, §3.8): the shared key MIC (method 2) and
// signatures with certificates through pki: RSA (1), ECDSA (9-11, RFC 4754) and RFC 7427
// Digital Signature (14) when the peer announced SIGNATURE_HASH_ALGORITHMS. The peer's
// certificate is verified with the connection's trust (RFC 5280 through pki.Trust) and its
// identity bound to it exactly as pki does (BindID, RFC 4945), for both IKE versions.

import (
	"crypto/subtle"
	"crypto/x509"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
	"oakley/ike/pki"
)

// idPayload is the ID payload of an identity (IDi, or IDr with responder).
func idPayload(id core.Identity, responder bool) *wire.Identification {
	return &wire.Identification{Responder: responder, IDType: wire.IDType(id.Type), Data: append([]byte(nil), id.Data...)}
}

// localIdentity is the identity we claim: the configured one, or for %any the address we
// use (CONFIG.md: local_id defaults to local_addr).
func (sa *ikeSA) localIdentity() core.Identity {
	id := sa.Conn.Cfg.LocalID
	if id.Any {
		a := sa.ourIP()
		if !a.IsValid() {
			a = netipZero4
		}
		id = core.AddrIdentity(a)
	}
	return id
}

// peerIdentity turns a received ID payload into an identity.
func peerIdentity(p *wire.Identification) (core.Identity, error) {
	id, err := pki.ParseIdentity(pki.IDType(p.IDType), p.Data)
	if err != nil {
		return core.Identity{}, fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "peer identity: %v", err)
	}
	return id, nil
}

func idString(p *wire.Identification) string {
	if p == nil {
		return "(none)"
	}
	return core.IDString(core.IDType(p.IDType), p.Data)
}

// ourAuth computes our AUTH payload over octets (§2.15).
func (sa *ikeSA) ourAuth(cfg *core.Connection, octets []byte) (*wire.Auth, error) {
	if cfg.Auth != "pubkey" {
		sa.authDesc = "pre-shared key"
		return &wire.Auth{Method: wire.AuthSharedKeyMIC, Data: pskAuth(sa.keys.prf, cfg.PSK, octets)}, nil
	}
	key := cfg.Creds.Signer()
	var (
		m      pki.V2Method
		scheme pki.Scheme
		err    error
	)
	if sa.peerSigHash {
		// RFC 7427 §4: the peer announced the hashes it verifies.
		if scheme, err = pki.SelectScheme(key.Public(), sa.peerHashes, false); err == nil {
			m = pki.V2DigitalSignature
		}
	}
	if m == 0 {
		if m, err = pki.V2LegacyMethod(key.Public()); err != nil {
			return nil, fail(0, ErrAuthenticationFailed, "%v", err)
		}
	}
	sig, err := pki.SignV2(sa.p.Rand, key, m, scheme, octets)
	if err != nil {
		return nil, fail(0, ErrAuthenticationFailed, "signing AUTH: %v", err)
	}
	sa.authDesc = m.String()
	if m == pki.V2DigitalSignature {
		sa.authDesc += " " + scheme.String()
	}
	return &wire.Auth{Method: wire.AuthMethod(m), Data: sig}, nil
}

// ourCerts returns the CERT payloads we send (send_cert: ifasked after a CERTREQ, always,
// never): the end entity and the intermediates the peer does not have (pki.ChainFor).
func (sa *ikeSA) ourCerts(cfg *core.Connection) []wire.Payload {
	if cfg.Auth != "pubkey" || cfg.Creds == nil || !cfg.SendCert.ShouldSend(&sa.certReq) {
		return nil
	}
	var out []wire.Payload
	for _, c := range cfg.Creds.ChainFor(&sa.certReq) {
		out = append(out, &wire.Certificate{Encoding: wire.CertX509Signature, Data: c.Raw})
	}
	return out
}

// certReqData is the CERTREQ we send: the hashes of the CAs we trust (§3.7), nil without.
func (sa *ikeSA) certReqData() []byte {
	var cfgs []*core.Connection
	if sa.Conn != nil {
		cfgs = append(cfgs, sa.Conn.Cfg)
	} else {
		for _, cs := range sa.candidates {
			cfgs = append(cfgs, cs.Cfg)
		}
	}
	var out []byte
	seen := map[[pki.KeyIDLen]byte]bool{}
	for _, cfg := range cfgs {
		if cfg.Auth != "pubkey" || cfg.Trust == nil {
			continue
		}
		for _, ca := range cfg.Trust.Anchors() {
			if k := pki.KeyID(ca); ca.IsCA && !seen[k] {
				seen[k] = true
				out = append(out, k[:]...)
			}
		}
	}
	return out
}

// peerCerts collects the X.509 certificates of CERT payloads (end entity first, §3.6).
func peerCerts(c *wire.Chain) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range c.Payloads {
		ce, ok := p.(*wire.Certificate)
		if !ok || ce.Encoding != wire.CertX509Signature {
			continue
		}
		cert, err := x509.ParseCertificate(ce.Data)
		if err != nil {
			return nil, fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, "peer certificate: %v", err)
		}
		out = append(out, cert)
	}
	return out, nil
}

// verifyPeerAuth checks the peer's AUTH over octets with the connection's method: the PSK
// MIC, or a signature by a certificate our trust accepts and that carries the identity the
// peer claimed.
func (sa *ikeSA) verifyPeerAuth(cfg *core.Connection, auth *wire.Auth, octets []byte, c *wire.Chain, id core.Identity) error {
	bad := func(format string, args ...any) error {
		return fail(wire.NotifyAuthenticationFailed, ErrAuthenticationFailed, format, args...)
	}
	if cfg.Auth != "pubkey" {
		if auth.Method != wire.AuthSharedKeyMIC {
			return bad("the peer authenticated with %s, we expect a pre-shared key", auth.Method)
		}
		want := pskAuth(sa.keys.prf, cfg.PSK, octets)
		defer crypto.Wipe(want)
		if subtle.ConstantTimeCompare(want, auth.Data) != 1 {
			return bad("AUTH mismatch (pre-shared keys differ?)")
		}
		return nil
	}
	switch auth.Method {
	case wire.AuthRSASignature, wire.AuthECDSASHA256P256, wire.AuthECDSASHA384P384, wire.AuthECDSASHA512P521, wire.AuthDigitalSignature:
	default:
		return bad("the peer authenticated with %s, we expect a certificate signature", auth.Method)
	}
	chain, err := peerCerts(c)
	if err != nil {
		return err
	}
	v, err := cfg.Trust.Verify(chain, sa.p.Now)
	if err != nil {
		return bad("peer certificate not accepted: %v", err)
	}
	if err := pki.BindID(v.Leaf, id); err != nil {
		return bad("%v", err)
	}
	if _, err := pki.VerifyV2(v.PublicKey, pki.V2Method(auth.Method), octets, auth.Data); err != nil {
		return bad("%v", err)
	}
	sa.peerCert = v
	return nil
}

// authOctets returns the octets a side's AUTH covers (§2.15): ours when mine, else the peer's.
func (sa *ikeSA) authOctets(mine bool, id *wire.Identification) []byte {
	k := sa.keys
	initiatorSide := sa.Initiator == mine
	if initiatorSide {
		return signedOctets(k.prf, sa.initReq, sa.nr, k.skPi, id.RestOfIDPayload())
	}
	return signedOctets(k.prf, sa.initResp, sa.ni, k.skPr, id.RestOfIDPayload())
}

// certDesc describes a verified peer certificate for status.
func certDesc(v *pki.Verified) *core.CertInfo {
	if v == nil {
		return nil
	}
	return &core.CertInfo{Subject: v.Subject, Issuer: v.Issuer, Fingerprint: v.FingerprintHex()}
}
