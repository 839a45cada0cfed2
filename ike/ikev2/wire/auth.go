package wire

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strconv"
)

// AuthMethod is the Auth Method of an AUTH payload (RFC 7296 §3.8 and the IANA registry).
type AuthMethod uint8

// Authentication methods.
const (
	AuthRSASignature     AuthMethod = 1  // RSA Digital Signature (PKCS #1 v1.5, SHA-1), §3.8
	AuthSharedKeyMIC     AuthMethod = 2  // Shared Key Message Integrity Code (PSK), §2.15
	AuthDSSSignature     AuthMethod = 3  // DSS Digital Signature, §3.8
	AuthECDSASHA256P256  AuthMethod = 9  // ECDSA with SHA-256 on the P-256 curve, RFC 4754
	AuthECDSASHA384P384  AuthMethod = 10 // ECDSA with SHA-384 on the P-384 curve, RFC 4754
	AuthECDSASHA512P521  AuthMethod = 11 // ECDSA with SHA-512 on the P-521 curve, RFC 4754
	AuthGSPM             AuthMethod = 12 // Generic Secure Password Authentication Method, RFC 6467
	AuthNULL             AuthMethod = 13 // NULL Authentication, RFC 7619
	AuthDigitalSignature AuthMethod = 14 // Digital Signature, RFC 7427
)

var authMethodNames = map[AuthMethod]string{
	AuthRSASignature: "RSA_SIG", AuthSharedKeyMIC: "PSK", AuthDSSSignature: "DSS_SIG",
	AuthECDSASHA256P256: "ECDSA_256", AuthECDSASHA384P384: "ECDSA_384", AuthECDSASHA512P521: "ECDSA_521",
	AuthGSPM: "GSPM", AuthNULL: "NULL", AuthDigitalSignature: "DIGITAL_SIGNATURE",
}

func (m AuthMethod) String() string {
	if s, ok := authMethodNames[m]; ok {
		return s
	}
	return "AUTH_METHOD(" + strconv.Itoa(int(m)) + ")"
}

// Auth is the AUTH payload (RFC 7296 §3.8):
//
//	generic header | Auth Method (1) | RESERVED (3) | Authentication Data
//
// The Authentication Data must not be empty. For Digital Signature (RFC 7427 §3) it is
//
//	ASN.1 Length (1) | AlgorithmIdentifier (DER, ASN.1 Length octets) | Signature Value
//
// and the decoder checks that layout (a DER AlgorithmIdentifier, a non-empty signature);
// SignatureAlgorithm splits it. Computing and verifying the value is the engine's (§2.15).
//
// Auth is plain data: safe for concurrent reads, not for concurrent mutation.
type Auth struct {
	wire
	Method AuthMethod
	Data   []byte
}

// Type returns PayloadAUTH.
func (*Auth) Type() PayloadType { return PayloadAUTH }

const authFixedLen = 4

func decodeAuth(body []byte, off int) (*Auth, error) {
	if len(body) <= authFixedLen {
		return nil, errAt(PayloadAUTH, off, ErrMalformed, "body of %d bytes holds no Authentication Data", len(body))
	}
	a := &Auth{Method: AuthMethod(body[0]), Data: body[authFixedLen:]}
	if a.Method == AuthDigitalSignature {
		if _, _, _, err := a.SignatureAlgorithm(); err != nil {
			return nil, errAt(PayloadAUTH, off+authFixedLen, ErrMalformed, "%s", err.(*Error).Reason)
		}
	}
	return a, nil
}

// SignatureAlgorithm splits RFC 7427 Digital Signature data into the DER AlgorithmIdentifier
// (which names the signature scheme and hash, e.g. sha256WithRSAEncryption, RSASSA-PSS with
// its parameters, ecdsa-with-SHA384) and the signature value. algID is returned as raw DER,
// parsed into ident.
func (a *Auth) SignatureAlgorithm() (algID []byte, ident pkix.AlgorithmIdentifier, sig []byte, err error) {
	if a.Method != AuthDigitalSignature {
		return nil, ident, nil, errNoOff(PayloadAUTH, ErrMalformed, "method %s is not Digital Signature", a.Method)
	}
	if len(a.Data) < 1 {
		return nil, ident, nil, errNoOff(PayloadAUTH, ErrMalformed, "no ASN.1 Length")
	}
	l := int(a.Data[0])
	if 1+l >= len(a.Data) {
		return nil, ident, nil, errNoOff(PayloadAUTH, ErrMalformed, "ASN.1 Length %d leaves no signature in %d bytes", l, len(a.Data))
	}
	algID = a.Data[1 : 1+l : 1+l]
	rest, aerr := asn1.Unmarshal(algID, &ident)
	if aerr != nil || len(rest) != 0 {
		return nil, pkix.AlgorithmIdentifier{}, nil, errNoOff(PayloadAUTH, ErrMalformed, "the %d-byte AlgorithmIdentifier is not DER", l)
	}
	return algID, ident, a.Data[1+l:], nil
}

// NewDigitalSignatureAuth builds RFC 7427 Authentication Data from a DER AlgorithmIdentifier
// and a signature value.
func NewDigitalSignatureAuth(algID, sig []byte) (*Auth, error) {
	if len(algID) == 0 || len(algID) > 255 || len(sig) == 0 {
		return nil, errEnc(PayloadAUTH, "AlgorithmIdentifier of %d bytes, signature of %d", len(algID), len(sig))
	}
	data := make([]byte, 0, 1+len(algID)+len(sig))
	data = append(data, byte(len(algID)))
	data = append(data, algID...)
	a := &Auth{Method: AuthDigitalSignature, Data: append(data, sig...)}
	if _, _, _, err := a.SignatureAlgorithm(); err != nil {
		return nil, errEnc(PayloadAUTH, "%s", err.(*Error).Reason)
	}
	return a, nil
}

func (a *Auth) appendBody(b []byte) ([]byte, error) {
	if len(a.Data) == 0 {
		return nil, errEnc(PayloadAUTH, "no Authentication Data")
	}
	if a.Method == AuthDigitalSignature {
		if _, _, _, err := a.SignatureAlgorithm(); err != nil {
			return nil, errEnc(PayloadAUTH, "%s", err.(*Error).Reason)
		}
	}
	b = append(b, byte(a.Method), 0, 0, 0)
	return append(b, a.Data...), nil
}
