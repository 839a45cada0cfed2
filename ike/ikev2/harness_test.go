package ikev2

// An in-memory network for whole engines: two (or more) cores with the IKEv2 protocol,
// driven in lockstep with a virtual clock and joined by fake data planes that record the SAs
// installed. Tests may drop, duplicate, reorder or NAT-rewrite datagrams, and simulate
// traffic (the first packet on each new inbound SA). Deterministic: each node reads its
// randomness from its own seeded stream.

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/core/coretest"
	"oakley/ike/ikev2/wire"
)

type node struct {
	name       string
	ip         netip.Addr
	core       *core.Core
	p          *Protocol
	dp         *coretest.FakeDP
	logs       *observer.ObservedLogs
	ctr        *core.Counters
	events     []esp.SAEvent
	used       map[*esp.SA]bool // inbound SAs the simulated traffic has used
	keepalives int
}

type lnet struct {
	t         testing.TB
	now       time.Time
	nodes     []*node
	filter    func(from, to *node, m []byte) []byte
	natBox    *natBox
	delivered int
	trace     []string
	afterStep func()
	// traffic: both sides send on every bound SA all the time (so each new inbound SA sees
	// its first packet right after the peer switches to it).
	traffic bool
	// hold keeps datagrams for later delivery (reordering tests).
	held []heldMsg
}

type heldMsg struct {
	from *node
	o    core.Outgoing
}

type natBox struct {
	inside *node
	public netip.Addr
	ports  map[uint16]uint16
}

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// testRetransmit: 1, 2, 4, 8, 16 s.
var testRetransmit = core.Retransmit{Timeout: time.Second, Base: 2, Tries: 4}

func newLnet(t testing.TB) *lnet { return &lnet{t: t, now: epoch} }

func (n *lnet) addNode(name string, ip netip.Addr, seed byte, conns ...*core.Connection) *node {
	n.t.Helper()
	lc, obs := observer.New(zap.DebugLevel)
	nd := &node{name: name, ip: ip, dp: coretest.NewFakeDP(), logs: obs, ctr: core.NewCounters(), used: map[*esp.SA]bool{}}
	cfg := core.Config{Connections: conns, Dataplane: nd.dp, Rand: coretest.NewSeededRand(seed), Log: zap.New(lc).Named(name),
		LocalAddrFor: func(netip.Addr) netip.Addr { return ip }, Retransmit: testRetransmit}
	p := New()
	c, err := core.New(cfg, nd.ctr, p)
	if err != nil {
		n.t.Fatalf("%s: %v", name, err)
	}
	nd.core, nd.p = c, p
	n.nodes = append(n.nodes, nd)
	return nd
}

func (n *lnet) natted(nd *node, public netip.Addr) {
	n.natBox = &natBox{inside: nd, public: public, ports: map[uint16]uint16{500: 31500, 4500: 34500}}
}

func (n *lnet) nodeByIP(a netip.Addr) *node {
	for _, nd := range n.nodes {
		if nd.ip == a {
			return nd
		}
	}
	return nil
}

// step delivers pending datagrams; if none, data-plane events; else advances the clock to
// the next timer. It returns false when nothing is left to do.
func (n *lnet) step() bool {
	for _, nd := range n.nodes {
		out := nd.core.TakeOut()
		if len(out) == 0 {
			continue
		}
		for _, o := range out {
			n.deliver(nd, o)
		}
		return true
	}
	for _, nd := range n.nodes {
		if len(nd.events) > 0 {
			ev := nd.events
			nd.events = nil
			nd.core.HandleEvents(n.now, esp.Events{SA: ev})
			n.check()
			return true
		}
	}
	var next time.Time
	for _, nd := range n.nodes {
		if t, ok := nd.core.Timers.Next(); ok && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if next.IsZero() {
		return false
	}
	if next.After(n.now) {
		n.now = next
	}
	for _, nd := range n.nodes {
		nd.core.FireTimers(n.now)
	}
	n.check()
	return true
}

// check runs the simulated traffic and the invariant after a step.
func (n *lnet) check() {
	if n.traffic {
		n.simulateTraffic()
	}
	if n.afterStep != nil {
		n.afterStep()
	}
}

// simulateTraffic: every SA a node sends on carries a packet to the peer, whose inbound SA
// reports its first use (as the data plane does) the first time.
func (n *lnet) simulateTraffic() {
	for _, from := range n.nodes {
		for _, cs := range from.core.Conns() {
			for _, ch := range cs.Children {
				b := ch.Policy.Binding()
				if b == nil {
					continue
				}
				for _, to := range n.nodes {
					if to == from {
						continue
					}
					in := to.dp.InboundOf(b.SA.SPI())
					if in != nil && !to.used[in] {
						to.used[in] = true
						in.Stats.Packets.Add(1)
						to.events = append(to.events, esp.SAEvent{Kind: esp.EventFirstUse, SA: in})
					}
				}
			}
		}
	}
}

func (n *lnet) deliver(from *node, o core.Outgoing) {
	if o.Keepalive {
		from.keepalives++
		return
	}
	dst := o.To
	if nb := n.natBox; nb != nil && dst.Addr() == nb.public {
		for priv, pub := range nb.ports {
			if pub == dst.Port() {
				dst = netip.AddrPortFrom(nb.inside.ip, priv)
			}
		}
	}
	to := n.nodeByIP(dst.Addr())
	if to == nil {
		n.trace = append(n.trace, fmt.Sprintf("%s %s->%s (nobody) %s", n.now.Sub(epoch), from.name, dst, describe(o.Msg)))
		return
	}
	port := from.core.IKEPort
	if o.NATT {
		port = from.core.NATTPort
	}
	src := netip.AddrPortFrom(from.ip, port)
	if nb := n.natBox; nb != nil && from == nb.inside {
		src = netip.AddrPortFrom(nb.public, nb.ports[port])
	}
	msg := o.Msg
	if n.filter != nil {
		if msg = n.filter(from, to, msg); msg == nil {
			n.trace = append(n.trace, fmt.Sprintf("%s %s->%s dropped %s", n.now.Sub(epoch), from.name, to.name, describe(o.Msg)))
			return
		}
	}
	n.delivered++
	n.trace = append(n.trace, fmt.Sprintf("%s %s->%s %s", n.now.Sub(epoch), from.name, to.name, describe(msg)))
	to.core.HandleDatagram(n.now, msg, src, netip.AddrPortFrom(to.ip, dst.Port()))
	n.check()
}

func describe(m []byte) string {
	h, err := wire.DecodeHeader(m)
	if err != nil {
		return "garbage"
	}
	return fmt.Sprintf("%s mid=%d %s len=%d", h.Exchange, h.MessageID, h.Flags, len(m))
}

func (n *lnet) runUntil(cond func() bool, within time.Duration) {
	n.t.Helper()
	deadline := n.now.Add(within)
	for !cond() {
		if n.now.After(deadline) || !n.step() {
			for _, nd := range n.nodes {
				dumpLogs(n.t, nd, 60)
			}
			n.t.Fatalf("condition not reached by %s (virtual); trace:\n%s", n.now.Sub(epoch), n.traceTail(60))
		}
	}
}

// runFor advances the virtual clock by d, handling everything on the way.
func (n *lnet) runFor(d time.Duration) {
	end := n.now.Add(d)
	for {
		pending := false
		for _, nd := range n.nodes {
			if nd.core.Pending() || len(nd.events) > 0 {
				pending = true
			}
		}
		if !pending {
			var next time.Time
			for _, nd := range n.nodes {
				if t, ok := nd.core.Timers.Next(); ok && (next.IsZero() || t.Before(next)) {
					next = t
				}
			}
			if next.IsZero() || next.After(end) {
				n.now = end
				for _, nd := range n.nodes {
					nd.core.FireTimers(n.now)
				}
				if !n.anyPending() {
					return
				}
			}
		}
		n.step()
	}
}

func (n *lnet) anyPending() bool {
	for _, nd := range n.nodes {
		if nd.core.Pending() || len(nd.events) > 0 {
			return true
		}
	}
	return false
}

func (n *lnet) traceTail(k int) string {
	t := n.trace
	if len(t) > k {
		t = t[len(t)-k:]
	}
	return strings.Join(t, "\n")
}

func dumpLogs(t testing.TB, nd *node, last int) {
	all := nd.logs.All()
	if len(all) > last {
		all = all[len(all)-last:]
	}
	for _, e := range all {
		var fs []string
		for k, v := range e.ContextMap() {
			fs = append(fs, fmt.Sprintf("%s=%v", k, v))
		}
		t.Logf("%s %s: %s %v", nd.name, e.Level, e.Message, fs)
	}
}

// logged reports whether a node logged a message containing s (in the message or a field).
func logged(nd *node, s string) bool {
	for _, e := range nd.logs.All() {
		if strings.Contains(e.Message, s) {
			return true
		}
		for _, v := range e.ContextMap() {
			if strings.Contains(fmt.Sprint(v), s) {
				return true
			}
		}
	}
	return false
}

// Configuration.

var (
	ipA, ipB = coretest.IPA, coretest.IPB
	sel      = coretest.Sel
	testPSK  = coretest.PSK
)

func props(t testing.TB, proto crypto.Protocol, texts ...string) []*crypto.Proposal {
	return coretest.MustProposals(t, proto, false, texts...)
}

// pairConfig returns matching IKEv2 connections for A (initiator, start_action = start)
// and B (responder, remote %any).
func pairConfig(t testing.TB, ike, esps []string) (a, b *core.Connection) {
	a = &core.Connection{Version: 2,
		Name: "ab", LocalAddr: ipA, RemoteAddr: ipB,
		LocalID: core.FQDNIdentity("a.test"), RemoteID: core.FQDNIdentity("b.test"),
		PSK: testPSK, Proposals: props(t, crypto.ProtoIKEv2, ike...),
		RekeyTime: 4 * time.Hour, StartAction: "start", Encap: "auto",
		Children: []*core.Child{{
			Name: "net", LocalTS: []esp.Selector{sel("192.0.2.0/24")}, RemoteTS: []esp.Selector{sel("198.51.100.0/24")},
			ESPProposals: props(t, crypto.ProtoESP, esps...), RekeyTime: time.Hour, ReplayWindow: 64,
		}},
	}
	b = &core.Connection{Version: 2,
		Name: "ba", LocalAddr: ipB,
		LocalID: core.FQDNIdentity("b.test"), RemoteID: core.FQDNIdentity("a.test"),
		PSK: testPSK, Proposals: props(t, crypto.ProtoIKEv2, ike...),
		RekeyTime: 4 * time.Hour, StartAction: "none", Encap: "auto",
		Children: []*core.Child{{
			Name: "net", LocalTS: []esp.Selector{sel("198.51.100.0/24")}, RemoteTS: []esp.Selector{sel("192.0.2.0/24")},
			ESPProposals: props(t, crypto.ProtoESP, esps...), RekeyTime: time.Hour, ReplayWindow: 64,
		}},
	}
	return a, b
}

// pair builds the network with A and B for the connections.
func pair(t testing.TB, a, b *core.Connection) (*lnet, *node, *node) {
	n := newLnet(t)
	x := n.addNode("A", ipA, 1, a)
	y := n.addNode("B", ipB, 2, b)
	return n, x, y
}

// childUp reports whether a node's connection has an installed, bound child.
func childUp(nd *node, conn, child string) bool {
	cs, err := nd.core.Conn(conn)
	if err != nil {
		return false
	}
	ch := cs.Child(child)
	if ch == nil {
		return false
	}
	x := ch.Newest()
	return x != nil && x.Bound()
}

func unit(nd *node, conn, child string) *core.ChildState {
	cs, _ := nd.core.Conn(conn)
	return cs.Child(child)
}

func currentSA(nd *node, conn string) *ikeSA {
	cs, _ := nd.core.Conn(conn)
	s, _ := cs.Current().(*ikeSA)
	return s
}

// checkKeysMatch verifies that each side's inbound SA carries the other side's outbound
// keys and algorithms.
func checkKeysMatch(t testing.TB, a, b *core.ChildSA) {
	t.Helper()
	ain, aout := a.SAs()
	bin, bout := b.SAs()
	for _, p := range []struct{ in, out *esp.SA }{{ain, bout}, {bin, aout}} {
		ic, oc := p.in.Config(), p.out.Config()
		if ic.SPI != oc.SPI {
			t.Fatalf("SPI mismatch: in %08x out %08x", ic.SPI, oc.SPI)
		}
		if !bytes.Equal(ic.EncKey, oc.EncKey) || !bytes.Equal(ic.IntegKey, oc.IntegKey) {
			t.Fatalf("keys of SPI %08x differ between the peers", ic.SPI)
		}
		if ic.Enc != oc.Enc || ic.Integ != oc.Integ || ic.Mode != oc.Mode || ic.ESN != oc.ESN {
			t.Fatalf("SPI %08x: algorithms differ", ic.SPI)
		}
		if len(ic.EncKey)+len(ic.IntegKey) == 0 {
			t.Fatalf("SPI %08x has no keys", ic.SPI)
		}
	}
	if bytes.Equal(ain.Config().EncKey, aout.Config().EncKey) {
		t.Fatal("inbound and outbound keys are equal")
	}
}

// noLossInvariant checks that whatever SA a node sends on is installed inbound at its peer
// with the same keys (so no packet could be lost). A unit's first pair is exempt: its
// responder sends at once, before its response reaches the initiator, since nothing else
// could carry the traffic.
func noLossInvariant(t testing.TB, n *lnet) func() {
	return func() {
		for _, from := range n.nodes {
			for _, cs := range from.core.Conns() {
				for _, ch := range cs.Children {
					b := ch.Policy.Binding()
					if b == nil || len(ch.SAs) == 1 && from.ctr.Get(core.CtrChildRekeys) == 0 && from.ctr.Get(core.CtrChildEstablished) <= uint64(len(cs.Children)) {
						continue
					}
					found := false
					for _, to := range n.nodes {
						if in := to.dp.InboundOf(b.SA.SPI()); in != nil && to != from {
							found = true
							if !bytes.Equal(in.Config().EncKey, b.SA.Config().EncKey) || !bytes.Equal(in.Config().IntegKey, b.SA.Config().IntegKey) {
								t.Fatalf("keys of SPI %08x differ", b.SA.SPI())
							}
						}
					}
					if !found {
						t.Fatalf("%s sends on SPI %08x, which no peer has installed; trace:\n%s", from.name, b.SA.SPI(), n.traceTail(20))
					}
				}
			}
		}
	}
}
