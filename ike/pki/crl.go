package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"sync"
	"time"
)

// CRL extensions this package understands (RFC 5280 §5.2). A CRL carrying another critical
// extension is refused at load time (RFC 5280 §5.2: "...MUST NOT use the CRL").
var (
	oidCRLNumber        = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidDeltaCRLIndic    = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidIssuingDistPoint = asn1.ObjectIdentifier{2, 5, 29, 28}
	oidAuthorityKeyID   = asn1.ObjectIdentifier{2, 5, 29, 35}
)

// LoadCRL reads a certificate revocation list, PEM ("X509 CRL") or DER. Its signature is
// checked later, against the issuing CA, when it is used (NewTrust, Trust.Verify).
func LoadCRL(path string) (*x509.RevocationList, error) {
	return loadCRL("", path)
}

func loadCRL(key, path string) (*x509.RevocationList, error) {
	data, err := readFile(key, path, maxCRLFile, false)
	if err != nil {
		return nil, err
	}
	crl, err := parseCRL(data)
	if err != nil {
		return nil, &FileError{Key: key, Path: path, Err: err}
	}
	return crl, nil
}

func parseCRL(data []byte) (*x509.RevocationList, error) {
	der := data
	if isPEM(data) {
		block, _ := pem.Decode(data)
		if block == nil {
			return nil, errorf(ErrFile, "PEM block is damaged (bad base64 or missing END line)")
		}
		if block.Type != "X509 CRL" && block.Type != "CRL" {
			return nil, errorf(ErrFile, "PEM block is %q, not an X509 CRL", block.Type)
		}
		der = block.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, errorf(ErrFile, "is not a CRL (PEM or DER): %v", err)
	}
	for _, ext := range crl.Extensions {
		if !ext.Critical {
			continue
		}
		switch {
		case ext.Id.Equal(oidCRLNumber), ext.Id.Equal(oidDeltaCRLIndic),
			ext.Id.Equal(oidIssuingDistPoint), ext.Id.Equal(oidAuthorityKeyID):
		default:
			return nil, errorf(ErrCriticalExtension, "CRL of %q has an unhandled critical extension %s", FormatDN(crl.RawIssuer), ext.Id)
		}
	}
	return crl, nil
}

// crlSet holds the loaded CRLs. A CRL is used for a certificate once its signature verified
// with the key of that certificate's issuer (RFC 5280 §6.3.3 (f)); the issuer may be a trust
// anchor or an intermediate the peer sent, so the check is made when a path is built and its
// outcome cached. A crlSet is safe for concurrent use.
type crlSet struct {
	entries []*crlEntry

	mu       sync.Mutex
	verified map[crlKey]bool
}

type crlKey struct {
	crl    *crlEntry
	issuer [32]byte // SHA-256 of the issuer certificate
}

// maxCRLCache bounds the verification cache (peers may send many different issuers).
const maxCRLCache = 4096

type crlEntry struct {
	crl     *x509.RevocationList
	revoked map[string]int // serial (big-endian bytes) → reason code
}

func newCRLSet(crls []*x509.RevocationList) *crlSet {
	s := &crlSet{verified: map[crlKey]bool{}}
	for _, crl := range crls {
		if crl == nil {
			continue
		}
		e := &crlEntry{crl: crl, revoked: make(map[string]int, len(crl.RevokedCertificateEntries))}
		for _, r := range crl.RevokedCertificateEntries {
			if r.SerialNumber != nil {
				e.revoked[serialKey(r.SerialNumber)] = r.ReasonCode
			}
		}
		s.entries = append(s.entries, e)
	}
	return s
}

func serialKey(n *big.Int) string {
	if n.Sign() < 0 {
		return "-" + string(n.Bytes())
	}
	return string(n.Bytes())
}

// crlIssuedBy reports whether issuer signed crl (RFC 5280 §6.3.3 (f), (g)): same name, a
// keyUsage with cRLSign where the extension is present, and a signature that verifies.
func crlIssuedBy(crl *x509.RevocationList, issuer *x509.Certificate) bool {
	if !dnEqualDER(crl.RawIssuer, issuer.RawSubject) {
		return false
	}
	if issuer.KeyUsage != 0 && issuer.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return false
	}
	return crl.CheckSignatureFrom(issuer) == nil
}

func (s *crlSet) issuedBy(e *crlEntry, issuer *x509.Certificate) bool {
	if !dnEqualDER(e.crl.RawIssuer, issuer.RawSubject) {
		return false
	}
	k := crlKey{crl: e, issuer: sha256.Sum256(issuer.Raw)}
	s.mu.Lock()
	ok, cached := s.verified[k]
	s.mu.Unlock()
	if cached {
		return ok
	}
	ok = crlIssuedBy(e.crl, issuer)
	s.mu.Lock()
	if len(s.verified) >= maxCRLCache {
		clear(s.verified)
	}
	s.verified[k] = ok
	s.mu.Unlock()
	return ok
}

// check applies RFC 5280 §6.3 to cert, issued by issuer, with the CRLs issuer signed:
// revoked if one lists its serial (whatever its age: a revocation stays one); ErrCRLStale
// if every such CRL is past its nextUpdate and none lists it. No CRL of the issuer means no
// revocation information, which passes (strongSwan's default, "relaxed", does the same).
func (s *crlSet) check(cert, issuer *x509.Certificate, now time.Time) error {
	if s == nil {
		return nil
	}
	subject := FormatDN(cert.RawSubject)
	covered, fresh := false, false
	var newest time.Time
	for _, e := range s.entries {
		if !s.issuedBy(e, issuer) {
			continue
		}
		covered = true
		if r, ok := e.revoked[serialKey(cert.SerialNumber)]; ok && r != reasonRemoveFromCRL {
			return certErr(ErrRevoked, subject, "revoked (reason %s) by the CRL of %q issued %s", reasonName(r), FormatDN(e.crl.RawIssuer), stamp(e.crl.ThisUpdate))
		}
		if e.crl.NextUpdate.IsZero() || !now.After(e.crl.NextUpdate) {
			fresh = true
		}
		if e.crl.NextUpdate.After(newest) {
			newest = e.crl.NextUpdate
		}
	}
	if covered && !fresh {
		return certErr(ErrCRLStale, subject, "the CRL of %q expired on %s (nextUpdate), so revocation cannot be checked; fetch a fresh CRL", FormatDN(issuer.RawSubject), stamp(newest))
	}
	return nil
}

// reasonRemoveFromCRL (RFC 5280 §5.3.1) appears only in delta CRLs: the entry is no longer
// revoked.
const reasonRemoveFromCRL = 8

// reasonName names an RFC 5280 §5.3.1 CRLReason.
func reasonName(r int) string {
	names := []string{"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
		"superseded", "cessationOfOperation", "certificateHold", "7", "removeFromCRL",
		"privilegeWithdrawn", "aACompromise"}
	if r >= 0 && r < len(names) {
		return names[r]
	}
	return "unknown"
}
