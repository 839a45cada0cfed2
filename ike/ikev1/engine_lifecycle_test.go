package ike

// Life cycle in memory: Phase 2 rekeys (by time, by byte limit, both peers at once)
// without a moment where a sender uses an SA its peer lacks, Phase 1 re-authentication,
// DPD, Deletes, NAT detection and floating, loss and duplicates.

import (
	"net/netip"
	"testing"
	"time"

	"oakley/esp"
	"oakley/ike/isakmp"
)

func policies(a, b *node) []*esp.Policy {
	return []*esp.Policy{a.conns[0].Children[0].Policy, b.conns[0].Children[0].Policy}
}

func TestChildRekeyByTime(t *testing.T) {
	n, a, b := newPair(t, pairOpts{esp: []string{"aes128gcm16-modp2048"}})
	old, _ := establish(t, n, a, b)
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	// Both sides rekey at ~rekey_time (1h, minus up to 5% jitter); whoever is first wins.
	n.runFor(time.Hour + 10*time.Second)
	chA, chB := a.c.byName["ab"].child("net"), b.c.byName["ba"].child("net")
	if chA.newest() == nil || chA.newest() == old {
		t.Fatal("no new child SA after rekey_time")
	}
	if len(chA.sas) != 1 || len(chB.sas) != 1 {
		t.Fatalf("%d / %d child SAs after the rekey, want the old ones deleted", len(chA.sas), len(chB.sas))
	}
	checkKeysMatch(t, chA.newest(), chB.newest())
	if a.ctr.get(cChildRekeys)+b.ctr.get(cChildRekeys) == 0 {
		t.Fatal("rekey not counted")
	}
	if len(a.dp.inboundSPIs()) != 1 || len(b.dp.inboundSPIs()) != 1 {
		t.Fatalf("inbound SAs left: %v / %v", a.dp.inboundSPIs(), b.dp.inboundSPIs())
	}
	if old.state != childDead || !old.in.Expired() {
		t.Fatal("old SA not closed")
	}
	// Several generations: still one pair each, keys fresh.
	n.runFor(3 * time.Hour)
	if len(chA.sas) != 1 || len(chB.sas) != 1 {
		t.Fatalf("%d / %d child SAs after several rekeys", len(chA.sas), len(chB.sas))
	}
	checkKeysMatch(t, chA.newest(), chB.newest())
}

func TestChildRekeyBySoftByteLimit(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	a.conns[0].Children[0].LifeBytes = 1 << 20
	ca, _ := establish(t, n, a, b)
	if got := ca.out.Config().Life; got.HardBytes != 1<<20 || got.SoftBytes == 0 || got.SoftBytes >= got.HardBytes {
		t.Fatalf("byte limits %+v", got)
	}
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	a.soft = append(a.soft, ca.out.SPI()) // what the data plane signals at the soft limit
	n.runFor(10 * time.Second)
	ch := a.c.byName["ab"].child("net")
	if ch.newest() == ca || len(ch.sas) != 1 {
		t.Fatalf("no rekey after the soft byte limit (%d SAs)", len(ch.sas))
	}
}

func TestRekeyCollision(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	ca, cb := establish(t, n, a, b)
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	// Both peers start a rekey of the same pair at the same instant.
	ca.softExpired(n.now)
	cb.softExpired(n.now)
	n.runFor(20 * time.Second)
	chA, chB := a.c.byName["ab"].child("net"), b.c.byName["ba"].child("net")
	if chA.newest() == nil || chB.newest() == nil || ca.state != childDead || cb.state != childDead {
		t.Fatal("collision left the child without a new SA or the old one alive")
	}
	// Each side sends on a pair the other has; all installed pairs agree.
	for _, x := range chA.sas {
		var peer *childSA
		for _, y := range chB.sas {
			if y.inSPI == x.outSPI {
				peer = y
			}
		}
		if peer == nil {
			t.Fatalf("A's pair %08x has no counterpart at B", x.outSPI)
		}
		checkKeysMatch(t, x, peer)
	}
}

func TestPhase1Reauthentication(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	a.conns[0].RekeyTime = 2 * time.Hour
	b.conns[0].RekeyTime = 0 // the responder leaves it to the initiator
	establish(t, n, a, b)
	old := a.c.byName["ab"].current()
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	n.runFor(2*time.Hour + time.Minute)
	cs := a.c.byName["ab"]
	if cs.current() == old || len(cs.ikes) != 1 || len(b.c.byName["ba"].ikes) != 1 {
		t.Fatalf("re-authentication: %d / %d ISAKMP SAs", len(cs.ikes), len(b.c.byName["ba"].ikes))
	}
	if old.state != p1Dead || old.keys.skeyid != nil || old.keys.skeyidD != nil {
		t.Fatal("old ISAKMP SA not deleted and wiped")
	}
	for _, nd := range []*node{a, b} {
		for _, ch := range nd.c.conns[0].children {
			for _, csa := range ch.sas {
				if csa.ike != nd.c.conns[0].current() {
					t.Fatalf("%s: child not moved to the new ISAKMP SA", nd.name)
				}
			}
		}
	}
	if a.ctr.get(cIKEReauths) != 1 {
		t.Fatalf("ike_reauths = %d", a.ctr.get(cIKEReauths))
	}
	// The children still rekey through the new SA.
	n.runFor(time.Hour)
	checkKeysMatch(t, cs.child("net").newest(), b.c.byName["ba"].child("net").newest())
}

func TestDPD(t *testing.T) {
	for _, action := range []string{"clear", "hold", "restart"} {
		t.Run(action, func(t *testing.T) {
			n, a, b := newPair(t, pairOpts{})
			for _, c := range []*Connection{a.conns[0], b.conns[0]} {
				c.DPDDelay, c.DPDTimeout, c.DPDAction = 10*time.Second, 30*time.Second, action
			}
			establish(t, n, a, b)
			// Idle but alive: R-U-THERE / ACK, no timeout.
			n.runFor(time.Minute)
			if a.ctr.get(cDPDRequestsOut) == 0 || b.ctr.get(cDPDRequestsIn) == 0 {
				t.Fatalf("no R-U-THERE while idle: %v", a.ctr.snapshot())
			}
			if a.ctr.get(cDPDTimeouts)+b.ctr.get(cDPDTimeouts) != 0 {
				t.Fatal("DPD timed out against a live peer")
			}
			// Traffic suppresses DPD (idle-based).
			before := a.ctr.get(cDPDRequestsOut)
			inA := a.c.byName["ab"].child("net").newest().in
			for i := 0; i < 12; i++ {
				inA.Stats.Packets.Add(1)
				n.runFor(5 * time.Second)
			}
			if a.ctr.get(cDPDRequestsOut) != before {
				t.Fatalf("R-U-THERE sent although packets kept arriving (%d -> %d)", before, a.ctr.get(cDPDRequestsOut))
			}
			// B dies: everything it sends is lost.
			n.filter = func(from, to *node, m []byte) []byte {
				if from == b {
					return nil
				}
				return m
			}
			n.runFor(2 * time.Minute)
			if a.ctr.get(cDPDTimeouts) == 0 || !logged(a, "DPD: peer is not answering") {
				t.Fatal("dead peer not detected")
			}
			cs := a.c.byName["ab"]
			switch action {
			case "clear", "hold":
				if cs.current() != nil || cs.connecting() != nil || len(cs.child("net").sas) != 0 {
					t.Fatal("SAs left after dpd_action")
				}
			case "restart":
				if a.ctr.get(cRetransmits) == 0 {
					t.Fatal("restart did not re-initiate")
				}
			}
			if action == "hold" {
				// B comes back; traffic on the policy re-establishes.
				n.filter = nil
				a.c.acquire(n.now, a.conns[0].Children[0].Policy)
				n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, time.Minute)
			}
		})
	}
}

func TestTerminateSendsDeletes(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	establish(t, n, a, b)
	a.c.byName["ab"].terminate(n.now, ErrDeleted)
	n.runFor(time.Second)
	if a.ctr.get(cDeletesOut) != 2 || b.ctr.get(cDeletesIn) != 2 {
		t.Fatalf("deletes out %d, in %d; want the child's and the ISAKMP SA's", a.ctr.get(cDeletesOut), b.ctr.get(cDeletesIn))
	}
	for _, nd := range []*node{a, b} {
		cs := nd.c.conns[0]
		if cs.current() != nil || len(cs.child("net").sas) != 0 || len(nd.dp.inboundSPIs()) != 0 || nd.conns[0].Children[0].Policy.Binding() != nil {
			t.Fatalf("%s keeps SAs after Terminate", nd.name)
		}
	}
	// Nothing re-initiates a terminated connection.
	n.runFor(time.Hour)
	if a.c.byName["ab"].current() != nil {
		t.Fatal("terminated connection came back")
	}
}

func TestNATDetectionAndFloat(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	public := netip.MustParseAddr("203.0.113.5")
	n.natted(a, public)
	ca, cb := establish(t, n, a, b)
	saA, saB := a.c.byName["ab"].current(), b.c.byName["ba"].current()
	if !saA.nat.local || saA.nat.remote || !saB.nat.remote || saB.nat.local {
		t.Fatalf("NAT detection: A %+v, B %+v", saA.nat, saB.nat)
	}
	if !saA.natt || !saB.natt || saA.remote.Port() != 4500 || saB.remote != netip.AddrPortFrom(public, 34500) {
		t.Fatalf("float: A -> %s (natt %v), B -> %s (natt %v)", saA.remote, saA.natt, saB.remote, saB.natt)
	}
	if ca.encap != esp.EncapUDP || cb.encap != esp.EncapUDP || cb.peer != netip.AddrPortFrom(public, 34500) {
		t.Fatalf("children: %s %s / %s %s", ca.encap, ca.peer, cb.encap, cb.peer)
	}
	if ca.tr.mode != isakmp.EncapUDPTunnel {
		t.Fatalf("mode %s, want UDP-Encapsulated-Tunnel (RFC 3947)", ca.tr.mode)
	}
	// The NATed side keeps the mapping open.
	n.runFor(time.Minute)
	if got := countKeepalives(n, a); got < 2 {
		t.Fatalf("%d NAT keepalives from the NATed side in a minute", got)
	}
	if countKeepalives(n, b) != 0 {
		t.Fatal("the side not behind a NAT sends keepalives")
	}
}

// countKeepalives returns how many NAT keepalives a node sent.
func countKeepalives(n *lnet, nd *node) int {
	return nd.keepaliveCount
}

func TestRetransmissionAfterLoss(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	// Drop the first transmission of every message in both directions.
	seen := map[string]bool{}
	n.filter = func(from, to *node, m []byte) []byte {
		k := string(m)
		if !seen[k] {
			seen[k] = true
			return nil
		}
		return m
	}
	establish(t, n, a, b)
	if a.ctr.get(cRetransmits) == 0 || b.ctr.get(cDuplicates)+a.ctr.get(cDuplicates) == 0 {
		t.Fatalf("retransmits %d, duplicates %d/%d", a.ctr.get(cRetransmits), a.ctr.get(cDuplicates), b.ctr.get(cDuplicates))
	}
	if len(a.c.byName["ab"].ikes) != 1 || len(b.c.byName["ba"].ikes) != 1 {
		t.Fatal("losses made extra ISAKMP SAs")
	}
}

func TestDuplicatesProcessedOnce(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	// Every datagram arrives twice.
	n.filter = func(from, to *node, m []byte) []byte {
		to.c.handleDatagram(n.now, m, netip.AddrPortFrom(from.ip, 500), 500)
		return m
	}
	establish(t, n, a, b)
	n.filter = nil
	n.runFor(time.Minute)
	for _, nd := range []*node{a, b} {
		cs := nd.c.conns[0]
		if len(cs.ikes) != 1 || len(cs.child("net").sas) != 1 || len(nd.dp.inboundSPIs()) != 1 {
			t.Fatalf("%s: %d ISAKMP SAs, %d child SAs, %d inbound SAs", nd.name, len(cs.ikes), len(cs.child("net").sas), len(nd.dp.inboundSPIs()))
		}
	}
	if a.ctr.get(cDuplicates)+b.ctr.get(cDuplicates) == 0 {
		t.Fatal("duplicates not counted")
	}
}

func TestPeerGoneGivesUp(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	n.filter = func(from, to *node, m []byte) []byte {
		if from == b {
			return nil
		}
		return m
	}
	a.c.start(n.now)
	n.runFor(40 * time.Second)
	if a.ctr.get(cRetransmitGiveUps) != 1 || a.ctr.get(cRetransmits) != 4 {
		t.Fatalf("give-ups %d, retransmits %d", a.ctr.get(cRetransmitGiveUps), a.ctr.get(cRetransmits))
	}
	if !logged(a, "peer did not answer") {
		t.Fatal("no log line for the timeout")
	}
	// start_action = start: it tries again later.
	n.filter = nil
	n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, 2*time.Minute)
}

// TestBothSidesStart: both peers initiate at the same instant (start_action = start on
// both); whatever ISAKMP and child SAs result, each side sends on SAs the other has.
func TestBothSidesStart(t *testing.T) {
	for _, aggressive := range []bool{false, true} {
		n, a, b := newPair(t, pairOpts{aggressive: aggressive})
		b.conns[0].RemoteAddr, b.conns[0].StartAction = ipA, "start"
		n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
		a.c.start(n.now)
		b.c.start(n.now)
		n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, time.Minute)
		n.runFor(5 * time.Minute)
		if !childUp(a, "ab", "net") || !childUp(b, "ba", "net") {
			t.Fatal("child down after simultaneous start")
		}
		// Rekeys keep working afterwards.
		n.runFor(2 * time.Hour)
		if !childUp(a, "ab", "net") || !childUp(b, "ba", "net") {
			t.Fatal("child down after rekeys")
		}
		if len(a.dp.inboundSPIs()) > 3 || len(b.dp.inboundSPIs()) > 3 {
			t.Fatalf("SA pairs pile up: %d / %d", len(a.dp.inboundSPIs()), len(b.dp.inboundSPIs()))
		}
	}
}

// TestAggressiveModeLostAM3: the responder does not retransmit AM2 on its own; when the
// initiator's Quick Mode shows AM3 was lost, it re-sends AM2 and gets AM3 again.
func TestAggressiveModeLostAM3(t *testing.T) {
	n, a, b := newPair(t, pairOpts{aggressive: true})
	dropped := false
	n.filter = func(from, to *node, m []byte) []byte {
		h, _ := isakmp.DecodeHeader(m)
		if from == a && h.ExchangeType == isakmp.ExchangeAggressive && h.Flags.Has(isakmp.FlagEncryption) && !dropped {
			dropped = true
			return nil
		}
		return m
	}
	establish(t, n, a, b)
	if !dropped || b.ctr.get(cUnexpected) == 0 {
		t.Fatal("AM3 was not lost / not noticed")
	}
}

// TestISAKMPExpiryDeletesChildren: an ISAKMP SA that reaches its lifetime without
// re-authentication takes its children along, and tells the peer about each.
func TestISAKMPExpiryDeletesChildren(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	a.conns[0].RekeyTime, b.conns[0].RekeyTime = 0, 0 // 8 h lifetime, nobody re-authenticates
	a.conns[0].StartAction = "none"                   // and nobody brings it back
	a.conns[0].Children[0].RekeyTime, b.conns[0].Children[0].RekeyTime = 0, 0
	a.c.byName["ab"].bringUp(n.now, a.c.byName["ab"].children)
	n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, time.Minute)
	a.c.byName["ab"].persistent = false
	n.runFor(8*time.Hour + time.Minute)
	noSA(t, a)
	noSA(t, b)
	if a.ctr.get(cDeletesOut)+b.ctr.get(cDeletesOut) < 2 {
		t.Fatalf("deletes out %d/%d", a.ctr.get(cDeletesOut), b.ctr.get(cDeletesOut))
	}
}

// TestTransportModeThroughNAT: the NATed initiator's IDs carry its private address; the
// responder protects the public one (and both send NAT-OA).
func TestTransportModeThroughNAT(t *testing.T) {
	n, a, b := newPair(t, pairOpts{transport: true})
	public := netip.MustParseAddr("203.0.113.5")
	n.natted(a, public)
	_, cb := establish(t, n, a, b)
	if cb.remoteTS[0].Prefix.Addr() != public || cb.encap != esp.EncapUDP || cb.tr.mode != isakmp.EncapUDPTransport {
		t.Fatalf("responder: %v %s %s", cb.remoteTS, cb.encap, cb.tr.mode)
	}
}
