package ikev1

// Phase 1 authentication (RFC 2409 §5.1–5.4). Each method differs in how SKEYID is made
// and in what proves an identity; the exchanges call the method through authenticator.
// The connection's auth key chooses it; verify gets the peer's identity so a method can
// bind it to a credential (a certificate's subject or subjectAltName).

import (
	"crypto/subtle"
	"errors"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// authenticator is one Phase 1 authentication method of one connection.
type authenticator interface {
	// method is the Authentication Method attribute value (RFC 2409 Appendix A).
	method() isakmp.AuthMethod
	// skeyid computes SKEYID (RFC 2409 §5) from Ni_b, Nr_b and g^xy.
	skeyid(prf *crypto.PRF, niB, nrB []byte, gxy crypto.Key) crypto.Key
	// proof returns the payloads that prove our identity, given our HASH_I/HASH_R.
	proof(hash []byte) ([]isakmp.Payload, error)
	// verify checks the peer's proof in a received chain against the HASH_I/HASH_R we
	// expect, for the identity peer claims; a mismatch is ErrAuthenticationFailed.
	verify(c *isakmp.Chain, expected []byte, peer *isakmp.Identification) error
	// sameSKEYID reports whether other derives the same SKEYID for an exchange, so a
	// responder that learns the peer's identity only after the keys exist (Main Mode) may
	// move the SA to other's connection.
	sameSKEYID(other authenticator) bool
	// failureHint says what an authentication failure with this method most likely means,
	// for logs ("pre-shared keys differ?").
	failureHint() string
}

// newAuthenticator returns the authenticator for a connection's auth method.
func newAuthenticator(cfg *core.Connection) authenticator {
	return newPSKAuth(cfg.PSK)
}

// errRefused marks an exchange refused by policy before any credential was checked (an
// Aggressive Mode initiator without a matching aggressive connection): the peer hears
// AUTHENTICATION-FAILED, the log says what really happened.
var errRefused = errors.New("refused by policy")

// pskAuth is authentication with a pre-shared key (RFC 2409 §5.4): SKEYID = prf(PSK,
// Ni_b | Nr_b), and the proof is HASH_I / HASH_R in a HASH payload.
type pskAuth struct{ psk crypto.Key }

func newPSKAuth(psk crypto.Key) *pskAuth { return &pskAuth{psk: psk} }

func (a *pskAuth) method() isakmp.AuthMethod { return isakmp.AuthPreSharedKey }

func (a *pskAuth) skeyid(prf *crypto.PRF, niB, nrB []byte, _ crypto.Key) crypto.Key {
	return skeyidPSK(prf, a.psk, niB, nrB)
}

func (a *pskAuth) proof(hash []byte) ([]isakmp.Payload, error) {
	return []isakmp.Payload{&isakmp.Hash{Data: hash}}, nil
}

func (a *pskAuth) verify(c *isakmp.Chain, expected []byte, _ *isakmp.Identification) error {
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

// sameSKEYID: the same pre-shared key gives the same SKEYID (compared in constant time).
func (a *pskAuth) sameSKEYID(other authenticator) bool {
	o, ok := other.(*pskAuth)
	return ok && len(o.psk) == len(a.psk) && subtle.ConstantTimeCompare(o.psk, a.psk) == 1
}

func (a *pskAuth) failureHint() string { return "pre-shared keys differ?" }
