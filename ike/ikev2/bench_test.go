package ikev2

import (
	"testing"
	"time"
)

// BenchmarkHandshake runs whole IKEv2 handshakes in memory: IKE_SA_INIT and IKE_AUTH (PSK)
// with one child, both sides' DH included, and reports handshakes per second.
func BenchmarkHandshake(b *testing.B) {
	for _, bc := range []struct{ name, ike string }{
		{"ecp256", "aes128gcm16-prfsha256-ecp256"},
		{"x25519", "aes128gcm16-prfsha256-curve25519"},
		{"modp2048", "aes128-sha256-modp2048"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ca, cb := pairConfig(b, []string{bc.ike}, []string{"aes128gcm16"})
				n := newLnet(b)
				x := n.addNode("A", ipA, byte(i), ca)
				y := n.addNode("B", ipB, byte(i+1), cb)
				b.StartTimer()
				x.core.Start(n.now)
				n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}

// BenchmarkHandshakeCert is BenchmarkHandshake with ECDSA P-256 certificates (RFC 7427).
func BenchmarkHandshakeCert(b *testing.B) {
	ca := newTestCA(b, "bench CA")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ca1, cb := certPair(b, ca, "ecdsa", "ecdsa")
		n := newLnet(b)
		x := n.addNode("A", ipA, byte(i), ca1)
		y := n.addNode("B", ipB, byte(i+1), cb)
		b.StartTimer()
		x.core.Start(n.now)
		n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}
