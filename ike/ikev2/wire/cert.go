package wire

import (
	"strconv"
)

// CertEncoding is the Cert Encoding of CERT and CERTREQ payloads (RFC 7296 §3.6; RFC 4806
// for OCSP content, RFC 7670 for raw public keys).
type CertEncoding uint8

// Certificate encodings.
const (
	CertPKCS7X509         CertEncoding = 1  // PKCS #7 wrapped X.509 certificate
	CertPGP               CertEncoding = 2  // PGP certificate
	CertDNSSignedKey      CertEncoding = 3  // DNS signed key
	CertX509Signature     CertEncoding = 4  // X.509 Certificate - Signature (DER)
	CertKerberosToken     CertEncoding = 6  // Kerberos token
	CertCRL               CertEncoding = 7  // Certificate Revocation List (CRL)
	CertARL               CertEncoding = 8  // Authority Revocation List (ARL)
	CertSPKI              CertEncoding = 9  // SPKI certificate
	CertX509Attribute     CertEncoding = 10 // X.509 Certificate - Attribute
	CertRawRSAKey         CertEncoding = 11 // Raw RSA key (deprecated)
	CertHashURLX509       CertEncoding = 12 // Hash and URL of X.509 certificate
	CertHashURLX509Bundle CertEncoding = 13 // Hash and URL of X.509 bundle
	CertOCSPContent       CertEncoding = 14 // OCSP content, RFC 4806
	CertRawPublicKey      CertEncoding = 15 // Raw public key, RFC 7670
)

var certEncodingNames = map[CertEncoding]string{
	CertPKCS7X509: "PKCS7_WRAPPED_X509", CertPGP: "PGP", CertDNSSignedKey: "DNS_SIGNED_KEY",
	CertX509Signature: "X509_SIGNATURE", CertKerberosToken: "KERBEROS_TOKEN", CertCRL: "CRL",
	CertARL: "ARL", CertSPKI: "SPKI", CertX509Attribute: "X509_ATTRIBUTE", CertRawRSAKey: "RAW_RSA_KEY",
	CertHashURLX509: "X509_HASH_AND_URL", CertHashURLX509Bundle: "X509_HASH_AND_URL_BUNDLE",
	CertOCSPContent: "OCSP_CONTENT", CertRawPublicKey: "RAW_PUBLIC_KEY",
}

func (c CertEncoding) String() string {
	if s, ok := certEncodingNames[c]; ok {
		return s
	}
	return "CERT_ENCODING(" + strconv.Itoa(int(c)) + ")"
}

// sha1Len is the size of the SHA-1 hashes in Hash and URL data and CERTREQ authorities.
const sha1Len = 20

// Certificate is the CERT payload (RFC 7296 §3.6): generic header | Cert Encoding (1) |
// Certificate Data. The data must not be empty; for the two Hash and URL encodings it is a
// 20-octet SHA-1 hash followed by a URL of printable ASCII (§3.6; one terminating NUL is
// tolerated), which HashAndURL returns.
// Parsing and validating the certificate itself is the engine's (RFC 5280, RFC 4945).
//
// Certificate is plain data: safe for concurrent reads, not for concurrent mutation.
type Certificate struct {
	wire
	Encoding CertEncoding
	Data     []byte
}

// Type returns PayloadCERT.
func (*Certificate) Type() PayloadType { return PayloadCERT }

func decodeCert(body []byte, off int) (*Certificate, error) {
	if len(body) < 2 {
		return nil, errAt(PayloadCERT, off, ErrMalformed, "body of %d bytes holds no Certificate Data", len(body))
	}
	c := &Certificate{Encoding: CertEncoding(body[0]), Data: body[1:]}
	if c.isHashURL() {
		if _, _, err := c.HashAndURL(); err != nil {
			return nil, errAt(PayloadCERT, off+1, ErrMalformed, "%s", err.(*Error).Reason)
		}
	}
	return c, nil
}

func (c *Certificate) isHashURL() bool {
	return c.Encoding == CertHashURLX509 || c.Encoding == CertHashURLX509Bundle
}

// HashAndURL splits the data of a Hash and URL encoding (RFC 7296 §3.6): the SHA-1 hash of
// the DER certificate (or bundle) and its URL.
func (c *Certificate) HashAndURL() (hash []byte, url string, err error) {
	if !c.isHashURL() {
		return nil, "", errNoOff(PayloadCERT, ErrMalformed, "encoding %s is not Hash and URL", c.Encoding)
	}
	if len(c.Data) <= sha1Len {
		return nil, "", errNoOff(PayloadCERT, ErrMalformed, "Hash and URL data of %d bytes has no URL", len(c.Data))
	}
	u := c.Data[sha1Len:]
	if u[len(u)-1] == 0 && len(u) > 1 {
		u = u[:len(u)-1] // a NUL-terminated URL, as some peers send it
	}
	for _, ch := range u {
		if ch < 0x21 || ch > 0x7e {
			return nil, "", errNoOff(PayloadCERT, ErrMalformed, "URL has the non-printable byte 0x%02x", ch)
		}
	}
	return c.Data[:sha1Len:sha1Len], string(u), nil
}

func (c *Certificate) appendBody(b []byte) ([]byte, error) {
	if len(c.Data) == 0 {
		return nil, errEnc(PayloadCERT, "no Certificate Data")
	}
	if c.isHashURL() {
		if _, _, err := c.HashAndURL(); err != nil {
			return nil, errEnc(PayloadCERT, "%s", err.(*Error).Reason)
		}
	}
	b = append(b, byte(c.Encoding))
	return append(b, c.Data...), nil
}

// CertificateRequest is the CERTREQ payload (RFC 7296 §3.7): generic header | Cert Encoding
// (1) | Certification Authority. For X.509 (and OCSP content, RFC 4806) the authority field is
// a concatenation of 20-octet SHA-1 hashes of trusted CAs' SubjectPublicKeyInfo, which
// Authorities splits; the decoder requires a multiple of 20 octets (an empty list, which some
// peers send to ask for any certificate, is allowed).
//
// CertificateRequest is plain data: safe for concurrent reads, not for concurrent mutation.
type CertificateRequest struct {
	wire
	Encoding CertEncoding
	Data     []byte
}

// Type returns PayloadCERTREQ.
func (*CertificateRequest) Type() PayloadType { return PayloadCERTREQ }

func (r *CertificateRequest) hashList() bool {
	return r.Encoding == CertX509Signature || r.Encoding == CertOCSPContent
}

func decodeCertReq(body []byte, off int) (*CertificateRequest, error) {
	if len(body) < 1 {
		return nil, errAt(PayloadCERTREQ, off, ErrMalformed, "no Cert Encoding")
	}
	r := &CertificateRequest{Encoding: CertEncoding(body[0]), Data: body[1:]}
	if r.hashList() && len(r.Data)%sha1Len != 0 {
		return nil, errAt(PayloadCERTREQ, off+1, ErrMalformed, "Certification Authority of %d bytes is not a list of 20-byte SHA-1 hashes", len(r.Data))
	}
	return r, nil
}

// Authorities returns the SHA-1 hashes of an X.509 or OCSP CERTREQ (views into Data).
func (r *CertificateRequest) Authorities() [][]byte {
	if !r.hashList() {
		return nil
	}
	var hs [][]byte
	for i := 0; i+sha1Len <= len(r.Data); i += sha1Len {
		hs = append(hs, r.Data[i:i+sha1Len:i+sha1Len])
	}
	return hs
}

func (r *CertificateRequest) appendBody(b []byte) ([]byte, error) {
	if r.hashList() && len(r.Data)%sha1Len != 0 {
		return nil, errEnc(PayloadCERTREQ, "Certification Authority of %d bytes is not a list of SHA-1 hashes", len(r.Data))
	}
	b = append(b, byte(r.Encoding))
	return append(b, r.Data...), nil
}
