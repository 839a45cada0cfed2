package crypto

// AES-CBC for ESP on AES-NI (RFC 3602). Go's crypto/aes runs CBC one block at a time: every
// block's ten to fourteen dependent AES rounds wait for the previous block, so the AES unit
// idles most of the time. The blocks of a CBC decryption are independent (P_i = D(C_i) ⊕
// C_i-1), and so are the encryptions of different packets; the assembly kernels keep 8
// decryptions, or 4 packets' encryptions, in flight at once. Where AES-NI is missing, or on
// other architectures, the standard library's CBC is used.

import (
	"encoding/binary"
)

// aesniCBC holds expanded AES keys for the kernels: encryption round keys and the decryption
// round keys of the equivalent inverse cipher (FIPS-197 §5.3.5). Immutable after newAESNICBC;
// safe for concurrent use. The round keys are secret: wipe drops them.
type aesniCBC struct {
	nr int // rounds: 10, 12 or 14
	ek Key // (nr+1)*16 bytes
	dk Key
}

// newAESNICBC expands key for the assembly kernels, or returns nil when they are unavailable.
func newAESNICBC(key []byte) *aesniCBC {
	if !haveAESNI || (len(key) != 16 && len(key) != 24 && len(key) != 32) {
		return nil
	}
	a := &aesniCBC{nr: len(key)/4 + 6}
	a.ek = expandKeyFIPS197(key)
	a.dk = make(Key, len(a.ek))
	// dk[0] = ek[nr]; dk[i] = InvMixColumns(ek[nr-i]); dk[nr] = ek[0].
	copy(a.dk[:16], a.ek[a.nr*16:])
	for i := 1; i < a.nr; i++ {
		aesInvMixColumns(a.dk[i*16:], a.ek[(a.nr-i)*16:])
	}
	copy(a.dk[a.nr*16:], a.ek[:16])
	return a
}

func (a *aesniCBC) wipe() { WipeAll(a.ek, a.dk) }

// decrypt decrypts data (a multiple of 16 bytes) in place under iv.
func (a *aesniCBC) decrypt(data, iv []byte) {
	if len(data) == 0 {
		return
	}
	var chain [16]byte
	copy(chain[:], iv)
	cbcDecrypt(a.nr, &a.dk[0], &data[0], &data[0], len(data)/16, &chain[0])
}

// encryptLanes encrypts up to four buffers in place, each under its own IV, in interleaved
// lanes for as many blocks as they all have, then finishes each alone.
func (a *aesniCBC) encryptLanes(data [][]byte, ivs [][]byte) {
	var chain [4][16]byte
	n := len(data)
	common := len(data[0]) / 16
	for i := range n {
		copy(chain[i][:], ivs[i])
		common = min(common, len(data[i])/16)
	}
	if n == 4 && common > 0 {
		cbcEncrypt4(a.nr, &a.ek[0], &data[0][0], &data[1][0], &data[2][0], &data[3][0], common, &chain[0][0])
	} else {
		common = 0
	}
	for i := range n {
		if rest := len(data[i])/16 - common; rest > 0 {
			cbcEncrypt1(a.nr, &a.ek[0], &data[i][common*16], rest, &chain[i][0])
		}
	}
}

// expandKeyFIPS197 is the AES key expansion of FIPS-197 §5.2, returning the round keys as the
// bytes AES-NI loads (each word big-endian, in order).
func expandKeyFIPS197(key []byte) Key {
	nk := len(key) / 4
	nr := nk + 6
	w := make([]uint32, 4*(nr+1))
	for i := range nk {
		w[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := uint32(1)
	for i := nk; i < len(w); i++ {
		t := w[i-1]
		switch {
		case i%nk == 0:
			t = subWord(t<<8|t>>24) ^ rcon<<24
			rcon = uint32(gfMul(byte(rcon), 2))
		case nk > 6 && i%nk == 4:
			t = subWord(t)
		}
		w[i] = w[i-nk] ^ t
	}
	out := make(Key, 4*len(w))
	for i, x := range w {
		binary.BigEndian.PutUint32(out[4*i:], x)
	}
	clear(w)
	return out
}

// subWordCT applies the S-box to each byte of a key-schedule word. The key is secret, so the
// S-box is computed rather than looked up in a table (a table lookup indexed by key bytes
// leaks them through the cache): constant time. On AES-NI, subWord uses the AES unit's
// S-box instead (aescbc_amd64.go; the whole AES-128 expansion about 9x faster); this is
// its reference.
func subWordCT(x uint32) uint32 {
	return uint32(sboxCT(byte(x>>24)))<<24 | uint32(sboxCT(byte(x>>16)))<<16 |
		uint32(sboxCT(byte(x>>8)))<<8 | uint32(sboxCT(byte(x)))
}

// sboxCT is the AES S-box (FIPS-197 §5.1.1) without a table or a secret-dependent branch:
// the multiplicative inverse in GF(2^8) as x^254 (0 maps to 0), then the affine
// transformation.
func sboxCT(x byte) byte {
	// x^254 by a fixed square-and-multiply chain: 254 = 0b11111110.
	x2 := gfMulCT(x, x)   // x^2
	r := x2               // x^2
	sq := gfMulCT(x2, x2) // x^4
	for range 6 {         // multiply in x^4, x^8, ..., x^128
		r = gfMulCT(r, sq)
		sq = gfMulCT(sq, sq)
	}
	rot := func(v byte, k uint) byte { return v<<k | v>>(8-k) }
	return r ^ rot(r, 1) ^ rot(r, 2) ^ rot(r, 3) ^ rot(r, 4) ^ 0x63
}

// gfMulCT multiplies in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (FIPS-197 §4.2) in constant
// time: eight fixed iterations, masks instead of branches.
func gfMulCT(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= a & -(b & 1)
		a = a<<1 ^ 0x1b&-(a>>7)
		b >>= 1
	}
	return p
}

// gfMul multiplies in GF(2^8) (public values only: round constants).
func gfMul(a, b byte) byte { return gfMulCT(a, b) }

// AESNICBC reports whether AES-CBC runs on the AES-NI kernels here (else the standard library).
func AESNICBC() bool { return haveAESNI }
