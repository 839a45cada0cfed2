package ikev1

// The derivations of RFC 2409, with the RFC's names. Every function is pure: keys in,
// keys out; callers own (and wipe) what they get.

import (
	gocrypto "crypto"
	"encoding/binary"
	"net/netip"

	"oakley/crypto"
	"oakley/ike/isakmp"
)

// skeyidPSK is SKEYID for pre-shared key authentication (RFC 2409 §5):
//
//	SKEYID = prf(pre-shared-key, Ni_b | Nr_b)
func skeyidPSK(prf *crypto.PRF, psk, niB, nrB []byte) crypto.Key {
	return crypto.Key(prf.Sum(psk, niB, nrB))
}

// skeyidSig is SKEYID for signature authentication (RFC 2409 §5):
//
//	SKEYID = prf(Ni_b | Nr_b, g^xy)
func skeyidSig(prf *crypto.PRF, niB, nrB, gxy []byte) crypto.Key {
	key := append(append([]byte{}, niB...), nrB...)
	defer crypto.Wipe(key)
	return crypto.Key(prf.Sum(key, gxy))
}

// skeyidPKE is SKEYID for public-key encryption, original and revised (RFC 2409 §5):
//
//	SKEYID = prf(hash(Ni_b | Nr_b), CKY-I | CKY-R)
//
// where hash is the negotiated hash function (the PRF's).
func skeyidPKE(prf *crypto.PRF, niB, nrB []byte, ckyI, ckyR isakmp.Cookie) crypto.Key {
	key := hashTrunc(prf.Alg.Hash, 0, niB, nrB)
	defer crypto.Wipe(key)
	return crypto.Key(prf.Sum(key, ckyI[:], ckyR[:]))
}

// skeyidFamily derives the three keys of RFC 2409 §5 from SKEYID:
//
//	SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
//	SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
//	SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
func skeyidFamily(prf *crypto.PRF, skeyid, gxy []byte, ckyI, ckyR isakmp.Cookie) (skeyidD, skeyidA, skeyidE crypto.Key) {
	skeyidD = crypto.Key(prf.Sum(skeyid, gxy, ckyI[:], ckyR[:], []byte{0}))
	skeyidA = crypto.Key(prf.Sum(skeyid, skeyidD, gxy, ckyI[:], ckyR[:], []byte{1}))
	skeyidE = crypto.Key(prf.Sum(skeyid, skeyidA, gxy, ckyI[:], ckyR[:], []byte{2}))
	return
}

// encryptionKey is the Phase 1 encryption key Ka (RFC 2409 Appendix B): SKEYID_e cut to
// the cipher's key length, or expanded K1 = prf(SKEYID_e, 0), Ki = prf(SKEYID_e, K(i-1))
// when SKEYID_e is too short (crypto.PRF.ExpandV1 with a nil seed; strongSwan agrees).
func encryptionKey(prf *crypto.PRF, skeyidE []byte, keyLen int) crypto.Key {
	return crypto.Key(prf.ExpandV1(skeyidE, nil, keyLen))
}

// hashTrunc returns hash(parts...) cut to n bytes (n <= 0: the whole hash).
func hashTrunc(h gocrypto.Hash, n int, parts ...[]byte) []byte {
	w := h.New()
	for _, p := range parts {
		w.Write(p)
	}
	sum := w.Sum(nil)
	if n > 0 && n < len(sum) {
		sum = sum[:n]
	}
	return sum
}

// phase1IV is the IV of the first encrypted Phase 1 message (RFC 2409 Appendix B):
// hash(g^xi | g^xr), cut to the cipher's block size. Later Phase 1 messages chain from the
// last ciphertext block of the previous one.
func phase1IV(h gocrypto.Hash, gxi, gxr []byte, blockSize int) []byte {
	return hashTrunc(h, blockSize, gxi, gxr)
}

// phase2IV is the first IV of a Quick Mode or Informational exchange (RFC 2409 Appendix B):
// hash(last Phase 1 CBC output block | M-ID), cut to the block size.
func phase2IV(h gocrypto.Hash, lastPhase1Block []byte, mid uint32, blockSize int) []byte {
	return hashTrunc(h, blockSize, lastPhase1Block, binary.BigEndian.AppendUint32(nil, mid))
}

// hashI is HASH_I (RFC 2409 §5):
//
//	HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)
func hashI(prf *crypto.PRF, skeyid, gxi, gxr []byte, ckyI, ckyR isakmp.Cookie, saiB, idiiB []byte) []byte {
	return prf.Sum(skeyid, gxi, gxr, ckyI[:], ckyR[:], saiB, idiiB)
}

// hashR is HASH_R (RFC 2409 §5):
//
//	HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)
func hashR(prf *crypto.PRF, skeyid, gxi, gxr []byte, ckyI, ckyR isakmp.Cookie, saiB, idirB []byte) []byte {
	return prf.Sum(skeyid, gxr, gxi, ckyR[:], ckyI[:], saiB, idirB)
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// quickModeHash1 is HASH(1) of Quick Mode (RFC 2409 §5.5), also the HASH(1) of an
// Informational exchange (§5.7) and of a Transaction: prf(SKEYID_a, M-ID | <the rest of
// the message after the HASH payload>).
func quickModeHash1(prf *crypto.PRF, skeyidA []byte, mid uint32, rest []byte) []byte {
	return prf.Sum(skeyidA, be32(mid), rest)
}

// quickModeHash2 is HASH(2) (RFC 2409 §5.5): prf(SKEYID_a, M-ID | Ni_b | <rest of message>).
func quickModeHash2(prf *crypto.PRF, skeyidA []byte, mid uint32, niB, rest []byte) []byte {
	return prf.Sum(skeyidA, be32(mid), niB, rest)
}

// quickModeHash3 is HASH(3) (RFC 2409 §5.5): prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b).
func quickModeHash3(prf *crypto.PRF, skeyidA []byte, mid uint32, niB, nrB []byte) []byte {
	return prf.Sum(skeyidA, []byte{0}, be32(mid), niB, nrB)
}

// keymat is the KEYMAT of one IPsec SA (RFC 2409 §5.5), n bytes:
//
//	KEYMAT = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b), expanded as
//	K1 = prf(SKEYID_d, seed), Ki = prf(SKEYID_d, K(i-1) | seed)
//
// where SPI is the SPI of the SA the KEYMAT is for (the one its receiver chose) and
// gqmxy is nil without PFS.
func keymat(prf *crypto.PRF, skeyidD, gqmxy []byte, protocol isakmp.ProtocolID, spi uint32, niB, nrB []byte, n int) crypto.Key {
	seed := make([]byte, 0, len(gqmxy)+5+len(niB)+len(nrB))
	seed = append(seed, gqmxy...)
	seed = append(seed, byte(protocol))
	seed = binary.BigEndian.AppendUint32(seed, spi)
	seed = append(seed, niB...)
	seed = append(seed, nrB...)
	defer crypto.Wipe(seed)
	return crypto.Key(prf.ExpandV1(skeyidD, seed, n))
}

// natDiscoveryHash is a NAT-D hash (RFC 3947 §3.2), with the negotiated hash function:
//
//	HASH = HASH(CKY-I | CKY-R | IP | Port)
func natDiscoveryHash(h gocrypto.Hash, ckyI, ckyR isakmp.Cookie, ap netip.AddrPort) []byte {
	port := binary.BigEndian.AppendUint16(nil, ap.Port())
	return hashTrunc(h, 0, ckyI[:], ckyR[:], ap.Addr().Unmap().AsSlice(), port)
}
