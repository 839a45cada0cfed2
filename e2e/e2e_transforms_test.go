//go:build linux

package e2e

import (
	"strings"
	"testing"
)

// espTransforms is every ESP transform of the registry that makes sense with manual keys
// (no DH group), in strongSwan's spelling. insecure ones need insecure_algorithms = true.
var espTransforms = []struct {
	proposal string
	insecure bool
}{
	{"aes128gcm16", false}, {"aes192gcm16", false}, {"aes256gcm16", false},
	{"aes128gcm12", false}, {"aes192gcm12", false}, {"aes256gcm12", false},
	{"aes128gcm8", false}, {"aes192gcm8", false}, {"aes256gcm8", false},
	{"chacha20poly1305", false},
	{"aes128-sha1", false}, {"aes128-sha256", false}, {"aes128-sha384", false}, {"aes128-sha512", false},
	{"aes192-sha256", false},
	{"aes256-sha1", false}, {"aes256-sha256", false}, {"aes256-sha384", false}, {"aes256-sha512", false},
	{"3des-sha1", false}, {"null-sha256", false},
	{"aes128gcm16-esn", false}, {"aes256-sha256-esn", false},
	{"des-sha256", true}, {"aes128-md5", true}, {"des-md5", true},
}

// TestESPTransforms pings through one tunnel per ESP transform (ESP-in-UDP), restarting
// both daemons on one namespace pair for each.
func TestESPTransforms(t *testing.T) {
	needNetns(t)
	t.Parallel()
	p := newPair(t, false, 0)
	for _, tr := range espTransforms {
		t.Run(tr.proposal, func(t *testing.T) {
			a, b := startPair(t, p, tunnelSpec{Proposal: tr.proposal, Insecure: tr.insecure})
			mustPing(t, p.a, hostA4, hostB4, 2)
			checkAlgorithms(t, tr.proposal, "udp", checkSAsCarried(t, a, "ESP"), checkSAsCarried(t, b, "ESP"))
		})
	}
}

// TestRawEncap: ESP as IP protocol 50 and AH as IP protocol 51 (encap = "raw"), over IPv4
// and IPv6 outer addresses.
func TestRawEncap(t *testing.T) {
	needNetns(t)
	t.Parallel()
	p := newPair(t, true, 0)
	for _, c := range []struct {
		name     string
		proposal string
		ah       bool
		outer6   bool
		insecure bool
	}{
		{"esp-aes128gcm16", "aes128gcm16", false, false, false},
		{"esp-aes256-sha256", "aes256-sha256", false, false, false},
		{"esp-aes128gcm16-outer6", "aes128gcm16", false, true, false},
		{"ah-sha256", "sha256", true, false, false},
		{"ah-sha1", "sha1", true, false, false},
		{"ah-sha384", "sha384", true, false, false},
		{"ah-sha512", "sha512", true, false, false},
		{"ah-md5", "md5", true, false, true},
		{"ah-sha256-outer6", "sha256", true, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := startPair(t, p, tunnelSpec{Proposal: c.proposal, AH: c.ah, Encap: "raw", Outer6: c.outer6, Insecure: c.insecure})
			mustPing(t, p.a, hostA4, hostB4, 2)
			mustPing(t, p.b, hostB4, hostA4, 2)
			proto := "ESP"
			if c.ah {
				proto = "AH"
			}
			checkAlgorithms(t, c.proposal, "raw", checkSAsCarried(t, a, proto), checkSAsCarried(t, b, proto))
		})
	}
}

// checkAlgorithms asserts that the SAs report the configured algorithms, ESN and
// encapsulation.
func checkAlgorithms(t *testing.T, proposal, encap string, ss ...*status) {
	t.Helper()
	algs := strings.TrimSuffix(proposal, "-esn")
	esn := algs != proposal
	for _, s := range ss {
		for _, sa := range s.sas() {
			if sa.Algorithms != algs || sa.ESN != esn {
				t.Errorf("SA %s: algorithms %q esn %v, want %q esn %v", sa.SPI, sa.Algorithms, sa.ESN, algs, esn)
			}
			if sa.Dir == "out" && sa.Encap != encap {
				t.Errorf("SA %s: encap %q, want %q", sa.SPI, sa.Encap, encap)
			}
		}
	}
}
