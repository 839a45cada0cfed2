//go:build !amd64 || purego

package crypto

// Without the amd64 kernels, HMAC-SHA256 for ESP uses crypto/hmac.
const haveSHANI = false

func sha256Block1(dig *[8]uint32, p *byte, n int)         { panic("unreachable") }
func sha256Block2(da, db *[8]uint32, pa, pb *byte, n int) { panic("unreachable") }
