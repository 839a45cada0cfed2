//go:build !amd64 || purego

package crypto

// Without the amd64 kernels, ESP uses the standard library's AES-GCM.
const haveVAESGCM = false

func gcmVAESTag(nr int, ek, htab *byte, tag *[16]byte, aad *byte, aadLen int, ct *byte, ctLen int) {
	panic("unreachable")
}
func gcmVAESCtr(nr int, ek *byte, ctr *[16]byte, dst, src *byte, n int) { panic("unreachable") }
func gcmVAESEnc1(nr int, ek *byte, dst, src *[16]byte)                  { panic("unreachable") }
