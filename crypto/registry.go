// Package crypto is oakley's algorithm layer: one registry of the algorithms IKEv1, IKEv2,
// ESP and AH negotiate, keyed by their IANA numbers, the batched ESP ciphers that are the data
// plane's performance core, PRFs, Diffie-Hellman groups and wipeable key material.
//
// It knows nothing of packets' meaning: the esp package lays out headers and hands this package
// the byte ranges to encrypt and authenticate.
package crypto

import (
	"crypto"
	_ "crypto/md5" // registered hash for HMAC-MD5 (insecure opt-in only)
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
	"fmt"
	"strings"
)

// Kind is the role an algorithm plays in a proposal (the IKEv2 transform type numbers,
// RFC 7296 §3.3.2).
type Kind uint8

// Transform types, RFC 7296 §3.3.2.
const (
	KindEncr  Kind = 1 // encryption (ENCR), including combined-mode AEADs
	KindPRF   Kind = 2 // pseudo-random function (PRF)
	KindInteg Kind = 3 // integrity (INTEG); in IKEv1 Phase 1 the "hash algorithm"
	KindDH    Kind = 4 // Diffie-Hellman group
	KindESN   Kind = 5 // extended sequence numbers
)

func (k Kind) String() string {
	switch k {
	case KindEncr:
		return "encryption"
	case KindPRF:
		return "prf"
	case KindInteg:
		return "integrity"
	case KindDH:
		return "dh-group"
	case KindESN:
		return "esn"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Algorithm is one entry of the registry. Entries are immutable and shared; compare them by
// pointer or by Name.
//
// IKEv1 and IKEv2 number the same algorithm differently, so each entry carries both:
//   - IKEv2: Transform ID of type Kind (RFC 7296 §3.3.2 and the IANA IKEv2 registries).
//   - IKEv1 Phase 1: the value of the Encryption Algorithm (class 1), Hash Algorithm (class 2)
//     or Group Description (class 4) attribute (RFC 2409 Appendix A).
//   - IKEv1 Phase 2: the ESP Transform ID (RFC 2407 §4.4.4), the AH Transform ID (RFC 2407
//     §4.4.3) and the Authentication Algorithm attribute (class 5, RFC 2407 §4.5).
type Algorithm struct {
	Name    string // strongSwan's keyword, e.g. "aes128gcm16", "sha256", "modp2048"
	Kind    Kind
	IKEv2ID uint16

	V1Phase1 uint16 // IKEv1 Phase 1 attribute value; 0 = not usable in Phase 1
	V1ESP    uint16 // IKEv1 ESP transform ID (encryption); 0 = not an ESP cipher
	V1Auth   uint16 // IKEv1 Authentication Algorithm attribute (integrity); 0 = n/a
	V1AH     uint16 // IKEv1 AH transform ID (integrity); 0 = n/a

	KeyBits    int  // encryption key bits (without salt), or integrity/PRF key bits
	KeyLenAttr bool // the key length travels in a Key Length attribute (variable-key ciphers)
	SaltLen    int  // AEAD: salt bytes taken from KEYMAT after the key (RFC 4106 §8.1, RFC 7634 §2)
	BlockSize  int  // cipher block size (padding alignment); ESP pads to at least 4
	IVSize     int  // explicit IV bytes carried in each ESP packet
	ICVSize    int  // AEAD tag or truncated MAC bytes
	AEAD       bool
	Hash       crypto.Hash // integrity, PRF and IKEv1 hash algorithms
	Group      uint16      // DH group number (KindDH)
	ESN        bool        // KindESN: true = 64-bit sequence numbers

	// Insecure algorithms are refused unless the caller opts in explicitly
	// (RFC 8221 / RFC 8247: DES, MD5, MODP 768/1024/1536).
	Insecure bool
	// Legacy algorithms are accepted but never proposed by default (3DES, HMAC-SHA1-96, DH 15–18).
	Legacy bool
	// IKEOnly / ESPOnly restrict where the algorithm may be proposed.
	ESPOnly bool
}

func (a *Algorithm) String() string { return a.Name }

// KeyLen returns the key bytes the algorithm consumes from keying material, salt included.
func (a *Algorithm) KeyLen() int { return a.KeyBits/8 + a.SaltLen }

// IKEv1 Phase 1 attribute values (RFC 2409 Appendix A).
const (
	V1EncDES    = 1
	V1Enc3DES   = 5
	V1EncAESCBC = 7

	V1HashMD5    = 1
	V1HashSHA1   = 2
	V1HashSHA256 = 4
	V1HashSHA384 = 5
	V1HashSHA512 = 6
)

// IPsec DOI values (RFC 2407 §4.4.3, §4.4.4, §4.5; RFC 4106 §6; RFC 4868 §2.4).
const (
	V1ESPDES      = 2
	V1ESP3DES     = 3
	V1ESPNull     = 11
	V1ESPAESCBC   = 12
	V1ESPAESGCM8  = 18
	V1ESPAESGCM12 = 19
	V1ESPAESGCM16 = 20
	V1ESPChaCha   = 28 // RFC 7634 §4 assigns 28 in the shared ESP/IKEv2 encryption registry

	V1AuthMD5    = 1
	V1AuthSHA1   = 2
	V1AuthSHA256 = 5
	V1AuthSHA384 = 6
	V1AuthSHA512 = 7

	V1AHMD5    = 2
	V1AHSHA1   = 3
	V1AHSHA256 = 5
	V1AHSHA384 = 6
	V1AHSHA512 = 7
)

// IKEv2 transform IDs (RFC 7296 §3.3.2, RFC 4106, RFC 4868, RFC 7634).
const (
	V2EncrDES      = 2
	V2Encr3DES     = 3
	V2EncrNull     = 11
	V2EncrAESCBC   = 12
	V2EncrAESGCM8  = 18
	V2EncrAESGCM12 = 19
	V2EncrAESGCM16 = 20
	V2EncrChaCha   = 28

	V2PRFMD5    = 1
	V2PRFSHA1   = 2
	V2PRFSHA256 = 5
	V2PRFSHA384 = 6
	V2PRFSHA512 = 7

	V2IntegMD5    = 1
	V2IntegSHA1   = 2
	V2IntegSHA256 = 12
	V2IntegSHA384 = 13
	V2IntegSHA512 = 14
)

func aesCBC(bits int) *Algorithm {
	return &Algorithm{Name: fmt.Sprintf("aes%d", bits), Kind: KindEncr, IKEv2ID: V2EncrAESCBC,
		V1Phase1: V1EncAESCBC, V1ESP: V1ESPAESCBC, KeyBits: bits, KeyLenAttr: true,
		BlockSize: 16, IVSize: 16}
}

func aesGCM(bits, icv int) *Algorithm {
	ids := map[int][2]uint16{8: {V2EncrAESGCM8, V1ESPAESGCM8}, 12: {V2EncrAESGCM12, V1ESPAESGCM12}, 16: {V2EncrAESGCM16, V1ESPAESGCM16}}[icv]
	return &Algorithm{Name: fmt.Sprintf("aes%dgcm%d", bits, icv), Kind: KindEncr, IKEv2ID: ids[0],
		V1ESP: ids[1], KeyBits: bits, KeyLenAttr: true, SaltLen: 4, BlockSize: 4, IVSize: 8,
		ICVSize: icv, AEAD: true}
}

func hmacAlg(name string, h crypto.Hash, v2integ, v2prf, v1hash, v1auth, v1ah uint16, icv int) []*Algorithm {
	keyBits := h.Size() * 8 // RFC 2104 / RFC 4868 §2.1.1: key length = output length
	integ := &Algorithm{Name: name, Kind: KindInteg, IKEv2ID: v2integ, V1Phase1: v1hash,
		V1Auth: v1auth, V1AH: v1ah, KeyBits: keyBits, ICVSize: icv, Hash: h}
	prf := &Algorithm{Name: "prf" + name, Kind: KindPRF, IKEv2ID: v2prf, KeyBits: keyBits, Hash: h}
	return []*Algorithm{integ, prf}
}

func dhGroup(name string, n uint16) *Algorithm {
	return &Algorithm{Name: name, Kind: KindDH, IKEv2ID: n, V1Phase1: n, Group: n}
}

// registry holds every algorithm oakley implements, in order of preference within a kind.
var registry = func() []*Algorithm {
	var r []*Algorithm
	// Encryption. AEADs first (RFC 8221 §5: AES-GCM-16 is the MUST for ESP).
	for _, bits := range []int{128, 256, 192} {
		r = append(r, aesGCM(bits, 16))
	}
	r = append(r, &Algorithm{Name: "chacha20poly1305", Kind: KindEncr, IKEv2ID: V2EncrChaCha,
		V1ESP: V1ESPChaCha, KeyBits: 256, SaltLen: 4, BlockSize: 4, IVSize: 8, ICVSize: 16, AEAD: true})
	for _, bits := range []int{128, 256, 192} {
		r = append(r, aesCBC(bits))
	}
	for _, icv := range []int{12, 8} {
		for _, bits := range []int{128, 256, 192} {
			r = append(r, aesGCM(bits, icv))
		}
	}
	r = append(r,
		&Algorithm{Name: "3des", Kind: KindEncr, IKEv2ID: V2Encr3DES, V1Phase1: V1Enc3DES,
			V1ESP: V1ESP3DES, KeyBits: 192, BlockSize: 8, IVSize: 8, Legacy: true},
		&Algorithm{Name: "des", Kind: KindEncr, IKEv2ID: V2EncrDES, V1Phase1: V1EncDES,
			V1ESP: V1ESPDES, KeyBits: 64, BlockSize: 8, IVSize: 8, Insecure: true},
		&Algorithm{Name: "null", Kind: KindEncr, IKEv2ID: V2EncrNull, V1ESP: V1ESPNull,
			BlockSize: 4, ESPOnly: true},
	)
	// Integrity and PRFs (RFC 2404, RFC 4868 §2.3 truncations, RFC 2403 for MD5).
	r = append(r, hmacAlg("sha256", crypto.SHA256, V2IntegSHA256, V2PRFSHA256, V1HashSHA256, V1AuthSHA256, V1AHSHA256, 16)...)
	r = append(r, hmacAlg("sha384", crypto.SHA384, V2IntegSHA384, V2PRFSHA384, V1HashSHA384, V1AuthSHA384, V1AHSHA384, 24)...)
	r = append(r, hmacAlg("sha512", crypto.SHA512, V2IntegSHA512, V2PRFSHA512, V1HashSHA512, V1AuthSHA512, V1AHSHA512, 32)...)
	sha1 := hmacAlg("sha1", crypto.SHA1, V2IntegSHA1, V2PRFSHA1, V1HashSHA1, V1AuthSHA1, V1AHSHA1, 12)
	sha1[0].Legacy = true
	r = append(r, sha1...)
	md5 := hmacAlg("md5", crypto.MD5, V2IntegMD5, V2PRFMD5, V1HashMD5, V1AuthMD5, V1AHMD5, 12)
	md5[0].Insecure, md5[1].Insecure = true, true
	r = append(r, md5...)
	// Diffie-Hellman groups (RFC 3526, RFC 5903, RFC 8031, RFC 2409 §6 for 1/2, RFC 3526 for 5).
	r = append(r,
		dhGroup("modp2048", 14), dhGroup("ecp256", 19), dhGroup("ecp384", 20), dhGroup("ecp521", 21),
		dhGroup("curve25519", 31), dhGroup("modp3072", 15), dhGroup("modp4096", 16),
		dhGroup("modp6144", 17), dhGroup("modp8192", 18),
		dhGroup("modp1536", 5), dhGroup("modp1024", 2), dhGroup("modp768", 1))
	for _, a := range r {
		if a.Kind == KindDH {
			switch a.Group {
			case 15, 16, 17, 18:
				a.Legacy = true
			case 1, 2, 5:
				a.Insecure = true
			}
		}
	}
	r = append(r,
		&Algorithm{Name: "noesn", Kind: KindESN, IKEv2ID: 0, ESPOnly: true},
		&Algorithm{Name: "esn", Kind: KindESN, IKEv2ID: 1, ESN: true, ESPOnly: true})
	return r
}()

// aliases maps alternative spellings strongSwan accepts to the registry's names.
var aliases = map[string]string{
	"aes":          "aes128",
	"sha":          "sha1",
	"sha2_256":     "sha256",
	"sha2_384":     "sha384",
	"sha2_512":     "sha512",
	"prfsha":       "prfsha1",
	"x25519":       "curve25519",
	"chacha20":     "chacha20poly1305",
	"aes128gcm":    "aes128gcm16",
	"aes192gcm":    "aes192gcm16",
	"aes256gcm":    "aes256gcm16",
	"aes128gcm128": "aes128gcm16",
	"aes192gcm128": "aes192gcm16",
	"aes256gcm128": "aes256gcm16",
	"aes128gcm96":  "aes128gcm12",
	"aes192gcm96":  "aes192gcm12",
	"aes256gcm96":  "aes256gcm12",
	"aes128gcm64":  "aes128gcm8",
	"aes192gcm64":  "aes192gcm8",
	"aes256gcm64":  "aes256gcm8",
	"3des_cbc":     "3des",
	"des_cbc":      "des",
}

var byName = func() map[string]*Algorithm {
	m := make(map[string]*Algorithm, len(registry))
	for _, a := range registry {
		m[a.Name] = a
	}
	return m
}()

// Lookup returns the algorithm a strongSwan-style keyword names (case-insensitive, aliases
// resolved), or nil.
func Lookup(keyword string) *Algorithm {
	k := strings.ToLower(keyword)
	if alias, ok := aliases[k]; ok {
		k = alias
	}
	return byName[k]
}

// All returns every registered algorithm of a kind, in preference order.
func All(kind Kind) []*Algorithm {
	var out []*Algorithm
	for _, a := range registry {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// ByIKEv2 finds an algorithm by IKEv2 transform type and ID; keyBits selects among
// variable-key ciphers (0 = the only one, or fixed-key).
func ByIKEv2(kind Kind, id uint16, keyBits int) *Algorithm {
	for _, a := range registry {
		if a.Kind == kind && a.IKEv2ID == id && (keyBits == 0 && !a.KeyLenAttr || a.KeyBits == keyBits) {
			return a
		}
	}
	return nil
}

// ByV1Phase1 finds a Phase 1 encryption (class 1), hash (class 2, returned as the integrity
// entry) or group (class 4) algorithm by attribute value; keyBits as for ByIKEv2.
func ByV1Phase1(kind Kind, value uint16, keyBits int) *Algorithm {
	for _, a := range registry {
		if a.Kind == kind && a.V1Phase1 == value && a.V1Phase1 != 0 &&
			(kind != KindEncr || keyBits == 0 && !a.KeyLenAttr || a.KeyBits == keyBits) {
			return a
		}
	}
	return nil
}

// ByV1ESP finds an ESP cipher by IKEv1 ESP transform ID and key length.
func ByV1ESP(id uint16, keyBits int) *Algorithm {
	for _, a := range registry {
		if a.Kind == KindEncr && a.V1ESP == id && a.V1ESP != 0 && (keyBits == 0 && !a.KeyLenAttr || a.KeyBits == keyBits) {
			return a
		}
	}
	return nil
}

// ByV1Auth finds an integrity algorithm by its IKEv1 Authentication Algorithm attribute.
func ByV1Auth(value uint16) *Algorithm {
	for _, a := range registry {
		if a.Kind == KindInteg && a.V1Auth == value {
			return a
		}
	}
	return nil
}

// ByV1AH finds an integrity algorithm by its IKEv1 AH transform ID.
func ByV1AH(id uint16) *Algorithm {
	for _, a := range registry {
		if a.Kind == KindInteg && a.V1AH == id {
			return a
		}
	}
	return nil
}

// PRFFor returns the PRF that pairs with an integrity/hash algorithm (HMAC of the same hash).
func PRFFor(integ *Algorithm) *Algorithm {
	for _, a := range registry {
		if a.Kind == KindPRF && a.Hash == integ.Hash {
			return a
		}
	}
	return nil
}

// IntegFor returns the integrity algorithm built on the same hash as a PRF.
func IntegFor(prf *Algorithm) *Algorithm {
	for _, a := range registry {
		if a.Kind == KindInteg && a.Hash == prf.Hash {
			return a
		}
	}
	return nil
}
