//go:build linux

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPingAndStatus: ping both ways through an AES-GCM tunnel; status (JSON and table)
// shows both SAs with their counters, SPIs and algorithms, and no key ever appears in the
// status output or in the debug-level log (issue 3 §5).
func TestPingAndStatus(t *testing.T) {
	needNetns(t)
	t.Parallel()
	p := newPair(t, false, 0)
	a, b := startPair(t, p, tunnelSpec{Proposal: "aes128gcm16", LogLevel: "debug"})
	const n = 3
	mustPing(t, p.a, hostA4, hostB4, n)
	mustPing(t, p.b, hostB4, hostA4, n)

	secrets := append(a.spec.secrets(), b.spec.secrets()...)
	for _, o := range []*oakley{a, b} {
		s := checkSAsCarried(t, o, "ESP")
		// Each SA carried the requests of one ping and the replies of the other, nothing else.
		for _, sa := range s.sas() {
			if sa.Packets != 2*n {
				t.Errorf("oakley %s: %s SA %s counted %d packets, want %d", o.name, sa.Dir, sa.SPI, sa.Packets, 2*n)
			}
			if sa.Dir == "out" && sa.Seq != 2*n {
				t.Errorf("oakley %s: outbound SA %s has sequence number %d, want %d", o.name, sa.SPI, sa.Seq, 2*n)
			}
		}
		text, err := o.statusText()
		if err != nil {
			t.Fatal(err)
		}
		c := o.spec.Children[0]
		for _, want := range []string{fmt.Sprintf("spi 0x%08x", c.InSPI), fmt.Sprintf("spi 0x%08x", c.OutSPI), "aes128gcm16", "ESP"} {
			if !strings.Contains(text, want) {
				t.Errorf("oakley %s: `oakley status` does not name %q:\n%s", o.name, want, text)
			}
		}
		assertNoSecrets(t, "oakley "+o.name+" status", text, secrets)
		assertNoSecrets(t, "oakley "+o.name+" status --json", s.raw, secrets)
		log := o.p.out.String()
		if !strings.Contains(log, "DEBUG") {
			t.Logf("note: oakley %s logged nothing at debug level", o.name)
		}
		assertNoSecrets(t, "oakley "+o.name+" log (log_level = debug)", log, secrets)
	}
	// After SIGTERM the shutdown lines are in the log too; they must not leak either.
	for _, o := range []*oakley{a, b} {
		if !o.p.stop(10 * time.Second) {
			t.Errorf("oakley %s needed SIGKILL", o.name)
		}
		assertNoSecrets(t, "oakley "+o.name+" log after shutdown", o.p.out.String(), secrets)
	}
}

// assertNoSecrets fails if text contains any of the hex keys, whole or its first 8 bytes, in
// either case. The message never shows the key itself.
func assertNoSecrets(t *testing.T, what, text string, secrets []string) {
	t.Helper()
	low := strings.ToLower(text)
	for i, k := range secrets {
		k = strings.ToLower(k)
		if strings.Contains(low, k) {
			t.Errorf("%s contains configured key #%d", what, i)
		} else if len(k) >= 16 && strings.Contains(low, k[:16]) {
			t.Errorf("%s contains the first 8 bytes of configured key #%d", what, i)
		}
	}
}

// TestIPv6: IPv6 inside an IPv4 tunnel and IPv4 inside an IPv6 tunnel (each run carries
// both inner families, one child per family), pinged both ways.
func TestIPv6(t *testing.T) {
	needNetns(t)
	t.Parallel()
	for _, c := range []struct {
		name   string
		outer6 bool
	}{{"outer-ipv4", false}, {"outer-ipv6", true}} {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, c.outer6, 0)
			a, b := startPair(t, p, tunnelSpec{Proposal: "aes256gcm16", Families: "46", Outer6: c.outer6})
			mustPing(t, p.a, hostA6, hostB6, 2)
			mustPing(t, p.b, hostB6, hostA6, 2)
			mustPing(t, p.a, hostA4, hostB4, 2)
			mustPing(t, p.b, hostB4, hostA4, 2)
			peer := outerB4 + ":4500"
			if c.outer6 {
				peer = "[" + outerB6 + "]:4500"
			}
			checkSAsCarried(t, b, "ESP")
			for _, sa := range checkSAsCarried(t, a, "ESP").sas() {
				if sa.Dir == "out" && sa.Peer != peer {
					t.Errorf("outbound SA %s goes to %q, want %q", sa.SPI, sa.Peer, peer)
				}
			}
		})
	}
}

// TestTransportMode: a transport-mode SA pair between the two outer addresses protects the
// hosts' own traffic.
func TestTransportMode(t *testing.T) {
	needNetns(t)
	t.Parallel()
	p := newPair(t, false, 0)
	a, b := startPair(t, p, tunnelSpec{Proposal: "aes128gcm16", Mode: "transport"})
	out, got, err := ping(p.a, outerA4, outerB4, 3)
	if got != 3 {
		t.Fatalf("ping %s -> %s: %d of 3 replies (%v)\n%s", outerA4, outerB4, got, err, out)
	}
	// Every echo must have crossed inside the SAs: pings that cross in the clear (nothing
	// steering the hosts' own traffic into oakley) are a failure, not a reason to skip.
	if sa := a.mustStatus(t).sa(t, a.spec.Children[0].OutSPI); sa.Packets < 3 {
		t.Fatalf("transport mode: the pings crossed unprotected (outbound SA %08x counted %d packets for 3 echo requests)", a.spec.Children[0].OutSPI, sa.Packets)
	}
	if sa := b.mustStatus(t).sa(t, b.spec.Children[0].InSPI); sa.Packets < 3 {
		t.Fatalf("transport mode: B's inbound SA %08x counted %d packets for 3 echo requests", b.spec.Children[0].InSPI, sa.Packets)
	}
	checkSAsCarried(t, a, "ESP")
	checkSAsCarried(t, b, "ESP")
}

// TestIKE is the IKE variant of TestPingAndStatus: the same tunnel with keying = "ike" (IKEv1
// Main Mode with a PSK, A initiating, B responding), for AES-GCM and AES-CBC+HMAC-SHA-256.
// The interop suite (e2e_interop_*_test.go) covers IKE in depth.
func TestIKE(t *testing.T) {
	needNetns(t)
	t.Parallel()
	for _, prop := range []string{"aes128gcm16", "aes128-sha256"} {
		t.Run(prop, func(t *testing.T) {
			p := newPair(t, false, 0)
			a, b := startPair(t, p, tunnelSpec{Proposal: prop, Keying: "ike", LogLevel: "debug"})
			mustPing(t, p.a, hostA4, hostB4, 3)
			mustPing(t, p.b, hostB4, hostA4, 3)
			secrets := a.spec.secrets()
			for _, o := range []*oakley{a, b} {
				s := checkSAsCarried(t, o, "ESP")
				checkAlgorithms(t, prop, "udp", s)
				text, err := o.statusText()
				if err != nil {
					t.Fatal(err)
				}
				assertNoSecrets(t, "oakley "+o.name+" status", text, secrets)
				assertNoSecrets(t, "oakley "+o.name+" status --json", s.raw, secrets)
				assertNoSecrets(t, "oakley "+o.name+" log (log_level = debug)", o.p.out.String(), secrets)
			}
		})
	}
}
