package crypto

// AES-GCM for ESP on VAES and VPCLMULQDQ (RFC 4106). crypto/cipher's GCM on amd64 encrypts
// and hashes 128 bits per instruction; these kernels work on four blocks per 512-bit
// instruction. Two passes over the packet, which stays in L1: the CTR keystream (16 blocks
// in flight per iteration), then GHASH over AAD and ciphertext, 32 blocks per reduction
// against the precomputed powers of H (aggregated reduction, Gueron–Kounavis byte-reflected
// form), with the lengths block and E_K(J0) folded into the same call. Open hashes the
// ciphertext, compares the tag in constant time and decrypts only if it matches, so a
// forged packet's data is left as it arrived. AAD must not overlap the data (in ESP it is
// the header). Elsewhere the standard library's GCM is used.

import (
	"crypto/subtle"
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// useVAESGCM selects the kernels for new ciphers; tests clear it to exercise the fallback.
var useVAESGCM = haveVAESGCM

// gcmVAESRoundKeys is the size of the round-key buffer: the kernels load 15 keys whatever
// the key size.
const gcmVAESRoundKeys = 15 * 16

// gcmVAESPowers is the number of powers of H in the table: 32 blocks are hashed per
// reduction, and the lengths block may follow 32 more.
const gcmVAESPowers = 33

// gcmVAES is AES-GCM with a 96-bit nonce under one key. Immutable after newGCMVAES; safe
// for concurrent use. ek and htab are key material: wipe drops them.
type gcmVAES struct {
	nr   int // rounds: 10, 12 or 14
	ek   Key // round keys, zero-padded to gcmVAESRoundKeys bytes
	htab Key // H^33..H^1 (times x, byte-reflected), then 64 zero bytes
}

// newGCMVAES expands key for the kernels, or returns nil when they are unavailable.
func newGCMVAES(key []byte) *gcmVAES {
	if !useVAESGCM || (len(key) != 16 && len(key) != 24 && len(key) != 32) {
		return nil
	}
	g := &gcmVAES{nr: len(key)/4 + 6, ek: make(Key, gcmVAESRoundKeys), htab: make(Key, gcmVAESPowers*16+64)}
	ek := expandKeyFIPS197(key)
	copy(g.ek, ek)
	ek.Wipe()
	var h [16]byte
	gcmVAESEnc1(g.nr, &g.ek[0], &h, &h)
	ghashPowers(g.htab[:gcmVAESPowers*16], &h)
	Wipe(h[:])
	return g
}

func (g *gcmVAES) wipe() { WipeAll(g.ek, g.htab) }

// u128 is a GHASH field element in the byte-reflected form: hi and lo are the big-endian
// halves of the block.
type u128 struct{ hi, lo uint64 }

func u128From(b []byte) u128 {
	return u128{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}
}

// clmul64 is the carry-less product of a and b (constant time: integer multiplications
// only). Each operand is split into four sets of every fourth bit. The ordinary product of
// two sets adds, at any bit position of the low word, at most 16 one-bits, and 16 only at
// positions 60 and up: the count's carries land one to four places higher, in other sets
// (masked off) or, for a count of 16, above bit 63. So masking each sum of products to the
// set its bits belong to gives the carry-less low word. The high word is the low word of
// the bit-reversed operands' product, reversed and shifted by one. The key schedule's 33
// powers of H (six products each) take 3-4 µs with it instead of 21 µs bit by bit.
func clmul64(a, b uint64) (hi, lo uint64) {
	lo = clmulLow(a, b)
	hi = bits.Reverse64(clmulLow(bits.Reverse64(a), bits.Reverse64(b))) >> 1
	return hi, lo
}

// clmulLow is the low 64 bits of the carry-less product of a and b.
func clmulLow(a, b uint64) uint64 {
	const m0, m1, m2, m3 = 0x1111111111111111, 0x2222222222222222, 0x4444444444444444, 0x8888888888888888
	a0, a1, a2, a3 := a&m0, a&m1, a&m2, a&m3
	b0, b1, b2, b3 := b&m0, b&m1, b&m2, b&m3
	z0 := a0*b0 ^ a1*b3 ^ a2*b2 ^ a3*b1
	z1 := a0*b1 ^ a1*b0 ^ a2*b3 ^ a3*b2
	z2 := a0*b2 ^ a1*b1 ^ a2*b0 ^ a3*b3
	z3 := a0*b3 ^ a1*b2 ^ a2*b1 ^ a3*b0
	return z0&m0 | z1&m1 | z2&m2 | z3&m3
}

// ghMul is the product the kernels compute: for x byte-reflected and h = H·x in the same
// form, the byte-reflected x·H of GF(2^128) (four 64-bit products, two-step reduction).
func ghMul(a, h u128) u128 {
	llh, lll := clmul64(a.lo, h.lo)
	hhh, hhl := clmul64(a.hi, h.hi)
	m1h, m1l := clmul64(a.lo, h.hi)
	m2h, m2l := clmul64(a.hi, h.lo)
	mh, ml := m1h^m2h, m1l^m2l
	lo := u128{llh ^ ml, lll}
	hi := u128{hhh, hhl ^ mh}
	for range 2 {
		th, tl := clmul64(lo.lo, 0xc200000000000000)
		lo = u128{lo.lo ^ th, lo.hi ^ tl}
	}
	return u128{lo.hi ^ hi.hi, lo.lo ^ hi.lo}
}

// ghTimesX returns H·x in the byte-reflected form: a left shift by one, folding the bit
// shifted out back in with the reflected polynomial.
func ghTimesX(h u128) u128 {
	c := h.hi >> 63
	r := u128{h.hi<<1 | h.lo>>63, h.lo << 1}
	m := -c
	r.hi ^= 0xc200000000000000 & m
	r.lo ^= 1 & m
	return r
}

// ghashPowers writes H^n..H^1 (each times x) into tab (16n bytes), each as its low then high
// quadword, little-endian, as the kernels load them.
func ghashPowers(tab []byte, h *[16]byte) {
	h1 := ghTimesX(u128From(h[:]))
	p := h1
	n := len(tab) / 16
	for k := 1; k <= n; k++ {
		off := (n - k) * 16
		binary.LittleEndian.PutUint64(tab[off:], p.lo)
		binary.LittleEndian.PutUint64(tab[off+8:], p.hi)
		p = ghMul(p, h1)
	}
}

// counterBlock writes nonce ‖ [ctr]32 into b.
func counterBlock(b *[16]byte, nonce []byte, ctr uint32) {
	copy(b[:12], nonce)
	binary.BigEndian.PutUint32(b[12:], ctr)
}

func ptrOf(b []byte) *byte { return unsafe.SliceData(b) }

// tag computes the full 16-byte GCM tag of aad and ct under nonce into t.
func (g *gcmVAES) tag(t *[16]byte, nonce, aad, ct []byte) {
	counterBlock(t, nonce, 1)
	gcmVAESTag(g.nr, &g.ek[0], &g.htab[0], t, ptrOf(aad), len(aad), ptrOf(ct), len(ct))
}

// seal encrypts data in place under the 12-byte nonce and writes the first tagLen bytes of
// the tag at data[len(data):], which must have that much capacity.
func (g *gcmVAES) seal(nonce, data, aad []byte, tagLen int) {
	var ctr, t [16]byte
	counterBlock(&ctr, nonce, 2)
	if len(data) > 0 {
		gcmVAESCtr(g.nr, &g.ek[0], &ctr, &data[0], &data[0], len(data))
	}
	g.tag(&t, nonce, aad, data)
	copy(data[len(data):][:tagLen], t[:tagLen])
}

// open verifies the tag (tagLen bytes at data[len(data):]) of the ciphertext data in
// constant time and, only if it matches, decrypts data in place.
func (g *gcmVAES) open(nonce, data, aad []byte, tagLen int) bool {
	var ctr, t [16]byte
	g.tag(&t, nonce, aad, data)
	if subtle.ConstantTimeCompare(t[:tagLen], data[len(data):][:tagLen]) != 1 {
		return false
	}
	counterBlock(&ctr, nonce, 2)
	if len(data) > 0 {
		gcmVAESCtr(g.nr, &g.ek[0], &ctr, &data[0], &data[0], len(data))
	}
	return true
}
