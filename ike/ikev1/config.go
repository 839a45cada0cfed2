package ike

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/isakmp"
)

// Dataplane is what the engine needs from *esp.Dataplane (which satisfies it); tests use
// a fake. The engine calls it only from its Run goroutine.
type Dataplane interface {
	SendIKE(msg []byte, to netip.AddrPort, natt bool) error
	SendKeepalive(to netip.AddrPort) error
	NewBinding(sa *esp.SA, peer netip.AddrPort, encap esp.Encap, mtu int) (*esp.Binding, error)
	AddInbound(sa *esp.SA) error
	RemoveInbound(spi uint32) *esp.SA
	AllocSPI(rand io.Reader) (uint32, error)
	ReleaseSPI(spi uint32)
}

// Connection is one [[connection]] with keying = "ike", converted by the daemon from the
// configuration. Plain data: the engine keeps the pointer and reads it from its Run
// goroutine, so do not modify it after New.
type Connection struct {
	Name       string
	Aggressive bool // initiate Aggressive Mode instead of Main Mode

	LocalAddr  netip.Addr // invalid = any
	RemoteAddr netip.Addr // invalid = respond only (remote_addr = "%any")
	// RemotePort is where IKE starts (0 = 500); RemoteNATTPort where it floats (0 = 4500).
	RemotePort, RemoteNATTPort uint16

	LocalID, RemoteID Identity
	Auth              isakmp.AuthMethod // 0 = pre-shared key; the only method implemented
	PSK               crypto.Key

	Proposals []*crypto.Proposal // crypto.ProtoIKEv1; nil = crypto.DefaultProposals

	// RekeyTime is when the ISAKMP SA is re-authenticated (a new Main Mode; the children
	// move over). The lifetime proposed is RekeyTime + 10% (strongSwan's over_time). 0 =
	// never re-authenticate: we then propose RFC 2409 Appendix A's default of 8 hours and
	// let the peer re-authenticate.
	RekeyTime time.Duration

	// DPD (RFC 3706): after DPDDelay without inbound traffic send R-U-THERE; without an
	// answer for DPDTimeout apply DPDAction ("clear" | "hold" | "restart"; "" = "clear").
	// DPDDelay 0 = off.
	DPDDelay, DPDTimeout time.Duration
	DPDAction            string

	StartAction string // "start" | "trap" | "none" ("" = "none")
	// Encap: "udp" (the default, "") forces RFC 3948 UDP encapsulation by faking our NAT-D
	// hash as strongSwan's encap=yes does; "auto" uses it only when a NAT is detected;
	// "raw" never uses NAT-T (no NAT-T vendor IDs, ESP as IP protocol 50).
	Encap string
	// InsecureAlgorithms allows what needs the opt-in: the insecure algorithms in the
	// proposals (the crypto parser already checked that) and, here, responding to
	// Aggressive Mode with a pre-shared key.
	InsecureAlgorithms bool

	Children []*Child
}

// Child is one [[connection.child]]. Plain data, read-only after New (like Connection).
type Child struct {
	Name     string
	Mode     esp.Mode // 0 = tunnel
	LocalTS  []esp.Selector
	RemoteTS []esp.Selector
	// ESPProposals / AHProposals: a DH group in a proposal means PFS. Non-empty
	// AHProposals selects AH instead of ESP. Both empty = crypto.DefaultProposals(ESP).
	ESPProposals, AHProposals []*crypto.Proposal
	// RekeyTime: a new Quick Mode this long after installation (minus jitter). The
	// lifetime proposed is RekeyTime + 10%; 0 = never rekey (no lifetime attribute is
	// sent, so RFC 2407 §4.5's default of 8 hours applies unless the peer rekeys).
	RekeyTime    time.Duration
	LifeBytes    uint64 // hard limits; the soft limit (rekey) is at ~90%
	LifePackets  uint64
	ReplayWindow int
	StartAction  string // "" = the connection's
	// Policy is created and added to the SPD by the daemon; the engine only calls
	// SetOutbound. nil = no outbound traffic (tests).
	Policy *esp.Policy
	// MTU computes the tunnel MTU for an SA; may be nil (0: no MSS clamping).
	MTU func(sa *esp.SA, encap esp.Encap) int
}

// Config configures an Engine. Read by New only.
type Config struct {
	Connections []*Connection
	Dataplane   Dataplane
	// IKEPort and NATTPort are our ports (0 = 500 and 4500): a message that arrives on
	// NATTPort came through the NAT-T port.
	IKEPort, NATTPort uint16
	Rand              io.Reader        // nil = crypto/rand
	Now               func() time.Time // nil = time.Now
	Log               *zap.Logger      // nil = no logging

	// LocalAddrFor returns our address towards a peer, for NAT-D hashes and for a %any
	// local identity when Connection.LocalAddr is unset. nil = a routing lookup
	// (a connected UDP socket that sends nothing).
	LocalAddrFor func(remote netip.Addr) netip.Addr
}

// Defaults.
const (
	defaultIKEPort      = 500
	defaultNATTPort     = 4500
	defaultP1Lifetime   = 8 * time.Hour // RFC 2409 Appendix A (no Life Duration sent: 28800 s)
	defaultP2Lifetime   = 8 * time.Hour // RFC 2407 §4.5
	nonceLen            = 32
	halfOpenTimeout     = 30 * time.Second
	halfOpenMax         = 1024
	halfOpenPerSource   = 32
	keepaliveInterval   = 20 * time.Second
	rekeyGrace          = 3 * time.Second // old SAs deleted this long after a rekey
	outboundSwitchDelay = 1 * time.Second // initiator: new outbound SA used this long after QM3
	qmWaitTimeout       = 60 * time.Second
	amSettle            = 50 * time.Millisecond // see ikeSA.establish
)

// validate checks a connection and fills the defaults the engine relies on.
func validate(c *Connection) error {
	if c == nil || c.Name == "" {
		return fmt.Errorf("%w: connection without a name", ErrConfig)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: connection %q: %s", ErrConfig, c.Name, fmt.Sprintf(format, args...))
	}
	switch c.Auth {
	case 0, isakmp.AuthPreSharedKey:
	default:
		return bad("authentication %s is not implemented (pre-shared keys only)", c.Auth)
	}
	if len(c.PSK) == 0 {
		return bad("no pre-shared key")
	}
	for _, p := range c.Proposals {
		if p == nil || len(p.Encr) == 0 || len(p.Integ) == 0 || len(p.DH) == 0 {
			return bad("IKE proposal %v needs encryption, hash and DH group", p)
		}
		for _, a := range append(append(append([]*crypto.Algorithm{}, p.Encr...), p.Integ...), p.DH...) {
			if a.V1Phase1 == 0 {
				return bad("%s in proposal %q is not defined for IKEv1 Phase 1", a.Name, p.Text)
			}
			if a.Insecure && !c.InsecureAlgorithms {
				return bad("%s in proposal %q needs insecure_algorithms", a.Name, p.Text)
			}
		}
	}
	switch c.DPDAction {
	case "", "clear", "hold", "restart":
	default:
		return bad("dpd_action %q", c.DPDAction)
	}
	switch c.StartAction {
	case "", "start", "trap", "none":
	default:
		return bad("start_action %q", c.StartAction)
	}
	switch c.Encap {
	case "", "udp", "auto", "raw":
	default:
		return bad("encap %q", c.Encap)
	}
	if c.RekeyTime < 0 || c.DPDDelay < 0 || c.DPDTimeout < 0 {
		return bad("negative duration")
	}
	if !c.LocalID.Any && (c.LocalID.Type == 0 || len(c.LocalID.Data) == 0) {
		return bad("local identity has no type or data")
	}
	if !c.RemoteID.Any && (c.RemoteID.Type == 0 || len(c.RemoteID.Data) == 0) {
		return bad("remote identity has no type or data")
	}
	names := map[string]bool{}
	for _, ch := range c.Children {
		if ch == nil || ch.Name == "" {
			return bad("child without a name")
		}
		if names[ch.Name] {
			return bad("child %q twice", ch.Name)
		}
		names[ch.Name] = true
		if err := validateChild(c, ch); err != nil {
			return err
		}
	}
	return nil
}

func validateChild(c *Connection, ch *Child) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: connection %q child %q: %s", ErrConfig, c.Name, ch.Name, fmt.Sprintf(format, args...))
	}
	switch ch.Mode {
	case 0, esp.Tunnel, esp.Transport:
	default:
		return bad("mode %d", ch.Mode)
	}
	switch ch.StartAction {
	case "", "start", "trap", "none":
	default:
		return bad("start_action %q", ch.StartAction)
	}
	for _, list := range [][]esp.Selector{ch.LocalTS, ch.RemoteTS} {
		for _, s := range list {
			if !s.Prefix.IsValid() {
				return bad("invalid traffic selector")
			}
			// RFC 2407 §4.6.2: an IKEv1 ID carries one port (or 0 for all).
			if !s.AnyPort() && s.PortLo != s.PortHi {
				return bad("traffic selector %s: IKEv1 IDs carry a single port, not a range", s)
			}
		}
	}
	if ch.Mode != esp.Transport && (len(ch.LocalTS) == 0 || len(ch.RemoteTS) == 0) {
		return bad("tunnel mode needs local and remote traffic selectors")
	}
	for _, p := range ch.ESPProposals {
		if p == nil || len(p.Encr) == 0 {
			return bad("ESP proposal without encryption")
		}
		for _, e := range p.Encr {
			if e.V1ESP == 0 {
				return bad("%s has no IKEv1 ESP transform ID", e.Name)
			}
		}
		for _, i := range p.Integ {
			if i.V1Auth == 0 {
				return bad("%s has no IKEv1 authentication algorithm", i.Name)
			}
		}
	}
	for _, p := range ch.AHProposals {
		if p == nil || len(p.Integ) == 0 {
			return bad("AH proposal without integrity algorithm")
		}
		for _, i := range p.Integ {
			if i.V1AH == 0 {
				return bad("%s has no IKEv1 AH transform ID", i.Name)
			}
		}
	}
	return nil
}

// startAction returns the effective start action of a child.
func (ch *Child) startAction(c *Connection) string {
	if ch.StartAction != "" {
		return ch.StartAction
	}
	if c.StartAction == "" {
		return "none"
	}
	return c.StartAction
}

func (ch *Child) mode() esp.Mode {
	if ch.Mode == 0 {
		return esp.Tunnel
	}
	return ch.Mode
}

func (c *Connection) encap() string {
	if c.Encap == "" {
		return "udp"
	}
	return c.Encap
}

func (c *Connection) dpdAction() string {
	if c.DPDAction == "" {
		return "clear"
	}
	return c.DPDAction
}

func (c *Connection) remotePort() uint16 {
	if c.RemotePort == 0 {
		return defaultIKEPort
	}
	return c.RemotePort
}

func (c *Connection) remoteNATTPort() uint16 {
	if c.RemoteNATTPort == 0 {
		return defaultNATTPort
	}
	return c.RemoteNATTPort
}

// p1Lifetime is the ISAKMP SA lifetime we propose (RekeyTime + 10%, strongSwan's default
// over_time), and whether we re-authenticate ourselves.
func (c *Connection) p1Lifetime() (time.Duration, bool) {
	if c.RekeyTime == 0 {
		return defaultP1Lifetime, false
	}
	return (c.RekeyTime * 11 / 10).Truncate(time.Second), true
}

// p2Lifetime is the IPsec SA lifetime we propose, and whether we rekey ourselves.
func (ch *Child) p2Lifetime() (time.Duration, bool) {
	if ch.RekeyTime == 0 {
		return defaultP2Lifetime, false
	}
	return (ch.RekeyTime * 11 / 10).Truncate(time.Second), true
}
