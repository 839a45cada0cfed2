package core

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/esp"
)

// Dataplane is what the core needs from *esp.Dataplane (which satisfies it); tests use a
// fake. It is called only from the goroutine that owns the Core.
type Dataplane interface {
	SendIKE(msg []byte, local netip.Addr, to netip.AddrPort, natt bool) error
	SendKeepalive(local netip.Addr, to netip.AddrPort) error
	// Install, Bind and Retire are the SA life cycle (esp/lifecycle.go): the data plane wipes
	// a retired SA's keys once no batch in flight can use them.
	Install(cfg esp.Config) (*esp.SA, error)
	Bind(p *esp.Policy, sa *esp.SA, peer netip.AddrPort, local netip.Addr, encap esp.Encap, mtu int) error
	Unbind(p *esp.Policy)
	Retire(sa *esp.SA)
	AllocSPI(rand io.Reader) (uint32, error)
	ReleaseSPI(spi uint32)
	// AddPolicy / RemovePolicy edit the SPD.
	AddPolicy(p *esp.Policy)
	RemovePolicy(p *esp.Policy)
}

// Connection is one [[connection]] with keying = "ike". Plain data: the core keeps the
// pointer and reads it from its goroutine, so do not modify it after New.
type Connection struct {
	Name       string
	Version    uint8 // IKE major version: 1 or 2
	Aggressive bool  // IKEv1: initiate Aggressive Mode instead of Main Mode

	LocalAddr  netip.Addr // invalid = any
	RemoteAddr netip.Addr // invalid = respond only (remote_addr = "%any")
	// RemotePort is where IKE starts (0 = 500); RemoteNATTPort where it floats (0 = 4500).
	RemotePort, RemoteNATTPort uint16

	LocalID, RemoteID Identity
	Auth              string     // "psk" (default "") | "pubkey" | "pke" (IKEv1; also "pke-revised", "pke-original")
	PSK               crypto.Key // auth = "psk"
	Credentials                  // auth = "pubkey" / "pke": certificates (credentials.go)

	Proposals []*crypto.Proposal // nil = the version's defaults

	// RekeyTime: IKEv1 re-authenticates the ISAKMP SA this long after it was established
	// (a new Main Mode; the children move over); IKEv2 rekeys the IKE SA. The lifetime
	// proposed is RekeyTime + 10% (strongSwan's over_time). 0 = never.
	RekeyTime time.Duration

	// Dead peer detection: after DPDDelay without inbound traffic send a liveness check;
	// without an answer for DPDTimeout apply DPDAction ("clear" | "hold" | "restart";
	// "" = "clear"). DPDDelay 0 = off.
	DPDDelay, DPDTimeout time.Duration
	DPDAction            string

	StartAction string // "start" | "trap" | "none" ("" = "none")
	// Encap: "udp" (the default, "") forces RFC 3948 UDP encapsulation (as strongSwan's
	// encap = yes); "auto" uses it only when a NAT is detected; "raw" never uses NAT-T.
	Encap string
	// MOBIKE (RFC 4555, IKEv2): announce MOBIKE_SUPPORTED; as the IKE SA's initiator follow
	// a change of our address with UPDATE_SA_ADDRESSES, as responder accept the peer's.
	MOBIKE bool
	// InsecureAlgorithms allows what needs the opt-in (the proposal parser checked the
	// algorithms; the protocols check the rest, e.g. an Aggressive Mode PSK responder).
	InsecureAlgorithms bool

	// Remote access: a client's requested virtual IPs and a gateway's pools.
	VIPs  []netip.Addr // client: addresses to request; the unspecified address = any of that family
	Pools []string     // gateway: names of Config.Pools to hand addresses from
	// XAuth is IKEv1 XAUTH after Phase 1 (draft-beaulieu-ike-xauth-02): "" (none), "client"
	// (log in as XAuthID with XAuthPassword) or "server" (check the peer against
	// Config.Users).
	XAuth         string
	XAuthID       string
	XAuthPassword crypto.Key
	// EAP is IKEv2 EAP authentication (RFC 7296 §2.16): "" (none), "mschapv2" or "tls". Without
	// Pools the connection is an EAP client that logs in as EAPID (with EAPPassword, or with
	// EAP-TLS its certificate, Creds) and verifies the gateway's certificate; with Pools it
	// is a gateway that proves itself with its certificate and checks the client against
	// Config.Users (EAP-TLS: the client's certificate against Trust).
	EAP         string
	EAPID       string
	EAPPassword crypto.Key

	Children []*Child
}

// Child is one [[connection.child]]. Plain data, read-only after New (like Connection).
type Child struct {
	Name     string
	Mode     esp.Mode // 0 = tunnel
	LocalTS  []esp.Selector
	RemoteTS []esp.Selector
	// ESPProposals / AHProposals: a DH group in a proposal means PFS. Non-empty
	// AHProposals selects AH instead of ESP. Both empty = the defaults.
	ESPProposals, AHProposals []*crypto.Proposal
	// RekeyTime: a rekey this long after installation (minus jitter). The lifetime
	// proposed is RekeyTime + 10%; 0 = never rekey ourselves.
	RekeyTime    time.Duration
	LifeBytes    uint64 // hard limits; the soft limit (rekey) is at ~90%
	LifePackets  uint64
	ReplayWindow int
	StartAction  string // "" = the connection's
}

// User is one login of a gateway; Password is a secret.
type User struct {
	Name     string
	Password crypto.Key
	Pools    []string // the pools this user's virtual IPs come from instead of the connection's
}

// User returns the user called name, or nil.
func (c *Config) User(name string) *User {
	for i := range c.Users {
		if c.Users[i].Name == name {
			return &c.Users[i]
		}
	}
	return nil
}

// Retransmit is the retransmission schedule (strongSwan's charon.retransmit_*): a request
// is resent Timeout·Base^n after its n-th transmission, Tries times, and the exchange gives
// up one interval after the last try.
type Retransmit struct {
	Timeout time.Duration // 0 = 4 s
	Base    float64       // 0 = 1.8
	Tries   int           // 0 = 5
}

// Config configures a Core. Read by New only.
type Config struct {
	Connections []*Connection
	Dataplane   Dataplane
	// IKEPort and NATTPort are our ports (0 = 500 and 4500): a message that arrives on
	// NATTPort came through the NAT-T port.
	IKEPort, NATTPort uint16
	Rand              io.Reader   // nil = crypto/rand
	Log               *zap.Logger // nil = no logging
	Retransmit        Retransmit

	// LocalAddrFor returns our address towards a peer, for NAT detection and for a %any
	// local identity when Connection.LocalAddr is unset. nil = a routing lookup (a
	// connected UDP socket that sends nothing).
	LocalAddrFor func(remote netip.Addr) netip.Addr
	// PathMTU returns the path MTU towards a peer, from which each child SA's tunnel MTU
	// (for ICMP "too big" and MSS clamping) is computed. nil = 1500.
	PathMTU func(remote netip.Addr) int
	// Pools are the address pools gateways hand virtual IPs from (by name).
	Pools []*Pool
	// Users are the logins an XAUTH server or an EAP-MSCHAPv2 gateway checks (config [[user]]).
	Users []User
	// OnVirtualIPs is told when a client connection got virtual IPs (and the DNS servers
	// and split networks that came with them) or lost them; the daemon puts them on the
	// device and routes. Called from the core's goroutine; it must not block long.
	OnVirtualIPs func(VirtualIPs)
	// KeyLog, when set, receives every IKE and ESP key (OAKLEY_KEYLOG; debugging only).
	KeyLog *KeyLog
}

// Defaults shared by both versions.
const (
	DefaultIKEPort   = 500
	DefaultNATTPort  = 4500
	HalfOpenTimeout  = 30 * time.Second
	HalfOpenMax      = 1024
	HalfOpenPerSrc   = 32
	RekeyGrace       = 3 * time.Second // old SAs deleted this long after a rekey
	DeleteLinger     = time.Second     // a rekey collision's redundant pair: its SAs stay this long after its Delete
	DefaultLifetime  = 8 * time.Hour   // RFC 2407 §4.5 / RFC 2409 Appendix A
	KeepaliveEvery   = 20 * time.Second
	ReplyCacheSize   = 16
	MaxPairsPerChild = 4 // installed SA pairs per child: older superseded ones are deleted
)

// validate checks what every version needs of a connection and fills nothing in.
func validate(c *Connection) error {
	if c == nil || c.Name == "" {
		return fmt.Errorf("%w: connection without a name", ErrConfig)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: connection %q: %s", ErrConfig, c.Name, fmt.Sprintf(format, args...))
	}
	switch c.Auth {
	case "", "psk":
		if len(c.PSK) == 0 {
			return bad("no pre-shared key")
		}
	case "pubkey":
	case "pke", "pke-revised", "pke-original":
		if c.Version == 2 {
			return bad("auth = %q is IKEv1 only (RFC 2409 public-key encryption)", c.Auth)
		}
	default:
		return bad("auth = %q is not implemented", c.Auth)
	}
	if err := validateCredentials(c, bad); err != nil {
		return err
	}
	switch c.XAuth {
	case "", "server":
	case "client":
		if c.XAuthID == "" || len(c.XAuthPassword) == 0 {
			return bad("xauth = \"client\" needs a user name and a password")
		}
	default:
		return bad("xauth = %q", c.XAuth)
	}
	switch {
	case c.EAP == "":
	case c.EAP != "mschapv2" && c.EAP != "tls":
		return bad("eap = %q is not implemented", c.EAP)
	case c.Version != 2:
		return bad("eap is IKEv2 only")
	case c.Auth != "pubkey":
		return bad("eap needs auth = \"pubkey\": the gateway proves itself with its certificate")
	case c.EAP == "mschapv2" && len(c.Pools) == 0 && (c.EAPID == "" || len(c.EAPPassword) == 0):
		return bad("an EAP-MSCHAPv2 client needs an EAP identity and a password")
	case c.EAP == "tls" && len(c.Pools) == 0 && (c.EAPID == "" || c.Creds == nil):
		return bad("an EAP-TLS client needs an EAP identity, its certificate and key")
	case c.EAP == "tls" && len(c.Pools) > 0 && c.Trust == nil:
		return bad("an EAP-TLS gateway needs cacerts to verify the clients' certificates")
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
		cbad := func(format string, args ...any) error {
			return fmt.Errorf("%w: connection %q child %q: %s", ErrConfig, c.Name, ch.Name, fmt.Sprintf(format, args...))
		}
		switch ch.Mode {
		case 0, esp.Tunnel, esp.Transport:
		default:
			return cbad("mode %d", ch.Mode)
		}
		switch ch.StartAction {
		case "", "start", "trap", "none":
		default:
			return cbad("start_action %q", ch.StartAction)
		}
		for _, list := range [][]esp.Selector{ch.LocalTS, ch.RemoteTS} {
			for _, s := range list {
				if !s.Prefix.IsValid() {
					return cbad("invalid traffic selector")
				}
			}
		}
		if ch.Mode != esp.Transport && (len(ch.LocalTS) == 0 || len(ch.RemoteTS) == 0) {
			return cbad("tunnel mode needs local and remote traffic selectors")
		}
	}
	return nil
}

// StartActionOf returns the effective start action of a child.
func (ch *Child) StartActionOf(c *Connection) string {
	if ch.StartAction != "" {
		return ch.StartAction
	}
	if c.StartAction == "" {
		return "none"
	}
	return c.StartAction
}

// ModeOf returns the child's ESP mode (tunnel by default).
func (ch *Child) ModeOf() esp.Mode {
	if ch.Mode == 0 {
		return esp.Tunnel
	}
	return ch.Mode
}

// Lifetime is the IPsec SA lifetime we propose, and whether we rekey ourselves.
func (ch *Child) Lifetime() (time.Duration, bool) {
	if ch.RekeyTime == 0 {
		return DefaultLifetime, false
	}
	return (ch.RekeyTime * 11 / 10).Truncate(time.Second), true
}

// EncapOf returns the connection's encapsulation ("udp" by default).
func (c *Connection) EncapOf() string {
	if c.Encap == "" {
		return "udp"
	}
	return c.Encap
}

// DPDActionOf returns the connection's dpd_action ("clear" by default).
func (c *Connection) DPDActionOf() string {
	if c.DPDAction == "" {
		return "clear"
	}
	return c.DPDAction
}

// RemoteIKEPort is the peer's IKE port (500 by default).
func (c *Connection) RemoteIKEPort() uint16 {
	if c.RemotePort == 0 {
		return DefaultIKEPort
	}
	return c.RemotePort
}

// RemoteNATTPortOf is the peer's NAT-T port (4500 by default).
func (c *Connection) RemoteNATTPortOf() uint16 {
	if c.RemoteNATTPort == 0 {
		return DefaultNATTPort
	}
	return c.RemoteNATTPort
}

// Lifetime is the IKE SA lifetime we propose (RekeyTime + 10%), and whether we rekey or
// re-authenticate ourselves.
func (c *Connection) Lifetime() (time.Duration, bool) {
	if c.RekeyTime == 0 {
		return DefaultLifetime, false
	}
	return (c.RekeyTime * 11 / 10).Truncate(time.Second), true
}

// CanInitiate reports whether the connection has a peer address to initiate to.
func (c *Connection) CanInitiate() bool { return c.RemoteAddr.IsValid() }

// DefaultProposals parses crypto's default proposals of a protocol.
func DefaultProposals(proto crypto.Protocol) []*crypto.Proposal {
	var out []*crypto.Proposal
	for _, s := range crypto.DefaultProposals(proto) {
		if p, err := crypto.ParseProposal(proto, s, false); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// defaultESP are the ESP proposals of a child that names none.
var defaultESP = DefaultProposals(crypto.ProtoESP)
