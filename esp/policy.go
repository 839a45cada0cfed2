package esp

// The security policy database, RFC 4301 §4.4.1: which outbound packets are protected, and by
// which SA. The key manager swaps a policy's outbound SA atomically on rekey; the data plane
// reads it once per packet group without locks.

import (
	"net/netip"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/conn"
)

// Action is what a policy does with matching packets, RFC 4301 §4.4.1.
type Action uint8

const (
	Protect Action = iota + 1
	Bypass
	Discard
)

// Encap is how ESP/AH packets travel between the peers.
type Encap uint8

const (
	EncapUDP Encap = iota + 1 // RFC 3948 ESP-in-UDP on the NAT-T port
	EncapRaw                  // IP protocol 50/51
)

func (e Encap) String() string {
	if e == EncapRaw {
		return "raw"
	}
	return "udp"
}

// Binding binds an outbound SA to where its packets go. Immutable once published.
type Binding struct {
	SA     *SA
	Peer   netip.AddrPort // UDP: the peer's NAT-T address and port; raw: port 0
	Encap  Encap
	MTU    int           // largest inner packet the tunnel carries without fragmenting
	ep     conn.Endpoint // UDP: sticky endpoint (source address remembered)
	local  netip.Addr    // the local address asked for (invalid: the kernel chooses)
	serial uint64        // unique in this process (groupTable)
}

// Policy is one SPD entry. Safe for concurrent use; Local, Remote and Action must not change
// while the policy is in an SPD (its index files the policy under its remote prefixes).
type Policy struct {
	Name          string
	Local, Remote []Selector
	Action        Action

	out      atomic.Pointer[Binding]
	lastAcq  atomic.Int64 // unix nanos of the last acquire signal (rate limit)
	NoSA     atomic.Uint64
	TooBig   atomic.Uint64
	Acquires atomic.Uint64
}

// Binding returns the policy's current outbound binding, or nil while none is installed.
func (p *Policy) Binding() *Binding { return p.out.Load() }

// SetOutbound installs (or, with nil, removes) the SA outbound packets use from now on; it
// returns the previous binding, which the caller keeps until the peer stops using it.
func (p *Policy) SetOutbound(o *Binding) *Binding { return p.out.Swap(o) }

// matches reports whether an outbound flow falls under the policy.
func (p *Policy) matches(f *Flow) bool {
	return MatchAny(p.Local, f.Src, f.Proto, f.SrcPort, f.HasPorts) &&
		MatchAny(p.Remote, f.Dst, f.Proto, f.DstPort, f.HasPorts)
}

// acquire reports whether an acquire signal is due (at most one per second per policy).
func (p *Policy) acquire(now time.Time) bool {
	last := p.lastAcq.Load()
	if now.UnixNano()-last < int64(time.Second) {
		return false
	}
	return p.lastAcq.CompareAndSwap(last, now.UnixNano())
}
