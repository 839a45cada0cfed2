package ikev1

// An in-memory network for whole engines: two cores driven in lockstep with a virtual
// clock, joined by a fake data plane that records installed SAs and lets tests drop,
// duplicate, tamper with and NAT-rewrite datagrams. Deterministic: each node reads its
// randomness from its own seeded stream.

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"oakley/ike/core/coretest"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// node is one engine core (with the IKEv1 protocol) on the in-memory network.
type node struct {
	name   string
	ip     netip.Addr
	core   *core.Core
	c      *Protocol
	dp     *coretest.FakeDP
	logs   *observer.ObservedLogs
	conns  []*core.Connection
	events []esp.SAEvent // data-plane events to deliver (soft/hard limits, first use)
	ctr    *core.Counters
	// keepaliveCount counts NAT keepalives the node sent.
	keepaliveCount int
}

// policy returns the SPD entry of a unit of one of the node's connections.
func (nd *node) policy(conn, unit string) *esp.Policy {
	cs, err := nd.core.Conn(conn)
	if err != nil {
		return nil
	}
	if ch := cs.Child(unit); ch != nil {
		return ch.Policy
	}
	return nil
}

// unit returns a unit of one of the node's connections.
func (nd *node) unit(conn, unit string) *core.ChildState {
	cs, err := nd.core.Conn(conn)
	if err != nil {
		return nil
	}
	return cs.Child(unit)
}

// conn returns one of the node's connections.
func (nd *node) conn(name string) *core.Conn {
	cs, _ := nd.core.Conn(name)
	return cs
}

// lnet joins two nodes. Datagrams are delivered in order; filters may drop or change them.
type lnet struct {
	t     testing.TB
	now   time.Time
	nodes []*node
	// filter sees each datagram before delivery: return nil to drop it; the returned
	// slice (possibly the same one) is delivered. from is rewritten by nat.
	filter func(from, to *node, m []byte) []byte
	// nat maps the source address a receiver sees (nil: unchanged).
	nat       func(from, to *node, src netip.AddrPort) netip.AddrPort
	delivered int
	trace     []string
	// natBox, when set, hides one node behind a NAT (see natted).
	natBox *natBox
	// afterStep runs after every delivered datagram or fired timer (invariant checks).
	afterStep func()
	// retransmit is the schedule of nodes added from now on (zero: testRetransmit).
	retransmit core.Retransmit
}

// natBox maps a private node's ports to public ones on a public address.
type natBox struct {
	inside *node
	public netip.Addr
	ports  map[uint16]uint16 // private port -> public port
}

// natted puts a node behind a NAT with a public address: its datagrams reach the others
// from public:mapped-port, and datagrams to public:mapped-port reach it.
func (n *lnet) natted(nd *node, public netip.Addr) {
	n.natBox = &natBox{inside: nd, public: public, ports: map[uint16]uint16{500: 31500, 4500: 34500}}
}

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newLnet(t testing.TB) *lnet { return &lnet{t: t, now: epoch} }

// addNode creates a node with connections (LocalAddr/RemoteAddr already set).
func (n *lnet) addNode(name string, ip netip.Addr, seed byte, conns ...*core.Connection) *node {
	n.t.Helper()
	lc, obs := observer.New(zap.DebugLevel)
	nd := &node{name: name, ip: ip, dp: coretest.NewFakeDP(), logs: obs, conns: conns, ctr: core.NewCounters()}
	cfg := core.Config{Connections: conns, Dataplane: nd.dp, Rand: coretest.NewSeededRand(seed), Log: zap.New(lc).Named(name),
		LocalAddrFor: func(netip.Addr) netip.Addr { return ip }, Retransmit: testRetransmit}
	if n.retransmit != (core.Retransmit{}) {
		cfg.Retransmit = n.retransmit
	}
	p := New()
	c, err := core.New(cfg, nd.ctr, p)
	if err != nil {
		n.t.Fatalf("%s: %v", name, err)
	}
	nd.core, nd.c = c, p
	n.nodes = append(n.nodes, nd)
	return nd
}

// testRetransmit is the schedule the in-memory tests use (the one these tests were written
// for: 1, 2, 4, 8, 16 s; the production default is strongSwan's 4 s × 1.8^n).
var testRetransmit = core.Retransmit{Timeout: time.Second, Base: 2, Tries: 4}

func (n *lnet) nodeByIP(a netip.Addr) *node {
	for _, nd := range n.nodes {
		if nd.ip == a {
			return nd
		}
	}
	return nil
}

// step delivers pending datagrams; if none, advances the clock to the next timer.
// It returns false when nothing is left to do.
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
	if n.afterStep != nil {
		n.afterStep()
	}
	return true
}

func (n *lnet) deliver(from *node, o core.Outgoing) {
	if o.Keepalive {
		from.keepaliveCount++
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
	if n.nat != nil {
		src = n.nat(from, to, src)
	}
	msg := o.Msg
	if n.filter != nil {
		if msg = n.filter(from, to, msg); msg == nil {
			n.trace = append(n.trace, fmt.Sprintf("%s %s->%s dropped", n.now.Sub(epoch), from.name, to.name))
			return
		}
	}
	n.delivered++
	n.trace = append(n.trace, fmt.Sprintf("%s %s->%s %s", n.now.Sub(epoch), from.name, to.name, describe(msg)))
	to.core.HandleDatagram(n.now, msg, src, netip.AddrPortFrom(to.ip, dst.Port()))
	if n.afterStep != nil {
		n.afterStep()
	}
}

func describe(m []byte) string {
	h, err := isakmp.DecodeHeader(m)
	if err != nil {
		return "garbage"
	}
	return fmt.Sprintf("%s mid=%08x flags=%s len=%d", h.ExchangeType, h.MessageID, h.Flags, len(m))
}

// runUntil steps until cond holds (or fails the test after a virtual deadline).
func (n *lnet) runUntil(cond func() bool, within time.Duration) {
	n.t.Helper()
	deadline := n.now.Add(within)
	for !cond() {
		if n.now.After(deadline) || !n.step() {
			n.t.Fatalf("condition not reached by %s (virtual); trace:\n%s", n.now.Sub(epoch), n.traceTail(40))
		}
	}
}

// runFor advances the virtual clock by d, handling everything on the way.
func (n *lnet) runFor(d time.Duration) {
	end := n.now.Add(d)
	for {
		pending := false
		for _, nd := range n.nodes {
			if nd.pending() {
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
		if nd.pending() {
			return true
		}
	}
	return false
}

// pending reports whether a node has datagrams to send or events to handle.
func (nd *node) pending() bool {
	return len(nd.events) > 0 || nd.core.Pending()
}

func (n *lnet) traceTail(k int) string {
	t := n.trace
	if len(t) > k {
		t = t[len(t)-k:]
	}
	var b bytes.Buffer
	for _, l := range t {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// Configuration helpers.

var (
	testPSK       = coretest.PSK
	mustProposals = coretest.MustProposals
	sel           = coretest.Sel
	ipA, ipB      = coretest.IPA, coretest.IPB
	pairConfig    = coretest.PairConfig
)

// childUp reports whether a node's connection has an installed, active child.
func childUp(nd *node, conn, child string) bool {
	ch := nd.unit(conn, child)
	if ch == nil {
		return false
	}
	n := ch.Newest()
	return n != nil && n.Bound()
}

// checkKeysMatch verifies that each side's inbound SA carries the other side's outbound
// keys and algorithms.
func checkKeysMatch(t testing.TB, a, b *core.ChildSA) {
	t.Helper()
	ain, aout := a.SAs()
	bin, bout := b.SAs()
	pairs := []struct{ in, out *esp.SA }{{ain, bout}, {bin, aout}}
	for _, p := range pairs {
		ic, oc := p.in.Config(), p.out.Config()
		if ic.SPI != oc.SPI {
			t.Fatalf("SPI mismatch: in %08x out %08x", ic.SPI, oc.SPI)
		}
		if !bytes.Equal(ic.EncKey, oc.EncKey) || !bytes.Equal(ic.IntegKey, oc.IntegKey) {
			t.Fatalf("keys of SPI %08x differ between the peers", ic.SPI)
		}
		if ic.Enc != oc.Enc || ic.Integ != oc.Integ || ic.Mode != oc.Mode || ic.Proto != oc.Proto || ic.ESN != oc.ESN {
			t.Fatalf("SPI %08x: algorithms differ: %v/%v vs %v/%v", ic.SPI, ic.Enc, ic.Integ, oc.Enc, oc.Integ)
		}
		if len(ic.EncKey)+len(ic.IntegKey) == 0 {
			t.Fatalf("SPI %08x has no keys", ic.SPI)
		}
	}
	if bytes.Equal(ain.Config().EncKey, aout.Config().EncKey) && len(ain.Config().EncKey) > 0 {
		t.Fatal("inbound and outbound keys are equal")
	}
}

// logged reports whether a node logged a message containing s (in message or error).
func logged(nd *node, s string) bool {
	for _, e := range nd.logs.All() {
		if bytes.Contains([]byte(e.Message), []byte(s)) {
			return true
		}
		for _, f := range e.Context {
			if f.Key == "error" {
				if err, ok := f.Interface.(error); ok && bytes.Contains([]byte(err.Error()), []byte(s)) {
					return true
				}
			}
		}
	}
	return false
}

func dumpLogs(t testing.TB, nd *node) {
	for _, e := range nd.logs.All() {
		var fs []string
		for _, f := range e.Context {
			if f.Interface != nil {
				fs = append(fs, fmt.Sprintf("%s=%v", f.Key, f.Interface))
			} else if f.String != "" {
				fs = append(fs, f.Key+"="+f.String)
			} else {
				fs = append(fs, fmt.Sprintf("%s=%d", f.Key, f.Integer))
			}
		}
		t.Logf("%s %s: %s %v", nd.name, e.Level, e.Message, fs)
	}
}

func zapcoreTee(cores ...zapcore.Core) zapcore.Core { return zapcore.NewTee(cores...) }

func fieldsString(fields []zapcore.Field) string {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	return fmt.Sprint(enc.Fields)
}

// noLossInvariant checks, after every step, that whatever SA a node sends on is installed
// inbound at its peer (so no packet could be lost), and that the peers' keys for it agree.
func noLossInvariant(t testing.TB, a, b *node, policies ...*esp.Policy) func() {
	return func() {
		for _, pair := range [][2]*node{{a, b}, {b, a}} {
			from, to := pair[0], pair[1]
			for _, p := range policies {
				bd := p.Binding()
				if bd == nil || !ownsPolicy(from, p) {
					continue
				}
				in := to.dp.InboundOf(bd.SA.SPI())
				if in == nil {
					t.Fatalf("%s sends on SPI %08x, which %s has not installed", from.name, bd.SA.SPI(), to.name)
				}
				if !bytes.Equal(in.Config().EncKey, bd.SA.Config().EncKey) || !bytes.Equal(in.Config().IntegKey, bd.SA.Config().IntegKey) {
					t.Fatalf("keys of SPI %08x differ", bd.SA.SPI())
				}
			}
		}
	}
}

func ownsPolicy(nd *node, p *esp.Policy) bool {
	for _, cs := range nd.core.Conns() {
		for _, ch := range cs.Children {
			if ch.Policy == p {
				return true
			}
		}
	}
	return false
}

// newTestCore builds a core with the IKEv1 protocol attached, on the tests' retransmission
// schedule unless cfg names one.
func newTestCore(cfg core.Config, ctr *core.Counters) (*Protocol, error) {
	if cfg.Retransmit == (core.Retransmit{}) {
		cfg.Retransmit = testRetransmit
	}
	p := New()
	if _, err := core.New(cfg, ctr, p); err != nil {
		return nil, err
	}
	return p, nil
}

// connNamed returns a connection of the protocol's core by name.
func connNamed(c *Protocol, name string) *core.Conn {
	cs, err := c.Conn(name)
	if err != nil {
		panic(err)
	}
	return cs
}

// handleDatagram feeds one datagram to the core as if it arrived on our port.
func (c *Protocol) handleDatagram(now time.Time, raw []byte, from netip.AddrPort, port uint16) {
	c.Core.HandleDatagram(now, raw, from, netip.AddrPortFrom(netip.Addr{}, port))
}

// inOf and outOf return a pair's data-plane SAs.
func inOf(csa *core.ChildSA) *esp.SA {
	in, _ := csa.SAs()
	return in
}

func outOf(csa *core.ChildSA) *esp.SA {
	_, out := csa.SAs()
	return out
}

// softExpire makes the data plane report a soft limit of the pair's outbound SA.
func (nd *node) softExpire(csa *core.ChildSA) {
	nd.events = append(nd.events, esp.SAEvent{Kind: esp.EventSoft, SA: outOf(csa)})
}

// currentSA returns a connection's newest established ISAKMP SA, or nil.
func currentSA(c *Protocol, conn string) *ikeSA {
	s, _ := connNamed(c, conn).Current().(*ikeSA)
	return s
}

// acquire makes the data plane report traffic on a policy without an SA.
func (nd *node) acquire(now time.Time, p *esp.Policy) {
	nd.core.HandleEvents(now, esp.Events{Acquires: []esp.Acquire{{Policy: p}}})
}
