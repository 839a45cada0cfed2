//go:build amd64 && !purego

package crypto

import "golang.org/x/sys/cpu"

// haveAESNI: the kernels need AES-NI (and SSE2, which every amd64 has).
var haveAESNI = cpu.X86.HasAES

// cbcDecrypt decrypts n blocks from src to dst (which may be the same) with decryption round
// keys dk of nr rounds, chaining from and updating the 16 bytes at iv.
//
//go:noescape
func cbcDecrypt(nr int, dk, dst, src *byte, n int, iv *byte)

// cbcEncrypt4 encrypts n blocks in place in each of four buffers, interleaved, chaining from
// and updating the four consecutive 16-byte IVs at ivs.
//
//go:noescape
func cbcEncrypt4(nr int, ek, p0, p1, p2, p3 *byte, n int, ivs *byte)

// cbcEncrypt1 encrypts n blocks in place in one buffer, chaining from and updating iv.
//
//go:noescape
func cbcEncrypt1(nr int, ek, p *byte, n int, iv *byte)

// aesInvMixColumns writes InvMixColumns(src[:16]) to dst[:16] (AESIMC).
func aesInvMixColumns(dst, src []byte) { aesimc(&dst[0], &src[0]) }

//go:noescape
func aesimc(dst, src *byte)

// subWord applies the S-box to each byte of x with AESENCLAST (constant time); without
// AES-NI, subWordCT computes it.
func subWord(x uint32) uint32 {
	if haveAESNI {
		return aesSubWord(x)
	}
	return subWordCT(x)
}

// aesSubWord is SubWord(x) by AESENCLAST on x in all four columns with a zero round key:
// ShiftRows moves nothing when the columns are equal, SubBytes is the S-box.
func aesSubWord(x uint32) uint32
