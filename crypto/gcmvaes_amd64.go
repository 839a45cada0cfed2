//go:build amd64 && !purego

package crypto

import "golang.org/x/sys/cpu"

// haveVAESGCM: the kernels use 512-bit VAES and VPCLMULQDQ, AVX-512 F/VL/BW (masked byte
// loads and stores, registers Z16..Z31) and BMI2 (BZHI for the masks).
var haveVAESGCM = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW &&
	cpu.X86.HasAVX512VAES && cpu.X86.HasAVX512VPCLMULQDQ && cpu.X86.HasAES && cpu.X86.HasBMI2

// gcmVAESTag computes the GCM tag of aad and ct: tag holds the counter block J0 on entry
// and GHASH_H(aad, ct) ⊕ E_K(J0) on return; htab is the gcmVAES table of powers of H.
//
//go:noescape
func gcmVAESTag(nr int, ek, htab *byte, tag *[16]byte, aad *byte, aadLen int, ct *byte, ctLen int)

// gcmVAESCtr XORs n bytes from src into dst with the CTR keystream from counter block ctr
// (GCM's inc32); ek holds at least 15 round keys (zero-padded).
//
//go:noescape
func gcmVAESCtr(nr int, ek *byte, ctr *[16]byte, dst, src *byte, n int)

// gcmVAESEnc1 encrypts one block.
//
//go:noescape
func gcmVAESEnc1(nr int, ek *byte, dst, src *[16]byte)
