package ikev1

// The primitives of authentication with public-key encryption (RFC 2409 §5.2, §5.3): RSA
// encryption of payload bodies (PKCS#1 v1.5, the only padding IKEv1 knows), the symmetric
// keys Ke_i/Ke_r of the revised mode, and the symmetric encryption of payload bodies with
// them. Only the body of an encrypted payload is encrypted; its generic header stays in the
// clear and its length covers the ciphertext (§5.2, §5.3).
//
// # Decryption failures are indistinguishable
//
// These modes are a Bleichenbacher oracle if a peer can tell a ciphertext whose PKCS#1 v1.5
// padding is valid from one whose padding is not (Felsch et al., "The Dangers of Key Reuse:
// Practical Attacks on IPsec IKE", USENIX Security 2018). So no decryption here fails:
// pkeDecrypt and pkeSymDecrypt return either the plaintext or a random substitute, chosen in
// constant time, and a flag the caller only ORs into the exchange's "bad" state. The exchange
// then goes on exactly as for a good plaintext (the same messages, the same computations) and
// fails only where a peer that did not know the nonces fails anyway: at HASH_I / HASH_R,
// with AUTHENTICATION-FAILED and the same log line. A ciphertext with valid padding but
// content the attacker does not know yields garbage that fails the same way as the random
// substitute, so the outcome does not depend on the padding.

import (
	"crypto/cipher"
	"crypto/rsa"
	"crypto/subtle"
	"io"

	"oakley/crypto"
	"oakley/ike/isakmp"
)

// pkeFallbackIDLen is the length of the random identity body that replaces one that did not
// decrypt (it fails to match, as any garbage does).
const pkeFallbackIDLen = 20

// pkeEncrypt encrypts a payload body for the peer: <b>PubKey (RFC 2409 §5.2), PKCS#1 v1.5.
func pkeEncrypt(rand io.Reader, pub *rsa.PublicKey, body []byte) ([]byte, error) {
	//lint:ignore SA1019 RFC 2409 §5.2 defines PKCS#1 v1.5 encryption; the modes stay behind insecure_algorithms
	return rsa.EncryptPKCS1v15(rand, pub, body)
}

// pkeDecrypt decrypts <b>PubKey with our key. It returns the plaintext when the padding is
// valid, else fallback, and whether it was valid; the choice is made in constant time and
// nothing else depends on it (see the file comment). The returned slice is fresh.
func pkeDecrypt(priv *rsa.PrivateKey, ct, fallback []byte) ([]byte, int) {
	k := max(priv.Size(), len(fallback))
	out := make([]byte, k)
	copy(out, fallback)
	// DecryptPKCS1v15 checks the padding in constant time; only its error result tells
	// valid from invalid, and that bit is folded into a selection right away.
	//lint:ignore SA1019 RFC 2409 §5.2 defines PKCS#1 v1.5 encryption; see the file comment
	pt, err := rsa.DecryptPKCS1v15(nil, priv, ct)
	ok := subtle.ConstantTimeByteEq(boolByte(err == nil), 1)
	buf := make([]byte, k)
	copy(buf, pt)
	subtle.ConstantTimeCopy(ok, out, buf)
	n := subtle.ConstantTimeSelect(ok, len(pt), len(fallback))
	crypto.Wipe(buf)
	return out[:n], ok
}

// boolByte is 1 for true and 0 for false.
func boolByte(b bool) uint8 {
	var v uint8
	if b {
		v = 1
	}
	return v
}

// pkeSymKey derives Ke_i (cky = CKY-I, nonce = Ni_b) or Ke_r (CKY-R, Nr_b) of the revised
// mode (RFC 2409 §5.3):
//
//	Ne_i = prf(Ni_b, CKY-I)
//	Ke_i = the first key-length bits of Ne_i, or of K1 | K2 | ... with K1 = prf(Ne_i, 0),
//	       Ki = prf(Ne_i, K(i-1)) when Ne_i is too short (Appendix B)
func pkeSymKey(prf *crypto.PRF, nonce []byte, cky isakmp.Cookie, keyLen int) crypto.Key {
	ne := crypto.Key(prf.Sum(nonce, cky[:]))
	defer ne.Wipe()
	return encryptionKey(prf, ne, keyLen)
}

// pkeSymEncrypt encrypts a payload body with Ke_i or Ke_r: the negotiated cipher in CBC mode
// with an all-zero IV (each key encrypts the payloads of one message only, each payload
// from the start), padded with 1 to block-size bytes each holding the padding length
// (RFC 2409 §5.3 as oakley reads it; no other implementation speaks this mode).
func pkeSymEncrypt(enc *crypto.Algorithm, key, body []byte) ([]byte, error) {
	c, err := newIKECipher(enc, key)
	if err != nil {
		return nil, err
	}
	n := c.bs - len(body)%c.bs
	padded := make([]byte, len(body)+n)
	copy(padded, body)
	for i := len(body); i < len(padded); i++ {
		padded[i] = byte(n)
	}
	cipher.NewCBCEncrypter(c.block, make([]byte, c.bs)).CryptBlocks(padded, padded)
	return padded, nil
}

// pkeSymDecrypt decrypts a payload body of the revised mode. Like pkeDecrypt it never fails:
// a ciphertext that is not a whole number of blocks, or whose padding is wrong, yields
// fallback, chosen in constant time from the padding check.
func pkeSymDecrypt(enc *crypto.Algorithm, key, ct, fallback []byte) ([]byte, int) {
	c, err := newIKECipher(enc, key)
	if err != nil || len(ct) == 0 || len(ct)%c.bs != 0 {
		// The length is public (it is on the wire), so this branch reveals nothing.
		return append([]byte(nil), fallback...), 0
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(c.block, make([]byte, c.bs)).CryptBlocks(plain, ct)
	// Constant-time padding check: the last byte p must be 1..bs and the p bytes before the
	// end all equal p.
	p := int(plain[len(plain)-1])
	ok := subtle.ConstantTimeLessOrEq(1, p) & subtle.ConstantTimeLessOrEq(p, c.bs)
	for i := 1; i <= c.bs; i++ {
		in := subtle.ConstantTimeLessOrEq(i, p) // byte i from the end is padding
		eq := subtle.ConstantTimeByteEq(plain[len(plain)-i], byte(p))
		ok &= subtle.ConstantTimeSelect(in, eq, 1)
	}
	plainLen := subtle.ConstantTimeSelect(ok, len(plain)-p, 0)
	out := make([]byte, max(len(plain), len(fallback)))
	copy(out, fallback)
	subtle.ConstantTimeCopy(ok, out[:len(plain)], plain)
	n := subtle.ConstantTimeSelect(ok, plainLen, len(fallback))
	crypto.Wipe(plain)
	return out[:n], ok
}
