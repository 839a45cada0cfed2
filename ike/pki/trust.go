package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Bounds on path building: what a peer may send and how much work one Verify may do.
const (
	maxPeerCerts    = 16  // certificates accepted from one peer (end entity + intermediates)
	maxPathDepth    = 8   // intermediates between the end entity and the anchor
	maxSigChecks    = 128 // certificate signature checks per Verify
	warnExpiresDays = 30  // CheckFiles warns when a certificate expires sooner
)

// Trust decides whether a peer's certificate is acceptable: the trust anchors (cacerts), an
// optional pinned certificate (remote_cert) and the CRLs. Verify is given the time; nothing
// here reads the clock. A Trust is immutable after NewTrust and safe for concurrent use.
//
// The rule for remote_cert, as strongSwan applies a remote `certs` constraint:
//   - remote_cert alone: the peer's end-entity certificate must be byte-equal to it (the
//     pinned certificate is trusted by itself; no CA is needed). Its validity period and
//     keyUsage are still checked, and a loaded CRL is applied if the peer sent the issuer
//     that signed it.
//   - remote_cert and cacerts: both must pass: the certificate must be the pinned one AND
//     chain to an anchor.
//   - cacerts alone: a path to an anchor (RFC 5280 §6).
type Trust struct {
	anchors []*x509.Certificate
	pinned  *x509.Certificate
	crls    *crlSet
}

// NewTrust builds a Trust. Every anchor must be a CA (basicConstraints cA, or a legacy v1
// self-signed root): ErrNotCA otherwise. At least one anchor or a pinned certificate is
// needed.
func NewTrust(anchors []*x509.Certificate, pinned *x509.Certificate, crls []*x509.RevocationList) (*Trust, error) {
	if len(anchors) == 0 && pinned == nil {
		return nil, errorf(ErrUntrusted, "no trust anchors (cacerts) and no pinned remote_cert")
	}
	for _, a := range anchors {
		if a == nil {
			return nil, errorf(ErrUntrusted, "nil trust anchor")
		}
		if !isCA(a) {
			return nil, certErr(ErrNotCA, FormatDN(a.RawSubject), "is not a CA (no basicConstraints cA=TRUE), so it cannot be a trust anchor in cacerts; pin an end-entity certificate with remote_cert instead")
		}
	}
	return &Trust{
		anchors: append([]*x509.Certificate(nil), anchors...),
		pinned:  pinned,
		crls:    newCRLSet(crls),
	}, nil
}

// LoadTrust loads the cacerts files (each may hold several CA certificates), the optional
// remote_cert file (exactly one certificate) and the CRL files, and builds a Trust.
func LoadTrust(cacerts []string, remoteCert string, crlFiles []string) (*Trust, error) {
	var anchors []*x509.Certificate
	for _, p := range cacerts {
		certs, err := loadCertificates("cacerts", p)
		if err != nil {
			return nil, err
		}
		for _, c := range certs {
			if !isCA(c) {
				return nil, &FileError{Key: "cacerts", Path: p, Err: certErr(ErrNotCA, FormatDN(c.RawSubject), "is not a CA (no basicConstraints cA=TRUE)")}
			}
		}
		anchors = append(anchors, certs...)
	}
	var pinned *x509.Certificate
	if remoteCert != "" {
		certs, err := loadCertificates("remote_cert", remoteCert)
		if err != nil {
			return nil, err
		}
		if len(certs) != 1 {
			return nil, &FileError{Key: "remote_cert", Path: remoteCert, Err: errorf(ErrFile, "holds %d certificates; remote_cert pins exactly one", len(certs))}
		}
		pinned = certs[0]
	}
	var crls []*x509.RevocationList
	for _, p := range crlFiles {
		crl, err := loadCRL("crls", p)
		if err != nil {
			return nil, err
		}
		crls = append(crls, crl)
	}
	return NewTrust(anchors, pinned, crls)
}

// Anchors returns the trust anchors (a copy of the slice).
func (t *Trust) Anchors() []*x509.Certificate { return append([]*x509.Certificate(nil), t.anchors...) }

// Pinned returns the pinned remote_cert, or nil. An engine may use it when the peer sent no
// certificate (strongSwan does the same with a locally configured peer certificate).
func (t *Trust) Pinned() *x509.Certificate { return t.pinned }

// CertReqV1 returns the IKEv1 CERTREQ contents for our anchors (see CertReqV1).
func (t *Trust) CertReqV1() [][]byte { return CertReqV1(t.anchors) }

// CertReqV2 returns the IKEv2 CERTREQ contents for our anchors (see CertReqV2).
func (t *Trust) CertReqV2() []byte { return CertReqV2(t.anchors) }

// Verified describes a peer certificate Verify accepted.
// It is immutable once returned and safe for concurrent use.
type Verified struct {
	Leaf        *x509.Certificate
	Path        []*x509.Certificate // end entity, intermediates, anchor (only the end entity when pinned without CA)
	Anchor      *x509.Certificate   // nil when trusted by pinning alone
	Pinned      bool                // the end entity is the pinned remote_cert
	Subject     string              // FormatDN of the end entity's subject
	Issuer      string              // FormatDN of its issuer
	Fingerprint [sha256.Size]byte   // SHA-256 of the end entity's DER
	PublicKey   crypto.PublicKey    // the end entity's key, to verify AUTH/SIG with
}

// FingerprintHex prints the SHA-256 fingerprint as colon-separated hex, as `oakley status`
// and openssl x509 -fingerprint -sha256 show it.
func (v *Verified) FingerprintHex() string {
	var b strings.Builder
	for i, c := range v.Fingerprint {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// Verify checks a peer's certificates at time now: chain[0] is the end entity, the rest
// the intermediates it sent, in any order. An empty chain uses the pinned certificate if
// there is one. The checks (RFC 5280 §6.1, §6.3):
//   - every certificate of the path is within its validity period (ErrExpired,
//     ErrNotYetValid), carries no unhandled critical extension (ErrCriticalExtension), and
//     its signature verifies with its issuer's key (ErrBadSignature; SHA-1 and MD5
//     signatures are refused: ErrUnsupportedAlgorithm);
//   - every issuer is a CA (ErrNotCA), has keyCertSign if it has a keyUsage extension
//     (ErrKeyUsage), and its pathLenConstraint holds (ErrPathLen);
//   - the end entity has digitalSignature or nonRepudiation if it has a keyUsage extension
//     (RFC 4945 §5.1.3.2; strongSwan's X509_IKE_COMPLIANT) and a key IKE can use
//     (ErrUnsupportedKey); extended key usage is not required (IKE peers often lack it);
//   - name constraints of the CAs hold (checked with crypto/x509 when a CA has them);
//   - no loaded CRL of an issuer lists a certificate of the path (ErrRevoked), and such CRLs
//     are not past nextUpdate (ErrCRLStale);
//   - the path ends at a trust anchor (ErrUntrusted otherwise), and with remote_cert the end
//     entity is the pinned certificate (ErrUntrusted).
//
// When several paths exist the first that passes is used; when none does, the error is the
// one of the path that got furthest.
func (t *Trust) Verify(chain []*x509.Certificate, now time.Time) (*Verified, error) {
	if len(chain) == 0 {
		if t.pinned == nil {
			return nil, errorf(ErrUntrusted, "the peer sent no certificate")
		}
		chain = []*x509.Certificate{t.pinned}
	}
	if len(chain) > maxPeerCerts {
		return nil, errorf(ErrUntrusted, "the peer sent %d certificates, more than %d", len(chain), maxPeerCerts)
	}
	for _, c := range chain {
		if c == nil {
			return nil, errorf(ErrUntrusted, "nil certificate")
		}
	}
	leaf := chain[0]
	subject := FormatDN(leaf.RawSubject)
	if err := checkEndEntity(leaf, now); err != nil {
		return nil, err
	}
	pinned := false
	if t.pinned != nil {
		if !leaf.Equal(t.pinned) {
			return nil, certErr(ErrUntrusted, subject, "is not the pinned remote_cert %q", FormatDN(t.pinned.RawSubject))
		}
		pinned = true
	}
	if len(t.anchors) == 0 { // pinned alone
		for _, iss := range chain[1:] {
			if dnEqualDER(leaf.RawIssuer, iss.RawSubject) &&
				iss.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil {
				if err := t.crls.check(leaf, iss, now); err != nil {
					return nil, err
				}
			}
		}
		return newVerified([]*x509.Certificate{leaf}, nil, true), nil
	}
	for _, a := range t.anchors { // the end entity itself configured as a trust anchor
		if leaf.Equal(a) {
			return newVerified([]*x509.Certificate{leaf}, a, pinned), nil
		}
	}
	b := &pathBuilder{t: t, pool: chain[1:], now: now}
	path, ok := b.extend([]*x509.Certificate{leaf})
	if !ok {
		if b.best == nil {
			b.best = certErr(ErrUntrusted, subject, "no path to a trust anchor")
		}
		return nil, b.best
	}
	if err := checkNameConstraints(path, now); err != nil {
		return nil, err
	}
	return newVerified(path, path[len(path)-1], pinned), nil
}

func newVerified(path []*x509.Certificate, anchor *x509.Certificate, pinned bool) *Verified {
	leaf := path[0]
	return &Verified{
		Leaf:        leaf,
		Path:        path,
		Anchor:      anchor,
		Pinned:      pinned,
		Subject:     FormatDN(leaf.RawSubject),
		Issuer:      FormatDN(leaf.RawIssuer),
		Fingerprint: sha256.Sum256(leaf.Raw),
		PublicKey:   leaf.PublicKey,
	}
}

// checkEndEntity applies the checks that do not depend on the path to the end entity.
func checkEndEntity(c *x509.Certificate, now time.Time) error {
	subject := FormatDN(c.RawSubject)
	if err := checkValidity(c, now); err != nil {
		return err
	}
	if err := checkCritical(c); err != nil {
		return err
	}
	if c.KeyUsage != 0 && c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return certErr(ErrKeyUsage, subject, "keyUsage has neither digitalSignature nor nonRepudiation, so it cannot sign IKE authentication data (RFC 4945 §5.1.3.2)")
	}
	if err := checkPublicKey(c.PublicKey); err != nil {
		return certErr(ErrUnsupportedKey, subject, "%s", trimPrefix(err))
	}
	return nil
}

// checkPublicKey accepts the key types IKE signs with.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 1024 {
			return errorf(ErrUnsupportedKey, "RSA key of %d bits is too short", k.N.BitLen())
		}
		return nil
	case *ecdsa.PublicKey:
		_, err := curveName(k.Curve)
		return err
	case ed25519.PublicKey:
		return nil
	}
	return errorf(ErrUnsupportedKey, "%T keys are not supported (want RSA, ECDSA P-256/384/521 or Ed25519)", pub)
}

func checkValidity(c *x509.Certificate, now time.Time) error {
	switch {
	case now.Before(c.NotBefore):
		return certErr(ErrNotYetValid, FormatDN(c.RawSubject), "not valid before %s (now %s)", stamp(c.NotBefore), stamp(now))
	case now.After(c.NotAfter):
		return certErr(ErrExpired, FormatDN(c.RawSubject), "expired on %s (now %s)", stamp(c.NotAfter), stamp(now))
	}
	return nil
}

// checkCritical refuses critical extensions crypto/x509 did not handle (RFC 5280 §4.2).
func checkCritical(c *x509.Certificate) error {
	if len(c.UnhandledCriticalExtensions) > 0 {
		return certErr(ErrCriticalExtension, FormatDN(c.RawSubject), "has an unhandled critical extension %s", c.UnhandledCriticalExtensions[0])
	}
	return nil
}

// pathBuilder searches depth-first for a path from the end entity to an anchor, through
// the certificates the peer sent, within a bounded number of signature checks.
type pathBuilder struct {
	t         *Trust
	pool      []*x509.Certificate
	now       time.Time
	sigChecks int
	best      error
	bestDepth int
}

// record keeps the error of the deepest failure; at equal depth a specific reason beats
// "no issuer found".
func (b *pathBuilder) record(err error, depth int) {
	if b.best == nil || depth > b.bestDepth ||
		depth == b.bestDepth && errors.Is(b.best, ErrUntrusted) && !errors.Is(err, ErrUntrusted) {
		b.best, b.bestDepth = err, depth
	}
}

func (b *pathBuilder) extend(path []*x509.Certificate) ([]*x509.Certificate, bool) {
	cur := path[len(path)-1]
	found := false
	try := func(cand *x509.Certificate, anchor bool) ([]*x509.Certificate, bool) {
		if !dnEqualDER(cur.RawIssuer, cand.RawSubject) || inPath(path, cand) {
			return nil, false
		}
		found = true
		if b.sigChecks >= maxSigChecks {
			b.record(certErr(ErrUntrusted, FormatDN(cur.RawSubject), "path building gave up after %d signature checks", maxSigChecks), len(path))
			return nil, false
		}
		b.sigChecks++
		if err := b.checkIssuer(path, cand); err != nil {
			b.record(err, len(path))
			return nil, false
		}
		next := append(append([]*x509.Certificate(nil), path...), cand)
		if anchor {
			return next, true
		}
		if len(path) > maxPathDepth {
			b.record(certErr(ErrPathLen, FormatDN(cand.RawSubject), "path longer than %d intermediates", maxPathDepth), len(path))
			return nil, false
		}
		return b.extend(next)
	}
	for _, a := range b.t.anchors {
		if p, ok := try(a, true); ok {
			return p, true
		}
	}
	for _, c := range b.pool {
		if p, ok := try(c, false); ok {
			return p, true
		}
	}
	if !found {
		b.record(certErr(ErrUntrusted, FormatDN(cur.RawSubject), "its issuer %q is neither a trust anchor (cacerts) nor among the certificates the peer sent", FormatDN(cur.RawIssuer)), len(path))
	}
	return nil, false
}

func inPath(path []*x509.Certificate, c *x509.Certificate) bool {
	for _, p := range path {
		if p.Equal(c) {
			return true
		}
	}
	return false
}

// checkIssuer checks that cand may issue the last certificate of path (RFC 5280 §6.1.3,
// §6.1.4) and that it has not revoked it (§6.3).
func (b *pathBuilder) checkIssuer(path []*x509.Certificate, cand *x509.Certificate) error {
	cur := path[len(path)-1]
	name := lazyDN(cand.RawSubject)
	if err := cand.CheckSignature(cur.SignatureAlgorithm, cur.RawTBSCertificate, cur.Signature); err != nil {
		var insecure x509.InsecureAlgorithmError
		if errors.As(err, &insecure) {
			return certErr(ErrUnsupportedAlgorithm, FormatDN(cur.RawSubject), "is signed with %v, which is refused", x509.SignatureAlgorithm(insecure))
		}
		return certErr(ErrBadSignature, FormatDN(cur.RawSubject), "signature does not verify with the key of %q: %v", name, err)
	}
	if !isCA(cand) {
		return certErr(ErrNotCA, name.String(), "issued %q but is not a CA (no basicConstraints cA=TRUE)", FormatDN(cur.RawSubject))
	}
	if cand.KeyUsage != 0 && cand.KeyUsage&x509.KeyUsageCertSign == 0 {
		return certErr(ErrKeyUsage, name.String(), "keyUsage lacks keyCertSign, so it cannot issue %q", FormatDN(cur.RawSubject))
	}
	if err := checkValidity(cand, b.now); err != nil {
		return err
	}
	if err := checkCritical(cand); err != nil {
		return err
	}
	// §6.1.4 (l), (m): intermediates below cand that are not self-issued count.
	below := 0
	for _, c := range path[1:] {
		if !dnEqualDER(c.RawIssuer, c.RawSubject) {
			below++
		}
	}
	if cand.BasicConstraintsValid && (cand.MaxPathLen > 0 || cand.MaxPathLenZero) && below > cand.MaxPathLen {
		return certErr(ErrPathLen, name.String(), "pathLenConstraint %d allows fewer intermediates than the %d below it", cand.MaxPathLen, below)
	}
	return b.t.crls.check(cur, cand, b.now)
}

// lazyDN formats a DN only when printed (error paths).
type lazyDN []byte

func (d lazyDN) String() string { return FormatDN(d) }

// checkNameConstraints runs crypto/x509's verifier over the path found when a CA of it has
// name constraints (RFC 5280 §4.2.1.10), which it implements; extended key usage is not
// checked (ExtKeyUsageAny).
func checkNameConstraints(path []*x509.Certificate, now time.Time) error {
	constrained := false
	for _, c := range path[1:] {
		if len(c.PermittedDNSDomains)+len(c.ExcludedDNSDomains)+len(c.PermittedIPRanges)+
			len(c.ExcludedIPRanges)+len(c.PermittedEmailAddresses)+len(c.ExcludedEmailAddresses)+
			len(c.PermittedURIDomains)+len(c.ExcludedURIDomains) > 0 {
			constrained = true
		}
	}
	if !constrained {
		return nil
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(path[len(path)-1])
	for _, c := range path[1 : len(path)-1] {
		inter.AddCert(c)
	}
	_, err := path[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return certErr(ErrUntrusted, FormatDN(path[0].RawSubject), "violates the name constraints of its CAs: %v", err)
	}
	return nil
}
