//go:build !amd64 || purego

package crypto

// Without the amd64 kernels, ESP uses the standard library's AES-CBC.
const haveAESNI = false

func cbcDecrypt(nr int, dk, dst, src *byte, n int, iv *byte)         { panic("unreachable") }
func cbcEncrypt4(nr int, ek, p0, p1, p2, p3 *byte, n int, ivs *byte) { panic("unreachable") }
func cbcEncrypt1(nr int, ek, p *byte, n int, iv *byte)               { panic("unreachable") }
func aesInvMixColumns(dst, src []byte)                               { panic("unreachable") }

func subWord(x uint32) uint32 { return subWordCT(x) }
