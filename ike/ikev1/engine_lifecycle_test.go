package ikev1

// Life cycle in memory: Phase 2 rekeys (by time, by byte limit, both peers at once)
// without a moment where a sender uses an SA its peer lacks, Phase 1 re-authentication,
// DPD, Deletes, NAT detection and floating, loss and duplicates.

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"oakley/ike/core"

	"oakley/esp"
	"oakley/ike/isakmp"
)

func policies(a, b *node) []*esp.Policy {
	return []*esp.Policy{a.policy(a.conns[0].Name, "net"), b.policy(b.conns[0].Name, "net")}
}

func TestChildRekeyByTime(t *testing.T) {
	n, a, b := newPair(t, pairOpts{esp: []string{"aes128gcm16-modp2048"}})
	old, _ := establish(t, n, a, b)
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	// Both sides rekey at ~rekey_time (1h, minus up to 5% jitter); whoever is first wins.
	n.runFor(time.Hour + 10*time.Second)
	chA, chB := connNamed(a.c, "ab").Child("net"), connNamed(b.c, "ba").Child("net")
	if chA.Newest() == nil || chA.Newest() == old {
		t.Fatal("no new child SA after rekey_time")
	}
	if len(chA.SAs) != 1 || len(chB.SAs) != 1 {
		t.Fatalf("%d / %d child SAs after the rekey, want the old ones deleted", len(chA.SAs), len(chB.SAs))
	}
	checkKeysMatch(t, chA.Newest(), chB.Newest())
	if a.ctr.Get(core.CtrChildRekeys)+b.ctr.Get(core.CtrChildRekeys) == 0 {
		t.Fatal("rekey not counted")
	}
	if len(a.dp.InboundSPIs()) != 1 || len(b.dp.InboundSPIs()) != 1 {
		t.Fatalf("inbound SAs left: %v / %v", a.dp.InboundSPIs(), b.dp.InboundSPIs())
	}
	if old.Alive() || !inOf(old).Expired() {
		t.Fatal("old SA not closed")
	}
	// Several generations: still one pair each, keys fresh.
	n.runFor(3 * time.Hour)
	if len(chA.SAs) != 1 || len(chB.SAs) != 1 {
		t.Fatalf("%d / %d child SAs after several rekeys", len(chA.SAs), len(chB.SAs))
	}
	checkKeysMatch(t, chA.Newest(), chB.Newest())
}

func TestChildRekeyBySoftByteLimit(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	a.conns[0].Children[0].LifeBytes = 1 << 20
	ca, _ := establish(t, n, a, b)
	// The limit travels in kilobytes of 1000 bytes (as strongSwan counts them), so both sides
	// agree on 1048 kB = 1 048 000 bytes.
	if got := outOf(ca).Config().Life; got.HardBytes != 1048000 || got.SoftBytes == 0 || got.SoftBytes >= got.HardBytes {
		t.Fatalf("byte limits %+v", got)
	}
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	a.softExpire(ca) // what the data plane signals at the soft limit
	n.runFor(10 * time.Second)
	ch := connNamed(a.c, "ab").Child("net")
	if ch.Newest() == ca || len(ch.SAs) != 1 {
		t.Fatalf("no rekey after the soft byte limit (%d SAs)", len(ch.SAs))
	}
}

func TestRekeyCollision(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	ca, cb := establish(t, n, a, b)
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	// Both peers start a rekey of the same pair at the same instant.
	a.softExpire(ca)
	b.softExpire(cb)
	n.runFor(20 * time.Second)
	chA, chB := connNamed(a.c, "ab").Child("net"), connNamed(b.c, "ba").Child("net")
	if chA.Newest() == nil || chB.Newest() == nil || ca.Alive() || cb.Alive() {
		t.Fatal("collision left the child without a new SA or the old one alive")
	}
	// Each side sends on a pair the other has; all installed pairs agree.
	for _, x := range chA.SAs {
		var peer *core.ChildSA
		for _, y := range chB.SAs {
			if y.InSPI() == x.OutSPI() {
				peer = y
			}
		}
		if peer == nil {
			t.Fatalf("A's pair %08x has no counterpart at B", x.OutSPI())
		}
		checkKeysMatch(t, x, peer)
	}
}

func TestPhase1Reauthentication(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	a.conns[0].RekeyTime = 2 * time.Hour
	b.conns[0].RekeyTime = 0 // the responder leaves it to the initiator
	establish(t, n, a, b)
	old := currentSA(a.c, "ab")
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	n.runFor(2*time.Hour + time.Minute)
	cs := connNamed(a.c, "ab")
	if cs.Current() == old || len(cs.IKEs()) != 1 || len(connNamed(b.c, "ba").IKEs()) != 1 {
		t.Fatalf("re-authentication: %d / %d ISAKMP SAs", len(cs.IKEs()), len(connNamed(b.c, "ba").IKEs()))
	}
	if old.state != p1Dead || old.keys.skeyid != nil || old.keys.skeyidD != nil {
		t.Fatal("old ISAKMP SA not deleted and wiped")
	}
	for _, nd := range []*node{a, b} {
		for _, ch := range nd.c.Conns()[0].Children {
			for _, csa := range ch.SAs {
				if csa.IKE() != nd.c.Conns()[0].Current() {
					t.Fatalf("%s: child not moved to the new ISAKMP SA", nd.name)
				}
			}
		}
	}
	if a.ctr.Get(core.CtrIKEReauths) != 1 {
		t.Fatalf("ike_reauths = %d", a.ctr.Get(core.CtrIKEReauths))
	}
	// The children still rekey through the new SA.
	n.runFor(time.Hour)
	checkKeysMatch(t, cs.Child("net").Newest(), connNamed(b.c, "ba").Child("net").Newest())
}

func TestDPD(t *testing.T) {
	for _, action := range []string{"clear", "hold", "restart"} {
		t.Run(action, func(t *testing.T) {
			n, a, b := newPair(t, pairOpts{})
			for _, c := range []*core.Connection{a.conns[0], b.conns[0]} {
				c.DPDDelay, c.DPDTimeout, c.DPDAction = 10*time.Second, 30*time.Second, action
			}
			establish(t, n, a, b)
			// Idle but alive: R-U-THERE / ACK, no timeout.
			n.runFor(time.Minute)
			if a.ctr.Get(core.CtrDPDRequestsOut) == 0 || b.ctr.Get(core.CtrDPDRequestsIn) == 0 {
				t.Fatalf("no R-U-THERE while idle: %v", a.ctr.Snapshot())
			}
			if a.ctr.Get(core.CtrDPDTimeouts)+b.ctr.Get(core.CtrDPDTimeouts) != 0 {
				t.Fatal("DPD timed out against a live peer")
			}
			// Traffic suppresses DPD (idle-based).
			before := a.ctr.Get(core.CtrDPDRequestsOut)
			inA := inOf(connNamed(a.c, "ab").Child("net").Newest())
			for i := 0; i < 12; i++ {
				inA.Stats.Packets.Add(1)
				n.runFor(5 * time.Second)
			}
			if a.ctr.Get(core.CtrDPDRequestsOut) != before {
				t.Fatalf("R-U-THERE sent although packets kept arriving (%d -> %d)", before, a.ctr.Get(core.CtrDPDRequestsOut))
			}
			// B dies: everything it sends is lost.
			n.filter = func(from, to *node, m []byte) []byte {
				if from == b {
					return nil
				}
				return m
			}
			n.runFor(2 * time.Minute)
			if a.ctr.Get(core.CtrDPDTimeouts) == 0 || !logged(a, "DPD: peer is not answering") {
				t.Fatal("dead peer not detected")
			}
			cs := connNamed(a.c, "ab")
			switch action {
			case "clear", "hold":
				if cs.Current() != nil || cs.Connecting() != nil || len(cs.Child("net").SAs) != 0 {
					t.Fatal("SAs left after dpd_action")
				}
			case "restart":
				if a.ctr.Get(core.CtrRetransmits) == 0 {
					t.Fatal("restart did not re-initiate")
				}
			}
			if action == "hold" {
				// B comes back; traffic on the policy re-establishes.
				n.filter = nil
				a.acquire(n.now, a.policy(a.conns[0].Name, "net"))
				n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, time.Minute)
			}
		})
	}
}

func TestTerminateSendsDeletes(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	establish(t, n, a, b)
	connNamed(a.c, "ab").Terminate(n.now, ErrDeleted)
	n.runFor(time.Second)
	if a.ctr.Get(core.CtrDeletesOut) != 2 || b.ctr.Get(core.CtrDeletesIn) != 2 {
		t.Fatalf("deletes out %d, in %d; want the child's and the ISAKMP SA's", a.ctr.Get(core.CtrDeletesOut), b.ctr.Get(core.CtrDeletesIn))
	}
	// Seconds after Phase 1, but a pair was made under the SA: a plain Delete, not the
	// peer refusing our identity.
	if got := b.ctr.Get(core.CtrIKEFailed); got != 0 {
		t.Fatalf("the responder counts %d failed IKE SAs for a Delete after a Quick Mode", got)
	}
	for _, nd := range []*node{a, b} {
		cs := nd.c.Conns()[0]
		if cs.Current() != nil || len(cs.Child("net").SAs) != 0 || len(nd.dp.InboundSPIs()) != 0 || nd.policy(nd.conns[0].Name, "net").Binding() != nil {
			t.Fatalf("%s keeps SAs after Terminate", nd.name)
		}
	}
	// Nothing re-initiates a terminated connection.
	n.runFor(time.Hour)
	if currentSA(a.c, "ab") != nil {
		t.Fatal("terminated connection came back")
	}
}

func TestNATDetectionAndFloat(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	public := netip.MustParseAddr("203.0.113.5")
	n.natted(a, public)
	ca, cb := establish(t, n, a, b)
	saA, saB := currentSA(a.c, "ab"), currentSA(b.c, "ba")
	if !saA.nat.local || saA.nat.remote || !saB.nat.remote || saB.nat.local {
		t.Fatalf("NAT detection: A %+v, B %+v", saA.nat, saB.nat)
	}
	if !saA.NATT || !saB.NATT || saA.Remote.Port() != 4500 || saB.Remote != netip.AddrPortFrom(public, 34500) {
		t.Fatalf("float: A -> %s (natt %v), B -> %s (natt %v)", saA.Remote, saA.NATT, saB.Remote, saB.NATT)
	}
	pa, pb := ca.Params(), cb.Params()
	if pa.Encap != esp.EncapUDP || pb.Encap != esp.EncapUDP || pb.Peer != netip.AddrPortFrom(public, 34500) {
		t.Fatalf("children: %s %s / %s %s", pa.Encap, pa.Peer, pb.Encap, pb.Peer)
	}
	if pa.Detail != isakmp.EncapUDPTunnel.String() {
		t.Fatalf("mode %s, want UDP-Encapsulated-Tunnel (RFC 3947)", pa.Detail)
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
	if a.ctr.Get(core.CtrRetransmits) == 0 || b.ctr.Get(core.CtrDuplicates)+a.ctr.Get(core.CtrDuplicates) == 0 {
		t.Fatalf("retransmits %d, duplicates %d/%d", a.ctr.Get(core.CtrRetransmits), a.ctr.Get(core.CtrDuplicates), b.ctr.Get(core.CtrDuplicates))
	}
	if len(connNamed(a.c, "ab").IKEs()) != 1 || len(connNamed(b.c, "ba").IKEs()) != 1 {
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
		cs := nd.c.Conns()[0]
		if len(cs.IKEs()) != 1 || len(cs.Child("net").SAs) != 1 || len(nd.dp.InboundSPIs()) != 1 {
			t.Fatalf("%s: %d ISAKMP SAs, %d child SAs, %d inbound SAs", nd.name, len(cs.IKEs()), len(cs.Child("net").SAs), len(nd.dp.InboundSPIs()))
		}
	}
	if a.ctr.Get(core.CtrDuplicates)+b.ctr.Get(core.CtrDuplicates) == 0 {
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
	a.c.Start(n.now)
	n.runFor(32 * time.Second) // the schedule gives up after 1+2+4+8+16 s; the retry is ~2 s later
	if a.ctr.Get(core.CtrRetransmitGiveUps) != 1 || a.ctr.Get(core.CtrRetransmits) != 4 {
		t.Fatalf("give-ups %d, retransmits %d", a.ctr.Get(core.CtrRetransmitGiveUps), a.ctr.Get(core.CtrRetransmits))
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
		a.c.Start(n.now)
		b.c.Start(n.now)
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
		if len(a.dp.InboundSPIs()) > 3 || len(b.dp.InboundSPIs()) > 3 {
			t.Fatalf("SA pairs pile up: %d / %d", len(a.dp.InboundSPIs()), len(b.dp.InboundSPIs()))
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
	if !dropped || b.ctr.Get(core.CtrUnexpected) == 0 {
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
	connNamed(a.c, "ab").BringUp(n.now, connNamed(a.c, "ab").Children)
	n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, time.Minute)
	n.runFor(8*time.Hour + time.Minute)
	noSA(t, a)
	noSA(t, b)
	if a.ctr.Get(core.CtrDeletesOut)+b.ctr.Get(core.CtrDeletesOut) < 2 {
		t.Fatalf("deletes out %d/%d", a.ctr.Get(core.CtrDeletesOut), b.ctr.Get(core.CtrDeletesOut))
	}
}

// TestTransportModeThroughNAT: the NATed initiator's IDs carry its private address; the
// responder protects the public one (and both send NAT-OA).
func TestTransportModeThroughNAT(t *testing.T) {
	n, a, b := newPair(t, pairOpts{transport: true})
	public := netip.MustParseAddr("203.0.113.5")
	n.natted(a, public)
	_, cb := establish(t, n, a, b)
	if p := cb.Params(); p.RemoteTS[0].Prefix.Addr() != public || p.Encap != esp.EncapUDP || p.Detail != isakmp.EncapUDPTransport.String() {
		t.Fatalf("responder: %v %s %s", p.RemoteTS, p.Encap, p.Detail)
	}
}

// ikeCount is the number of established ISAKMP SAs of a node's connection not on their way
// out (replaced or duplicate SAs linger for core.RekeyGrace).
func ikeCount(nd *node) int {
	n := 0
	for _, sa := range nd.c.Conns()[0].IKEs() {
		if sa.Base().Established() && !sa.Base().Retiring() {
			n++
		}
	}
	return n
}

// TestUniqueIKESAs: both ends re-authenticate every minute and start at the same instant,
// so their ISAKMP SAs collide again and again; at every quiet moment each side keeps
// exactly one ISAKMP SA with its peer (uniqueids: the same one on both sides), one child
// pair, and no packet is ever sent on an SA the peer lacks. Without the collision handling
// the SAs doubled with every round (1 → 2 → 4 → 8).
func TestUniqueIKESAs(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	b.conns[0].RemoteAddr, b.conns[0].StartAction = ipA, "start"
	a.conns[0].RekeyTime, b.conns[0].RekeyTime = time.Minute, time.Minute
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	a.c.Start(n.now)
	b.c.Start(n.now)
	n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, time.Minute)
	for round := 0; round < 10; round++ {
		n.runFor(time.Minute)
		n.runFor(core.RekeyGrace + 2*time.Second) // let the replaced and duplicate SAs go
		if ia, ib := ikeCount(a), ikeCount(b); ia != 1 || ib != 1 {
			t.Fatalf("round %d: %d / %d established ISAKMP SAs, want one each", round, ia, ib)
		}
		sa, sb := currentSA(a.c, "ab"), currentSA(b.c, "ba")
		if string(sa.cookies()) != string(sb.cookies()) {
			t.Fatalf("round %d: the two sides kept different ISAKMP SAs", round)
		}
		if !childUp(a, "ab", "net") || !childUp(b, "ba", "net") {
			t.Fatalf("round %d: child down", round)
		}
	}
	if a.ctr.Get(core.CtrIKEReauths)+b.ctr.Get(core.CtrIKEReauths) < 10 {
		t.Fatalf("only %d/%d re-authentications", a.ctr.Get(core.CtrIKEReauths), b.ctr.Get(core.CtrIKEReauths))
	}
	t.Logf("reauths %d/%d, duplicates dropped %d/%d", a.ctr.Get(core.CtrIKEReauths), b.ctr.Get(core.CtrIKEReauths),
		a.ctr.Get(core.CtrIKEDuplicates), b.ctr.Get(core.CtrIKEDuplicates))
}

// TestReconfigure: three connections up with traffic; a reload leaves one untouched (same
// SAs, same SPIs, no moment without an SA), changes one (renegotiated: new SPIs), removes one
// (Deletes reach the peer) and adds one (started).
func TestReconfigure(t *testing.T) {
	mk := func(i int, rekey time.Duration) (a, b *core.Connection) {
		a, b = pairConfig(t, []string{"aes256-sha256-modp2048"}, []string{"aes128gcm16"})
		a.Name, b.Name = fmt.Sprintf("ab%d", i), fmt.Sprintf("ba%d", i)
		a.LocalID, b.RemoteID = core.FQDNIdentity(fmt.Sprintf("a%d.test", i)), core.FQDNIdentity(fmt.Sprintf("a%d.test", i))
		ta, tb := sel(fmt.Sprintf("192.0.2.%d/32", i)), sel(fmt.Sprintf("198.51.100.%d/32", i))
		a.Children[0].LocalTS, a.Children[0].RemoteTS = []esp.Selector{ta}, []esp.Selector{tb}
		b.Children[0].LocalTS, b.Children[0].RemoteTS = []esp.Selector{tb}, []esp.Selector{ta}
		a.Children[0].RekeyTime = rekey
		return a, b
	}
	var as, bs []*core.Connection
	for i := 1; i <= 4; i++ {
		a, b := mk(i, time.Hour)
		bs = append(bs, b)
		if i <= 3 {
			as = append(as, a)
		}
	}
	n := newLnet(t)
	a := n.addNode("A", ipA, 1, as...)
	b := n.addNode("B", ipB, 2, bs...)
	a.c.Start(n.now)
	up := func(nd *node, conn string) bool { return childUp(nd, conn, "net") }
	n.runUntil(func() bool { return up(a, "ab1") && up(a, "ab2") && up(a, "ab3") }, time.Minute)
	spis := func(conn string) (uint32, uint32) {
		csa := a.unit(conn, "net").Newest()
		return csa.InSPI(), csa.OutSPI()
	}
	in1, out1 := spis("ab1")
	in2, _ := spis("ab2")
	pol1 := a.policy("ab1", "net")
	n.afterStep = func() {
		if pol1.Binding() == nil || pol1.Binding().SA.SPI() != out1 {
			t.Fatalf("the untouched connection lost or changed its outbound SA during the reload")
		}
	}
	// The new configuration: ab1 equal (fresh objects, same values), ab2 with another child
	// rekey time, ab3 gone, ab4 new.
	n1, _ := mk(1, time.Hour)
	n2, _ := mk(2, 2*time.Hour)
	n4, _ := mk(4, time.Hour)
	res, err := a.core.Reconfigure(n.now, []*core.Connection{n1, n2, n4})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Unchanged, res.Changed, res.Removed, res.Added) != "[ab1] [ab2] [ab3] [ab4]" {
		t.Fatalf("reload result %+v", res)
	}
	n.runUntil(func() bool { return up(a, "ab2") && up(a, "ab4") }, time.Minute)
	n.runFor(10 * time.Second)
	if i, o := spis("ab1"); i != in1 || o != out1 {
		t.Fatal("the untouched connection's SPIs changed")
	}
	if i, _ := spis("ab2"); i == in2 {
		t.Fatal("the changed connection was not renegotiated")
	}
	if a.unit("ab3", "net") != nil || b.unit("ba3", "net").Newest() != nil {
		t.Fatal("the removed connection's SAs are still up at the peer")
	}
	// A broken configuration changes nothing.
	bad, _ := mk(5, time.Hour)
	bad.PSK = nil
	if _, err := a.core.Reconfigure(n.now, []*core.Connection{n1, bad}); err == nil {
		t.Fatal("a broken configuration was accepted")
	}
	if a.unit("ab2", "net") == nil || !up(a, "ab2") {
		t.Fatal("a refused reload changed the running configuration")
	}
}

// TestRekeyCollisionLeavesOnePair: both ends start a Quick Mode rekey of the same pair at
// the same instant (issue 13). Both new pairs get installed; the ends must agree on one of
// them (the one whose Quick Mode carried the higher lowest nonce), delete the other with a
// Delete after the grace period, and lose nothing on the way.
func TestRekeyCollisionLeavesOnePair(t *testing.T) {
	keptA := 0
	for _, seed := range []int{0, 1, 2, 3, 4, 5, 6, 7} {
		n, a, b := newPair(t, pairOpts{})
		ca, cb := establish(t, n, a, b)
		n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
		n.runFor(time.Duration(seed) * time.Second) // different timings per run,
		a.core.RandBytes(seed * 7)                  // and different nonces
		b.core.RandBytes(seed * 3)
		collideRekeys(n, a, b, ca, cb)
		n.runFor(20 * time.Second)
		x, y := survivingPair(t, seed, a, b)
		if x == ca || y == cb {
			t.Fatalf("run %d: the old pair survived the rekey", seed)
		}
		checkKeysMatch(t, x, y)
		for _, nd := range []*node{a, b} {
			if pol := nd.policy(map[*node]string{a: "ab", b: "ba"}[nd], "net"); pol.Binding() == nil || pol.Binding().SA != outOf(map[*node]*core.ChildSA{a: x, b: y}[nd]) {
				t.Fatalf("run %d: %s does not send on the surviving pair", seed, nd.name)
			}
			if got := len(nd.dp.InboundSPIs()); got != 1 {
				t.Fatalf("run %d: %s has %d inbound SAs left", seed, nd.name, got)
			}
		}
		if a.ctr.Get(core.CtrChildRekeys) == 0 || b.ctr.Get(core.CtrChildRekeys) == 0 {
			t.Fatalf("run %d: both ends should have completed a rekey", seed)
		}
		if a.ctr.Get(core.CtrRekeyCollisions) != 1 || b.ctr.Get(core.CtrRekeyCollisions) != 1 {
			t.Fatalf("run %d: collisions counted %d at A, %d at B", seed, a.ctr.Get(core.CtrRekeyCollisions), b.ctr.Get(core.CtrRekeyCollisions))
		}
		if x.Params().Initiator {
			keptA++
		}
	}
	// The nonces decide, not the roles: over the runs each end's pair was kept sometimes.
	if keptA == 0 || keptA == 8 {
		t.Fatalf("A's own pair kept in %d of 8 runs: the choice does not depend on the nonces", keptA)
	}
}

// survivingPair checks that each end holds one pair of the unit and that the two mirror
// each other, and returns them.
func survivingPair(t *testing.T, run int, a, b *node) (*core.ChildSA, *core.ChildSA) {
	t.Helper()
	chA, chB := connNamed(a.c, "ab").Child("net"), connNamed(b.c, "ba").Child("net")
	if len(chA.SAs) != 1 || len(chB.SAs) != 1 {
		t.Fatalf("run %d: %d pairs at A, %d at B, want 1 each", run, len(chA.SAs), len(chB.SAs))
	}
	x, y := chA.SAs[0], chB.SAs[0]
	if x.InSPI() != y.OutSPI() || x.OutSPI() != y.InSPI() {
		t.Fatalf("run %d: A keeps %08x/%08x, B %08x/%08x", run, x.InSPI(), x.OutSPI(), y.InSPI(), y.OutSPI())
	}
	return x, y
}

// collideRekeys has both ends handle a soft limit of the pair before either end's first
// Quick Mode message arrives.
func collideRekeys(n *lnet, a, b *node, ca, cb *core.ChildSA) {
	for _, x := range []struct {
		nd  *node
		csa *core.ChildSA
	}{{a, ca}, {b, cb}} {
		x.nd.core.HandleEvents(n.now, esp.Events{SA: []esp.SAEvent{{Kind: esp.EventSoft, SA: outOf(x.csa)}}})
	}
}

// TestRekeyCollisionPeerDeletesKeptPair: after a rekey collision the peer deletes the pair
// our rule keeps (a peer that chose the other one, or deleted first): we keep the other new
// pair instead of deleting it too, and both ends end with that one pair, nothing lost.
func TestRekeyCollisionPeerDeletesKeptPair(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	ca, cb := establish(t, n, a, b)
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	collideRekeys(n, a, b, ca, cb)
	chA, chB := connNamed(a.c, "ab").Child("net"), connNamed(b.c, "ba").Child("net")
	n.runUntil(func() bool {
		return a.ctr.Get(core.CtrRekeyCollisions) == 1 && b.ctr.Get(core.CtrRekeyCollisions) == 1 && !n.anyPending()
	}, 10*time.Second)
	kept := chB.Newest()
	var other *core.ChildSA
	for _, x := range chB.SAs {
		if x != kept && x != cb {
			other = x
		}
	}
	if kept == nil || other == nil || kept == cb {
		t.Fatalf("B holds %d pairs after the collision, want the old one and two new", len(chB.SAs))
	}
	kept.Remove(n.now, true, fmt.Errorf("test: the peer deletes the pair the rule kept"))
	n.runFor(20 * time.Second)
	if len(chA.SAs) != 1 || len(chB.SAs) != 1 || chB.SAs[0] != other {
		t.Fatalf("%d pairs at A, %d at B (B's is the redundant one: %v), want the redundant pair kept on both ends",
			len(chA.SAs), len(chB.SAs), len(chB.SAs) == 1 && chB.SAs[0] == other)
	}
	if chA.SAs[0].InSPI() != other.OutSPI() || chA.SAs[0].OutSPI() != other.InSPI() {
		t.Fatalf("A keeps %08x/%08x, B %08x/%08x", chA.SAs[0].InSPI(), chA.SAs[0].OutSPI(), other.InSPI(), other.OutSPI())
	}
	checkKeysMatch(t, chA.SAs[0], other)
	if bd := b.policy("ba", "net").Binding(); bd == nil || bd.SA != outOf(other) {
		t.Fatal("B does not send on the pair it kept")
	}
	if bd := a.policy("ab", "net").Binding(); bd == nil || bd.SA != outOf(chA.SAs[0]) {
		t.Fatal("A does not send on the pair it kept")
	}
}

// TestNoRekeyWhilePeerRekeys: our soft limit comes while the peer's rekey of the unit waits
// for its last message. Its new pair replaces this one, so we must not start a second
// rekey (the peer could not tell it from a rekey of its new pair, and two pairs would stay).
func TestNoRekeyWhilePeerRekeys(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	ca, cb := establish(t, n, a, b)
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	chB := connNamed(b.c, "ba").Child("net")
	a.core.HandleEvents(n.now, esp.Events{SA: []esp.SAEvent{{Kind: esp.EventSoft, SA: outOf(ca)}}})
	sb := currentSA(b.c, "ba")
	n.runUntil(func() bool { return sb.peerRekeying(chB) }, 10*time.Second)
	b.core.HandleEvents(n.now, esp.Events{SA: []esp.SAEvent{{Kind: esp.EventSoft, SA: outOf(cb)}}})
	n.runFor(20 * time.Second)
	if !logged(b, "not rekeying CHILD_SA: the peer is rekeying it") {
		t.Fatal("B rekeyed while the peer's rekey was in flight")
	}
	chA := connNamed(a.c, "ab").Child("net")
	if len(chA.SAs) != 1 || len(chB.SAs) != 1 || chA.SAs[0] == ca {
		t.Fatalf("%d pairs at A, %d at B, want the peer's new pair only", len(chA.SAs), len(chB.SAs))
	}
	checkKeysMatch(t, chA.SAs[0], chB.SAs[0])
}

// TestRekeyCollisionDeleteLingers: the redundant pair of a rekey collision may still carry
// the peer's packets when our Delete leaves (strongSwan sends on the pair it installed last),
// so its inbound SA stays DeleteLinger after the Delete, then goes.
func TestRekeyCollisionDeleteLingers(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	ca, cb := establish(t, n, a, b)
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	// B's Deletes are lost: A's own Delete and linger are what remove the pair at A.
	n.filter = func(from, to *node, m []byte) []byte {
		if h, err := isakmp.DecodeHeader(m); err == nil && from == b && h.ExchangeType == isakmp.ExchangeInformational {
			return nil
		}
		return m
	}
	collideRekeys(n, a, b, ca, cb)
	n.runUntil(func() bool { return logged(a, "Delete sent for the redundant pair") }, 10*time.Second)
	chA := connNamed(a.c, "ab").Child("net")
	var loser *core.ChildSA
	for _, x := range chA.SAs {
		if x != ca && x != chA.Newest() {
			loser = x
		}
	}
	if loser == nil {
		t.Fatalf("A holds %d pairs when its Delete leaves, want the redundant one among them", len(chA.SAs))
	}
	if a.dp.InboundOf(loser.InSPI()) == nil {
		t.Fatal("the redundant pair's inbound SA is gone as its Delete leaves: packets the peer sent before it are lost")
	}
	n.runFor(core.DeleteLinger + time.Second)
	if a.dp.InboundOf(loser.InSPI()) != nil || loser.Alive() || len(chA.SAs) != 1 {
		t.Fatalf("the redundant pair is still there %s after its Delete (%d pairs)", core.DeleteLinger+time.Second, len(chA.SAs))
	}
}

// TestResponderDeletesPairPeerKeeps: a peer that rekeys and never deletes the pair it
// replaced (strongSwan's charon.delete_rekeyed = no) would leave it with us until it
// expires; we delete it ourselves, after the peer would have, so one pair remains.
func TestResponderDeletesPairPeerKeeps(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	ca, cb := establish(t, n, a, b)
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	// B's Deletes are lost: it behaves as if it kept the old pair.
	n.filter = func(from, to *node, m []byte) []byte {
		if h, err := isakmp.DecodeHeader(m); err == nil && from == b && h.ExchangeType == isakmp.ExchangeInformational {
			return nil
		}
		return m
	}
	b.softExpire(cb)
	n.runFor(20 * time.Second)
	chA := connNamed(a.c, "ab").Child("net")
	if len(chA.SAs) != 1 || chA.SAs[0] == ca || ca.Alive() {
		t.Fatalf("A holds %d pairs (the old one alive: %v) after the peer's rekey, want the new one only", len(chA.SAs), ca.Alive())
	}
}

// TestReauthCrossesPeersFresh: the end that does not decide duplicates (B, the higher
// identity) starts its re-authentication just after the peer's completed on its side, while
// the peer still waits for that exchange's last message (MM6 lost once), so in the deciding
// end's view the two Main Modes overlap, while in B's view B's replaces A's. A keeps the one
// established last (its own, here), so B must not delete that one as "the SA its
// re-authentication replaced" before A's decision arrives: both ends would delete a
// different survivor and lose the tunnel (what happens with B deleting after the usual 3 s).
// Repeated with fresh cookies.
func TestReauthCrossesPeersFresh(t *testing.T) {
	keptOwn := 0
	for run := 0; run < 10; run++ {
		n, a, b := newPair(t, pairOpts{seed: byte(run)})
		b.conns[0].RemoteAddr = ipA // B can re-authenticate
		establish(t, n, a, b)
		if s := currentSA(b.c, "ba"); s.Conn.Decides(s.Base()) || !currentSA(a.c, "ab").Conn.Decides(currentSA(a.c, "ab").Base()) {
			t.Fatal("the test wants A to decide duplicates, not B")
		}
		n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
		old := currentSA(a.c, "ab")
		pairBefore := connNamed(a.c, "ab").Child("net").Newest()
		var fresh []byte // A's new SA's initiator cookie
		dropped := false
		n.filter = func(from, to *node, m []byte) []byte {
			if len(m) < 28 || m[18] != byte(isakmp.ExchangeIdentityProtection) {
				return m
			}
			if from == a && fresh == nil && allZero(m[8:16]) {
				fresh = append([]byte(nil), m[:8]...)
			}
			if from == b && !dropped && fresh != nil && bytes.Equal(m[:8], fresh) && m[19]&1 != 0 {
				dropped = true // MM6 of A's re-authentication
				return nil
			}
			return m
		}
		old.Rekey(n.now)
		n.runUntil(func() bool { return dropped }, 10*time.Second)
		// B has established A's new SA (it sent MM6); A has not. B re-authenticates now.
		bNew := currentSA(b.c, "ba")
		if !bytes.Equal(bNew.cookies()[:8], fresh) {
			t.Fatalf("run %d: B's current SA is not A's new one", run)
		}
		bNew.Rekey(n.now)
		n.runFor(2 * time.Minute)
		if ia, ib := ikeCount(a), ikeCount(b); ia != 1 || ib != 1 {
			t.Fatalf("run %d: %d / %d established ISAKMP SAs, want one each", run, ia, ib)
		}
		sa, sb := currentSA(a.c, "ab"), currentSA(b.c, "ba")
		if !bytes.Equal(sa.cookies(), sb.cookies()) {
			t.Fatalf("run %d: the two ends kept different ISAKMP SAs", run)
		}
		if !childUp(a, "ab", "net") || !childUp(b, "ba", "net") {
			t.Fatalf("run %d: child down", run)
		}
		if bytes.Equal(sa.cookies()[:8], fresh) {
			keptOwn++
			// A deleted the SA B made, on which a strongSwan peer keeps its pairs: the pair
			// must have been renegotiated on A's.
			if connNamed(a.c, "ab").Child("net").Newest() == pairBefore {
				t.Fatalf("run %d: the pair was not renegotiated on the surviving ISAKMP SA", run)
			}
		}
	}
	t.Logf("A kept its own new SA in %d of 10 runs", keptOwn)
}

// TestReauthRefusedKeepsOld: the peer deletes our re-authentication's new ISAKMP SA as soon as
// it is up (strongSwan's uniqueids = keep does this: it keeps the old SA). The SA it was to
// replace must stay, with the child, instead of being deleted after the grace period and
// leaving nothing.
func TestReauthRefusedKeepsOld(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	establish(t, n, a, b)
	old := currentSA(a.c, "ab")
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	oldCookies := old.cookies()
	deleted := false
	old.Rekey(n.now)
	n.runUntil(func() bool {
		for _, s := range connNamed(b.c, "ba").IKEs() {
			if x := s.(*ikeSA); !deleted && x.state == p1Established && !bytes.Equal(x.cookies(), oldCookies) {
				deleted = true
				x.Delete(n.now, true, fmt.Errorf("test: uniqueids = keep"))
			}
		}
		return deleted
	}, 10*time.Second)
	n.runFor(time.Minute)
	if ia, ib := ikeCount(a), ikeCount(b); ia != 1 || ib != 1 {
		t.Fatalf("%d / %d established ISAKMP SAs, want the old one on each end", ia, ib)
	}
	if sa := currentSA(a.c, "ab"); sa != old || !bytes.Equal(currentSA(b.c, "ba").cookies(), oldCookies) {
		t.Fatal("the old ISAKMP SA did not stay")
	}
	if !childUp(a, "ab", "net") || !childUp(b, "ba", "net") {
		t.Fatal("child down")
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
