//go:build linux

package e2e

// The algorithm matrix against strongSwan: every encryption, integrity, PRF and DH keyword of
// the configuration contract that charon (5.9, kernel-libipsec) also offers, for IKE and for
// ESP, in IKEv1 Main Mode and in IKEv2, oakley initiating and responding. Each case is one
// proposal on both sides, so the result is known; traffic crosses both ways and swanctl and
// `oakley status` must agree on the algorithms and SPIs. The other interop tests cover
// the common proposals with more checks each; this one the rest (about 20 s, 4 at a time).
// ESN is not in it: kernel-libipsec refuses it ("ESN not supported"); nor are AH and
// transport mode, which kernel-libipsec does not have (TestESPTransforms, TestRawEncap and
// TestTransportMode cover all three between two oakleys).

import (
	"fmt"
	"testing"
)

// matrixCase is one proposal pair; insecure marks the algorithms behind the opt-in.
type matrixCase struct {
	version  int
	ike, esp string
	insecure bool
}

var matrixCases = []matrixCase{
	// IKEv1: every cipher and hash for Phase 1, the DH groups, and every ESP transform.
	{version: 1, ike: "aes192-sha384-modp3072", esp: "aes192-sha384"},
	{version: 1, ike: "aes256-sha512-ecp384", esp: "aes256-sha512-ecp384"},
	{version: 1, ike: "aes128-sha256-ecp521", esp: "aes128-sha1-ecp521"},
	{version: 1, ike: "aes128-sha256-curve25519", esp: "aes256gcm16-curve25519"},
	{version: 1, ike: "aes256-sha256-modp4096", esp: "aes128gcm12"},
	{version: 1, ike: "aes128-sha1-modp1536", esp: "aes256gcm8", insecure: true},
	{version: 1, ike: "3des-sha1-modp1024", esp: "3des-sha1", insecure: true},
	{version: 1, ike: "aes128-md5-modp2048", esp: "aes128-md5", insecure: true},
	{version: 1, ike: "aes256-sha256-modp6144", esp: "aes192gcm16"},
	{version: 1, ike: "aes128-sha256-modp2048", esp: "null-sha256"},
	{version: 1, ike: "des-sha1-modp768", esp: "des-md5", insecure: true},
	// IKEv2: AEAD and CBC IKE proposals with each PRF, the DH groups, every ESP transform.
	{version: 2, ike: "aes256gcm16-prfsha384-ecp384", esp: "aes256gcm16-ecp384"},
	{version: 2, ike: "aes128gcm12-prfsha512-ecp521", esp: "chacha20poly1305"},
	{version: 2, ike: "aes256gcm8-prfsha256-curve25519", esp: "chacha20poly1305-curve25519"},
	{version: 2, ike: "aes192-sha512-modp3072", esp: "aes192-sha512"},
	{version: 2, ike: "aes128-sha1-modp2048", esp: "aes128-sha1"},
	{version: 2, ike: "aes128-sha384-modp4096", esp: "aes256-sha384-modp4096"},
	{version: 2, ike: "chacha20poly1305-prfsha512-ecp256", esp: "aes128gcm8"},
	{version: 2, ike: "3des-sha256-modp1024", esp: "3des-sha1", insecure: true},
	{version: 2, ike: "aes256-sha256-modp8192", esp: "aes256gcm12"},
	{version: 2, ike: "aes128-sha256-modp2048", esp: "null-sha256"},
	{version: 2, ike: "aes192gcm16-prfsha384-modp1536", esp: "aes192-sha256", insecure: true},
	{version: 2, ike: "des-md5-modp768", esp: "des-sha512", insecure: true},
}

func TestInteropMatrix(t *testing.T) {
	needInterop(t)
	t.Parallel()
	names, runs := bothRoles(matrixCases, func(c matrixCase) string { return fmt.Sprintf("v%d-%s-esp-%s", c.version, c.ike, c.esp) })
	parallelRuns(t, 4, names, func(t *testing.T, i int) {
		c, ini := runs[i].c, runs[i].initiator
		tp := newTopo(t, false)
		sc := swanCase{ike: c.ike, esp: c.esp, insecure: c.insecure}
		sp := startSwanPair(t, tp, sc, ini, func(s *ikeSite, w *swanConf) {
			s.Version, w.Version = c.version, c.version
			s.Insecure = c.insecure
		})
		sp.establish(t, ini)
		pingBoth(t, tp, 3)
		if c.version == 2 {
			sp.checkAgreeV2(t, v2Case{ike: c.ike, esp: c.esp}, ini)
		} else {
			sp.checkAgree(t, sc, ini)
		}
	})
}

// roleRun is one case with oakley initiating or responding.
type roleRun[T any] struct {
	c         T
	initiator bool
}

// bothRoles lists every case twice, oakley initiating and responding, and the subtests' names
// (the case's name, then "/oakley-initiator" or "/oakley-responder").
func bothRoles[T any](cases []T, name func(T) string) (names []string, runs []roleRun[T]) {
	for _, c := range cases {
		for _, ini := range []bool{true, false} {
			names = append(names, name(c)+"/"+map[bool]string{true: "oakley-initiator", false: "oakley-responder"}[ini])
			runs = append(runs, roleRun[T]{c, ini})
		}
	}
	return names, runs
}
