package ike

// The sans-I/O core: all protocol state of an engine and the entry points that feed it
// (a datagram, a timer, an acquire, a command), each with an explicit now. It sends
// through the outbox (flushed to the Dataplane by Run, or taken by a test harness) and
// installs SAs through the Dataplane. Not safe for concurrent use: one goroutine owns it.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/isakmp"
)

// outgoing is one datagram (or NAT keepalive) the core wants sent.
type outgoing struct {
	msg       []byte
	to        netip.AddrPort
	natt      bool
	keepalive bool
}

// saKey names an ISAKMP SA by its cookie pair.
type saKey struct{ i, r isakmp.Cookie }

// firstKey names a responder's half-open SA by what its first message carried, so a
// retransmitted MM1/AM1 finds it.
type firstKey struct {
	i    isakmp.Cookie
	from netip.AddrPort
}

// testHooks replace sources of randomness in replay tests (nil fields: use Config.Rand).
type testHooks struct {
	cookie func() isakmp.Cookie
	nonce  func() []byte
	mid    func() uint32
	dh     func(group uint16) (keyExchange, error)
	// fakeNATD, when set, replaces the random bytes of a faked NAT-D hash.
	fakeNATD func(n int) []byte
}

type core struct {
	cfg      Config
	dp       Dataplane
	rand     io.Reader
	log      *zap.Logger
	ikePort  uint16
	nattPort uint16
	ctr      *counters
	hooks    testHooks

	conns  []*connState
	byName map[string]*connState

	sas        map[saKey]*ikeSA
	initiating map[isakmp.Cookie]*ikeSA // our initiator SAs by CKY-I
	firsts     map[firstKey]*ikeSA
	halfOpen   int
	halfBySrc  map[netip.Addr]int
	halfQueue  []*ikeSA            // half-open responder SAs in admission order (eviction)
	inbound    map[uint32]*childSA // our inbound SPIs

	timers timers
	out    []outgoing
	now    time.Time

	// softExpireHook receives soft-limit signals from the data plane (any goroutine);
	// Run sets it to a non-blocking enqueue.
	softExpireHook func(spi uint32)
}

func newCore(cfg Config, ctr *counters) (*core, error) {
	if cfg.Dataplane == nil {
		return nil, fmt.Errorf("%w: no data plane", ErrConfig)
	}
	c := &core{
		cfg: cfg, dp: cfg.Dataplane, rand: cfg.Rand, log: cfg.Log, ctr: ctr,
		ikePort: cfg.IKEPort, nattPort: cfg.NATTPort,
		byName: map[string]*connState{}, sas: map[saKey]*ikeSA{},
		initiating: map[isakmp.Cookie]*ikeSA{}, firsts: map[firstKey]*ikeSA{},
		halfBySrc: map[netip.Addr]int{}, inbound: map[uint32]*childSA{},
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.ikePort == 0 {
		c.ikePort = defaultIKEPort
	}
	if c.nattPort == 0 {
		c.nattPort = defaultNATTPort
	}
	for _, conn := range cfg.Connections {
		if err := validate(conn); err != nil {
			return nil, err
		}
		if c.byName[conn.Name] != nil {
			return nil, fmt.Errorf("%w: connection %q twice", ErrConfig, conn.Name)
		}
		cs := newConnState(c, conn)
		c.conns = append(c.conns, cs)
		c.byName[conn.Name] = cs
	}
	return c, nil
}

// send queues a datagram.
func (c *core) send(msg []byte, to netip.AddrPort, natt bool) {
	c.out = append(c.out, outgoing{msg: msg, to: to, natt: natt})
}

// takeOut returns and clears the outbox.
func (c *core) takeOut() []outgoing {
	o := c.out
	c.out = nil
	return o
}

// flush hands the outbox to the data plane.
func (c *core) flush() {
	for _, o := range c.takeOut() {
		var err error
		if o.keepalive {
			err = c.dp.SendKeepalive(o.to)
		} else {
			err = c.dp.SendIKE(o.msg, o.to, o.natt)
		}
		if err != nil {
			c.ctr.inc(cSendErrors)
			c.log.Debug("send failed", zap.Stringer("to", o.to), zap.Error(err))
			continue
		}
		if o.keepalive {
			c.ctr.inc(cKeepalives)
		} else {
			c.ctr.inc(cMessagesOut)
		}
	}
}

// Randomness. Every value the protocol draws comes from Config.Rand (or a test hook).

func (c *core) randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(c.rand, b); err != nil {
		// A failing random source is fatal to security; refuse to go on quietly.
		panic(fmt.Sprintf("ike: random source failed: %v", err))
	}
	return b
}

func (c *core) newCookie() isakmp.Cookie {
	if c.hooks.cookie != nil {
		return c.hooks.cookie()
	}
	for {
		var ck isakmp.Cookie
		copy(ck[:], c.randBytes(8))
		if !ck.IsZero() && c.initiating[ck] == nil {
			return ck
		}
	}
}

func (c *core) newNonce() []byte {
	if c.hooks.nonce != nil {
		return c.hooks.nonce()
	}
	return c.randBytes(nonceLen)
}

func (c *core) newMID(sa *ikeSA) uint32 {
	if c.hooks.mid != nil {
		return c.hooks.mid()
	}
	for {
		m := binary.BigEndian.Uint32(c.randBytes(4))
		if m != 0 && sa.qms[m] == nil && !sa.seenMID(m) {
			return m
		}
	}
}

func (c *core) newDH(group uint16) (keyExchange, error) {
	if c.hooks.dh != nil {
		return c.hooks.dh(group)
	}
	return crypto.NewDH(group, c.rand)
}

// jitter returns d minus up to frac of it, drawn from the random source.
func (c *core) jitter(d time.Duration, frac float64) time.Duration {
	if d <= 0 {
		return d
	}
	r := binary.BigEndian.Uint32(c.randBytes(4))
	return d - time.Duration(float64(d)*frac*float64(r)/float64(1<<32))
}

// localAddrFor returns our address towards a peer (for NAT-D and %any local IDs).
func (c *core) localAddrFor(conn *Connection, remote netip.Addr) netip.Addr {
	if conn != nil && conn.LocalAddr.IsValid() {
		return conn.LocalAddr
	}
	if c.cfg.LocalAddrFor != nil {
		return c.cfg.LocalAddrFor(remote)
	}
	// A connected UDP socket makes the kernel pick the source address; nothing is sent.
	u, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, defaultIKEPort)))
	if err != nil {
		return netip.Addr{}
	}
	defer u.Close()
	return u.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

// handleDatagram is the entry point for every IKE message (RFC 2408 §5: the checks of
// §5.1–5.2 happen in the decoder; routing by cookies here).
func (c *core) handleDatagram(now time.Time, raw []byte, from netip.AddrPort, localPort uint16) {
	c.now = now
	c.ctr.inc(cMessagesIn)
	natt := localPort == c.nattPort && c.nattPort != c.ikePort
	m, err := isakmp.DecodeMessage(raw)
	if err != nil {
		c.ctr.inc(cMalformed)
		c.log.Debug("dropping undecodable IKE message", zap.Stringer("from", from), zap.Error(err))
		return
	}
	in := &inbound{msg: m, from: from, natt: natt, hash: sha256.Sum256(raw)}
	h := &m.Header
	if h.ResponderCookie.IsZero() {
		c.handleFirst(now, in)
		return
	}
	sa := c.sas[saKey{h.InitiatorCookie, h.ResponderCookie}]
	if sa == nil {
		if s := c.initiating[h.InitiatorCookie]; s != nil && s.ckyR.IsZero() {
			switch {
			case h.ExchangeType == isakmp.ExchangeMainMode && !s.aggressive,
				h.ExchangeType == isakmp.ExchangeAggressive && s.aggressive:
				// The answer to our first message: bind the responder cookie.
				s.ckyR = h.ResponderCookie
				c.sas[saKey{s.ckyI, s.ckyR}] = s
				sa = s
			case h.ExchangeType == isakmp.ExchangeInformational && !h.Flags.Has(isakmp.FlagEncryption):
				// A responder refusing our first message, in the clear.
				s.handle(now, in)
				return
			}
		}
	}
	if sa == nil {
		c.ctr.inc(cInvalidCookie)
		c.log.Debug("message for an unknown ISAKMP SA", zap.Stringer("from", from),
			zap.Stringer("icookie", h.InitiatorCookie), zap.Stringer("rcookie", h.ResponderCookie),
			zap.Stringer("exchange", h.ExchangeType))
		return
	}
	sa.handle(now, in)
}

// handleFirst handles a message with a zero responder cookie: a new Main or Aggressive
// Mode from a peer (or its retransmission), or an unprotected notification a responder
// sent before it had a cookie.
func (c *core) handleFirst(now time.Time, in *inbound) {
	h := &in.msg.Header
	if sa := c.firsts[firstKey{h.InitiatorCookie, in.from}]; sa != nil {
		sa.handle(now, in)
		return
	}
	if sa := c.initiating[h.InitiatorCookie]; sa != nil {
		// Only a refusal may come back without a responder cookie; anything else (our own
		// first message reflected back, say) is dropped.
		if h.ExchangeType == isakmp.ExchangeInformational && !h.Flags.Has(isakmp.FlagEncryption) {
			sa.handle(now, in)
		} else {
			c.ctr.inc(cUnexpected)
		}
		return
	}
	switch h.ExchangeType {
	case isakmp.ExchangeMainMode, isakmp.ExchangeAggressive:
	default:
		c.ctr.inc(cInvalidCookie)
		return
	}
	if h.Flags.Has(isakmp.FlagEncryption) || h.MessageID != 0 {
		c.ctr.inc(cMalformed)
		return
	}
	// RFC 2408 §2.5.3 / RFC 2409 §5: bound the state an unauthenticated peer can make us
	// keep (anti-clogging): a global cap and a per-source cap, each entry expiring.
	src := in.from.Addr()
	if c.halfBySrc[src] >= halfOpenPerSource {
		c.ctr.inc(cHalfOpenDrops)
		c.log.Debug("half-open limit for this source reached, dropping first message", zap.Stringer("from", in.from))
		return
	}
	if c.halfOpen >= halfOpenMax {
		// A full table evicts its oldest entry rather than refusing newcomers: spoofed first
		// messages from many addresses would otherwise lock every real peer out until they
		// expire, while a real peer answers within a round trip and so outlives the churn.
		c.evictOldestHalfOpen(now)
	}
	sa := newResponderSA(c, in)
	c.firsts[firstKey{sa.ckyI, in.from}] = sa
	c.sas[saKey{sa.ckyI, sa.ckyR}] = sa
	sa.halfOpen = true
	c.halfOpen++
	c.ctr.set(gHalfOpen, uint64(c.halfOpen))
	c.halfBySrc[src]++
	c.halfQueue = append(c.halfQueue, sa)
	sa.armHalfOpen(now)
	sa.handle(now, in)
}

// evictOldestHalfOpen destroys the longest-waiting half-open responder SA. halfQueue holds
// SAs in admission order; entries that left the half-open state meanwhile are skipped and
// dropped, and the queue is compacted when stale entries pile up.
func (c *core) evictOldestHalfOpen(now time.Time) {
	for len(c.halfQueue) > 0 {
		sa := c.halfQueue[0]
		c.halfQueue[0] = nil
		c.halfQueue = c.halfQueue[1:]
		if sa.halfOpen {
			c.ctr.inc(cHalfOpenEvicted)
			sa.destroy(now, false, fmt.Errorf("%w: half-open ISAKMP SA evicted by newer ones", ErrTimeout))
			break
		}
	}
	if len(c.halfQueue) > 2*halfOpenMax {
		live := c.halfQueue[:0]
		for _, sa := range c.halfQueue {
			if sa.halfOpen {
				live = append(live, sa)
			}
		}
		clear(c.halfQueue[len(live):])
		c.halfQueue = live
	}
}

// forgetSA removes an ISAKMP SA from every index.
func (c *core) forgetSA(sa *ikeSA) {
	if c.sas[saKey{sa.ckyI, sa.ckyR}] == sa {
		delete(c.sas, saKey{sa.ckyI, sa.ckyR})
	}
	if c.initiating[sa.ckyI] == sa {
		delete(c.initiating, sa.ckyI)
	}
	if sa.first.from.IsValid() && c.firsts[sa.first] == sa {
		delete(c.firsts, sa.first)
	}
	sa.leaveHalfOpen()
}

// fireTimers runs every timer due at now.
func (c *core) fireTimers(now time.Time) {
	c.now = now
	c.timers.fire(now)
}

// connection lookup for commands.
func (c *core) conn(name string) (*connState, error) {
	cs := c.byName[name]
	if cs == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownConnection, name)
	}
	return cs, nil
}

// start applies every start_action at start-up.
func (c *core) start(now time.Time) {
	c.now = now
	for _, cs := range c.conns {
		var want []*childState
		for _, ch := range cs.children {
			if ch.cfg.startAction(cs.cfg) == "start" {
				want = append(want, ch)
			}
		}
		if len(want) > 0 || cs.cfg.StartAction == "start" && len(cs.children) == 0 {
			if !cs.cfg.RemoteAddr.IsValid() {
				c.log.Warn("start_action = start needs a remote address; responding only", zap.String("conn", cs.cfg.Name))
				continue
			}
			cs.persistent = true
			cs.bringUp(now, want)
		}
	}
}

// acquire handles traffic that matched a policy without an SA (start_action = trap).
func (c *core) acquire(now time.Time, p *esp.Policy) {
	c.now = now
	for _, cs := range c.conns {
		for _, ch := range cs.children {
			if ch.cfg.Policy == p && p != nil {
				if ch.cfg.startAction(cs.cfg) != "trap" && !ch.hold {
					return
				}
				if !cs.cfg.RemoteAddr.IsValid() || ch.newest() != nil || ch.qm != nil {
					return
				}
				ch.hold = false
				c.log.Info("acquire: initiating", zap.String("conn", cs.cfg.Name), zap.String("child", ch.cfg.Name))
				cs.bringUp(now, []*childState{ch})
				return
			}
		}
	}
}

// softExpire handles a byte or packet soft limit signalled by the data plane.
func (c *core) softExpire(now time.Time, spi uint32) {
	c.now = now
	for _, cs := range c.conns {
		for _, ch := range cs.children {
			for _, csa := range ch.sas {
				if csa.inSPI == spi || csa.outSPI == spi {
					csa.softExpired(now)
					return
				}
			}
		}
	}
}

// shutdown deletes every SA, telling the peers (RFC 2408 §4.8, §3.15).
func (c *core) shutdown(now time.Time) {
	c.now = now
	for _, cs := range c.conns {
		cs.terminate(now, ErrNotRunning)
	}
	for _, sa := range c.allSAs() {
		sa.destroy(now, true, ErrNotRunning)
	}
}

// allSAs returns every ISAKMP SA, deduplicated.
func (c *core) allSAs() []*ikeSA {
	seen := map[*ikeSA]bool{}
	var out []*ikeSA
	add := func(sa *ikeSA) {
		if sa != nil && !seen[sa] {
			seen[sa] = true
			out = append(out, sa)
		}
	}
	for _, sa := range c.sas {
		add(sa)
	}
	for _, sa := range c.initiating {
		add(sa)
	}
	for _, sa := range c.firsts {
		add(sa)
	}
	for _, cs := range c.conns {
		for _, sa := range cs.ikes {
			add(sa)
		}
	}
	return out
}

// inbound is one received message with what the core learned about it.
type inbound struct {
	msg  *isakmp.Message
	from netip.AddrPort
	natt bool
	hash [32]byte
}

// wipeAll wipes keys.
func wipeAll(keys ...*crypto.Key) {
	for _, k := range keys {
		if *k != nil {
			k.Wipe()
			*k = nil
		}
	}
}

var errStop = errors.New("stop")

func equalBytes(a, b []byte) bool { return bytes.Equal(a, b) }
