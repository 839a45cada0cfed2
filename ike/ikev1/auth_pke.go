package ikev1

// Authentication with public-key encryption (RFC 2409 §5.2, method 4) and its revised mode
// (§5.3, method 5). Each side proves it could decrypt the nonce the other encrypted to its
// public key:
//
//	SKEYID = prf(hash(Ni_b | Nr_b), CKY-I | CKY-R)
//
// and the proof is HASH_I / HASH_R in a HASH payload, as with a pre-shared key. The
// identities travel encrypted in messages 3 and 4 (pke_exchange.go). Behind
// insecure_algorithms: the modes leak a Bleichenbacher oracle unless every decryption
// failure is indistinguishable (pke.go), and a key used here must never also sign.

import (
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/isakmp"
	"oakley/ike/pki"
)

// pkeState is the public-key-encryption side of one ISAKMP SA. Owned by the core's
// goroutine.
type pkeState struct {
	// bad is set (never cleared) when something the peer encrypted did not decrypt or
	// verify; the exchange then fails at the HASH check, like any wrong nonce.
	bad int
	// peerKey is the key we encrypt to; peerCert the certificate it came from.
	peerKey   *rsa.PublicKey
	peerCert  *x509.Certificate
	peerChain []*x509.Certificate // the certificates the peer sent (revised mode), or nil
	// peerIDB is the peer's decrypted ID body (IDii_b / IDir_b), used in its HASH.
	peerIDB []byte
}

// markBad records a failed decryption or check (ok = 0) without branching on it.
func (p *pkeState) markBad(ok int) { p.bad |= ok ^ 1 }

// Auth values that restrict auth = "pke" to one mode (an addition to CONFIG.md, for peers
// that speak only one; "pke" offers the revised mode, then the original one).
const (
	authPKERevised  = "pke-revised"
	authPKEOriginal = "pke-original"
)

// pkeMethods returns the PKE methods a connection can use, revised first: our key must be
// RSA; the original mode needs the peer's key (remote_cert) on both sides, the revised mode
// needs it on the initiator's side and, on the responder's, remote_cert or cacerts (the
// initiator may send its certificate, encrypted).
func pkeMethods(cfg *core.Connection) []isakmp.AuthMethod {
	if cfg.Creds == nil || cfg.Trust == nil {
		return nil
	}
	if _, ok := cfg.Creds.Signer().(*rsa.PrivateKey); !ok {
		return nil
	}
	pinned := cfg.Trust.Pinned() != nil
	var out []isakmp.AuthMethod
	if cfg.Auth != authPKEOriginal && (pinned || len(cfg.Trust.Anchors()) > 0) {
		out = append(out, isakmp.AuthRSAEncRevised)
	}
	if cfg.Auth != authPKERevised && pinned {
		out = append(out, isakmp.AuthRSAEnc)
	}
	return out
}

// pkeAuth is public-key-encryption authentication for one connection and method.
type pkeAuth struct {
	cfg *core.Connection
	m   isakmp.AuthMethod
}

func newPKEAuth(cfg *core.Connection, m isakmp.AuthMethod) *pkeAuth {
	return &pkeAuth{cfg: cfg, m: m}
}

func (a *pkeAuth) method() isakmp.AuthMethod { return a.m }

func (a *pkeAuth) revised() bool { return a.m == isakmp.AuthRSAEncRevised }

// privateKey is our RSA key (pkeMethods guarantees it is one).
func (a *pkeAuth) privateKey() *rsa.PrivateKey {
	k, _ := a.cfg.Creds.Signer().(*rsa.PrivateKey)
	return k
}

// skeyid is SKEYID for public-key encryption (RFC 2409 §5):
//
//	SKEYID = prf(hash(Ni_b | Nr_b), CKY-I | CKY-R)
func (a *pkeAuth) skeyid(prf *crypto.PRF, in skeyidInput) crypto.Key {
	return skeyidPKE(prf, in.niB, in.nrB, in.ckyI, in.ckyR)
}

func (a *pkeAuth) hashPRF(negotiated *crypto.PRF) *crypto.PRF { return negotiated }

func (a *pkeAuth) proof(_ *ikeSA, hash []byte) ([]isakmp.Payload, error) {
	return []isakmp.Payload{&isakmp.Hash{Data: hash}}, nil
}

// verify checks HASH_I / HASH_R. A decryption failure earlier in the exchange (pke.bad)
// fails here, after the same comparison and with the same error as a wrong hash.
func (a *pkeAuth) verify(sa *ikeSA, c *isakmp.Chain, expected []byte, _ *isakmp.Identification) error {
	i := c.Index(isakmp.PayloadHash)
	if i < 0 {
		return fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no HASH payload")
	}
	got := c.Payloads[i].(*isakmp.Hash).Data
	if subtle.ConstantTimeCompare(got, expected)&(sa.pke.bad^1) != 1 {
		return fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "HASH mismatch (%s)", a.failureHint())
	}
	return nil
}

// sameSKEYID: the same method and our same key (the peer encrypted its nonce to it).
func (a *pkeAuth) sameSKEYID(other authenticator) bool {
	o, ok := other.(*pkeAuth)
	return ok && o.m == a.m && o.privateKey() != nil && o.privateKey().Equal(a.privateKey())
}

func (a *pkeAuth) failureHint() string {
	return "public-key encryption: the keys, certificates or identities do not match"
}

// pkePinnedKey returns the peer's public key from remote_cert, checked by the connection's
// trust at now (validity, CRLs): what the initiator encrypts to, and what the responder
// encrypts to in the original mode.
func pkePinnedKey(cfg *core.Connection, sa *ikeSA) (*rsa.PublicKey, *x509.Certificate, error) {
	pinned := cfg.Trust.Pinned()
	if pinned == nil {
		return nil, nil, fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "auth = %q needs the peer's certificate in remote_cert", cfg.Auth)
	}
	v, err := cfg.Trust.Verify(nil, sa.c.Now)
	if err != nil {
		return nil, nil, fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "remote_cert: %v", err)
	}
	k, ok := v.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, nil, fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "remote_cert holds a %s key; public-key encryption needs RSA", pki.KeyDescription(v.PublicKey))
	}
	return k, v.Leaf, nil
}

// pkeCheckPeer binds the peer's identity to its certificate once HASH verified (then the
// peer knew the nonces, and naming the problem reveals nothing about decryption).
func (sa *ikeSA) pkeCheckPeer(id *isakmp.Identification) error {
	if !idMatches(sa.Conn.Cfg.RemoteID, id) {
		return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "peer identified as %q, connection %q expects %q", idOfPayload(id), sa.Conn.Cfg.Name, sa.Conn.Cfg.RemoteID)
	}
	pid, err := pki.ParseIdentity(pki.IDType(id.IDType), id.Data)
	if err != nil {
		return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "%v", err)
	}
	if err := pki.BindID(sa.pke.peerCert, pid); err != nil {
		return fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "identity %s is not in the peer's certificate: %v", pid, err)
	}
	chain := sa.pke.peerChain
	if chain == nil {
		chain = []*x509.Certificate{sa.pke.peerCert}
	}
	v, err := sa.Conn.Cfg.Trust.Verify(chain, sa.c.Now)
	if err != nil {
		return fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "the peer's certificate is not acceptable: %v", err)
	}
	sa.cert.peer = v
	return nil
}
