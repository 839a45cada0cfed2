package ikev1

// Certificate and Certificate Request payloads (RFC 2408 §3.9, §3.10; RFC 4945 §3.2, §3.3)
// as Main and Aggressive Mode carry them, in strongSwan's places (isakmp_cert_pre.c,
// isakmp_cert_post.c):
//
//	Main Mode:       MM4 (responder) [CERTREQ...]; MM5 ID [CERT...] SIG [CERTREQ...];
//	                 MM6 ID [CERT...] SIG
//	Aggressive Mode: AM1 ... ID [CERTREQ...]; AM2 ... ID [CERT...] SIG [CERTREQ...];
//	                 AM3 [CERT...] SIG
//
// A CERTREQ names one trusted CA by its DER subject (pki.CertReqV1); CERTs carry the end
// entity first, then intermediates (pki.Credentials.ChainFor picks them for the CERTREQs
// received). Only X.509 Certificate - Signature (4) is read; other encodings are ignored.

import (
	"crypto/x509"

	"go.uber.org/zap"

	"oakley/ike/core"
	"oakley/ike/isakmp"
	"oakley/ike/pki"
)

// maxPeerCertPayloads bounds the CERT payloads read from one message (pki bounds the chain
// it verifies; this bounds the parsing work before that).
const maxPeerCertPayloads = 16

// certState is the certificate side of one ISAKMP SA. Owned by the core's goroutine.
type certState struct {
	req  pki.CertRequest // the CAs the peer's CERTREQs named
	peer *pki.Verified   // the peer's certificate, once it verified
}

// usesCerts reports whether the connection authenticates with certificates (signatures or
// public-key encryption).
func usesCerts(cfg *core.Connection) bool {
	f := authFamily(cfg)
	return f == authPubkey || f == authPKE
}

// certReqPayloads returns one CERTREQ per trusted CA of the connection (RFC 4945 §3.2.3),
// for the signature methods; none without cacerts (a pinned remote_cert needs no CA).
func (sa *ikeSA) certReqPayloads() []isakmp.Payload {
	if sa.Conn == nil || authFamily(sa.Conn.Cfg) != authPubkey || sa.Conn.Cfg.Trust == nil {
		return nil
	}
	var out []isakmp.Payload
	for _, dn := range sa.Conn.Cfg.Trust.CertReqV1() {
		out = append(out, &isakmp.CertificateRequest{CertType: isakmp.CertX509Signature, Authority: dn})
	}
	return out
}

// collectCertReqs records the CERTREQs of a received message. A malformed or foreign one
// is logged and skipped, as strongSwan does; it still counts as asked (send_cert =
// ifasked), since the peer wants a certificate.
func (sa *ikeSA) collectCertReqs(c *isakmp.Chain) {
	for _, p := range c.Payloads {
		r, ok := p.(*isakmp.CertificateRequest)
		if !ok {
			continue
		}
		if r.CertType != isakmp.CertX509Signature {
			sa.Log.Debug("ignoring CERTREQ of an unsupported type", zap.Stringer("type", r.CertType))
			continue
		}
		if err := sa.cert.req.AddV1(r.Authority); err != nil {
			sa.c.Ctr.Inc(core.CtrMalformed)
			sa.Log.Debug("ignoring malformed CERTREQ", zap.Error(err))
			_ = sa.cert.req.AddV1(nil)
		}
	}
}

// peerCertificates parses the X.509 CERT payloads of a chain, end entity first (the first
// one, as RFC 4945 §3.3 and strongSwan treat it).
func peerCertificates(c *isakmp.Chain) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	n := 0
	for _, p := range c.Payloads {
		cp, ok := p.(*isakmp.Certificate)
		if !ok || cp.Encoding != isakmp.CertX509Signature {
			continue
		}
		if n++; n > maxPeerCertPayloads {
			return nil, fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "more than %d CERT payloads", maxPeerCertPayloads)
		}
		cert, err := x509.ParseCertificate(cp.Data)
		if err != nil {
			return nil, fail(isakmp.NotifyInvalidCertificate, ErrAuthenticationFailed, "CERT payload %d does not parse as X.509: %v", n, err)
		}
		out = append(out, cert)
	}
	return out, nil
}

// peerCertInfo is the peer's certificate for `oakley status`.
func (sa *ikeSA) peerCertInfo() *core.CertInfo {
	v := sa.cert.peer
	if v == nil {
		return nil
	}
	return &core.CertInfo{Subject: v.Subject, Issuer: v.Issuer, Fingerprint: v.FingerprintHex()}
}
