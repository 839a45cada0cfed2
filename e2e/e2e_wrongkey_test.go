//go:build linux

package e2e

import (
	"testing"
	"time"
)

// TestWrongKey: A protects its packets with a key B does not have. B must drop every one of
// them, count it as an integrity failure, write nothing to its device and keep running; the
// other direction (B's outbound SA, A's inbound SA) is unaffected.
func TestWrongKey(t *testing.T) {
	needNetns(t)
	t.Parallel()
	p := newPair(t, false, 0)
	for _, c := range []struct {
		name, proposal string
		authKey        bool // corrupt the integrity key rather than the encryption key
	}{
		{"aes128gcm16-wrong-key", "aes128gcm16", false},
		{"aes128-sha256-wrong-auth-key", "aes128-sha256", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			sa, sb := tunnelSpec{Proposal: c.proposal}.sites(t)
			ch := &sa.Children[0]
			if c.authKey {
				ch.OutAuthKey = randomID(t, len(ch.OutAuthKey)/2)
			} else {
				ch.OutKey = randomID(t, len(ch.OutKey)/2)
			}
			a := startOakley(t, p.a, "a", sa, launch{})
			b := startOakley(t, p.b, "b", sb, launch{})
			const n = 3
			if out, got, _ := ping(p.a, hostA4, hostB4, n); got != 0 {
				t.Fatalf("%d replies through a tunnel whose keys differ:\n%s", got, out)
			}
			in := b.mustStatus(t).sa(t, sb.Children[0].InSPI)
			if in.Packets != 0 || in.Errors["integrity"] != n || len(in.Errors) != 1 {
				t.Errorf("B's inbound SA after %d forged packets: packets %d, errors %v; want 0 packets, errors {integrity: %d}", n, in.Packets, in.Errors, n)
			}
			// B -> A: the requests arrive (A's inbound SA has B's key), the replies do not.
			if out, got, _ := ping(p.b, hostB4, hostA4, n); got != 0 {
				t.Fatalf("%d replies through a tunnel whose keys differ:\n%s", got, out)
			}
			if in := a.mustStatus(t).sa(t, sa.Children[0].InSPI); in.Packets != n || len(in.Errors) != 0 {
				t.Errorf("A's inbound SA (correct key): packets %d, errors %v; want %d packets, no errors", in.Packets, in.Errors, n)
			}
			s := b.mustStatus(t)
			if in := s.sa(t, sb.Children[0].InSPI); in.Errors["integrity"] != 2*n {
				t.Errorf("B's inbound SA: errors %v, want {integrity: %d}", in.Errors, 2*n)
			}
			if got := s.Counters["device_tx_packets"]; got != 0 {
				t.Errorf("B wrote %d packets to its device; nothing that failed the ICV may get through", got)
			}
			time.Sleep(100 * time.Millisecond)
			if b.p.exited() {
				t.Fatalf("oakley b exited after the forged packets: %v", b.p.err)
			}
		})
	}
}
