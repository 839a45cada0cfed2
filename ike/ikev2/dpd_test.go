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

// TestUniqueIKESAs: one IKE SA per peer identity (uniqueids), with the child on it, when
// both ends initiate at once, and when a peer restarts while the survivor's dpd_action =
// restart initiation is still being retransmitted (its retransmission reaches the restarted
// peer after the peer's own SA is up: each end then holds an SA it initiated and one it
// answered). Both ends must keep the same one.
func TestUniqueIKESAs(t *testing.T) {
	settle := func(t *testing.T, n *lnet, x, y *node) {
		t.Helper()
		n.runFor(time.Minute)
		if len(x.p.SAs()) != 1 || len(y.p.SAs()) != 1 {
			t.Fatalf("IKE SAs %d / %d, want one each", len(x.p.SAs()), len(y.p.SAs()))
		}
		na, nb := currentSA(x, "ab"), currentSA(y, "ba")
		if na == nil || nb == nil || na.spiI != nb.spiI || na.spiR != nb.spiR {
			t.Fatal("the two ends kept different IKE SAs")
		}
		ca, cb := onePair(t, n, x, y)
		if ca.IKE() != core.IKESA(na) || cb.IKE() != core.IKESA(nb) {
			t.Fatal("the child is not on the surviving IKE SA")
		}
		if !na.sendLiveness(n.now) {
			t.Fatal("no liveness")
		}
		n.runFor(time.Second)
		if na.out != nil {
			t.Fatal("liveness unanswered on the surviving SA")
		}
	}
	t.Run("both-initiate", func(t *testing.T) {
		for seed := byte(0); seed < 4; seed++ {
			a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
			b.RemoteAddr, b.StartAction = ipA, "start"
			n := newLnet(t)
			x := n.addNode("A", ipA, 50+seed, a)
			y := n.addNode("B", ipB, 60+seed, b)
			x.core.Start(n.now)
			y.core.Start(n.now)
			settle(t, n, x, y)
			if x.ctr.Get(core.CtrIKEDuplicates)+y.ctr.Get(core.CtrIKEDuplicates) == 0 {
				t.Fatalf("seed %d: no duplicate was dropped: the case did not collide", seed)
			}
		}
	})
	t.Run("restart-during-dpd-restart", func(t *testing.T) {
		a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
		a.DPDDelay, a.DPDTimeout, a.DPDAction = 2*time.Second, 8*time.Second, "restart"
		n, x, y := pair(t, a, b)
		x.core.Start(n.now)
		n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
		n.filter = func(from, to *node, m []byte) []byte {
			if from == y || to == y {
				return nil
			}
			return m
		}
		n.runUntil(func() bool { return x.ctr.Get(core.CtrDPDTimeouts) == 1 }, time.Minute)
		// A's new IKE_SA_INIT went to the dead B; B' starts and initiates before A retransmits.
		n.nodes = n.nodes[:1]
		_, b2 := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
		b2.RemoteAddr, b2.StartAction = ipA, "start"
		z := n.addNode("B'", ipB, 3, b2)
		n.filter = nil
		z.core.Start(n.now)
		settle(t, n, x, z)
	})
}

// TestAuthChildAfterFailedIKEAuth: an IKE_AUTH never answered (its responses lost until the
// initiator gives up) fails the child it carried too, so the re-initiated IKE SA (start_action
// = start) brings the child up; before, the unit stayed pending (CONNECTING) for good.
func TestAuthChildAfterFailedIKEAuth(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	n, x, y := pair(t, a, b)
	fromB := 0
	n.filter = func(from, to *node, m []byte) []byte {
		if from == y && x.ctr.Get(core.CtrIKEFailed) == 0 {
			fromB++
			if fromB > 1 { // the IKE_SA_INIT response passes, every IKE_AUTH response is lost
				return nil
			}
		}
		return m
	}
	x.core.Start(n.now)
	n.runUntil(func() bool { return x.ctr.Get(core.CtrIKEFailed) == 1 }, 10*time.Minute)
	if childUp(x, "ab", "net") {
		t.Fatal("the child came up through a failed IKE_AUTH")
	}
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, 5*time.Minute)
	onePair(t, n, x, y)
}

// TestLivenessSoonAfterTrafficStops: traffic proves the peer alive, so DPD sends no check
// while it flows; once it stops, the check goes out about dpd_delay later (at most a quarter
// of an interval more), not up to two intervals later because the last look at the counters
// came just before the traffic stopped.
func TestLivenessSoonAfterTrafficStops(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	delay := 10 * time.Second
	a.DPDDelay, a.DPDTimeout, a.DPDAction = delay, 60*time.Second, "clear"
	n, x, y := pair(t, a, b)
	x.core.Start(n.now)
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	in, _ := unit(x, "ab", "net").Newest().SAs()
	for range 35 { // a packet a second for 35 s: no liveness check
		in.Stats.Packets.Add(1)
		n.runFor(time.Second)
	}
	if got := x.ctr.Get(core.CtrDPDRequestsOut); got != 0 {
		t.Fatalf("%d liveness checks while traffic flowed", got)
	}
	stopped := n.now
	n.runUntil(func() bool { return x.ctr.Get(core.CtrDPDRequestsOut) == 1 }, time.Minute)
	if after := n.now.Sub(stopped); after < delay-time.Second || after > delay+delay/4 {
		t.Fatalf("the liveness check went out %s after the traffic stopped; want about %s", after, delay)
	}
}
