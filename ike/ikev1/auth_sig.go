package ikev1

// Authentication with digital signatures (RFC 2409 §5.1): RSA (method 3, PKCS#1 v1.5 over
// HASH_I/HASH_R without a DigestInfo, as strongSwan and Cisco sign) and ECDSA (RFC 4754,
// methods 9–11). The proof is [CERT...] SIG; SKEYID does not depend on the credential:
//
//	SKEYID = prf(Ni_b | Nr_b, g^xy)
//
// In IKEv1 both peers use the one method the proposal names, so an RSA peer and an ECDSA
// peer (or ECDSA peers on different curves) cannot meet: selectP1 and pki say so.

import (
	"fmt"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/isakmp"
	"oakley/ike/pki"
)

// sigAuth is signature authentication for one connection and method.
type sigAuth struct {
	cfg *core.Connection
	m   pki.V1Method
}

// sigMethodOf is the signature method of a connection's key.
func sigMethodOf(cfg *core.Connection) (isakmp.AuthMethod, error) {
	if cfg.Creds == nil {
		return 0, fmt.Errorf("no certificate")
	}
	m, err := pki.V1MethodFor(cfg.Creds.Leaf().PublicKey)
	if err != nil {
		return 0, err
	}
	return isakmp.AuthMethod(m), nil
}

func newSigAuth(cfg *core.Connection, m isakmp.AuthMethod) *sigAuth {
	return &sigAuth{cfg: cfg, m: pki.V1Method(m)}
}

func (a *sigAuth) method() isakmp.AuthMethod { return isakmp.AuthMethod(a.m) }

func (a *sigAuth) skeyid(prf *crypto.PRF, in skeyidInput) crypto.Key {
	return skeyidSig(prf, in.niB, in.nrB, in.gxy)
}

// hashPRF: ECDSA computes HASH_I/HASH_R with the HMAC of the method's hash (strongSwan's
// keymat_v1.c; pki.V1Method.AuthHash), RSA with the negotiated PRF.
func (a *sigAuth) hashPRF(negotiated *crypto.PRF) *crypto.PRF {
	h := a.m.AuthHash()
	if h == 0 {
		return negotiated
	}
	for _, alg := range crypto.All(crypto.KindPRF) {
		if alg.Hash == h {
			if p, err := crypto.NewPRF(alg); err == nil {
				return p
			}
		}
	}
	return negotiated
}

// proof signs our HASH and adds our certificate chain when send_cert and the peer's
// CERTREQs ask for it (RFC 2409 §5.1: HDR*, IDii, [CERT,] SIG_I).
func (a *sigAuth) proof(sa *ikeSA, hash []byte) ([]isakmp.Payload, error) {
	sig, err := pki.SignV1(sa.c.Rand, a.cfg.Creds.Signer(), a.m, hash)
	if err != nil {
		return nil, fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "signing with our key: %v", err)
	}
	var out []isakmp.Payload
	if a.cfg.SendCert.ShouldSend(&sa.cert.req) {
		chain := a.cfg.Creds.ChainFor(&sa.cert.req)
		for _, c := range chain {
			out = append(out, &isakmp.Certificate{Encoding: isakmp.CertX509Signature, Data: c.Raw})
		}
		sa.Log.Debug("sending our certificate", zap.String("subject", pki.FormatDN(chain[0].RawSubject)),
			zap.Int("intermediates", len(chain)-1), zap.Stringer("certreq", &sa.cert.req))
	}
	return append(out, &isakmp.Signature{Data: sig}), nil
}

// verify checks the peer's certificate against the connection's trust (cacerts, remote_cert,
// crls), binds its identity to the certificate (RFC 4945 §3.1) and verifies SIG over the
// HASH we expect (RFC 2409 §5.1).
func (a *sigAuth) verify(sa *ikeSA, c *isakmp.Chain, expected []byte, peer *isakmp.Identification) error {
	sig, si := payloadOf[*isakmp.Signature](c)
	if si < 0 {
		return fail(isakmp.NotifyInvalidPayloadType, ErrAuthenticationFailed, "no SIG payload (the peer does not authenticate with a signature)")
	}
	chain, err := peerCertificates(c)
	if err != nil {
		return err
	}
	v, err := a.cfg.Trust.Verify(chain, sa.c.Now)
	if err != nil {
		return fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "the peer's certificate is not acceptable: %v", err)
	}
	if peer == nil {
		return fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no ID payload")
	}
	id, err := pki.ParseIdentity(pki.IDType(peer.IDType), peer.Data)
	if err != nil {
		return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "%v", err)
	}
	if err := pki.BindID(v.Leaf, id); err != nil {
		return fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "identity %s is not in the peer's certificate: %v", id, err)
	}
	if err := pki.VerifyV1(v.PublicKey, a.m, expected, sig.Data); err != nil {
		return fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "the peer's signature does not verify with the key of %q: %v", v.Subject, err)
	}
	sa.cert.peer = v
	return nil
}

// sameSKEYID: every signature credential of the same method gives the same SKEYID.
func (a *sigAuth) sameSKEYID(other authenticator) bool {
	o, ok := other.(*sigAuth)
	return ok && o.m == a.m
}

func (a *sigAuth) failureHint() string {
	return "the certificate, identity or signature was refused"
}
