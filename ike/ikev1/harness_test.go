package ike

// An in-memory network for whole engines: two cores driven in lockstep with a virtual
// clock, joined by a fake data plane that records installed SAs and lets tests drop,
// duplicate, tamper with and NAT-rewrite datagrams. Deterministic: each node reads its
// randomness from its own seeded stream.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/isakmp"
)

// seededRand is a deterministic random stream (ChaCha8), safe for concurrent use.
type seededRand struct {
	mu sync.Mutex
	r  *mrand.ChaCha8
}

func newSeededRand(seed byte) *seededRand {
	var s [32]byte
	s[0] = seed
	return &seededRand{r: mrand.NewChaCha8(s)}
}

func (s *seededRand) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Read(p)
}

// fakeDP is a Dataplane that records what the engine installs. Safe for concurrent use.
type fakeDP struct {
	mu         sync.Mutex
	inbound    map[uint32]*esp.SA
	reserved   map[uint32]bool
	bindings   []*esp.Binding
	keepalives []netip.AddrPort
	sent       chan sentMsg // Run-mode tests: messages go here
	addErr     error
}

type sentMsg struct {
	msg  []byte
	to   netip.AddrPort
	natt bool
}

func newFakeDP() *fakeDP {
	return &fakeDP{inbound: map[uint32]*esp.SA{}, reserved: map[uint32]bool{}}
}

func (d *fakeDP) SendIKE(msg []byte, to netip.AddrPort, natt bool) error {
	if d.sent != nil {
		d.sent <- sentMsg{append([]byte(nil), msg...), to, natt}
	}
	return nil
}

func (d *fakeDP) SendKeepalive(to netip.AddrPort) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keepalives = append(d.keepalives, to)
	return nil
}

func (d *fakeDP) NewBinding(sa *esp.SA, peer netip.AddrPort, encap esp.Encap, mtu int) (*esp.Binding, error) {
	b := &esp.Binding{SA: sa, Peer: peer, Encap: encap, MTU: mtu}
	d.mu.Lock()
	d.bindings = append(d.bindings, b)
	d.mu.Unlock()
	return b, nil
}

func (d *fakeDP) AddInbound(sa *esp.SA) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.addErr != nil {
		return d.addErr
	}
	if d.inbound[sa.SPI()] != nil {
		return fmt.Errorf("SPI %08x in use", sa.SPI())
	}
	d.inbound[sa.SPI()] = sa
	delete(d.reserved, sa.SPI())
	return nil
}

func (d *fakeDP) RemoveInbound(spi uint32) *esp.SA {
	d.mu.Lock()
	defer d.mu.Unlock()
	sa := d.inbound[spi]
	delete(d.inbound, spi)
	return sa
}

func (d *fakeDP) AllocSPI(r io.Reader) (uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b [4]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, err
		}
		spi := binary.BigEndian.Uint32(b[:])
		if spi >= 256 && d.inbound[spi] == nil && !d.reserved[spi] {
			d.reserved[spi] = true
			return spi, nil
		}
	}
}

func (d *fakeDP) ReleaseSPI(spi uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.reserved, spi)
}

func (d *fakeDP) inboundSPIs() []uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []uint32
	for s := range d.inbound {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// node is one engine core on the in-memory network.
type node struct {
	name   string
	ip     netip.Addr
	c      *core
	dp     *fakeDP
	logs   *observer.ObservedLogs
	conns  []*Connection
	soft   []uint32
	ctr    *counters
	policy map[string]*esp.Policy
	// keepaliveCount counts NAT keepalives the node sent.
	keepaliveCount int
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
func (n *lnet) addNode(name string, ip netip.Addr, seed byte, conns ...*Connection) *node {
	n.t.Helper()
	core, obs := observer.New(zap.DebugLevel)
	nd := &node{name: name, ip: ip, dp: newFakeDP(), logs: obs, conns: conns, ctr: newCounters()}
	cfg := Config{Connections: conns, Dataplane: nd.dp, Rand: newSeededRand(seed), Log: zap.New(core).Named(name),
		LocalAddrFor: func(netip.Addr) netip.Addr { return ip }}
	c, err := newCore(cfg, nd.ctr)
	if err != nil {
		n.t.Fatalf("%s: %v", name, err)
	}
	c.softExpireHook = func(spi uint32) { nd.soft = append(nd.soft, spi) }
	nd.c = c
	n.nodes = append(n.nodes, nd)
	return nd
}

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
		out := nd.c.takeOut()
		if len(out) == 0 {
			continue
		}
		for _, o := range out {
			n.deliver(nd, o)
		}
		return true
	}
	for _, nd := range n.nodes {
		if len(nd.soft) > 0 {
			spis := nd.soft
			nd.soft = nil
			for _, s := range spis {
				nd.c.softExpire(n.now, s)
			}
			return true
		}
	}
	var next time.Time
	for _, nd := range n.nodes {
		if t, ok := nd.c.timers.next(); ok && (next.IsZero() || t.Before(next)) {
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
		nd.c.fireTimers(n.now)
	}
	if n.afterStep != nil {
		n.afterStep()
	}
	return true
}

func (n *lnet) deliver(from *node, o outgoing) {
	if o.keepalive {
		from.keepaliveCount++
		return
	}
	dst := o.to
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
	port := from.c.ikePort
	if o.natt {
		port = from.c.nattPort
	}
	src := netip.AddrPortFrom(from.ip, port)
	if nb := n.natBox; nb != nil && from == nb.inside {
		src = netip.AddrPortFrom(nb.public, nb.ports[port])
	}
	if n.nat != nil {
		src = n.nat(from, to, src)
	}
	msg := o.msg
	if n.filter != nil {
		if msg = n.filter(from, to, msg); msg == nil {
			n.trace = append(n.trace, fmt.Sprintf("%s %s->%s dropped", n.now.Sub(epoch), from.name, to.name))
			return
		}
	}
	n.delivered++
	n.trace = append(n.trace, fmt.Sprintf("%s %s->%s %s", n.now.Sub(epoch), from.name, to.name, describe(msg)))
	to.c.handleDatagram(n.now, msg, src, dst.Port())
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
			if len(nd.c.out) > 0 || len(nd.soft) > 0 {
				pending = true
			}
		}
		if !pending {
			var next time.Time
			for _, nd := range n.nodes {
				if t, ok := nd.c.timers.next(); ok && (next.IsZero() || t.Before(next)) {
					next = t
				}
			}
			if next.IsZero() || next.After(end) {
				n.now = end
				for _, nd := range n.nodes {
					nd.c.fireTimers(n.now)
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
		if len(nd.c.out) > 0 || len(nd.soft) > 0 {
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
	var b bytes.Buffer
	for _, l := range t {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// Configuration helpers.

var testPSK = crypto.Key("a pre-shared key for in-memory tests, long enough")

func mustProposals(t testing.TB, proto crypto.Protocol, insecure bool, texts ...string) []*crypto.Proposal {
	t.Helper()
	var out []*crypto.Proposal
	for _, s := range texts {
		p, err := crypto.ParseProposal(proto, s, insecure)
		if err != nil {
			t.Fatalf("proposal %q: %v", s, err)
		}
		out = append(out, p)
	}
	return out
}

func sel(s string) esp.Selector { return esp.SelectorFor(netip.MustParsePrefix(s)) }

var (
	ipA = netip.MustParseAddr("198.18.0.1")
	ipB = netip.MustParseAddr("198.18.0.2")
)

// pairConfig returns matching connections for A (initiator, start) and B (responder).
func pairConfig(t testing.TB, ike, esps []string) (a, b *Connection) {
	a = &Connection{
		Name: "ab", LocalAddr: ipA, RemoteAddr: ipB,
		LocalID: FQDNIdentity("a.test"), RemoteID: FQDNIdentity("b.test"),
		PSK: testPSK, Proposals: mustProposals(t, crypto.ProtoIKEv1, true, ike...),
		RekeyTime: 4 * time.Hour, StartAction: "start", Encap: "auto",
		Children: []*Child{{
			Name: "net", LocalTS: []esp.Selector{sel("192.0.2.0/24")}, RemoteTS: []esp.Selector{sel("198.51.100.0/24")},
			ESPProposals: mustProposals(t, crypto.ProtoESP, true, esps...), RekeyTime: time.Hour,
			ReplayWindow: 64, Policy: &esp.Policy{Name: "a-net"},
		}},
	}
	b = &Connection{
		Name: "ba", LocalAddr: ipB, RemoteAddr: netip.Addr{},
		LocalID: FQDNIdentity("b.test"), RemoteID: FQDNIdentity("a.test"),
		PSK: testPSK, Proposals: mustProposals(t, crypto.ProtoIKEv1, true, ike...),
		RekeyTime: 4 * time.Hour, StartAction: "none", Encap: "auto",
		Children: []*Child{{
			Name: "net", LocalTS: []esp.Selector{sel("198.51.100.0/24")}, RemoteTS: []esp.Selector{sel("192.0.2.0/24")},
			ESPProposals: mustProposals(t, crypto.ProtoESP, true, esps...), RekeyTime: time.Hour,
			ReplayWindow: 64, Policy: &esp.Policy{Name: "b-net"},
		}},
	}
	return a, b
}

// childUp reports whether a node's connection has an installed, active child.
func childUp(nd *node, conn, child string) bool {
	cs := nd.c.byName[conn]
	if cs == nil {
		return false
	}
	ch := cs.child(child)
	n := ch.newest()
	return n != nil && n.isCurrent()
}

// checkKeysMatch verifies that each side's inbound SA carries the other side's outbound
// keys and algorithms.
func checkKeysMatch(t testing.TB, a, b *childSA) {
	t.Helper()
	pairs := []struct{ in, out *esp.SA }{{a.in, b.out}, {b.in, a.out}}
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
	if bytes.Equal(a.in.Config().EncKey, a.out.Config().EncKey) && len(a.in.Config().EncKey) > 0 {
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
				in := to.dp.inboundOf(bd.SA.SPI())
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
	for _, c := range nd.conns {
		for _, ch := range c.Children {
			if ch.Policy == p {
				return true
			}
		}
	}
	return false
}

func (d *fakeDP) inboundOf(spi uint32) *esp.SA {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inbound[spi]
}
