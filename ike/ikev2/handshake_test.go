package ikev2

import (
	"testing"
	"time"

	"oakley/ike/core"
)

func TestHandshakePSK(t *testing.T) {
	for _, tc := range []struct{ ike, esp string }{
		{"aes128gcm16-prfsha256-ecp256", "aes128gcm16"},
		{"aes256-sha384-ecp384", "aes256-sha256"},
		{"aes128-sha256-modp2048", "aes128gcm16-ecp256"},
		{"chacha20poly1305-prfsha256-curve25519", "chacha20poly1305"},
	} {
		t.Run(tc.ike, func(t *testing.T) {
			a, b := pairConfig(t, []string{tc.ike}, []string{tc.esp})
			n, x, y := pair(t, a, b)
			n.afterStep = noLossInvariant(t, n)
			x.core.Start(n.now)
			n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
			checkKeysMatch(t, unit(x, "ab", "net").Newest(), unit(y, "ba", "net").Newest())
			sx, sy := currentSA(x, "ab"), currentSA(y, "ba")
			if sx == nil || sy == nil || sx.tr.String() != sy.tr.String() {
				t.Fatalf("IKE SAs: %v / %v", sx, sy)
			}
			if sx.spiI != sy.spiI || sx.spiR != sy.spiR {
				t.Fatal("SPIs differ")
			}
			st := sx.Status()
			if st.Version != 2 || st.State != "established" || st.PRF == "" || st.Auth != "pre-shared key" {
				t.Fatalf("status %+v", st)
			}
			if got := x.ctr.Get(core.CtrIKEEstablished); got != 1 {
				t.Fatalf("ike_established %d", got)
			}
			if n.delivered != 4 {
				t.Fatalf("%d datagrams for IKE_SA_INIT + IKE_AUTH, want 4:\n%s", n.delivered, n.traceTail(10))
			}
		})
	}
}
