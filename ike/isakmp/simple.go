package isakmp

import "strconv"

// The payloads of this file carry one opaque value after the generic header (and, for CERT
// and CR, a 1-byte type). Their meaning (a DH public value, a hash, a nonce length within
// RFC 2409's 8..256 bytes) is the state machine's to check.

// KeyExchange is the Key Exchange payload (RFC 2408 §3.7): the Key Exchange Data, a
// Diffie-Hellman public value (IKE's g^xi / g^xr).
//
// KeyExchange is plain data: safe for concurrent reads, not for concurrent mutation.
type KeyExchange struct {
	wire
	Data []byte
}

// Type returns PayloadKE.
func (*KeyExchange) Type() PayloadType { return PayloadKE }

func (p *KeyExchange) appendBody(b []byte) ([]byte, error) {
	if p == nil {
		return nil, errEnc(PayloadKE, "nil payload")
	}
	return append(b, p.Data...), nil
}

// Hash is the Hash payload (RFC 2408 §3.11): Hash Data (HASH_I, HASH_R, HASH(1..3)).
//
// Hash is plain data: safe for concurrent reads, not for concurrent mutation.
type Hash struct {
	wire
	Data []byte
}

// Type returns PayloadHash.
func (*Hash) Type() PayloadType { return PayloadHash }

func (p *Hash) appendBody(b []byte) ([]byte, error) {
	if p == nil {
		return nil, errEnc(PayloadHash, "nil payload")
	}
	return append(b, p.Data...), nil
}

// Signature is the Signature payload (RFC 2408 §3.12): Signature Data (SIG_I, SIG_R).
//
// Signature is plain data: safe for concurrent reads, not for concurrent mutation.
type Signature struct {
	wire
	Data []byte
}

// Type returns PayloadSig.
func (*Signature) Type() PayloadType { return PayloadSig }

func (p *Signature) appendBody(b []byte) ([]byte, error) {
	if p == nil {
		return nil, errEnc(PayloadSig, "nil payload")
	}
	return append(b, p.Data...), nil
}

// Nonce is the Nonce payload (RFC 2408 §3.13): Nonce Data (Ni, Nr). RFC 2409 §5 bounds
// its length to 8..256 bytes; this package does not.
//
// Nonce is plain data: safe for concurrent reads, not for concurrent mutation.
type Nonce struct {
	wire
	Data []byte
}

// Type returns PayloadNonce.
func (*Nonce) Type() PayloadType { return PayloadNonce }

func (p *Nonce) appendBody(b []byte) ([]byte, error) {
	if p == nil {
		return nil, errEnc(PayloadNonce, "nil payload")
	}
	return append(b, p.Data...), nil
}

// VendorID is the Vendor ID payload (RFC 2408 §3.16): usually a hash naming an extension
// (RFC 3947 NAT-T, RFC 3706 DPD, XAUTH, IKE fragmentation).
//
// VendorID is plain data: safe for concurrent reads, not for concurrent mutation.
type VendorID struct {
	wire
	Data []byte
}

// Type returns PayloadVendorID.
func (*VendorID) Type() PayloadType { return PayloadVendorID }

func (p *VendorID) appendBody(b []byte) ([]byte, error) {
	if p == nil {
		return nil, errEnc(PayloadVendorID, "nil payload")
	}
	return append(b, p.Data...), nil
}

// NATDiscovery is the NAT-D payload (RFC 3947 §3.2): HASH(CKY-I | CKY-R | IP | Port).
// Draft selects payload type 130 of draft-ietf-ipsec-nat-t-ike-02/03 instead of 20.
//
// NATDiscovery is plain data: safe for concurrent reads, not for concurrent mutation.
type NATDiscovery struct {
	wire
	Draft bool
	Hash  []byte
}

// Type returns PayloadNATD, or PayloadNATDDraft when Draft is set.
func (p *NATDiscovery) Type() PayloadType {
	if p != nil && p.Draft {
		return PayloadNATDDraft
	}
	return PayloadNATD
}

func (p *NATDiscovery) appendBody(b []byte) ([]byte, error) {
	if p == nil {
		return nil, errEnc(PayloadNATD, "nil payload")
	}
	return append(b, p.Hash...), nil
}

// CertEncoding is a Certificate Encoding / Certificate Type (RFC 2408 §3.9, §3.10).
type CertEncoding uint8

// Certificate encodings (RFC 2408 §3.9).
const (
	CertNone            CertEncoding = 0
	CertPKCS7           CertEncoding = 1 // PKCS #7 wrapped X.509 certificate
	CertPGP             CertEncoding = 2
	CertDNSSignedKey    CertEncoding = 3
	CertX509Signature   CertEncoding = 4 // X.509 Certificate - Signature
	CertX509KeyExchange CertEncoding = 5 // X.509 Certificate - Key Exchange
	CertKerberos        CertEncoding = 6
	CertCRL             CertEncoding = 7 // Certificate Revocation List
	CertARL             CertEncoding = 8 // Authority Revocation List
	CertSPKI            CertEncoding = 9
	CertX509Attribute   CertEncoding = 10 // X.509 Certificate - Attribute
)

var certEncodingNames = [...]string{
	"NONE", "PKCS #7 wrapped X.509 certificate", "PGP Certificate", "DNS Signed Key",
	"X.509 Certificate - Signature", "X.509 Certificate - Key Exchange", "Kerberos Tokens",
	"Certificate Revocation List (CRL)", "Authority Revocation List (ARL)", "SPKI Certificate",
	"X.509 Certificate - Attribute",
}

func (e CertEncoding) String() string {
	if int(e) < len(certEncodingNames) {
		return certEncodingNames[e]
	}
	return "CERT(" + strconv.Itoa(int(e)) + ")"
}

// Certificate is the Certificate payload (RFC 2408 §3.9): Cert Encoding (1) | Certificate Data.
//
// Certificate is plain data: safe for concurrent reads, not for concurrent mutation.
type Certificate struct {
	wire
	Encoding CertEncoding
	Data     []byte
}

// Type returns PayloadCert.
func (*Certificate) Type() PayloadType { return PayloadCert }

// decodeCertificate decodes a Certificate payload body (RFC 2408 §3.9).
func decodeCertificate(body []byte, off int) (*Certificate, error) {
	if len(body) < 1 {
		return nil, errAt(PayloadCert, off, ErrMalformed, "no Cert Encoding")
	}
	return &Certificate{Encoding: CertEncoding(body[0]), Data: body[1:]}, nil
}

func (p *Certificate) appendBody(b []byte) ([]byte, error) {
	if p == nil {
		return nil, errEnc(PayloadCert, "nil payload")
	}
	return append(append(b, byte(p.Encoding)), p.Data...), nil
}

// CertificateRequest is the Certificate Request payload (RFC 2408 §3.10): Cert. Type (1) |
// Certificate Authority (a DER Distinguished Name, or empty for "any").
//
// CertificateRequest is plain data: safe for concurrent reads, not for concurrent mutation.
type CertificateRequest struct {
	wire
	CertType  CertEncoding
	Authority []byte
}

// Type returns PayloadCertRequest.
func (*CertificateRequest) Type() PayloadType { return PayloadCertRequest }

// decodeCertificateRequest decodes a Certificate Request payload body (RFC 2408 §3.10).
func decodeCertificateRequest(body []byte, off int) (*CertificateRequest, error) {
	if len(body) < 1 {
		return nil, errAt(PayloadCertRequest, off, ErrMalformed, "no Cert. Type")
	}
	return &CertificateRequest{CertType: CertEncoding(body[0]), Authority: body[1:]}, nil
}

func (p *CertificateRequest) appendBody(b []byte) ([]byte, error) {
	if p == nil {
		return nil, errEnc(PayloadCertRequest, "nil payload")
	}
	return append(append(b, byte(p.CertType)), p.Authority...), nil
}

// Unknown is a payload of a type this package has no decoder for. It keeps the type and
// body so the state machine can decide (INVALID-PAYLOAD-TYPE, RFC 2408 §5.3) or skip it,
// and it encodes back unchanged. Encoding an Unknown whose PayloadType has a decoder of its
// own (or is 0, 2 or 3) is ErrEncode.
//
// Unknown is plain data: safe for concurrent reads, not for concurrent mutation.
type Unknown struct {
	wire
	PayloadType PayloadType
	Data        []byte
}

// Type returns the payload's type.
func (p *Unknown) Type() PayloadType {
	if p == nil {
		return PayloadNone
	}
	return p.PayloadType
}

func (p *Unknown) appendBody(b []byte) ([]byte, error) {
	if p == nil {
		return nil, errEnc(PayloadNone, "nil payload")
	}
	if knownPayload(p.PayloadType) || p.PayloadType == PayloadNone {
		return nil, errEnc(p.PayloadType, "an Unknown payload cannot have type %d", uint8(p.PayloadType))
	}
	return append(b, p.Data...), nil
}
