package ikev1

import (
	"testing"
	"time"

	"oakley/ike/core"
)

// TestPeerRestartSALeavesOnePair: the lab's dead-peer case against strongSwan with the
// initiator killed, in memory. A has just restarted and brought up ISAKMP SA 1 and pair 1;
// then B's DPD, which had declared the old A dead, restarts its old connection: a new Main
// Mode (SA 2, no INITIAL-CONTACT, B already has SA 1) and a new Quick Mode (pair 2). A drops
// SA 1 as the duplicate (uniqueids) and pair 1 moves to SA 2; strongSwan deletes an ISAKMP
// SA's children with it, without a Delete, so A must not keep pair 1: once pair 2 carries
// the traffic, pair 1 goes on both ends and each holds exactly one pair.
func TestPeerRestartSALeavesOnePair(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	b.conns[0].RemoteAddr = ipA
	ca, cb := establish(t, n, a, b)
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)

	sa2, err := b.c.Initiate(n.now, b.conn("ba"), nil)
	if err != nil {
		t.Fatal(err)
	}
	n.runUntil(func() bool { return sa2.Base().Established() }, time.Minute)
	sa2.StartChild(n.now, b.unit("ba", "net"), nil)
	n.runUntil(func() bool { return len(b.unit("ba", "net").SAs) == 2 && len(a.unit("ab", "net").SAs) == 2 }, time.Minute)
	n.runFor(3 * core.RekeyGrace)
	if a.ctr.Get(core.CtrIKEDuplicates) != 1 {
		t.Fatalf("A dropped %d duplicate ISAKMP SAs, want SA 1", a.ctr.Get(core.CtrIKEDuplicates))
	}

	for _, x := range []struct {
		nd    *node
		conn  string
		pair1 *core.ChildSA
	}{{a, "ab", ca}, {b, "ba", cb}} {
		ch := x.nd.unit(x.conn, "net")
		if len(ch.SAs) != 1 || x.pair1.Alive() || ikeCount(x.nd) != 1 {
			t.Fatalf("%s holds %d ISAKMP SAs and %d pairs (pair 1 alive: %v), want one of each, the new pair",
				x.nd.name, ikeCount(x.nd), len(ch.SAs), x.pair1.Alive())
		}
	}
	if !childUp(a, "ab", "net") || !childUp(b, "ba", "net") {
		t.Fatal("child down")
	}
}
