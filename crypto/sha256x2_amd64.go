//go:build amd64 && !purego

package crypto

import "golang.org/x/sys/cpu"

// haveSHANI: the SHA-256 kernels need the SHA extensions plus SSSE3 (PSHUFB, PALIGNR) and
// SSE4.1 (PBLENDW). golang.org/x/sys/cpu does not report SHA on x86, so CPUID is asked.
var haveSHANI = cpu.X86.HasSSSE3 && cpu.X86.HasSSE41 && cpuidSHA()

func cpuidSHA() bool

// sha256Block1 runs the SHA-256 compression function over n 64-byte blocks at p.
//
//go:noescape
func sha256Block1(dig *[8]uint32, p *byte, n int)

// sha256Block2 runs it over n blocks of each of two messages in lockstep.
//
//go:noescape
func sha256Block2(da, db *[8]uint32, pa, pb *byte, n int)
