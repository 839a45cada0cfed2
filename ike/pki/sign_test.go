package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"testing"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// rsaOpen applies the public exponent: the encoded message EM of a PKCS#1 signature.
func rsaOpen(pub *rsa.PublicKey, sig []byte) []byte {
	m := new(big.Int).Exp(new(big.Int).SetBytes(sig), big.NewInt(int64(pub.E)), pub.N)
	return m.FillBytes(make([]byte, pub.Size()))
}

// wantEMSA checks EM = 00 01 FF..FF 00 || t (RFC 8017 §9.2).
func wantEMSA(t *testing.T, em, tail []byte) {
	t.Helper()
	if len(em) < len(tail)+11 || em[0] != 0 || em[1] != 1 {
		t.Fatalf("EM does not start with 00 01: %x", em[:4])
	}
	i := 2
	for i < len(em) && em[i] == 0xff {
		i++
	}
	if i < 10 || em[i] != 0 || !bytes.Equal(em[i+1:], tail) {
		t.Fatalf("EM tail %x, want %x", em[i+1:], tail)
	}
}

var v1Cases = []struct {
	key    string
	method V1Method
	sigLen int
}{
	{"rsa2048", V1RSASig, 256},
	{"rsa3072", V1RSASig, 384},
	{"rsa4096", V1RSASig, 512},
	{"p256", V1ECDSA256, 64},
	{"p384", V1ECDSA384, 96},
	{"p521", V1ECDSA521, 132},
}

func TestSignV1RoundTrip(t *testing.T) {
	for _, c := range v1Cases {
		t.Run(c.key, func(t *testing.T) {
			key := testKey(t, c.key)
			m, err := V1MethodFor(key.Public())
			if err != nil || m != c.method {
				t.Fatalf("V1MethodFor = %v, %v", m, err)
			}
			hashLen := 20 // HMAC-SHA1 HASH_I for RSA with a SHA-1 PRF
			if h := m.AuthHash(); h != 0 {
				hashLen = h.Size()
			}
			hash := bytes.Repeat([]byte{0xa5}, hashLen)
			sig, err := SignV1(rand.Reader, key, m, hash)
			wantErr(t, err, nil)
			if len(sig) != c.sigLen {
				t.Fatalf("signature of %d bytes, want %d", len(sig), c.sigLen)
			}
			wantErr(t, VerifyV1(key.Public(), m, hash, sig), nil)
			// Negative controls: a flipped signature bit, another hash, another key.
			bad := append([]byte(nil), sig...)
			bad[len(bad)/2] ^= 1
			wantErr(t, VerifyV1(key.Public(), m, hash, bad), ErrBadSignature)
			other := append([]byte(nil), hash...)
			other[0] ^= 1
			wantErr(t, VerifyV1(key.Public(), m, other, sig), ErrBadSignature)
			wantErr(t, VerifyV1(testKey(t, c.key+"#other").Public(), m, hash, sig), ErrBadSignature)
			wantErr(t, VerifyV1(key.Public(), m, hash, sig[:len(sig)-1]), ErrBadSignature)
			if rk, ok := key.Public().(*rsa.PublicKey); ok {
				// RFC 2409 §5.1 as strongSwan and Cisco sign: PKCS#1 type 1 padding over
				// the raw hash, no DigestInfo.
				wantEMSA(t, rsaOpen(rk, sig), hash)
			}
		})
	}
}

func TestSignV1ECDSAIsRawDigest(t *testing.T) {
	// The ECDSA SIG must verify over HASH_I itself (SIGN_ECDSA_WITH_NULL), not over a hash
	// of it: checked with crypto/ecdsa directly.
	key := testKey(t, "p256").(*ecdsa.PrivateKey)
	hash := sha256.Sum256([]byte("HASH_I stand-in"))
	sig, err := SignV1(rand.Reader, key, V1ECDSA256, hash[:])
	wantErr(t, err, nil)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(&key.PublicKey, hash[:], r, s) {
		t.Fatal("r||s does not verify over the raw hash")
	}
	rehash := sha256.Sum256(hash[:])
	if ecdsa.Verify(&key.PublicKey, rehash[:], r, s) {
		t.Fatal("signature verifies over the re-hashed hash")
	}
}

func TestSignV1Mismatch(t *testing.T) {
	hash32 := make([]byte, 32)
	_, err := SignV1(rand.Reader, testKey(t, "rsa2048"), V1ECDSA256, hash32)
	wantErr(t, err, ErrMethodMismatch, "ECDSA-256 (9)", "RSA-2048", "cannot meet")
	_, err = SignV1(rand.Reader, testKey(t, "p384"), V1ECDSA256, hash32)
	wantErr(t, err, ErrMethodMismatch, "P-256", "P-384")
	wantErr(t, VerifyV1(testKey(t, "p256").Public(), V1RSASig, hash32, make([]byte, 64)), ErrMethodMismatch, "RSA signature (3)")
	_, err = SignV1(rand.Reader, testKey(t, "ed25519"), V1RSASig, hash32)
	wantErr(t, err, ErrUnsupportedKey, "Ed25519")
	_, err = SignV1(rand.Reader, testKey(t, "p256"), V1ECDSA256, make([]byte, 20))
	wantErr(t, err, ErrMalformed, "32-byte")
	_, err = SignV1(rand.Reader, testKey(t, "rsa2048"), V1Method(1), hash32)
	wantErr(t, err, ErrUnsupportedAlgorithm)
	_, err = SignV1(rand.Reader, testKey(t, "rsa2048"), V1RSASig, nil)
	wantErr(t, err, ErrMalformed)
	// control
	_, err = SignV1(rand.Reader, testKey(t, "p256"), V1ECDSA256, hash32)
	wantErr(t, err, nil)
}

type v2Case struct {
	key    string
	method V2Method
	scheme Scheme
}

func v2Cases() []v2Case {
	var cs []v2Case
	for _, k := range []string{"rsa2048", "rsa3072", "rsa4096"} {
		cs = append(cs, v2Case{k, V2RSASig, SchemeNone})
		for _, s := range []Scheme{RSAPKCS1SHA256, RSAPKCS1SHA384, RSAPKCS1SHA512, RSAPSSSHA256, RSAPSSSHA384, RSAPSSSHA512} {
			cs = append(cs, v2Case{k, V2DigitalSignature, s})
		}
	}
	for i, k := range []string{"p256", "p384", "p521"} {
		cs = append(cs, v2Case{k, V2ECDSA256 + V2Method(i), SchemeNone})
		for _, s := range []Scheme{ECDSASHA256, ECDSASHA384, ECDSASHA512} {
			cs = append(cs, v2Case{k, V2DigitalSignature, s})
		}
	}
	return append(cs, v2Case{"ed25519", V2DigitalSignature, Ed25519})
}

func TestSignV2RoundTrip(t *testing.T) {
	octets := []byte("IKE_SA_INIT message | Nr | prf(SK_pi, IDi')")
	for _, c := range v2Cases() {
		t.Run(c.key+"/"+c.method.String()+"/"+c.scheme.String(), func(t *testing.T) {
			key := testKey(t, c.key)
			auth, err := SignV2(rand.Reader, key, c.method, c.scheme, octets)
			wantErr(t, err, nil)
			got, err := VerifyV2(key.Public(), c.method, octets, auth)
			wantErr(t, err, nil)
			if got != c.scheme {
				t.Errorf("scheme %v, want %v", got, c.scheme)
			}
			bad := append([]byte(nil), auth...)
			bad[len(bad)-3] ^= 0x10
			_, err = VerifyV2(key.Public(), c.method, octets, bad)
			wantErr(t, err, ErrBadSignature)
			_, err = VerifyV2(key.Public(), c.method, append([]byte{0}, octets...), auth)
			wantErr(t, err, ErrBadSignature)
			_, err = VerifyV2(testKey(t, c.key+"#other").Public(), c.method, octets, auth)
			wantErr(t, err, ErrBadSignature)
			if c.method == V2DigitalSignature {
				sa, err := DecodeSignatureAuth(auth)
				wantErr(t, err, nil)
				if sa.Scheme != c.scheme {
					t.Errorf("decoded %v", sa.Scheme)
				}
			}
		})
	}
}

func TestSignV2Formats(t *testing.T) {
	octets := []byte("octets")
	// Method 1: PKCS#1 v1.5 with the SHA-1 DigestInfo (RFC 8017 §9.2 note 1).
	rk := testKey(t, "rsa2048")
	sig, err := SignV2(rand.Reader, rk, V2RSASig, SchemeNone, octets)
	wantErr(t, err, nil)
	h1 := sha1.Sum(octets)
	wantEMSA(t, rsaOpen(rk.Public().(*rsa.PublicKey), sig), append(mustHex("3021300906052b0e03021a05000414"), h1[:]...))
	// Method 14 PKCS#1 SHA-256: the DigestInfo of SHA-256.
	auth, err := SignV2(rand.Reader, rk, V2DigitalSignature, RSAPKCS1SHA256, octets)
	wantErr(t, err, nil)
	sa, _ := DecodeSignatureAuth(auth)
	h256 := sha256.Sum256(octets)
	wantEMSA(t, rsaOpen(rk.Public().(*rsa.PublicKey), sa.Signature), append(mustHex("3031300d060960864801650304020105000420"), h256[:]...))
	// Method 14 PSS: salt as long as the hash (crypto/rsa checks it when told the length).
	auth, err = SignV2(rand.Reader, rk, V2DigitalSignature, RSAPSSSHA256, octets)
	wantErr(t, err, nil)
	sa, _ = DecodeSignatureAuth(auth)
	if sa.PSSSaltLen != 32 || rsa.VerifyPSS(rk.Public().(*rsa.PublicKey), crypto.SHA256, h256[:], sa.Signature, &rsa.PSSOptions{SaltLength: 32}) != nil {
		t.Fatalf("PSS salt %d or signature wrong", sa.PSSSaltLen)
	}
	// Method 9: r||s over SHA-256(octets); method 14 ECDSA: DER.
	ek := testKey(t, "p256").(*ecdsa.PrivateKey)
	raw, err := SignV2(rand.Reader, ek, V2ECDSA256, SchemeNone, octets)
	wantErr(t, err, nil)
	if len(raw) != 64 || !ecdsa.Verify(&ek.PublicKey, h256[:], new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])) {
		t.Fatal("method 9 is not r||s over SHA-256")
	}
	auth, err = SignV2(rand.Reader, ek, V2DigitalSignature, ECDSASHA256, octets)
	wantErr(t, err, nil)
	sa, _ = DecodeSignatureAuth(auth)
	if !ecdsa.VerifyASN1(&ek.PublicKey, h256[:], sa.Signature) {
		t.Fatal("method 14 ECDSA is not a DER signature over SHA-256")
	}
	// Ed25519 signs the octets themselves.
	edk := testKey(t, "ed25519")
	auth, err = SignV2(rand.Reader, edk, V2DigitalSignature, Ed25519, octets)
	wantErr(t, err, nil)
	sa, _ = DecodeSignatureAuth(auth)
	if !ed25519.Verify(edk.Public().(ed25519.PublicKey), octets, sa.Signature) {
		t.Fatal("Ed25519 does not sign the octets")
	}
}

func TestSignV2Mismatch(t *testing.T) {
	o := []byte("x")
	_, err := SignV2(rand.Reader, testKey(t, "p256"), V2RSASig, SchemeNone, o)
	wantErr(t, err, ErrMethodMismatch)
	_, err = SignV2(rand.Reader, testKey(t, "p384"), V2ECDSA256, SchemeNone, o)
	wantErr(t, err, ErrMethodMismatch, "P-256")
	_, err = SignV2(rand.Reader, testKey(t, "rsa2048"), V2DigitalSignature, ECDSASHA256, o)
	wantErr(t, err, ErrMethodMismatch)
	_, err = SignV2(rand.Reader, testKey(t, "rsa2048"), V2DigitalSignature, SchemeNone, o)
	wantErr(t, err, ErrUnsupportedAlgorithm)
	_, err = SignV2(rand.Reader, testKey(t, "rsa2048"), V2Method(2), SchemeNone, o)
	wantErr(t, err, ErrUnsupportedAlgorithm)
	// A P-256 signature presented as an RSA scheme is a mismatch, not a crash.
	auth, _ := SignV2(rand.Reader, testKey(t, "p256"), V2DigitalSignature, ECDSASHA256, o)
	_, err = VerifyV2(testKey(t, "rsa2048").Public(), V2DigitalSignature, o, auth)
	wantErr(t, err, ErrMethodMismatch)
	_, err = VerifyV2(testKey(t, "p256").Public(), V2DigitalSignature, o, auth)
	wantErr(t, err, nil)
}

func TestSelectScheme(t *testing.T) {
	all := SupportedHashAlgs()
	cases := []struct {
		key  string
		peer []HashAlg
		pss  bool
		want Scheme
		err  error
	}{
		{"rsa2048", all, false, RSAPKCS1SHA256, nil},
		{"rsa3072", all, true, RSAPSSSHA256, nil},
		{"rsa4096", all, false, RSAPKCS1SHA384, nil},
		{"rsa2048", []HashAlg{HashSHA512}, false, RSAPKCS1SHA512, nil},
		{"p256", all, false, ECDSASHA256, nil},
		{"p384", all, false, ECDSASHA384, nil},
		{"p521", all, false, ECDSASHA512, nil},
		{"p521", []HashAlg{HashSHA256, 99}, false, ECDSASHA256, nil},
		{"ed25519", all, false, Ed25519, nil},
		{"ed25519", []HashAlg{HashSHA256}, false, SchemeNone, ErrUnsupportedAlgorithm},
		{"p256", []HashAlg{HashSHA1}, false, SchemeNone, ErrUnsupportedAlgorithm},
		{"rsa2048", nil, false, SchemeNone, ErrUnsupportedAlgorithm},
	}
	for _, c := range cases {
		got, err := SelectScheme(testKey(t, c.key).Public(), c.peer, c.pss)
		if c.err != nil {
			wantErr(t, err, c.err)
			continue
		}
		wantErr(t, err, nil)
		if got != c.want {
			t.Errorf("%s %v pss=%v: %v, want %v", c.key, c.peer, c.pss, got, c.want)
		}
	}
	for _, c := range []struct {
		key  string
		want V2Method
	}{{"rsa2048", V2RSASig}, {"p256", V2ECDSA256}, {"p384", V2ECDSA384}, {"p521", V2ECDSA521}} {
		if m, err := V2LegacyMethod(testKey(t, c.key).Public()); err != nil || m != c.want {
			t.Errorf("V2LegacyMethod(%s) = %v, %v", c.key, m, err)
		}
	}
	_, err := V2LegacyMethod(testKey(t, "ed25519").Public())
	wantErr(t, err, ErrUnsupportedKey)
}

func TestHashAlgs(t *testing.T) {
	enc := EncodeHashAlgs(SupportedHashAlgs())
	if !bytes.Equal(enc, mustHex("0002000300040005")) {
		t.Fatalf("encoded %x", enc)
	}
	got, err := ParseHashAlgs(append(enc, 0x12, 0x34))
	wantErr(t, err, nil)
	if len(got) != 5 || got[4] != 0x1234 || got[0] != HashSHA256 {
		t.Fatalf("parsed %v", got)
	}
	_, err = ParseHashAlgs(enc[:3])
	wantErr(t, err, ErrMalformed, "odd")
	_, err = ParseHashAlgs(make([]byte, 2*maxHashAlgs+2))
	wantErr(t, err, ErrMalformed)
}
