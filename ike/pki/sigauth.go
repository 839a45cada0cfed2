package pki

import (
	"bytes"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
)

// RFC 7427 Digital Signature authentication data: one byte giving the length of a DER
// AlgorithmIdentifier, the AlgorithmIdentifier, then the signature.

// Scheme is an RFC 7427 signature algorithm oakley signs and verifies with.
// It is a value type, safe for concurrent use.
type Scheme uint8

const (
	SchemeNone     Scheme = iota
	RSAPKCS1SHA256        // sha256WithRSAEncryption (RFC 7427 A.1)
	RSAPKCS1SHA384        // sha384WithRSAEncryption
	RSAPKCS1SHA512        // sha512WithRSAEncryption
	RSAPSSSHA256          // RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 (RFC 7427 A.4.3)
	RSAPSSSHA384          // RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48
	RSAPSSSHA512          // RSASSA-PSS, SHA-512, MGF1-SHA-512, salt 64
	ECDSASHA256           // ecdsa-with-SHA256, DER signature (RFC 7427 A.3)
	ECDSASHA384           // ecdsa-with-SHA384
	ECDSASHA512           // ecdsa-with-SHA512
	Ed25519               // id-Ed25519, pure (RFC 8420)
)

var (
	oidSHA256    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidSHA1      = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidMGF1      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidRSAPSS    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidRSASHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidRSASHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidRSASHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidRSASHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECSHA1    = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECSHA256  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECSHA384  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECSHA512  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidDSASHA1   = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 3}
	oidDSASHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 2}
	oidEd25519   = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448     = asn1.ObjectIdentifier{1, 3, 101, 113}
)

type schemeInfo struct {
	name string
	hash crypto.Hash // 0 for Ed25519 (pure)
	oid  asn1.ObjectIdentifier
	pss  bool
	kind string // "RSA", "ECDSA", "Ed25519"
}

var schemes = map[Scheme]schemeInfo{
	RSAPKCS1SHA256: {"sha256WithRSAEncryption", crypto.SHA256, oidRSASHA256, false, "RSA"},
	RSAPKCS1SHA384: {"sha384WithRSAEncryption", crypto.SHA384, oidRSASHA384, false, "RSA"},
	RSAPKCS1SHA512: {"sha512WithRSAEncryption", crypto.SHA512, oidRSASHA512, false, "RSA"},
	RSAPSSSHA256:   {"rsassa-pss-sha256", crypto.SHA256, oidRSAPSS, true, "RSA"},
	RSAPSSSHA384:   {"rsassa-pss-sha384", crypto.SHA384, oidRSAPSS, true, "RSA"},
	RSAPSSSHA512:   {"rsassa-pss-sha512", crypto.SHA512, oidRSAPSS, true, "RSA"},
	ECDSASHA256:    {"ecdsa-with-SHA256", crypto.SHA256, oidECSHA256, false, "ECDSA"},
	ECDSASHA384:    {"ecdsa-with-SHA384", crypto.SHA384, oidECSHA384, false, "ECDSA"},
	ECDSASHA512:    {"ecdsa-with-SHA512", crypto.SHA512, oidECSHA512, false, "ECDSA"},
	Ed25519:        {"ed25519", 0, oidEd25519, false, "Ed25519"},
}

func (s Scheme) String() string {
	if i, ok := schemes[s]; ok {
		return i.name
	}
	return fmt.Sprintf("Scheme(%d)", uint8(s))
}

// Hash returns the hash the scheme applies to the signed octets (0 for Ed25519).
func (s Scheme) Hash() crypto.Hash { return schemes[s].hash }

// HashAlg returns the SIGNATURE_HASH_ALGORITHMS value the scheme needs the peer to have
// announced (RFC 7427 §4; Identity for Ed25519, RFC 8420 §2).
func (s Scheme) HashAlg() HashAlg {
	switch schemes[s].hash {
	case crypto.SHA256:
		return HashSHA256
	case crypto.SHA384:
		return HashSHA384
	case crypto.SHA512:
		return HashSHA512
	}
	if s == Ed25519 {
		return HashIdentity
	}
	return 0
}

// pssParams is RSASSA-PSS-params (RFC 4055 §3.1 / RFC 8017 Appendix A.2.3).
type pssParams struct {
	Hash    pkix.AlgorithmIdentifier `asn1:"explicit,optional,tag:0"`
	MGF     pkix.AlgorithmIdentifier `asn1:"explicit,optional,tag:1"`
	SaltLen int                      `asn1:"explicit,optional,tag:2,default:20"`
	Trailer int                      `asn1:"explicit,optional,tag:3,default:1"`
}

func hashOID(h crypto.Hash) asn1.ObjectIdentifier {
	switch h {
	case crypto.SHA256:
		return oidSHA256
	case crypto.SHA384:
		return oidSHA384
	case crypto.SHA512:
		return oidSHA512
	}
	return nil
}

// AlgorithmIdentifier returns the DER AlgorithmIdentifier of the scheme as oakley sends
// it: NULL parameters for the PKCS#1 schemes, none for ECDSA and Ed25519 (RFC 7427 A.1,
// A.3, RFC 8420), and for PSS the hash, MGF1 with the same hash and a salt as long as the
// hash, with the default trailer left out (RFC 7427 A.4.3 as corrected by its erratum;
// strongSwan's rsa_pss_params_build).
func (s Scheme) AlgorithmIdentifier() ([]byte, error) {
	info, ok := schemes[s]
	if !ok {
		return nil, errorf(ErrUnsupportedAlgorithm, "no RFC 7427 encoding for %v", s)
	}
	ai := pkix.AlgorithmIdentifier{Algorithm: info.oid}
	switch {
	case info.pss:
		h := pkix.AlgorithmIdentifier{Algorithm: hashOID(info.hash), Parameters: asn1.NullRawValue}
		hDER, err := asn1.Marshal(h)
		if err != nil {
			return nil, err
		}
		p, err := asn1.Marshal(pssParams{
			Hash:    h,
			MGF:     pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{FullBytes: hDER}},
			SaltLen: info.hash.Size(),
			Trailer: 1,
		})
		if err != nil {
			return nil, err
		}
		ai.Parameters = asn1.RawValue{FullBytes: p}
	case info.kind == "RSA":
		ai.Parameters = asn1.NullRawValue
	}
	return asn1.Marshal(ai)
}

// SignatureAuth is decoded RFC 7427 authentication data. It is a value; Signature aliases
// the decoded buffer, so it is safe for concurrent reading as long as that buffer is.
type SignatureAuth struct {
	Scheme     Scheme
	PSSSaltLen int    // RSASSA-PSS only: the saltLength the parameters give
	Signature  []byte // aliases the decoded buffer
}

// EncodeSignatureAuth builds RFC 7427 §3 authentication data: the AlgorithmIdentifier's
// length in one byte, the AlgorithmIdentifier, the signature.
func EncodeSignatureAuth(s Scheme, sig []byte) ([]byte, error) {
	ai, err := s.AlgorithmIdentifier()
	if err != nil {
		return nil, err
	}
	if len(ai) > 255 {
		return nil, errorf(ErrUnsupportedAlgorithm, "AlgorithmIdentifier of %v too long", s)
	}
	out := make([]byte, 0, 1+len(ai)+len(sig))
	out = append(out, byte(len(ai)))
	out = append(out, ai...)
	return append(out, sig...), nil
}

// maxSignature bounds a signature (RSA-16384 is 2048 bytes).
const maxSignature = 2048

// DecodeSignatureAuth parses RFC 7427 §3 authentication data strictly: the length byte must
// cover exactly one DER AlgorithmIdentifier, and a non-empty signature must follow.
// Algorithms RFC 8247 forbids or oakley does not implement (SHA-1, DSA, Ed448, PSS with a
// hash other than SHA-2 or an MGF1 hash different from it) are ErrUnsupportedAlgorithm;
// broken encodings are ErrMalformed.
func DecodeSignatureAuth(data []byte) (SignatureAuth, error) {
	if len(data) < 1 {
		return SignatureAuth{}, errorf(ErrMalformed, "RFC 7427 authentication data is empty")
	}
	n := int(data[0])
	if n == 0 || len(data) < 1+n {
		return SignatureAuth{}, errorf(ErrMalformed, "RFC 7427 AlgorithmIdentifier length %d exceeds the %d bytes present", n, len(data)-1)
	}
	aiDER, sig := data[1:1+n], data[1+n:]
	if len(sig) == 0 || len(sig) > maxSignature {
		return SignatureAuth{}, errorf(ErrMalformed, "RFC 7427 signature of %d bytes", len(sig))
	}
	var ai pkix.AlgorithmIdentifier
	rest, err := asn1.Unmarshal(aiDER, &ai)
	if err != nil || len(rest) != 0 {
		return SignatureAuth{}, errorf(ErrMalformed, "RFC 7427 AlgorithmIdentifier is not one DER value")
	}
	s, salt, err := schemeOf(ai)
	if err != nil {
		return SignatureAuth{}, err
	}
	return SignatureAuth{Scheme: s, PSSSaltLen: salt, Signature: sig}, nil
}

// isNullOrAbsent reports whether AlgorithmIdentifier parameters are absent or NULL.
func isNullOrAbsent(p asn1.RawValue) bool {
	return len(p.FullBytes) == 0 || bytes.Equal(p.FullBytes, asn1.NullBytes)
}

func schemeOf(ai pkix.AlgorithmIdentifier) (Scheme, int, error) {
	o := ai.Algorithm
	noParams := len(ai.Parameters.FullBytes) == 0
	switch {
	case o.Equal(oidRSASHA256), o.Equal(oidRSASHA384), o.Equal(oidRSASHA512):
		if !isNullOrAbsent(ai.Parameters) {
			return 0, 0, errorf(ErrMalformed, "%s with parameters other than NULL", o)
		}
		switch {
		case o.Equal(oidRSASHA256):
			return RSAPKCS1SHA256, 0, nil
		case o.Equal(oidRSASHA384):
			return RSAPKCS1SHA384, 0, nil
		}
		return RSAPKCS1SHA512, 0, nil
	case o.Equal(oidECSHA256), o.Equal(oidECSHA384), o.Equal(oidECSHA512), o.Equal(oidEd25519):
		if !noParams {
			return 0, 0, errorf(ErrMalformed, "%s must have no parameters", o)
		}
		switch {
		case o.Equal(oidECSHA256):
			return ECDSASHA256, 0, nil
		case o.Equal(oidECSHA384):
			return ECDSASHA384, 0, nil
		case o.Equal(oidECSHA512):
			return ECDSASHA512, 0, nil
		}
		return Ed25519, 0, nil
	case o.Equal(oidRSAPSS):
		return pssScheme(ai.Parameters)
	case o.Equal(oidRSASHA1):
		return 0, 0, errorf(ErrUnsupportedAlgorithm, "sha1WithRSAEncryption is refused (RFC 8247 §3.2: SHA-1 MUST NOT be used)")
	case o.Equal(oidECSHA1):
		return 0, 0, errorf(ErrUnsupportedAlgorithm, "ecdsa-with-SHA1 is refused (RFC 8247 §3.2: SHA-1 MUST NOT be used)")
	case o.Equal(oidDSASHA1), o.Equal(oidDSASHA256):
		return 0, 0, errorf(ErrUnsupportedAlgorithm, "DSA signatures are not supported")
	case o.Equal(oidEd448):
		return 0, 0, errorf(ErrUnsupportedAlgorithm, "Ed448 signatures are not supported")
	}
	return 0, 0, errorf(ErrUnsupportedAlgorithm, "signature algorithm %s is not supported", o)
}

// pssScheme decodes RSASSA-PSS-params: hash SHA-256/384/512, MGF1 with the same hash, any
// salt length from 0 to 512, trailer 1 (explicit or default).
func pssScheme(p asn1.RawValue) (Scheme, int, error) {
	if len(p.FullBytes) == 0 {
		return 0, 0, errorf(ErrUnsupportedAlgorithm, "RSASSA-PSS without parameters means SHA-1, which is refused (RFC 8247 §3.2)")
	}
	var pp pssParams
	rest, err := asn1.Unmarshal(p.FullBytes, &pp)
	if err != nil || len(rest) != 0 {
		return 0, 0, errorf(ErrMalformed, "RSASSA-PSS parameters do not parse")
	}
	if len(pp.Hash.Algorithm) == 0 || pp.Hash.Algorithm.Equal(oidSHA1) {
		return 0, 0, errorf(ErrUnsupportedAlgorithm, "RSASSA-PSS with SHA-1 is refused (RFC 8247 §3.2)")
	}
	if !isNullOrAbsent(pp.Hash.Parameters) {
		return 0, 0, errorf(ErrMalformed, "RSASSA-PSS hash with parameters")
	}
	var s Scheme
	switch {
	case pp.Hash.Algorithm.Equal(oidSHA256):
		s = RSAPSSSHA256
	case pp.Hash.Algorithm.Equal(oidSHA384):
		s = RSAPSSSHA384
	case pp.Hash.Algorithm.Equal(oidSHA512):
		s = RSAPSSSHA512
	default:
		return 0, 0, errorf(ErrUnsupportedAlgorithm, "RSASSA-PSS with hash %s is not supported", pp.Hash.Algorithm)
	}
	if len(pp.MGF.Algorithm) == 0 {
		return 0, 0, errorf(ErrUnsupportedAlgorithm, "RSASSA-PSS with the default MGF1-SHA-1 is not supported")
	}
	if !pp.MGF.Algorithm.Equal(oidMGF1) {
		return 0, 0, errorf(ErrUnsupportedAlgorithm, "RSASSA-PSS mask generation %s is not supported", pp.MGF.Algorithm)
	}
	var mh pkix.AlgorithmIdentifier
	rest, err = asn1.Unmarshal(pp.MGF.Parameters.FullBytes, &mh)
	if err != nil || len(rest) != 0 || !isNullOrAbsent(mh.Parameters) {
		return 0, 0, errorf(ErrMalformed, "RSASSA-PSS MGF1 parameters do not parse")
	}
	if !mh.Algorithm.Equal(pp.Hash.Algorithm) {
		return 0, 0, errorf(ErrUnsupportedAlgorithm, "RSASSA-PSS with MGF1 hash %s different from the hash %s is not supported", mh.Algorithm, pp.Hash.Algorithm)
	}
	if pp.SaltLen < 0 || pp.SaltLen > 512 {
		return 0, 0, errorf(ErrMalformed, "RSASSA-PSS saltLength %d", pp.SaltLen)
	}
	if pp.Trailer != 1 {
		return 0, 0, errorf(ErrMalformed, "RSASSA-PSS trailerField %d (must be 1)", pp.Trailer)
	}
	return s, pp.SaltLen, nil
}

// HashAlg is a SIGNATURE_HASH_ALGORITHMS value (RFC 7427 §4, IANA "IKEv2 Hash Algorithms").
// It is a value type, safe for concurrent use.
type HashAlg uint16

const (
	HashSHA1     HashAlg = 1
	HashSHA256   HashAlg = 2
	HashSHA384   HashAlg = 3
	HashSHA512   HashAlg = 4
	HashIdentity HashAlg = 5 // RFC 8420: for EdDSA
)

func (h HashAlg) String() string {
	switch h {
	case HashSHA1:
		return "SHA1"
	case HashSHA256:
		return "SHA2_256"
	case HashSHA384:
		return "SHA2_384"
	case HashSHA512:
		return "SHA2_512"
	case HashIdentity:
		return "IDENTITY"
	}
	return fmt.Sprintf("HASH_%d", uint16(h))
}

// SupportedHashAlgs is what oakley announces in SIGNATURE_HASH_ALGORITHMS: the SHA-2 hashes
// and Identity (for Ed25519). SHA-1 is not announced (RFC 8247 §3.2).
func SupportedHashAlgs() []HashAlg {
	return []HashAlg{HashSHA256, HashSHA384, HashSHA512, HashIdentity}
}

// EncodeHashAlgs builds the SIGNATURE_HASH_ALGORITHMS notification data: 16-bit values.
func EncodeHashAlgs(algs []HashAlg) []byte {
	out := make([]byte, 2*len(algs))
	for i, a := range algs {
		binary.BigEndian.PutUint16(out[2*i:], uint16(a))
	}
	return out
}

// maxHashAlgs bounds a received list (IANA has assigned a handful).
const maxHashAlgs = 64

// ParseHashAlgs decodes received SIGNATURE_HASH_ALGORITHMS data. Unknown values are kept
// (the selection ignores them); an odd length or an over-long list is ErrMalformed.
func ParseHashAlgs(data []byte) ([]HashAlg, error) {
	if len(data)%2 != 0 {
		return nil, errorf(ErrMalformed, "SIGNATURE_HASH_ALGORITHMS of odd length %d", len(data))
	}
	if len(data) > 2*maxHashAlgs {
		return nil, errorf(ErrMalformed, "SIGNATURE_HASH_ALGORITHMS with more than %d values", maxHashAlgs)
	}
	out := make([]HashAlg, len(data)/2)
	for i := range out {
		out[i] = HashAlg(binary.BigEndian.Uint16(data[2*i:]))
	}
	return out, nil
}
