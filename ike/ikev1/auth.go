package ikev1

// Phase 1 authentication (RFC 2409 §5.1–5.4). Each method differs in how SKEYID is made,
// in what proves an identity, and (public-key encryption) in what messages 3 and 4 carry;
// the exchanges call the method through authenticator. The connection's auth key chooses
// the family (psk, pubkey, pke); the proposal names the method (RFC 2409 Appendix A), so an
// authenticator is made for one connection and one method. verify gets the peer's
// identity so a method can bind it to a credential (a certificate's subject or
// subjectAltName).

import (
	"crypto/subtle"
	"errors"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// skeyidInput is what the SKEYID formulas of RFC 2409 §5 draw on.
type skeyidInput struct {
	niB, nrB   []byte
	gxy        crypto.Key
	ckyI, ckyR isakmp.Cookie
}

// authenticator is one Phase 1 authentication method of one connection.
type authenticator interface {
	// method is the Authentication Method attribute value (RFC 2409 Appendix A).
	method() isakmp.AuthMethod
	// skeyid computes SKEYID (RFC 2409 §5).
	skeyid(prf *crypto.PRF, in skeyidInput) crypto.Key
	// hashPRF is the PRF of HASH_I and HASH_R: the negotiated one, except for ECDSA
	// signatures (pki.V1Method.AuthHash).
	hashPRF(negotiated *crypto.PRF) *crypto.PRF
	// proof returns the payloads that prove our identity (after the ID payload), given our
	// HASH_I/HASH_R.
	proof(sa *ikeSA, hash []byte) ([]isakmp.Payload, error)
	// verify checks the peer's proof in a received chain against the HASH_I/HASH_R we
	// expect, for the identity peer claims; a mismatch is ErrAuthenticationFailed.
	verify(sa *ikeSA, c *isakmp.Chain, expected []byte, peer *isakmp.Identification) error
	// sameSKEYID reports whether other derives the same SKEYID for an exchange, so a
	// responder that learns the peer's identity only after the keys exist (Main Mode) may
	// move the SA to other's connection.
	sameSKEYID(other authenticator) bool
	// failureHint says what an authentication failure with this method most likely means,
	// for logs ("pre-shared keys differ?").
	failureHint() string
}

// Families of authentication: what a connection's auth key selects.
const (
	authPSK    = "psk"
	authPubkey = "pubkey"
	authPKE    = "pke"
)

// authFamily returns a connection's auth family ("psk" when unset).
func authFamily(cfg *core.Connection) string {
	switch cfg.Auth {
	case "":
		return authPSK
	case authPKERevised, authPKEOriginal:
		return authPKE
	}
	return cfg.Auth
}

// authMethods returns the methods a connection offers (initiator, in preference order) and
// accepts (responder): the pre-shared key; the signature method of our key (RSA 3,
// ECDSA 9–11); or the revised (5) then the original (4) public-key encryption mode.
func authMethods(cfg *core.Connection) []isakmp.AuthMethod {
	switch authFamily(cfg) {
	case authPubkey:
		if m, err := sigMethodOf(cfg); err == nil {
			return []isakmp.AuthMethod{m}
		}
		return nil
	case authPKE:
		return pkeMethods(cfg)
	}
	return []isakmp.AuthMethod{isakmp.AuthPreSharedKey}
}

// newAuthenticator returns the authenticator of a connection for the method a proposal
// names (0: the connection's preferred method).
func newAuthenticator(cfg *core.Connection, m isakmp.AuthMethod) authenticator {
	if m == 0 {
		if ms := authMethods(cfg); len(ms) > 0 {
			m = ms[0]
		}
	}
	switch authFamily(cfg) {
	case authPubkey:
		return newSigAuth(cfg, m)
	case authPKE:
		return newPKEAuth(cfg, m)
	}
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

func (a *pskAuth) skeyid(prf *crypto.PRF, in skeyidInput) crypto.Key {
	return skeyidPSK(prf, a.psk, in.niB, in.nrB)
}

func (a *pskAuth) hashPRF(negotiated *crypto.PRF) *crypto.PRF { return negotiated }

func (a *pskAuth) proof(_ *ikeSA, hash []byte) ([]isakmp.Payload, error) {
	return []isakmp.Payload{&isakmp.Hash{Data: hash}}, nil
}

func (a *pskAuth) verify(_ *ikeSA, c *isakmp.Chain, expected []byte, _ *isakmp.Identification) error {
	return verifyHashPayload(c, expected, "pre-shared keys differ?")
}

// verifyHashPayload checks the HASH payload of a chain against HASH_I/HASH_R in constant
// time (RFC 2409 §5.4, §5.2).
func verifyHashPayload(c *isakmp.Chain, expected []byte, hint string) error {
	i := c.Index(isakmp.PayloadHash)
	if i < 0 {
		return fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no HASH payload")
	}
	got := c.Payloads[i].(*isakmp.Hash).Data
	if subtle.ConstantTimeCompare(got, expected) != 1 {
		return fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "HASH mismatch (%s)", hint)
	}
	return nil
}

// sameSKEYID: the same pre-shared key gives the same SKEYID (compared in constant time).
func (a *pskAuth) sameSKEYID(other authenticator) bool {
	o, ok := other.(*pskAuth)
	return ok && len(o.psk) == len(a.psk) && subtle.ConstantTimeCompare(o.psk, a.psk) == 1
}

func (a *pskAuth) failureHint() string { return "pre-shared keys differ?" }
