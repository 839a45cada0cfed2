package core

// The sans-I/O core: the state every IKE version shares and the entry points that feed it
// (a datagram, a timer, a data-plane event, a command), each with an explicit now. It sends
// through the outbox (flushed to the Dataplane by the engine, or taken by a test harness)
// and installs SAs through the Dataplane.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/esp"
)

// Protocol is one IKE major version's state machines.
type Protocol interface {
	// Version is the major version the protocol handles (1 or 2).
	Version() uint8
	// Attach hands the protocol its core; New calls it once, before anything else.
	Attach(c *Core)
	// Validate checks a connection of this version beyond what the core checks.
	Validate(c *Connection) error
	// SplitsSelectors reports whether each pair of a child's local and remote selectors
	// needs its own SA pair (IKEv1: a Quick Mode carries one pair).
	SplitsSelectors() bool
	// HandleDatagram processes one message of this version.
	HandleDatagram(now time.Time, d *Datagram)
	// Initiate starts a new IKE SA for conn as initiator; replaces is the SA it
	// re-authenticates, or nil.
	Initiate(now time.Time, conn *Conn, replaces IKESA) (IKESA, error)
	// SAs lists every IKE SA of the protocol, including half-open ones not yet bound to a
	// connection.
	SAs() []IKESA
}

// IKESA is what the core, status, DPD, rekey timers, commands and child installation need
// from an IKE SA of either version. The shared state is in its SABase.
type IKESA interface {
	Base() *SABase
	// StartChild negotiates a child unit (rekeyOf non-nil: a rekey of that pair).
	StartChild(now time.Time, ch *ChildState, rekeyOf *ChildSA)
	// SendDeleteChildren tells the peer these pairs are gone (our inbound SPIs).
	SendDeleteChildren(now time.Time, pairs []*ChildSA)
	// Rekey re-authenticates (IKEv1) or rekeys (IKEv2) the IKE SA.
	Rekey(now time.Time)
	// Delete ends the IKE SA, with a Delete to the peer when sendDelete and possible.
	Delete(now time.Time, sendDelete bool, reason error)
	// DeleteLater deletes it after d (an SA replaced by a newer one).
	DeleteLater(now time.Time, d time.Duration)
	// SendLiveness sends a liveness check (IKEv1 R-U-THERE, IKEv2 an empty
	// INFORMATIONAL) and reports false if the peer cannot answer one; the protocol calls
	// Core.LivenessAck when the answer arrives.
	SendLiveness(now time.Time) bool
	// Status describes the SA for `oakley status`.
	Status() IKESAStatus
}

// SABase is the state every IKE SA has, kept by the protocol and read by the core.
type SABase struct {
	Conn          *Conn // nil while a responder has not chosen a connection
	Initiator     bool
	Created       time.Time
	EstablishedAt time.Time // zero until established
	DeadAt        time.Time // zero while alive
	Remote        netip.AddrPort
	Local         netip.Addr // our address towards the peer (the one its messages arrive on)
	NATT          bool       // on the NAT-T port
	LastRecv      time.Time  // the last authenticated message from the peer
	ReplacesSA    IKESA      // re-authentication: the SA this one replaces
	HalfOpen      *HalfOpen  // responder: the half-open table entry, until established
	// PeerID is the peer's authenticated identity and SPIKey the SA's SPIs (initiator's
	// then responder's), set by the protocol before it reports the SA established; the core
	// uses them to keep one IKE SA per peer (uniqueids, see conn.go).
	PeerID Identity
	SPIKey []byte
	// LocalID is the identity we authenticated with: of two ends with different
	// identities only the one with the lower identity resolves duplicates (dropDuplicates).
	LocalID Identity
	// AuthChild (IKEv2): the exchange that established the SA also makes a child pair
	// (IKE_AUTH with an SA payload answered without an error), which both ends know before
	// the pair is installed; uniqueids keeps such an SA over a childless duplicate.
	AuthChild bool
	Log       *zap.Logger
	dpd       *dpdState
	leases    []Lease     // gateway: virtual IPs handed to this peer, released when the SA dies
	userPools []string    // gateway: the pools of the user who logged in (LoggedIn), if any
	user      string      // gateway: the XAUTH or EAP user who logged in (LoggedIn), for status
	vips      *VirtualIPs // client: virtual IPs the gateway gave us, withdrawn when the SA dies
	// retiring: the core decided to delete the SA (a duplicate); it is kept a moment for
	// messages in flight.
	retiring bool
	// duplicateOf: the SA uniqueids kept instead of this one (see dropDuplicates).
	duplicateOf IKESA
	// replacedBy: the re-authentication that replaces this SA, while its deletion waits;
	// if that one dies first, this SA stays (IKEGone).
	replacedBy IKESA
	// reauth: this SA is an IKEv1 re-authentication of ours that replaced another.
	reauth bool
}

// Established reports whether the SA completed its initial exchanges and is not dead.
func (b *SABase) Established() bool { return !b.EstablishedAt.IsZero() && b.DeadAt.IsZero() }

// Dead reports whether the SA was deleted.
func (b *SABase) Dead() bool { return !b.DeadAt.IsZero() }

// Datagram is one received IKE message with what the core learned about it.
type Datagram struct {
	Raw   []byte
	From  netip.AddrPort
	Local netip.AddrPort // our address (when known) and the port it arrived on
	NATT  bool           // arrived on the NAT-T port (the non-ESP marker was removed)
	Hash  [32]byte       // SHA-256 of Raw, for duplicate detection
}

// Outgoing is one datagram (or NAT keepalive) the core wants sent.
type Outgoing struct {
	Msg       []byte
	Local     netip.Addr
	To        netip.AddrPort
	NATT      bool
	Keepalive bool
}

// Core is the shared state. See the package comment for the concurrency contract.
type Core struct {
	Cfg      Config
	DP       Dataplane
	Rand     io.Reader
	Log      *zap.Logger
	IKEPort  uint16
	NATTPort uint16
	Ctr      *Counters
	Timers   Timers
	// Now is the time of the event being handled.
	Now time.Time

	conns   []*Conn
	byName  map[string]*Conn
	protos  [3]Protocol
	inbound map[uint32]*ChildSA  // by our inbound SPI
	bySA    map[*esp.SA]*ChildSA // both SAs of every pair
	pools   map[string]*Pool
	// vipOwner: by client connection, the IKE SA whose virtual IP assignment is on the
	// device now (the latest).
	vipOwner map[string]IKESA
	half     halfOpenTable
	out      []Outgoing
}

// New checks the configuration and returns a core driving the given protocols.
func New(cfg Config, ctr *Counters, protos ...Protocol) (*Core, error) {
	if cfg.Dataplane == nil {
		return nil, fmt.Errorf("%w: no data plane", ErrConfig)
	}
	if ctr == nil {
		ctr = NewCounters()
	}
	c := &Core{
		Cfg: cfg, DP: cfg.Dataplane, Rand: cfg.Rand, Log: cfg.Log, Ctr: ctr,
		IKEPort: cfg.IKEPort, NATTPort: cfg.NATTPort,
		byName: map[string]*Conn{}, inbound: map[uint32]*ChildSA{}, bySA: map[*esp.SA]*ChildSA{},
		pools: map[string]*Pool{},
	}
	for _, p := range cfg.Pools {
		if c.pools[p.Name] != nil {
			return nil, fmt.Errorf("%w: pool %q twice", ErrConfig, p.Name)
		}
		c.pools[p.Name] = p
	}
	for _, u := range cfg.Users {
		for _, name := range u.Pools {
			if c.pools[name] == nil {
				return nil, fmt.Errorf("%w: user %q names pool %q, which is not configured", ErrConfig, u.Name, name)
			}
		}
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.IKEPort == 0 {
		c.IKEPort = DefaultIKEPort
	}
	if c.NATTPort == 0 {
		c.NATTPort = DefaultNATTPort
	}
	for _, p := range protos {
		v := p.Version()
		if v == 0 || int(v) >= len(c.protos) || c.protos[v] != nil {
			return nil, fmt.Errorf("%w: protocol version %d", ErrConfig, v)
		}
		c.protos[v] = p
		p.Attach(c)
	}
	for _, conn := range cfg.Connections {
		if err := validate(conn); err != nil {
			return nil, err
		}
		p := c.Protocol(conn.Version)
		if p == nil {
			return nil, fmt.Errorf("%w: connection %q: IKE version %d is not available", ErrConfig, conn.Name, conn.Version)
		}
		if err := p.Validate(conn); err != nil {
			return nil, err
		}
		if c.byName[conn.Name] != nil {
			return nil, fmt.Errorf("%w: connection %q twice", ErrConfig, conn.Name)
		}
		for _, name := range conn.Pools {
			if c.pools[name] == nil {
				return nil, fmt.Errorf("%w: connection %q names pool %q, which is not configured", ErrConfig, conn.Name, name)
			}
		}
		cs := newConn(c, conn, p)
		c.conns = append(c.conns, cs)
		c.byName[conn.Name] = cs
		for _, ch := range cs.Children {
			if !cs.MultiPeer() { // several peers: an entry per peer (ra.go)
				c.DP.AddPolicy(ch.Policy)
			}
		}
	}
	return c, nil
}

// Protocol returns the protocol of a major version, or nil.
func (c *Core) Protocol(v uint8) Protocol {
	if int(v) < len(c.protos) {
		return c.protos[v]
	}
	return nil
}

// Conns returns the configured connections in configuration order.
func (c *Core) Conns() []*Conn { return c.conns }

// Conn returns a connection by name.
func (c *Core) Conn(name string) (*Conn, error) {
	cs := c.byName[name]
	if cs == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownConnection, name)
	}
	return cs, nil
}

// Send queues a datagram from local (invalid: the kernel chooses) to a peer.
func (c *Core) Send(msg []byte, local netip.Addr, to netip.AddrPort, natt bool) {
	c.out = append(c.out, Outgoing{Msg: msg, Local: local, To: to, NATT: natt})
}

// SendKeepalive queues a NAT keepalive (RFC 3948 §2.3).
func (c *Core) SendKeepalive(local netip.Addr, to netip.AddrPort) {
	c.out = append(c.out, Outgoing{Local: local, To: to, Keepalive: true})
}

// TakeOut returns and clears the outbox.
func (c *Core) TakeOut() []Outgoing {
	o := c.out
	c.out = nil
	return o
}

// Pending reports whether the outbox holds anything.
func (c *Core) Pending() bool { return len(c.out) > 0 }

// Flush hands the outbox to the data plane.
func (c *Core) Flush() {
	for _, o := range c.TakeOut() {
		var err error
		if o.Keepalive {
			err = c.DP.SendKeepalive(o.Local, o.To)
		} else {
			err = c.DP.SendIKE(o.Msg, o.Local, o.To, o.NATT)
		}
		if err != nil {
			c.Ctr.Inc(CtrSendErrors)
			c.Log.Debug("send failed", zap.Stringer("to", o.To), zap.Error(err))
			continue
		}
		if o.Keepalive {
			c.Ctr.Inc(CtrKeepalives)
		} else {
			c.Ctr.Inc(CtrMessagesOut)
		}
	}
}

// RandBytes draws n bytes from the configured random source. A failing random source is
// fatal to security: it panics rather than go on quietly.
func (c *Core) RandBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(c.Rand, b); err != nil {
		panic(fmt.Sprintf("ike: random source failed: %v", err))
	}
	return b
}

// Jitter returns d minus up to frac of it, drawn from the random source.
func (c *Core) Jitter(d time.Duration, frac float64) time.Duration {
	if d <= 0 {
		return d
	}
	r := binary.BigEndian.Uint32(c.RandBytes(4))
	return d - time.Duration(float64(d)*frac*float64(r)/float64(1<<32))
}

// LocalAddrFor returns our address towards a peer (for NAT detection and %any local IDs).
func (c *Core) LocalAddrFor(conn *Connection, remote netip.Addr) netip.Addr {
	if conn != nil && conn.LocalAddr.IsValid() {
		return conn.LocalAddr
	}
	if c.Cfg.LocalAddrFor != nil {
		return c.Cfg.LocalAddrFor(remote)
	}
	// A connected UDP socket makes the kernel pick the source address; nothing is sent.
	u, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, DefaultIKEPort)))
	if err != nil {
		return netip.Addr{}
	}
	defer u.Close()
	return u.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

func (c *Core) pathMTU(remote netip.Addr) int {
	if c.Cfg.PathMTU != nil {
		if m := c.Cfg.PathMTU(remote); m >= 576 {
			return m
		}
	}
	return 1500
}

// HandleDatagram is the entry point for every IKE message: it dispatches on the major
// version in the header (RFC 2408 §3.1 and RFC 7296 §3.1 put it in the same byte).
func (c *Core) HandleDatagram(now time.Time, raw []byte, from, local netip.AddrPort) {
	c.Now = now
	c.Ctr.Inc(CtrMessagesIn)
	natt := local.Port() == c.NATTPort && c.NATTPort != c.IKEPort
	if len(raw) < 28 {
		c.Ctr.Inc(CtrMalformed)
		return
	}
	p := c.Protocol(raw[17] >> 4)
	if p == nil {
		c.Ctr.Inc(CtrInvalidVersion)
		c.Log.Debug("dropping a message of an IKE version we do not run", zap.Stringer("from", from), zap.Uint8("version", raw[17]>>4))
		return
	}
	d := &Datagram{Raw: raw, From: from, Local: local, NATT: natt, Hash: sha256.Sum256(raw)}
	p.HandleDatagram(now, d)
}

// FireTimers runs every timer due at now.
func (c *Core) FireTimers(now time.Time) {
	c.Now = now
	c.Timers.Fire(now)
}

// Start applies every start_action at start-up.
func (c *Core) Start(now time.Time) {
	c.Now = now
	for _, cs := range c.conns {
		c.startConn(now, cs)
	}
}

// startConn applies a connection's start_action.
func (c *Core) startConn(now time.Time, cs *Conn) {
	var want []*ChildState
	for _, ch := range cs.Children {
		if ch.Cfg.StartActionOf(cs.Cfg) == "start" {
			want = append(want, ch)
		}
	}
	if len(want) == 0 && !(cs.Cfg.StartAction == "start" && len(cs.Children) == 0) {
		return
	}
	if !cs.Cfg.CanInitiate() {
		c.Log.Warn("start_action = start needs a remote address; responding only", zap.String("conn", cs.Cfg.Name))
		return
	}
	cs.persistent = true
	cs.BringUp(now, want)
}

// ESPSourceFollower is an IKE SA that may follow its peer to the source of an ESP-in-UDP
// datagram that verified under one of its inbound SAs (IKEv1, RFC 3947 §4); the protocol
// decides whether it does (only the end not behind a NAT follows).
type ESPSourceFollower interface {
	ESPSourceMoved(now time.Time, csa *ChildSA, from netip.AddrPort)
}

// FollowESPSource moves an IKE SA (b) and the UDP-encapsulated pairs it manages (children)
// to from, where ESP-in-UDP that verified under csa came from: the part of ESPSourceMoved
// both protocols share once they decided to follow. ourIP is our address towards the peer.
func (c *Core) FollowESPSource(now time.Time, b *SABase, csa *ChildSA, from netip.AddrPort, children []*ChildSA, ourIP netip.Addr) {
	b.Log.Info("peer moved: following its ESP-in-UDP to a new address or port (NAT rebinding)",
		zap.Stringer("from", b.Remote), zap.Stringer("to", from), zap.String("spi_in", fmt.Sprintf("%08x", csa.InSPI())))
	c.Ctr.Inc(CtrESPFloats)
	b.Remote = from
	for _, x := range children {
		if x.Params().Encap == esp.EncapUDP {
			x.PeerMoved(now, from, ourIP)
		}
	}
}

// HandleEvents processes what the data plane reported (esp/events.go): byte and packet
// soft limits start rekeys, hard limits end pairs (switching to a newer one at once), a
// new pair's first inbound packet switches outbound traffic to it, a verified ESP-in-UDP
// datagram from a new source may move the peer, acquires start children.
func (c *Core) HandleEvents(now time.Time, ev esp.Events) {
	c.Now = now
	for _, e := range ev.SA {
		csa := c.bySA[e.SA]
		if csa == nil || csa.state == childDead {
			continue
		}
		switch e.Kind {
		case esp.EventSoft:
			c.Ctr.Inc(CtrSoftExpires)
			csa.softExpired(now)
		case esp.EventHard:
			c.Ctr.Inc(CtrHardExpires)
			csa.hardExpired(now, "bytes/packets")
		case esp.EventFirstUse:
			csa.firstUse(now)
		case esp.EventSourceMoved:
			if f, ok := csa.ike.(ESPSourceFollower); ok && e.From.IsValid() {
				f.ESPSourceMoved(now, csa, e.From)
			}
		}
	}
	for _, a := range ev.Acquires {
		c.Ctr.Inc(CtrAcquires)
		c.acquire(now, a.Policy)
	}
}

// acquire handles traffic that matched a policy without an SA (start_action = trap, or a
// child held by dpd_action = hold).
func (c *Core) acquire(now time.Time, p *esp.Policy) {
	for _, cs := range c.conns {
		for _, ch := range cs.Children {
			if ch.Policy != p {
				continue
			}
			if ch.Cfg.StartActionOf(cs.Cfg) != "trap" && !ch.Hold {
				return
			}
			if !cs.Cfg.CanInitiate() || ch.Newest() != nil || ch.Pending != nil {
				return
			}
			ch.Hold = false
			c.Log.Info("acquire: initiating", zap.String("conn", cs.Cfg.Name), zap.String("child", ch.Name()))
			cs.BringUp(now, []*ChildState{ch})
			return
		}
	}
}

// Shutdown deletes every SA, telling the peers, and removes the policies.
func (c *Core) Shutdown(now time.Time) {
	c.Now = now
	for _, cs := range c.conns {
		cs.Terminate(now, ErrNotRunning)
	}
	for _, p := range c.protos {
		if p == nil {
			continue
		}
		for _, sa := range p.SAs() {
			sa.Delete(now, true, ErrNotRunning)
		}
	}
	for _, cs := range c.conns {
		for _, ch := range cs.Children {
			c.DP.Unbind(ch.Policy)
			c.DP.RemovePolicy(ch.Policy)
		}
	}
}

// AllSAs returns every IKE SA of every protocol.
func (c *Core) AllSAs() []IKESA {
	var out []IKESA
	for _, p := range c.protos {
		if p != nil {
			out = append(out, p.SAs()...)
		}
	}
	return out
}

// ChildByInboundSPI returns the pair whose inbound SA has spi, or nil.
func (c *Core) ChildByInboundSPI(spi uint32) *ChildSA { return c.inbound[spi] }

// Established completes an IKE SA on the core's side: it leaves the half-open table,
// counts, and joins its connection (which moves children, starts DPD and the children).
func (c *Core) Established(now time.Time, sa IKESA) {
	b := sa.Base()
	if b.EstablishedAt.IsZero() {
		b.EstablishedAt = now
	}
	c.ReleaseHalfOpen(b.HalfOpen)
	b.HalfOpen = nil
	c.Ctr.Inc(CtrIKEEstablished)
	if b.Conn != nil {
		b.Conn.IKEEstablished(now, sa)
	}
}

// Gone records an IKE SA's death on the core's side (half-open entry, DPD, its connection).
func (c *Core) Gone(now time.Time, sa IKESA, reason error) {
	b := sa.Base()
	wasEstablished := b.Established()
	if b.DeadAt.IsZero() {
		b.DeadAt = now
	}
	c.ReleaseHalfOpen(b.HalfOpen)
	b.HalfOpen = nil
	c.stopDPD(sa)
	c.releaseLeases(sa)
	c.withdrawVirtualIPs(sa)
	if b.Conn != nil {
		b.Conn.IKEGone(now, sa, wasEstablished, reason)
	}
}
