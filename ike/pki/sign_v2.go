package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"io"
	"slices"
)

// V2Method is an IKEv2 Auth Method that signs (RFC 7296 §3.8, RFC 4754, RFC 7427).
// It is a value type, safe for concurrent use.
type V2Method uint8

const (
	V2RSASig           V2Method = 1  // RSA PKCS#1 v1.5 with a SHA-1 DigestInfo (RFC 7296 §3.8)
	V2ECDSA256         V2Method = 9  // ECDSA P-256 with SHA-256, r||s (RFC 4754)
	V2ECDSA384         V2Method = 10 // ECDSA P-384 with SHA-384
	V2ECDSA521         V2Method = 11 // ECDSA P-521 with SHA-512
	V2DigitalSignature V2Method = 14 // RFC 7427: the algorithm travels with the signature
)

func (m V2Method) String() string {
	switch m {
	case V2RSASig:
		return "RSA signature (1)"
	case V2ECDSA256:
		return "ECDSA-256 (9)"
	case V2ECDSA384:
		return "ECDSA-384 (10)"
	case V2ECDSA521:
		return "ECDSA-521 (11)"
	case V2DigitalSignature:
		return "Digital Signature (14)"
	}
	return fmt.Sprintf("auth method %d", uint8(m))
}

// ecdsaMethod returns the curve and hash of methods 9-11.
func (m V2Method) ecdsaMethod() (elliptic.Curve, crypto.Hash, bool) {
	switch m {
	case V2ECDSA256:
		return elliptic.P256(), crypto.SHA256, true
	case V2ECDSA384:
		return elliptic.P384(), crypto.SHA384, true
	case V2ECDSA521:
		return elliptic.P521(), crypto.SHA512, true
	}
	return nil, 0, false
}

// V2LegacyMethod returns the pre-RFC 7427 method for a key, for peers that did not send
// SIGNATURE_HASH_ALGORITHMS: 1 for RSA, 9/10/11 for ECDSA by curve. Ed25519 has none.
func V2LegacyMethod(pub crypto.PublicKey) (V2Method, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return V2RSASig, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return V2ECDSA256, nil
		case elliptic.P384():
			return V2ECDSA384, nil
		case elliptic.P521():
			return V2ECDSA521, nil
		}
	case ed25519.PublicKey:
		return 0, errorf(ErrUnsupportedKey, "Ed25519 needs RFC 7427 signature authentication, and the peer did not announce SIGNATURE_HASH_ALGORITHMS with Identity")
	}
	return 0, errorf(ErrUnsupportedKey, "no IKEv2 method for a %s key", KeyDescription(pub))
}

// SelectScheme picks the RFC 7427 scheme for our key from the hash algorithms the peer
// announced (RFC 7427 §4): Ed25519 needs Identity; ECDSA prefers the hash that matches its
// curve (P-256/SHA-256, P-384/SHA-384, P-521/SHA-512), then the strongest other SHA-2 the
// peer offers; RSA picks its hash by key size as strongSwan does (SHA-256 up to 3072 bits,
// SHA-384 up to 7680, SHA-512 above), then the strongest other, with PSS if preferPSS and
// PKCS#1 v1.5 otherwise. An empty or unusable list is an error: use V2LegacyMethod then.
func SelectScheme(pub crypto.PublicKey, peer []HashAlg, preferPSS bool) (Scheme, error) {
	has := func(h HashAlg) bool { return slices.Contains(peer, h) }
	order := func(first HashAlg) []HashAlg {
		o := []HashAlg{first}
		for _, h := range []HashAlg{HashSHA512, HashSHA384, HashSHA256} {
			if h != first {
				o = append(o, h)
			}
		}
		return o
	}
	var pref []HashAlg
	var pick func(HashAlg) Scheme
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if has(HashIdentity) {
			return Ed25519, nil
		}
		return SchemeNone, errorf(ErrUnsupportedAlgorithm, "the peer did not announce the Identity hash that Ed25519 needs (RFC 8420)")
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P384():
			pref = order(HashSHA384)
		case elliptic.P521():
			pref = order(HashSHA512)
		default:
			pref = order(HashSHA256)
		}
		pick = func(h HashAlg) Scheme {
			return map[HashAlg]Scheme{HashSHA256: ECDSASHA256, HashSHA384: ECDSASHA384, HashSHA512: ECDSASHA512}[h]
		}
	case *rsa.PublicKey:
		switch bits := k.N.BitLen(); {
		case bits <= 3072:
			pref = order(HashSHA256)
		case bits <= 7680:
			pref = order(HashSHA384)
		default:
			pref = order(HashSHA512)
		}
		if preferPSS {
			pick = func(h HashAlg) Scheme {
				return map[HashAlg]Scheme{HashSHA256: RSAPSSSHA256, HashSHA384: RSAPSSSHA384, HashSHA512: RSAPSSSHA512}[h]
			}
		} else {
			pick = func(h HashAlg) Scheme {
				return map[HashAlg]Scheme{HashSHA256: RSAPKCS1SHA256, HashSHA384: RSAPKCS1SHA384, HashSHA512: RSAPKCS1SHA512}[h]
			}
		}
	default:
		return SchemeNone, errorf(ErrUnsupportedKey, "no RFC 7427 scheme for a %s key", KeyDescription(pub))
	}
	for _, h := range pref {
		if has(h) {
			return pick(h), nil
		}
	}
	return SchemeNone, errorf(ErrUnsupportedAlgorithm, "the peer announced no SHA-2 hash in SIGNATURE_HASH_ALGORITHMS (%v)", peer)
}

// schemeFits checks that a scheme can be used with a key.
func schemeFits(s Scheme, pub crypto.PublicKey) error {
	info, ok := schemes[s]
	if !ok {
		return errorf(ErrUnsupportedAlgorithm, "unknown signature scheme %v", s)
	}
	var kind string
	switch pub.(type) {
	case *rsa.PublicKey:
		kind = "RSA"
	case *ecdsa.PublicKey:
		kind = "ECDSA"
	case ed25519.PublicKey:
		kind = "Ed25519"
	}
	if kind != info.kind {
		return errorf(ErrMethodMismatch, "signature scheme %v needs an %s key, the key is %s", s, info.kind, KeyDescription(pub))
	}
	return checkPublicKey(pub)
}

// SignV2 computes the AUTH payload's Authentication Data over the octets RFC 7296 §2.15
// defines (the message, the peer's nonce, prf(SK_p, ID)).
//
//   - method 1: PKCS#1 v1.5 over SHA-1(octets) with the SHA-1 DigestInfo;
//   - methods 9-11: ECDSA over the method's hash of octets, r||s (RFC 4754 §7); the key must
//     be on the method's curve;
//   - method 14 (RFC 7427): scheme's signature, prefixed by its AlgorithmIdentifier
//     (EncodeSignatureAuth); ECDSA signatures are DER there, Ed25519 signs octets directly.
//
// scheme is used by method 14 only. rand supplies the randomness (PSS salt, ECDSA nonce;
// Go's crypto may use its own source for ECDSA).
func SignV2(rand io.Reader, key crypto.Signer, m V2Method, scheme Scheme, octets []byte) ([]byte, error) {
	if key == nil {
		return nil, errorf(ErrUnsupportedKey, "no private key")
	}
	pub := key.Public()
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	switch m {
	case V2RSASig:
		if _, ok := pub.(*rsa.PublicKey); !ok {
			return nil, errorf(ErrMethodMismatch, "IKEv2 %v needs an RSA key, the key is %s", m, KeyDescription(pub))
		}
		return signWith(rand, key, crypto.SHA1, octets, crypto.SHA1)
	case V2ECDSA256, V2ECDSA384, V2ECDSA521:
		curve, h, _ := m.ecdsaMethod()
		if k, ok := pub.(*ecdsa.PublicKey); !ok || k.Curve != curve {
			return nil, errorf(ErrMethodMismatch, "IKEv2 %v needs an ECDSA %s key, the key is %s", m, curve.Params().Name, KeyDescription(pub))
		}
		der, err := signWith(rand, key, h, octets, h)
		if err != nil {
			return nil, err
		}
		return ecdsaDERToRaw(der, curve)
	case V2DigitalSignature:
		if err := schemeFits(scheme, pub); err != nil {
			return nil, err
		}
		info := schemes[scheme]
		var opts crypto.SignerOpts = info.hash
		if info.pss {
			opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: info.hash}
		}
		sig, err := signWith(rand, key, info.hash, octets, opts)
		if err != nil {
			return nil, err
		}
		return EncodeSignatureAuth(scheme, sig)
	}
	return nil, errorf(ErrUnsupportedAlgorithm, "IKEv2 %v is not a signature method", m)
}

// signWith hashes octets with h (none for 0) and signs the digest.
func signWith(rand io.Reader, key crypto.Signer, h crypto.Hash, octets []byte, opts crypto.SignerOpts) ([]byte, error) {
	digest := octets
	if h != 0 {
		d := h.New()
		d.Write(octets)
		digest = d.Sum(nil)
	}
	sig, err := key.Sign(rand, digest, opts)
	if err != nil {
		return nil, errorf(ErrUnsupportedKey, "signing with the %s key failed: %v", KeyDescription(key.Public()), err)
	}
	return sig, nil
}

func digestOf(h crypto.Hash, octets []byte) []byte {
	d := h.New()
	d.Write(octets)
	return d.Sum(nil)
}

// VerifyV2 verifies received AUTH Authentication Data (see SignV2) with the peer's public
// key. For method 14 it returns the scheme the peer used; the key type must fit it.
func VerifyV2(pub crypto.PublicKey, m V2Method, octets, authData []byte) (Scheme, error) {
	if err := checkPublicKey(pub); err != nil {
		return SchemeNone, err
	}
	bad := func(what string) error {
		return errorf(ErrBadSignature, "IKEv2 AUTH (%s) does not verify with the peer's %s key", what, KeyDescription(pub))
	}
	switch m {
	case V2RSASig:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return SchemeNone, errorf(ErrMethodMismatch, "the peer used IKEv2 %v, but its key is %s", m, KeyDescription(pub))
		}
		if rsa.VerifyPKCS1v15(k, crypto.SHA1, digestOf(crypto.SHA1, octets), authData) != nil {
			return SchemeNone, bad(m.String())
		}
		return SchemeNone, nil
	case V2ECDSA256, V2ECDSA384, V2ECDSA521:
		curve, h, _ := m.ecdsaMethod()
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != curve {
			return SchemeNone, errorf(ErrMethodMismatch, "the peer used IKEv2 %v, but its key is %s", m, KeyDescription(pub))
		}
		if !verifyECDSARaw(k, digestOf(h, octets), authData) {
			return SchemeNone, bad(m.String())
		}
		return SchemeNone, nil
	case V2DigitalSignature:
		sa, err := DecodeSignatureAuth(authData)
		if err != nil {
			return SchemeNone, err
		}
		if err := schemeFits(sa.Scheme, pub); err != nil {
			return sa.Scheme, err
		}
		info := schemes[sa.Scheme]
		ok := false
		switch k := pub.(type) {
		case *rsa.PublicKey:
			d := digestOf(info.hash, octets)
			if info.pss {
				ok = rsa.VerifyPSS(k, info.hash, d, sa.Signature, &rsa.PSSOptions{SaltLength: sa.PSSSaltLen, Hash: info.hash}) == nil
			} else {
				ok = rsa.VerifyPKCS1v15(k, info.hash, d, sa.Signature) == nil
			}
		case *ecdsa.PublicKey:
			ok = ecdsa.VerifyASN1(k, digestOf(info.hash, octets), sa.Signature)
		case ed25519.PublicKey:
			ok = ed25519.Verify(k, octets, sa.Signature)
		}
		if !ok {
			return sa.Scheme, bad(sa.Scheme.String())
		}
		return sa.Scheme, nil
	}
	return SchemeNone, errorf(ErrUnsupportedAlgorithm, "IKEv2 %v is not a signature method", m)
}
