package crypto

// The pseudo-random functions of IKE: HMAC over the negotiated hash (RFC 2104; RFC 2409 §5 for
// IKEv1, RFC 7296 §3.3.2 and RFC 4868 for IKEv2), IKEv2's prf+ (RFC 7296 §2.13) and IKEv1's
// key expansion (RFC 2409 Appendix B and §5.5).
//
// Concurrency: a *PRF is immutable and safe for concurrent use; every call builds its own HMAC
// state from the key it is given.

import (
	"crypto/hmac"
	"fmt"
	"hash"
)

// prfPlusMaxBlocks is the most prf+ can produce: its counter is a single octet that starts at
// 0x01 (RFC 7296 §2.13), so 255 blocks.
const prfPlusMaxBlocks = 255

// PRF is an HMAC-based pseudo-random function. In IKEv1 it is the HMAC of the Phase 1 hash
// algorithm (RFC 2409 §4: no PRF is defined for negotiation, so the HMAC version of the
// negotiated hash algorithm is used); in IKEv2 the negotiated PRF transform.
//
// Key usage: Sum, Plus and ExpandV1 take the key on every call and keep no copy of it; the
// caller owns key and output and wipes both when done (they are SKEYID*, SK_* and KEYMAT).
type PRF struct {
	Alg *Algorithm
}

// NewPRF returns the PRF of an algorithm: a KindPRF entry (prfsha1, prfsha256, prfsha384,
// prfsha512, prfmd5), or a KindInteg entry, whose Hash is used, because IKEv1 names its PRF by
// the hash algorithm (RFC 2409 Appendix A, class 2). Whether an insecure algorithm (MD5) may be
// used is the proposal's decision (see ParseProposal), not this function's.
func NewPRF(alg *Algorithm) (*PRF, error) {
	if alg == nil {
		return nil, fmt.Errorf("crypto: no PRF algorithm")
	}
	if alg.Kind != KindPRF && alg.Kind != KindInteg {
		return nil, fmt.Errorf("crypto: %s is a %s algorithm, not a PRF", alg.Name, alg.Kind)
	}
	if alg.Hash == 0 || !alg.Hash.Available() {
		return nil, fmt.Errorf("crypto: %s has no HMAC implementation", alg.Name)
	}
	return &PRF{Alg: alg}, nil
}

// Size returns the output length in bytes (the hash size; also the preferred key length,
// RFC 4868 §2.1.2).
func (p *PRF) Size() int { return p.Alg.Hash.Size() }

func (p *PRF) mac(key []byte) hash.Hash { return hmac.New(p.Alg.Hash.New, key) }

// Sum returns prf(key, data[0] ‖ data[1] ‖ ...): HMAC (RFC 2104) keyed with key over the
// concatenation of data. Any key length is allowed (HMAC hashes keys longer than the block).
// The result is a fresh slice of Size bytes.
func (p *PRF) Sum(key []byte, data ...[]byte) []byte {
	h := p.mac(key)
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

// PlusMax returns the most bytes Plus can produce: 255 × Size (RFC 7296 §2.13).
func (p *PRF) PlusMax() int { return prfPlusMaxBlocks * p.Size() }

// Plus returns the first n bytes of IKEv2's prf+ (RFC 7296 §2.13):
//
//	prf+ (K,S) = T1 | T2 | T3 | T4 | ...
//	T1 = prf (K, S | 0x01)
//	T2 = prf (K, T1 | S | 0x02)
//	T3 = prf (K, T2 | S | 0x03)
//
// with K = key and S = seed. Used with key = SKEYSEED and seed = Ni | Nr | SPIi | SPIr for
// SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr (§2.14), and with key = SK_d for Child SA
// KEYMAT (§2.17). The counter is one octet, so n may be at most PlusMax; for n < 0 or
// n > PlusMax Plus returns nil (strongSwan refuses the same requests).
func (p *PRF) Plus(key, seed []byte, n int) []byte {
	if n < 0 || n > p.PlusMax() {
		return nil
	}
	out := make([]byte, 0, n+p.Size())
	h := p.mac(key)
	var prev []byte
	for counter := 1; len(out) < n; counter++ {
		h.Reset()
		h.Write(prev)
		h.Write(seed)
		h.Write([]byte{byte(counter)})
		out = h.Sum(out)
		prev = out[len(out)-p.Size():]
	}
	Wipe(out[n:])
	return out[:n:n]
}

// ExpandV1 is IKEv1's key stretching, in the two shapes RFC 2409 uses (the same pair PKCS #11
// 3.0 defines as CKM_IKE1_EXTENDED_DERIVE). It returns a fresh slice of n bytes (nil if n < 0).
//
// With an empty seed: Appendix B, the Phase 1 encryption key Ka from key = SKEYID_e:
//
//	if n <= len(key):  Ka = the first n bytes of key
//	otherwise:         Ka = first n bytes of K1 | K2 | K3 | ...
//	                   K1 = prf(key, 0x00)      (a single zero octet)
//	                   Ki = prf(key, K(i-1))    (the whole previous block, nothing else)
//
// This is exactly what strongSwan does (src/libcharon/sa/ikev1/keymat_v1.c, expand_skeyid_e):
// if SKEYID_e is at least as long as the cipher's key it is truncated, SKEYID_e itself never
// starts the expansion, the first input is the one-octet chunk 0x00, each later input is the
// full previous PRF block, and the result is cut to the key size. With HMAC PRFs the
// expansion happens for 3DES, AES-192 and AES-256 over SHA-1 or MD5 (AES-256 over MD5 takes
// exactly K1 | K2); AES-128 over SHA-1 or MD5 and every AES key over SHA-256 and longer
// truncate. testdata/prf_expandv1_strongswan.json holds one strongSwan recording of each case.
// (strongSwan's other "PRF output expansion" TODO, in derive_ike_keys, is about PRFs whose
// output is shorter than their own key; no HMAC PRF is one.)
//
// With a non-empty seed: §5.5, Quick Mode KEYMAT from key = SKEYID_d and
// seed = [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b:
//
//	KEYMAT = first n bytes of K1 | K2 | K3 | ...
//	K1 = prf(key, seed)
//	Ki = prf(key, K(i-1) | seed)
//
// which matches strongSwan's derive_child_keymat in the same file. No truncation shortcut
// applies here: even a short KEYMAT is K1's prefix.
//
// The seed alone selects the shape: pass nil (not the 0x00 octet) for Appendix B.
func (p *PRF) ExpandV1(key, seed []byte, n int) []byte {
	if n < 0 {
		return nil
	}
	if len(seed) == 0 && n <= len(key) {
		ka := make([]byte, n)
		copy(ka, key)
		return ka
	}
	first := seed
	if len(seed) == 0 {
		first = []byte{0}
	}
	out := make([]byte, 0, n+p.Size())
	h := p.mac(key)
	h.Write(first)
	out = h.Sum(out)
	for len(out) < n {
		prev := out[len(out)-p.Size():]
		h.Reset()
		h.Write(prev)
		h.Write(seed)
		out = h.Sum(out)
	}
	Wipe(out[n:])
	return out[:n:n]
}
