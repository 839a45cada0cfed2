package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
)

// V1Method is an IKEv1 Phase 1 authentication method that signs (RFC 2409 Appendix A,
// RFC 4754 §6). It is a value type, safe for concurrent use.
type V1Method uint16

const (
	V1RSASig   V1Method = 3  // RSA signatures (RFC 2409 §5.1)
	V1ECDSA256 V1Method = 9  // ECDSA with SHA-256 on P-256 (RFC 4754)
	V1ECDSA384 V1Method = 10 // ECDSA with SHA-384 on P-384
	V1ECDSA521 V1Method = 11 // ECDSA with SHA-512 on P-521
)

func (m V1Method) String() string {
	switch m {
	case V1RSASig:
		return "RSA signature (3)"
	case V1ECDSA256:
		return "ECDSA-256 (9)"
	case V1ECDSA384:
		return "ECDSA-384 (10)"
	case V1ECDSA521:
		return "ECDSA-521 (11)"
	}
	return fmt.Sprintf("auth method %d", uint16(m))
}

// AuthHash is the hash of the HMAC that computes HASH_I and HASH_R for this method. For the
// ECDSA methods it is the method's hash, whatever PRF the proposal negotiated: RFC 4754 ties
// SHA-256/384/512 to methods 9/10/11, and strongSwan (keymat_v1.c, derive_ike_keys) switches
// the PRF of HASH_I/HASH_R to HMAC-SHA-256/384/512 for them while SKEYID and its
// derivatives keep the negotiated PRF; oakley does the same for interoperability. For RSA it
// is 0: the negotiated PRF.
func (m V1Method) AuthHash() crypto.Hash {
	switch m {
	case V1ECDSA256:
		return crypto.SHA256
	case V1ECDSA384:
		return crypto.SHA384
	case V1ECDSA521:
		return crypto.SHA512
	}
	return 0
}

// curve returns the curve an ECDSA method requires (nil for RSA).
func (m V1Method) curve() elliptic.Curve {
	switch m {
	case V1ECDSA256:
		return elliptic.P256()
	case V1ECDSA384:
		return elliptic.P384()
	case V1ECDSA521:
		return elliptic.P521()
	}
	return nil
}

// V1MethodFor returns the IKEv1 method a key signs with: 3 for RSA, 9/10/11 for ECDSA on
// P-256/P-384/P-521. IKEv1 has no Ed25519 method.
func V1MethodFor(pub crypto.PublicKey) (V1Method, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return V1RSASig, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return V1ECDSA256, nil
		case elliptic.P384():
			return V1ECDSA384, nil
		case elliptic.P521():
			return V1ECDSA521, nil
		}
	case ed25519.PublicKey:
		return 0, errorf(ErrUnsupportedKey, "IKEv1 has no authentication method for Ed25519 keys; use IKEv2 (RFC 8420) or an RSA/ECDSA key")
	}
	return 0, errorf(ErrUnsupportedKey, "IKEv1 cannot sign with a %s key", KeyDescription(pub))
}

// checkV1Key checks that pub fits m. In IKEv1 both peers sign with the single method the
// Phase 1 proposal names, so the message says that an RSA peer and an ECDSA peer (or
// ECDSA peers on different curves) cannot meet.
func checkV1Key(m V1Method, pub crypto.PublicKey) error {
	want, err := V1MethodFor(pub)
	if err != nil {
		return err
	}
	switch m {
	case V1RSASig, V1ECDSA256, V1ECDSA384, V1ECDSA521:
	default:
		return errorf(ErrUnsupportedAlgorithm, "IKEv1 %v is not a signature method", m)
	}
	if want != m {
		return errorf(ErrMethodMismatch, "IKEv1 %v needs %s, but the key is %s; both IKEv1 peers sign with the one method the proposal names, so an RSA peer and an ECDSA peer (or ECDSA on different curves) cannot meet: give both the same key type or use IKEv2", m, methodKeyName(m), KeyDescription(pub))
	}
	return nil
}

func methodKeyName(m V1Method) string {
	switch m {
	case V1ECDSA256:
		return "an ECDSA P-256 key"
	case V1ECDSA384:
		return "an ECDSA P-384 key"
	case V1ECDSA521:
		return "an ECDSA P-521 key"
	}
	return "an RSA key"
}

// SignV1 signs HASH_I or HASH_R for the SIG payload (RFC 2409 §5.1).
//
// RSA (method 3): PKCS#1 v1.5 type 1 padding over the raw hash bytes, without a DigestInfo
// (strongSwan's SIGN_RSA_EMSA_PKCS1_NULL; Cisco signs the same way).
//
// ECDSA (methods 9-11): hash is HASH_I/HASH_R computed with HMAC of the method's hash
// (AuthHash); it is signed as the digest itself, not hashed again (strongSwan's
// SIGN_ECDSA_WITH_NULL in pubkey_v1_authenticator.c), and the signature is r||s, each
// left-padded to the curve's byte length (RFC 4754 §7).
//
// rand supplies the randomness (Go's crypto/ecdsa may use its own source).
func SignV1(rand io.Reader, key crypto.Signer, m V1Method, hash []byte) ([]byte, error) {
	if key == nil {
		return nil, errorf(ErrUnsupportedKey, "no private key")
	}
	if err := checkV1Key(m, key.Public()); err != nil {
		return nil, err
	}
	if err := checkV1Hash(m, hash); err != nil {
		return nil, err
	}
	if m == V1RSASig {
		sig, err := key.Sign(rand, hash, crypto.Hash(0))
		if err != nil {
			return nil, errorf(ErrUnsupportedKey, "RSA signing failed: %v", err)
		}
		return sig, nil
	}
	der, err := key.Sign(rand, hash, m.AuthHash())
	if err != nil {
		return nil, errorf(ErrUnsupportedKey, "ECDSA signing failed: %v", err)
	}
	return ecdsaDERToRaw(der, m.curve())
}

// VerifyV1 verifies a received SIG payload over HASH_I or HASH_R (see SignV1).
func VerifyV1(pub crypto.PublicKey, m V1Method, hash, sig []byte) error {
	if err := checkV1Key(m, pub); err != nil {
		return err
	}
	if err := checkV1Hash(m, hash); err != nil {
		return err
	}
	if m == V1RSASig {
		if rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), 0, hash, sig) != nil {
			return errorf(ErrBadSignature, "IKEv1 %v does not verify with the peer's %s key", m, KeyDescription(pub))
		}
		return nil
	}
	if !verifyECDSARaw(pub.(*ecdsa.PublicKey), hash, sig) {
		return errorf(ErrBadSignature, "IKEv1 %v does not verify with the peer's %s key", m, KeyDescription(pub))
	}
	return nil
}

func checkV1Hash(m V1Method, hash []byte) error {
	if h := m.AuthHash(); h != 0 {
		if len(hash) != h.Size() {
			return errorf(ErrMalformed, "IKEv1 %v signs a %d-byte HASH_I/HASH_R (HMAC-%v), got %d bytes", m, h.Size(), h, len(hash))
		}
		return nil
	}
	if len(hash) == 0 || len(hash) > 64 {
		return errorf(ErrMalformed, "IKEv1 HASH_I/HASH_R of %d bytes", len(hash))
	}
	return nil
}

// ecdsaDERToRaw converts an ASN.1 ECDSA-Sig-Value (RFC 3279) to r||s of fixed length.
func ecdsaDERToRaw(der []byte, curve elliptic.Curve) ([]byte, error) {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil || len(rest) != 0 || v.R == nil || v.S == nil || v.R.Sign() <= 0 || v.S.Sign() <= 0 {
		return nil, errorf(ErrBadSignature, "the signer returned a malformed ECDSA signature")
	}
	n := (curve.Params().BitSize + 7) / 8
	if v.R.BitLen() > 8*n || v.S.BitLen() > 8*n {
		return nil, errorf(ErrBadSignature, "the signer returned an ECDSA signature too long for the curve")
	}
	out := make([]byte, 2*n)
	v.R.FillBytes(out[:n])
	v.S.FillBytes(out[n:])
	return out, nil
}

// verifyECDSARaw verifies an r||s signature (RFC 4754 §7) over digest.
func verifyECDSARaw(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	n := (pub.Curve.Params().BitSize + 7) / 8
	if len(sig) != 2*n {
		return false
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])})
	if err != nil {
		return false
	}
	return ecdsa.VerifyASN1(pub, digest, der) // faster than ecdsa.Verify, which re-encodes anyway
}
