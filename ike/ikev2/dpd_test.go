package ikev2

import (
	"testing"
	"time"

	"oakley/ike/core"
)

// TestLivenessAndRestart: with dpd_delay and no traffic A sends empty INFORMATIONALs (§2.4)
// that B answers; when B dies, A applies dpd_action = restart and comes back up with B's
// replacement.
func TestLivenessAndRestart(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	a.DPDDelay, a.DPDTimeout, a.DPDAction = 30*time.Second, 60*time.Second, "restart"
	n, x, y := pair(t, a, b)
	x.core.Start(n.now)
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	first := currentSA(x, "ab")
	n.runFor(2 * time.Minute)
	if x.ctr.Get(core.CtrDPDRequestsOut) < 3 || currentSA(x, "ab") != first || x.ctr.Get(core.CtrDPDTimeouts) != 0 {
		t.Fatalf("liveness: %d checks, timeouts %d", x.ctr.Get(core.CtrDPDRequestsOut), x.ctr.Get(core.CtrDPDTimeouts))
	}
	// B dies.
	n.filter = func(from, to *node, m []byte) []byte {
		if from == y || to == y {
			return nil
		}
		return m
	}
	n.runUntil(func() bool { return x.ctr.Get(core.CtrDPDTimeouts) == 1 }, 3*time.Minute)
	if childUp(x, "ab", "net") || len(x.dp.InboundSPIs()) != 0 {
		t.Fatal("A kept the dead peer's SAs")
	}
	// B restarts with empty state.
	n.nodes = n.nodes[:1]
	_, b2 := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	z := n.addNode("B'", ipB, 3, b2)
	n.filter = nil
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(z, "ba", "net") }, 5*time.Minute)
	if currentSA(x, "ab") == first {
		t.Fatal("no new IKE SA")
	}
	checkKeysMatch(t, unit(x, "ab", "net").Newest(), unit(z, "ba", "net").Newest())
}

// TestPeerGoneOnRequest: a request unanswered after every retransmission means the peer is
// dead (§2.4): dpd_action (clear) removes the SAs.
func TestPeerGoneOnRequest(t *testing.T) {
	n, x, y := established(t, "aes128gcm16-prfsha256-ecp256", "aes128gcm16")
	n.filter = func(from, to *node, m []byte) []byte {
		if from == y || to == y {
			return nil
		}
		return m
	}
	u := unit(x, "ab", "net")
	n.afterStep = nil
	currentSA(x, "ab").StartChild(n.now, u, u.Newest())
	n.runFor(time.Minute)
	if currentSA(x, "ab") != nil || len(x.dp.InboundSPIs()) != 0 || x.ctr.Get(core.CtrRetransmitGiveUps) != 1 {
		t.Fatalf("after the peer died: IKE SA %v, inbound %v", currentSA(x, "ab"), x.dp.InboundSPIs())
	}
}
