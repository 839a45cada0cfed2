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
	Warnings    []Warning // sorted by line
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
	Workers            int    // addition; default 0 = automatic (inline on <= 2 CPUs, half the CPUs otherwise)
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
	Version    int    // IKE version; default 1 (2 is refused until IKEv2 exists)
	Aggressive bool   // IKEv1 Aggressive Mode instead of Main Mode; default false

	LocalAddr  string     // as written; default "%any" ("" also means %any)
	LocalIP    netip.Addr // the parsed local_addr; invalid (zero) = any local address
	RemoteAddr string     // as written: an IP address, a DNS name, or "%any"; default "%any"
	RemoteIP   netip.Addr // the parsed remote_addr when it is an IP literal; zero otherwise

	RemotePort     uint16 // addition: the peer's IKE port; default 500
	RemoteNATTPort uint16 // addition: the peer's NAT-T (ESP-in-UDP) port; default 4500

	LocalID  Identity // default: local_addr (see Identity)
	RemoteID Identity // default: remote_addr

	Auth       string     // "psk" | "pubkey" | "pke"; default "psk"
	PSK        crypto.Key // from psk, or read from psk_file; nil unless auth = "psk"
	PSKFile    string     // psk_file resolved against Config.Dir; "" if inline
	Cert       string     // paths resolved against Config.Dir; "" when absent
	Key        string
	CACerts    []string
	RemoteCert string

	Proposals   []*crypto.Proposal // IKE SA proposals; default crypto.DefaultProposals(ProtoIKEv1)
	RekeyTime   time.Duration      // default 4h; 0 = never
	DPDDelay    time.Duration      // default 30s; 0 = off
	DPDTimeout  time.Duration      // default 150s
	DPDAction   string             // "clear" | "hold" | "restart"; default "restart"
	StartAction string             // "start" | "trap" | "none"; default "start"
	Encap       string             // "udp" | "raw" | "auto"; default "udp"
	MOBIKE      bool               // default false; IKEv2 only

	Children []*Child
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
	RekeyTime    time.Duration      // default 1h; 0 = never
	LifeBytes    int64              // default 0 = unlimited
	LifePackets  int64              // default 0 = unlimited
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
	for _, conn := range c.Connections {
		conn.PSK.Wipe()
		for _, ch := range conn.Children {
			crypto.WipeAll(ch.InKey, ch.OutKey, ch.InAuthKey, ch.OutAuthKey)
		}
	}
}
