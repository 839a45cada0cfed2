package pki

import (
	"crypto/sha1"
	"crypto/x509"
	"fmt"
	"strings"
)

// CERTREQ contents. The payload framing (Cert Encoding, here always 4 = X.509 Certificate -
// Signature) belongs to the IKE codecs; these functions read and write the Certification
// Authority field only.
//
// IKEv1 (RFC 2408 §3.10, RFC 4945 §3.2.3): the field is the DER subject DN of one acceptable
// CA, one CERTREQ payload per CA; an empty field asks for any certificate. strongSwan sends
// one CERTREQ per trusted CA certificate with its subject (isakmp_cert_pre.c) and looks up
// the CA of a received one by that DN.
//
// IKEv2 (RFC 7296 §3.7): the field is a concatenation of 20-byte SHA-1 hashes of the
// SubjectPublicKeyInfo of the trusted CAs, all in one payload. strongSwan rejects a length
// that is not a multiple of 20 (certreq_payload.c verify).

// KeyIDLen is the length of one IKEv2 CERTREQ hash (SHA-1).
const KeyIDLen = sha1.Size

// KeyID returns the IKEv2 CERTREQ hash of a CA: SHA-1 of its SubjectPublicKeyInfo
// (RFC 7296 §3.7).
func KeyID(ca *x509.Certificate) [KeyIDLen]byte {
	return sha1.Sum(ca.RawSubjectPublicKeyInfo)
}

// CertReqV1 returns the Certification Authority fields of the IKEv1 CERTREQ payloads that
// ask for a certificate issued by one of cas: one DER subject DN per CA certificate (certs
// that are not CAs are skipped, as strongSwan does).
func CertReqV1(cas []*x509.Certificate) [][]byte {
	var out [][]byte
	for _, ca := range cas {
		if isCA(ca) {
			out = append(out, append([]byte(nil), ca.RawSubject...))
		}
	}
	return out
}

// CertReqV2 returns the Certification Authority field of the IKEv2 CERTREQ payload that
// asks for a certificate issued by one of cas, or nil if none is a CA.
func CertReqV2(cas []*x509.Certificate) []byte {
	var out []byte
	for _, ca := range cas {
		if isCA(ca) {
			h := KeyID(ca)
			out = append(out, h[:]...)
		}
	}
	return out
}

// ParseCertReqV1 checks the Certification Authority field of a received IKEv1 CERTREQ: empty
// (any CA) or one DER DN with nothing after it. It returns the DN (nil for empty).
func ParseCertReqV1(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, nil
	}
	if _, err := parseDN(data); err != nil {
		return nil, errorf(ErrMalformed, "IKEv1 CERTREQ: %s", trimPrefix(err))
	}
	return append([]byte(nil), data...), nil
}

// ParseCertReqV2 splits the Certification Authority field of a received IKEv2 CERTREQ into
// its SHA-1 hashes. An empty field is valid and names no CA.
func ParseCertReqV2(data []byte) ([][KeyIDLen]byte, error) {
	if len(data)%KeyIDLen != 0 {
		return nil, errorf(ErrMalformed, "IKEv2 CERTREQ of %d bytes is not a list of %d-byte SHA-1 hashes", len(data), KeyIDLen)
	}
	out := make([][KeyIDLen]byte, len(data)/KeyIDLen)
	for i := range out {
		copy(out[i][:], data[i*KeyIDLen:])
	}
	return out, nil
}

// CertRequest collects the CERTREQ payloads of one message (or one IKE SA setup): whether
// any was seen, and which CAs they name. The zero value is ready: no CERTREQ seen.
// A CertRequest is not safe for concurrent mutation; once filled it may be read concurrently.
type CertRequest struct {
	seen   bool
	any    bool // an empty IKEv1 CERTREQ: any CA will do
	dns    [][]byte
	keyIDs [][KeyIDLen]byte
}

// maxCertReqCAs bounds how many CAs one SA's CERTREQs may name.
const maxCertReqCAs = 1024

// AddV1 records one received IKEv1 CERTREQ (Cert Encoding 4).
func (r *CertRequest) AddV1(data []byte) error {
	dn, err := ParseCertReqV1(data)
	if err != nil {
		return err
	}
	r.seen = true
	if dn == nil {
		r.any = true
		return nil
	}
	if len(r.dns)+len(r.keyIDs) >= maxCertReqCAs {
		return errorf(ErrMalformed, "more than %d CAs requested", maxCertReqCAs)
	}
	r.dns = append(r.dns, dn)
	return nil
}

// AddV2 records one received IKEv2 CERTREQ (Cert Encoding 4).
func (r *CertRequest) AddV2(data []byte) error {
	ids, err := ParseCertReqV2(data)
	if err != nil {
		return err
	}
	if len(r.dns)+len(r.keyIDs)+len(ids) > maxCertReqCAs {
		return errorf(ErrMalformed, "more than %d CAs requested", maxCertReqCAs)
	}
	r.seen = true
	r.keyIDs = append(r.keyIDs, ids...)
	return nil
}

// Seen reports whether any CERTREQ was received (what send_cert = ifasked asks; strongSwan
// sets COND_CERTREQ_SEEN for any CERTREQ, even one naming an unknown CA).
func (r *CertRequest) Seen() bool { return r != nil && r.seen }

// Names reports whether the requests name ca: by subject DN (IKEv1, compared semantically)
// or by the SHA-1 of its SubjectPublicKeyInfo (IKEv2).
func (r *CertRequest) Names(ca *x509.Certificate) bool {
	if r == nil || ca == nil {
		return false
	}
	for _, dn := range r.dns {
		if dnEqualDER(dn, ca.RawSubject) {
			return true
		}
	}
	if len(r.keyIDs) > 0 {
		h := KeyID(ca)
		for _, k := range r.keyIDs {
			if k == h {
				return true
			}
		}
	}
	return false
}

// namesIssuerOf reports whether an IKEv1 request names c's issuer by DN (the CA itself may
// not be at hand, e.g. a root that is not in our chain file).
func (r *CertRequest) namesIssuerOf(c *x509.Certificate) bool {
	for _, dn := range r.dns {
		if dnEqualDER(dn, c.RawIssuer) {
			return true
		}
	}
	return false
}

// String lists the requested CAs for logs: DNs as FormatDN prints them, key IDs as hex.
func (r *CertRequest) String() string {
	if !r.Seen() {
		return "(no CERTREQ)"
	}
	var parts []string
	if r.any {
		parts = append(parts, "any CA")
	}
	for _, dn := range r.dns {
		parts = append(parts, fmt.Sprintf("%q", FormatDN(dn)))
	}
	for _, k := range r.keyIDs {
		parts = append(parts, fmt.Sprintf("keyid %x", k[:]))
	}
	if len(parts) == 0 {
		return "(empty CERTREQ)"
	}
	return strings.Join(parts, ", ")
}

// SendCert is the send_cert policy of CONFIG.md: when to send our certificate chain.
// It is a value type, safe for concurrent use.
type SendCert uint8

const (
	SendCertIfAsked SendCert = iota // "ifasked": only after the peer sent a CERTREQ (the default)
	SendCertAlways                  // "always"
	SendCertNever                   // "never": the peer has our certificate already
)

// ParseSendCert parses a send_cert value ("" means the default, ifasked).
func ParseSendCert(s string) (SendCert, error) {
	switch s {
	case "", "ifasked":
		return SendCertIfAsked, nil
	case "always":
		return SendCertAlways, nil
	case "never":
		return SendCertNever, nil
	}
	return 0, errorf(ErrMalformed, "send_cert %q: want ifasked, always or never", s)
}

func (p SendCert) String() string {
	switch p {
	case SendCertIfAsked:
		return "ifasked"
	case SendCertAlways:
		return "always"
	case SendCertNever:
		return "never"
	}
	return fmt.Sprintf("SendCert(%d)", uint8(p))
}

// ShouldSend applies the policy to what the peer sent (req may be nil: no CERTREQ).
func (p SendCert) ShouldSend(req *CertRequest) bool {
	switch p {
	case SendCertAlways:
		return true
	case SendCertIfAsked:
		return req.Seen()
	}
	return false
}
