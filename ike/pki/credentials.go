package pki

import (
	"crypto"
	"crypto/x509"
	"fmt"
)

// Credentials is our own identity for certificate authentication: a certificate chain (end
// entity first, then the intermediates that lead to the CA, in issuance order) and the
// private key of the end entity. It is immutable after NewCredentials (WithCAs returns a
// copy) and safe for concurrent use; the Signer is used as is (crypto/rsa, ecdsa and ed25519
// keys are safe for concurrent signing).
type Credentials struct {
	chain  []*x509.Certificate
	root   []bool // root[i]: chain[i] is self-signed (a trust anchor, never sent)
	signer crypto.Signer
	cas    []*x509.Certificate // CAs above the chain we know (never sent): CERTREQ matching
}

// LoadCredentials loads a `cert` file (end entity, then intermediates) and its `key` file and
// checks that they belong together (NewCredentials).
func LoadCredentials(certPath, keyPath string) (*Credentials, error) {
	chain, err := loadCertificates("cert", certPath)
	if err != nil {
		return nil, err
	}
	signer, err := loadPrivateKey("key", keyPath)
	if err != nil {
		return nil, err
	}
	c, err := NewCredentials(chain, signer)
	if err != nil {
		return nil, &FileError{Key: "cert", Path: certPath, Err: err}
	}
	return c, nil
}

// NewCredentials checks that signer's key is the key of chain[0] (ErrKeyMismatch; if another
// certificate of the chain matches, the message says so) and puts the rest of chain in
// issuance order: each certificate followed by its issuer. A certificate that is not part of
// that chain, or an issuer whose signature does not verify, is an error.
func NewCredentials(chain []*x509.Certificate, signer crypto.Signer) (*Credentials, error) {
	if len(chain) == 0 {
		return nil, errorf(ErrFile, "no certificate")
	}
	if signer == nil {
		return nil, errorf(ErrKeyMismatch, "no private key")
	}
	if err := KeyMatchesCert(chain[0], signer); err != nil {
		for i, c := range chain[1:] {
			if KeyMatchesCert(c, signer) == nil {
				return nil, errorf(ErrKeyMismatch, "the key belongs to certificate %d (%q), but the end-entity certificate must come first in the file", i+2, FormatDN(c.RawSubject))
			}
		}
		return nil, err
	}
	ordered, err := orderChain(chain)
	if err != nil {
		return nil, err
	}
	root := make([]bool, len(ordered))
	for i, c := range ordered {
		root[i] = i > 0 && isSelfSigned(c)
	}
	return &Credentials{chain: ordered, root: root, signer: signer}, nil
}

// orderChain returns chain[0] followed by its issuers, taken from chain[1:].
func orderChain(chain []*x509.Certificate) ([]*x509.Certificate, error) {
	out := []*x509.Certificate{chain[0]}
	rest := append([]*x509.Certificate(nil), chain[1:]...)
	for len(rest) > 0 {
		cur := out[len(out)-1]
		if isSelfSigned(cur) {
			break
		}
		next := -1
		for i, c := range rest {
			if dnEqualDER(cur.RawIssuer, c.RawSubject) {
				if err := c.CheckSignature(cur.SignatureAlgorithm, cur.RawTBSCertificate, cur.Signature); err != nil {
					return nil, errorf(ErrBadSignature, "certificate %q names %q as issuer, but its signature does not verify with that certificate's key: %v", FormatDN(cur.RawSubject), FormatDN(c.RawSubject), err)
				}
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		out = append(out, rest[next])
		rest = append(rest[:next], rest[next+1:]...)
	}
	if len(rest) > 0 {
		return nil, errorf(ErrFile, "certificate %q is not in the issuer chain of %q", FormatDN(rest[0].RawSubject), FormatDN(chain[0].RawSubject))
	}
	return out, nil
}

// KeyMatchesCert checks that signer holds the private key of cert (ErrKeyMismatch).
func KeyMatchesCert(cert *x509.Certificate, signer crypto.Signer) error {
	if cert == nil || signer == nil {
		return errorf(ErrKeyMismatch, "missing certificate or key")
	}
	if !sameKey(cert.PublicKey, signer.Public()) {
		return certErr(ErrKeyMismatch, FormatDN(cert.RawSubject), "the private key (%s) is not the key of this certificate (%s)", KeyDescription(signer.Public()), KeyDescription(cert.PublicKey))
	}
	return nil
}

// sameKey compares two public keys of the standard types.
func sameKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && k.Equal(b)
}

// Leaf returns our end-entity certificate.
func (c *Credentials) Leaf() *x509.Certificate { return c.chain[0] }

// Chain returns the whole configured chain, end entity first (a copy of the slice).
func (c *Credentials) Chain() []*x509.Certificate {
	return append([]*x509.Certificate(nil), c.chain...)
}

// Signer returns the private key.
func (c *Credentials) Signer() crypto.Signer { return c.signer }

// String names the credentials for logs: subject and key type.
func (c *Credentials) String() string {
	return fmt.Sprintf("%q (%s)", FormatDN(c.Leaf().RawSubject), KeyDescription(c.Leaf().PublicKey))
}

// WithCAs returns a copy of c that also knows the CA certificates among cas that issued the
// top of its chain (directly or through each other), e.g. the trust anchors from cacerts.
// They are only used to recognise a CERTREQ that names them (IKEv2 names a CA by its key,
// which a chain file without the root does not hold); they are never sent.
func (c *Credentials) WithCAs(cas []*x509.Certificate) *Credentials {
	n := &Credentials{chain: c.chain, root: c.root, signer: c.signer, cas: append([]*x509.Certificate(nil), c.cas...)}
	top := c.chain[len(c.chain)-1]
	for depth := 0; depth < maxPathDepth && !isSelfSigned(top); depth++ {
		var found *x509.Certificate
		for _, ca := range cas {
			if dnEqualDER(top.RawIssuer, ca.RawSubject) &&
				ca.CheckSignature(top.SignatureAlgorithm, top.RawTBSCertificate, top.Signature) == nil {
				found = ca
				break
			}
		}
		if found == nil {
			break
		}
		n.cas = append(n.cas, found)
		top = found
	}
	return n
}

// Answers reports whether a received CERTREQ names a CA of our chain: one of our
// intermediates, a known CA above them (WithCAs), or (IKEv1, by DN) the issuer of any
// certificate of the chain.
func (c *Credentials) Answers(req *CertRequest) bool {
	if req == nil {
		return false
	}
	for _, ca := range c.chain[1:] {
		if req.Names(ca) {
			return true
		}
	}
	for _, ca := range c.cas {
		if req.Names(ca) {
			return true
		}
	}
	for _, cert := range c.chain {
		if req.namesIssuerOf(cert) {
			return true
		}
	}
	return false
}

// ChainFor returns the certificates to send in CERT payloads, end entity first: the
// intermediates up to, not including, the first one the peer's CERTREQ names (the peer
// trusts it already, RFC 7296 §3.7), and never a self-signed root (RFC 4945 §3.3.2: the
// peer must have its trust anchor). Without a CERTREQ, or one naming none of our CAs, that
// is the end entity and every intermediate, as strongSwan sends it.
func (c *Credentials) ChainFor(req *CertRequest) []*x509.Certificate {
	out := []*x509.Certificate{c.chain[0]}
	for i, ca := range c.chain[1:] {
		if c.root[i+1] || req.Names(ca) {
			break
		}
		out = append(out, ca)
	}
	return out
}

// SelectCredentials picks the credentials to authenticate with when several are configured:
// the first that accept allows (nil accepts all; IKEv1 passes a filter for the proposal's
// method) and that answers req, else the first that accept allows; nil if none is allowed.
func SelectCredentials(creds []*Credentials, req *CertRequest, accept func(*Credentials) bool) *Credentials {
	var first *Credentials
	for _, c := range creds {
		if c == nil || accept != nil && !accept(c) {
			continue
		}
		if first == nil {
			first = c
		}
		if c.Answers(req) {
			return c
		}
	}
	return first
}

// isSelfSigned reports whether c names itself as issuer and its signature verifies with its
// own key.
func isSelfSigned(c *x509.Certificate) bool {
	return dnEqualDER(c.RawIssuer, c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// isCA reports whether c may issue certificates: basicConstraints with cA set, or a legacy
// version 1 self-signed certificate (which predates extensions).
func isCA(c *x509.Certificate) bool {
	if c.BasicConstraintsValid {
		return c.IsCA
	}
	return c.Version < 3 && isSelfSigned(c)
}
