package ikev1

import (
	"testing"
	"time"
)

// BenchmarkPhase1Phase2 runs whole negotiations in memory: Main Mode (PSK) + Quick Mode
// between two engine cores, both sides' DH included, and reports negotiations per second.
func BenchmarkPhase1Phase2(b *testing.B) {
	for _, bc := range []struct{ name, ike, esp string }{
		{"modp2048", "aes256-sha256-modp2048", "aes256-sha256"},
		{"ecp256", "aes128-sha256-ecp256", "aes128gcm16"},
		{"curve25519", "aes128-sha256-curve25519", "aes128gcm16"},
		{"modp2048-pfs", "aes256-sha256-modp2048", "aes256-sha256-modp2048"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ca, cb := pairConfig(b, []string{bc.ike}, []string{bc.esp})
				n := newLnet(b)
				x := n.addNode("A", ipA, byte(i), ca)
				y := n.addNode("B", ipB, byte(i+1), cb)
				b.StartTimer()
				x.c.Start(n.now)
				n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "negotiations/s")
		})
	}
}
