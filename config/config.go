package config

import (
	"net/netip"
	"time"

	"oakley/crypto"
)

// Config is a checked configuration. Every field holds its default when the key was absent
// (each default is written next to its field).
//
// A Config is not modified after Load or Parse returns; it is safe for concurrent reads. It
// holds secrets (crypto.Key, which never prints); call Wipe when done with it.
type Config struct {
	File        string // the name given to Load or Parse, used in messages
	Dir         string // relative file names are resolved against this directory
	Daemon      Daemon
	Device      Device
	Netstack    Netstack
	Connections []*Connection
	Pools       []*Pool   // [[pool]] in file order: virtual IPs a gateway hands out
	Users       []*User   // [[user]] in file order: XAUTH / EAP-MSCHAPv2 users of a gateway
	Warnings    []Warning // sorted by line
}

// Pool returns the [[pool]] called name, or nil.
func (c *Config) Pool(name string) *Pool {
	for _, p := range c.Pools {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// User returns the [[user]] called name, or nil.
func (c *Config) User(name string) *User {
	for _, u := range c.Users {
		if u.Name == name {
			return u
		}
	}
	return nil
}

// Daemon is the [daemon] table. Like every part of a Config it is read-only after Load and
// safe for concurrent reads.
type Daemon struct {
	LogLevel           string // "debug" | "info" | "warn" | "error"; default "info"
	LogFormat          string // "console" | "json"; default "console"
	ControlSocket      string // default "/run/oakley/oakley.sock"
	Metrics            string // host:port of the Prometheus /metrics listener; default "" = off
	IKEPort            uint16 // default 500
	NATTPort           uint16 // default 4500
	InsecureAlgorithms bool   // default false: DES, MD5, MODP 768/1024/1536, AM-PSK responder, auth = "pke"
	UDPOffload         bool   // addition; default true: UDP GSO/GRO, sendmmsg/recvmmsg
	SocketBuffer       int64  // addition; default "4MB" = 4 000 000 bytes; 0 = OS default
	Workers            int    // addition; default 0 = automatic (inline on <= 2 CPUs, one per CPU otherwise)

	// User: after opening the device and the sockets, run as this user (keeping only
	// CAP_NET_ADMIN); default "" = stay as started. On Linux the user must exist; UID and GID
	// are its numeric ids, -1 when User is "" (or, off Linux, could not be looked up).
	User     string
	UID, GID int

	// Additions: retransmission of IKE requests, in the shape of strongSwan's
	// charon.retransmit_timeout/_base/_tries (see RetransmitSchedule).
	RetransmitTimeout time.Duration // default 4s; 100ms..10m
	RetransmitBase    float64       // default 1.8; ≥ 1.0
	RetransmitTries   int           // default 5; 1..20
}

// RetransmitSchedule returns how long to wait for the reply to an IKE request: element n is
// RetransmitTimeout·RetransmitBase^n, for n = 0 .. RetransmitTries. Element 0 follows the first
// transmission, element n (1 ≤ n < RetransmitTries) follows retransmission n, and the last
// element follows the last retransmission, after which the request (and the peer) is given up.
// With the defaults: 4s, 7.2s, 13s, 23.3s, 42s, 75.6s, about 165 s in all (as strongSwan).
// Load guarantees the sum is at most MaxRetransmitTotal.
func (d Daemon) RetransmitSchedule() []time.Duration {
	tries := max(d.RetransmitTries, 0)
	out := make([]time.Duration, 0, tries+1)
	f := float64(d.RetransmitTimeout)
	for n := 0; n <= tries; n++ {
		out = append(out, time.Duration(f))
		f *= d.RetransmitBase
	}
	return out
}

// Device is the [device] table (read-only after Load, safe for concurrent reads).
type Device struct {
	Kind      string         // "tun" | "netstack"; default "tun"
	Name      string         // default "oakley0" (tun only; ignored where the OS picks the name)
	MTU       int            // default 0 = path MTU minus ESP overhead; else 576..65535 (1280.. with IPv6)
	Addresses []netip.Prefix // default none; a bare address means /32 or /128
	Routes    bool           // default true: route every child's remote_ts through the device
	Offload   bool           // addition; default true: Linux TUN GSO/GRO offloads
}

// Netstack is the [netstack] table, allowed only with device.kind = "netstack" (read-only
// after Load, safe for concurrent reads).
type Netstack struct {
	SOCKS5  string    // host:port of the SOCKS5 proxy; default "" = none
	Forward []Forward // local listener → address across the tunnel
	Expose  []Forward // address inside the tunnel → local service
}

// Forward is one [[netstack.forward]] or [[netstack.expose]] entry (a comparable value type,
// safe for concurrent use).
type Forward struct {
	Proto  string // "tcp" | "udp"; required
	Listen netip.AddrPort
	To     netip.AddrPort
}

// Connection is one [[connection]]: an IKE SA (or, with keying = "manual", only a peer for
// fixed SAs) and its children. Read-only after Load, safe for concurrent reads.
type Connection struct {
	Name       string
	Keying     string // "ike" | "manual"; default "ike"
	Version    int    // IKE version 1 or 2; default DefaultIKEVersion
	Aggressive bool   // IKEv1 Aggressive Mode instead of Main Mode; default false

	LocalAddr  string     // as written; default "%any" ("" also means %any)
	LocalIP    netip.Addr // the parsed local_addr; invalid (zero) = any local address
	RemoteAddr string     // as written: an IP address, a DNS name, or "%any"; default "%any"
	RemoteIP   netip.Addr // the parsed remote_addr when it is an IP literal; zero otherwise

	RemotePort     uint16 // addition: the peer's IKE port; default 500
	RemoteNATTPort uint16 // addition: the peer's NAT-T (ESP-in-UDP) port; default 4500

	LocalID  Identity // default: local_addr (see Identity)
	RemoteID Identity // default: remote_addr

	Auth       string     // "psk" | "pubkey" | "pke" (or "pke-revised" / "pke-original": one mode only); default "psk"
	PSK        crypto.Key // from psk, or read from psk_file; nil unless auth = "psk"
	PSKFile    string     // psk_file resolved against Config.Dir; "" if inline
	Cert       string     // paths resolved against Config.Dir; "" when absent
	Key        string     // private key; refused if group/other may read or write it
	CACerts    []string
	RemoteCert string
	CRLs       []string // crls: revocation lists (PEM or DER) for the peer's chain, resolved, existing
	// FileLines maps each resolved cert, key, cacerts, remote_cert and crls path to the line
	// that names it, so `oakley check` can point at the file a certificate check refuses.
	FileLines map[string]int

	SendCert      string // "ifasked" (the peer sent a CERTREQ) | "always" | "never"; default "ifasked"
	Fragmentation string // "yes" | "accept" | "force" (IKEv1; IKEv2 treats it as "yes") | "no"; default "yes" (IKEv1 fragmentation / RFC 7383)

	// Virtual IPs. A client lists the addresses it requests (IKEv2 CP, IKEv1 Mode Config): at
	// most one per family, the unspecified address (0.0.0.0, ::) meaning "any address of that
	// family". A gateway names the [[pool]]s it hands addresses from (Config.Pool resolves
	// them). A connection is one or the other, never both.
	VIPs  []netip.Addr
	Pools []string

	// User authentication after the IKE authentication.
	//   xauth (IKEv1): "client" logs in with XAuthID and Password; "server" asks the peer to
	//   log in as one of Config.Users.
	//   eap (IKEv2, RFC 7296 §2.16): with Pools empty the connection is an EAP client that
	//   authenticates as EAPID (mschapv2: with Password; tls: with Cert and Key) and checks
	//   the gateway's certificate; with Pools set it is the gateway, which proves itself with
	//   Cert and Key (auth = "pubkey") and demands EAP from its clients (mschapv2: one of
	//   Config.Users; tls: a certificate verified with CACerts / RemoteCert).
	XAuth        string     // "" (none) | "client" | "server"; default ""; IKEv1 only
	XAuthID      string     // xauth = "client": the user name
	EAP          string     // "" (none) | "mschapv2" | "tls"; default ""; IKEv2 only
	EAPID        string     // EAP client: the EAP identity (user name)
	PasswordFile string     // password_file resolved against Config.Dir; "" when unused
	Password     crypto.Key // the XAUTH or EAP-MSCHAPv2 client password; nil when unused

	Proposals   []*crypto.Proposal // IKE SA proposals; default crypto.DefaultProposals(ProtoIKEv1)
	RekeyTime   time.Duration      // default 4h; 0 = never; else at least MinRekeyTime
	DPDDelay    time.Duration      // default 30s; 0 = off
	DPDTimeout  time.Duration      // default 150s
	DPDAction   string             // "clear" | "hold" | "restart"; default "restart"
	StartAction string             // "start" | "trap" | "none"; default "start"
	Encap       string             // "udp" | "raw" | "auto"; default "udp"
	MOBIKE      bool               // default false; IKEv2 only

	Children []*Child
}

// EAPClient reports whether the connection authenticates itself with EAP (eap set, no pools).
func (c *Connection) EAPClient() bool { return c.EAP != "" && len(c.Pools) == 0 }

// EAPServer reports whether the connection is an EAP gateway (eap set, pools set): it proves
// itself with its certificate and demands EAP from the peer.
func (c *Connection) EAPServer() bool { return c.EAP != "" && len(c.Pools) > 0 }

// Pool is one [[pool]]: virtual IP addresses (and DNS servers, split networks) a gateway hands
// to remote-access clients. Read-only after Load, safe for concurrent reads.
type Pool struct {
	Name   string
	Addrs  string       // as written: a CIDR or a range "first-last"
	Prefix netip.Prefix // the CIDR when Addrs is one; zero for a range
	// First and Last bound the addresses to hand out, inclusive. For a range they are its
	// ends; for a CIDR they leave out the network address and, for IPv4, the broadcast
	// address (RFC 919), except in a /31, /32 (RFC 3021), /127 (RFC 6164) or /128, where every
	// address is usable. Load guarantees pools do not overlap one another.
	First, Last netip.Addr
	DNS         []netip.Addr   // DNS servers to announce; default none
	Split       []netip.Prefix // networks the client routes through the tunnel; default none = everything
}

// User is one [[user]] of a gateway: an XAUTH or EAP-MSCHAPv2 login. Read-only after Load,
// safe for concurrent reads; Password is a secret (it never prints).
type User struct {
	Name         string
	PasswordFile string     // resolved against Config.Dir
	Password     crypto.Key // the file's content without trailing blanks and newlines
	Pools        []string   // [[pool]]s this user's virtual IPs come from instead of the connection's
}

// Child is one [[connection.child]]: a pair of IPsec SAs and the traffic they protect.
// Read-only after Load, safe for concurrent reads.
type Child struct {
	Name         string
	LocalTS      []TrafficSelector  // required in tunnel mode; transport mode defaults to local_addr
	RemoteTS     []TrafficSelector  // required in tunnel mode; transport mode defaults to remote_addr
	Mode         string             // "tunnel" | "transport"; default "tunnel"
	ESPProposals []*crypto.Proposal // default crypto.DefaultProposals(ProtoESP); nil when AH is used
	AHProposals  []*crypto.Proposal // default none; non-empty = AH instead of ESP (encap = "raw")
	RekeyTime    time.Duration      // default 1h; 0 = never; else at least MinRekeyTime
	LifeBytes    int64              // default 0 = unlimited; else at least MinLifeBytes
	LifePackets  int64              // default 0 = unlimited; else at least MinLifePackets
	ReplayWindow int                // default 1024 packets; 0 = no replay protection; at most 65536
	StartAction  string             // default: the connection's start_action

	// keying = "manual" only (RFC 4301 §4.5): fixed SAs, no IKE. The keys are the KEYMAT
	// layout of the one proposal: the encryption key followed by its salt for AEADs
	// (RFC 4106 §8.1), the integrity key for non-AEAD ESP and for AH.
	InSPI, OutSPI         uint32
	InKey, OutKey         crypto.Key // nil with AH or null encryption
	InAuthKey, OutAuthKey crypto.Key // nil with an AEAD
}

// Wipe overwrites every secret the configuration holds. Call it only when no goroutine reads
// the Config any more.
func (c *Config) Wipe() {
	for _, u := range c.Users {
		u.Password.Wipe()
	}
	for _, conn := range c.Connections {
		conn.PSK.Wipe()
		conn.Password.Wipe()
		for _, ch := range conn.Children {
			crypto.WipeAll(ch.InKey, ch.OutKey, ch.InAuthKey, ch.OutAuthKey)
		}
	}
}
