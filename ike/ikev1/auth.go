package ikev1

// Phase 1 authentication (RFC 2409 §5.1–5.4). Each method differs in how SKEYID is made
// and in what proves an identity; the exchanges call the method through authenticator,
// the seam for signatures (§5.1) and public-key encryption (§5.2, §5.3) later.

import (
	"crypto/subtle"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// authenticator is one Phase 1 authentication method.
type authenticator interface {
	// method is the Authentication Method attribute value (RFC 2409 Appendix A).
	method() isakmp.AuthMethod
	// skeyid computes SKEYID (RFC 2409 §5) from Ni_b, Nr_b and g^xy.
	skeyid(prf *crypto.PRF, niB, nrB []byte, gxy crypto.Key) crypto.Key
	// proof returns the payloads that prove our identity, given our HASH_I/HASH_R.
	proof(hash []byte) []isakmp.Payload
	// verify checks the peer's proof in a received chain against the HASH_I/HASH_R we
	// expect; a mismatch is ErrAuthenticationFailed.
	verify(c *isakmp.Chain, expected []byte) error
}

// newAuthenticator returns the authenticator for a connection's auth method.
func newAuthenticator(cfg *core.Connection) authenticator {
	return newPSKAuth(cfg.PSK)
}

// pskAuth is authentication with a pre-shared key (RFC 2409 §5.4): SKEYID = prf(PSK,
// Ni_b | Nr_b), and the proof is HASH_I / HASH_R in a HASH payload.
type pskAuth struct{ psk crypto.Key }

func newPSKAuth(psk crypto.Key) *pskAuth { return &pskAuth{psk: psk} }

func (a *pskAuth) method() isakmp.AuthMethod { return isakmp.AuthPreSharedKey }

func (a *pskAuth) skeyid(prf *crypto.PRF, niB, nrB []byte, _ crypto.Key) crypto.Key {
	return skeyidPSK(prf, a.psk, niB, nrB)
}

func (a *pskAuth) proof(hash []byte) []isakmp.Payload {
	return []isakmp.Payload{&isakmp.Hash{Data: hash}}
}

func (a *pskAuth) verify(c *isakmp.Chain, expected []byte) error {
	i := c.Index(isakmp.PayloadHash)
	if i < 0 {
		return fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no HASH payload")
	}
	got := c.Payloads[i].(*isakmp.Hash).Data
	if subtle.ConstantTimeCompare(got, expected) != 1 {
		return fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "HASH mismatch (pre-shared keys differ?)")
	}
	return nil
}
