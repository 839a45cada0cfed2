// Package esp is oakley's IPsec data plane: security associations, ESP (RFC 4303) and AH
// (RFC 4302) encapsulation and decapsulation in tunnel and transport mode, ESP-in-UDP framing
// (RFC 3948), the anti-replay window, traffic selectors and the SA database.
//
// Packets travel in batches (Batch): a slice of buffers with per-packet offsets and sizes, so
// encapsulation adds headers in the buffer's headroom and trailers in its tailroom without
// copying or allocating.
package esp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	ocrypto "oakley/crypto"
)

// Errors of the data plane. Each bad packet gets one of these in Batch.Errs and is counted.
var (
	ErrMalformed   = errors.New("esp: malformed packet")
	ErrIntegrity   = errors.New("esp: integrity check failed")
	ErrPadding     = errors.New("esp: bad padding or pad length")
	ErrNextHeader  = errors.New("esp: unexpected next header")
	ErrDummy       = errors.New("esp: dummy packet discarded")
	ErrPolicy      = errors.New("esp: inner packet outside the SA's traffic selectors")
	ErrExpired     = errors.New("esp: SA lifetime expired")
	ErrSeqOverflow = errors.New("esp: sequence number space exhausted; rekey needed")
	ErrNoRoom      = errors.New("esp: buffer has no room for headers or trailer")
	ErrFragment    = errors.New("esp: transport mode cannot protect a fragment")
	ErrUnknownSPI  = errors.New("esp: no SA for SPI")
	ErrWrongSA     = errors.New("esp: packet SPI does not belong to this SA")
)

// Direction of an SA.
type Direction uint8

const (
	Inbound Direction = iota + 1
	Outbound
)

func (d Direction) String() string {
	if d == Inbound {
		return "in"
	}
	return "out"
}

// Protocol is the IPsec protocol of an SA.
type Protocol uint8

const (
	ESP Protocol = ProtoESPNum
	AH  Protocol = ProtoAHNum
)

func (p Protocol) String() string {
	if p == AH {
		return "AH"
	}
	return "ESP"
}

// Mode is tunnel or transport mode, RFC 4301 §4.1.
type Mode uint8

const (
	Tunnel Mode = iota + 1
	Transport
)

func (m Mode) String() string {
	if m == Transport {
		return "transport"
	}
	return "tunnel"
}

// Lifetime limits an SA, RFC 4301 §4.4.2.1. Zero means unlimited. Time limits are enforced by
// the key manager's timers; byte and packet limits by the SA itself.
type Lifetime struct {
	SoftBytes, HardBytes     uint64
	SoftPackets, HardPackets uint64
	SoftTime, HardTime       time.Duration
}

// Config describes an SA to create. NewSA takes ownership of EncKey and IntegKey: the SA's
// Close wipes them, so the caller must not reuse them afterwards.
type Config struct {
	SPI      uint32
	Dir      Direction
	Proto    Protocol
	Mode     Mode
	ESN      bool
	Enc      *ocrypto.Algorithm // ESP only
	Integ    *ocrypto.Algorithm // nil for an AEAD
	EncKey   []byte             // with the AEAD salt appended
	IntegKey []byte
	Replay   int // anti-replay window size in packets (inbound); 0 = off
	Life     Lifetime

	// Traffic selectors: an outbound packet's src ∈ Local, dst ∈ Remote; an inbound inner
	// packet is checked the other way round after decapsulation (RFC 4301 §5.2).
	Local, Remote []Selector
	// Outer endpoints. Transport mode rebuilds the inner header from them on the way in, and AH
	// computes its ICV over an outer header built from them.
	LocalAddr, RemoteAddr netip.Addr
	// MTU is the largest inner packet the tunnel carries; inbound TCP SYNs have their MSS
	// clamped to it (0 = no clamping).
	MTU  int
	Rand io.Reader // IV secrets; nil = crypto/rand
}

// SA is one security association. Safe for concurrent use: counters are atomic, the
// sequence counter is an atomic reservation, the replay window has its own mutex. An SA made
// by Dataplane.Install belongs to that data plane, which wipes its keys once retired (see
// lifecycle.go); one made by NewSA alone belongs to its caller, whose Close wipes it.
type SA struct {
	cfg    Config
	cipher *ocrypto.Cipher    // ESP
	integ  *ocrypto.Integrity // AH
	hdrLen int                // ESP: SPI + SN + IV; AH: the AH header with its ICV

	seq     atomic.Uint64 // outbound: the last sequence number used
	seqMax  uint64
	seqSoft uint64

	replayMu sync.Mutex
	replay   *Window

	soft    atomic.Bool
	expired atomic.Bool
	retired atomic.Bool // out of service: Retire or Close was called
	wiped   atomic.Bool
	owner   *Dataplane // set by Install: events go there, Close retires through it
	// signalled records which events were queued (events.go), so each is queued once.
	signalled atomic.Uint32
	// watch is where an inbound ESP-in-UDP SA expects the peer's datagrams from (nil: not
	// watched); movedTo and movePending are its pending EventSourceMoved, guarded by the
	// owner's event queue mutex (events.go).
	watch       atomic.Pointer[netip.AddrPort]
	movedTo     netip.AddrPort
	movePending bool
	created     time.Time
	serial      uint64 // unique per SA in this process, never reused (verdictCache)
	Stats       Stats
	ipID        atomic.Uint32 // AH tunnel mode: outer IPv4 identification
}

// saSerial numbers SAs.
var saSerial atomic.Uint64

// NewSA builds an SA from its configuration.
func NewSA(cfg Config) (*SA, error) {
	if cfg.Dir != Inbound && cfg.Dir != Outbound {
		return nil, errors.New("esp: SA direction not set")
	}
	if cfg.Mode != Tunnel && cfg.Mode != Transport {
		return nil, errors.New("esp: SA mode not set")
	}
	if cfg.SPI < 256 {
		return nil, fmt.Errorf("esp: SPI %d is reserved (RFC 4303 §2.1)", cfg.SPI)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	cfg.Local = append([]Selector(nil), cfg.Local...)
	cfg.Remote = append([]Selector(nil), cfg.Remote...)
	sa := &SA{cfg: cfg, created: time.Now(), serial: saSerial.Add(1)}
	var err error
	switch cfg.Proto {
	case ESP:
		if sa.cipher, err = ocrypto.NewCipher(cfg.Enc, cfg.Integ, cfg.EncKey, cfg.IntegKey, cfg.Rand); err != nil {
			return nil, fmt.Errorf("esp: SPI 0x%08x: %w", cfg.SPI, err)
		}
		sa.hdrLen = 8 + sa.cipher.IVSize()
	case AH:
		if cfg.Enc != nil {
			return nil, errors.New("esp: AH does not encrypt")
		}
		if sa.integ, err = ocrypto.NewIntegrity(cfg.Integ, cfg.IntegKey); err != nil {
			return nil, fmt.Errorf("esp: SPI 0x%08x: %w", cfg.SPI, err)
		}
	default:
		return nil, errors.New("esp: SA protocol not set")
	}
	// RFC 4303 §3.3.3: the counter must never cycle; with ESN the space is 2^64.
	sa.seqMax = 1<<32 - 1
	if cfg.ESN {
		sa.seqMax = 1<<64 - 1
	}
	sa.seqSoft = sa.seqMax - sa.seqMax/16 // leave the rekey room to finish
	if cfg.Dir == Inbound {
		sa.replay = NewWindow(cfg.Replay)
	}
	return sa, nil
}

// SPI returns the SA's security parameter index.
func (sa *SA) SPI() uint32 { return sa.cfg.SPI }

// Config returns the SA's configuration (keys included: never log it whole).
func (sa *SA) Config() *Config { return &sa.cfg }

// Created is when the SA was installed.
func (sa *SA) Created() time.Time { return sa.created }

// Seq is the last outbound sequence number used (outbound) or the highest accepted (inbound).
func (sa *SA) Seq() uint64 {
	if sa.cfg.Dir == Inbound {
		sa.replayMu.Lock()
		defer sa.replayMu.Unlock()
		return sa.replay.Top()
	}
	return sa.seq.Load()
}

// Overhead returns the bytes ESP/AH adds in front of and behind an inner packet at most,
// for MTU computation (outer IP/UDP headers not included).
func (sa *SA) Overhead() (head, tail int) {
	if sa.cfg.Proto == AH {
		return ahLen(sa.integ.ICVSize(), true), 0
	}
	return sa.hdrLen, sa.cipher.BlockSize() - 1 + 2 + sa.cipher.Tailroom()
}

// Algorithms names the SA's transforms for status output.
func (sa *SA) Algorithms() string {
	switch {
	case sa.cfg.Proto == AH:
		return sa.cfg.Integ.Name
	case sa.cfg.Integ == nil:
		return sa.cfg.Enc.Name
	}
	return sa.cfg.Enc.Name + "-" + sa.cfg.Integ.Name
}

// Soft reports whether a soft limit was crossed; Expired whether a hard one was.
func (sa *SA) Soft() bool    { return sa.soft.Load() }
func (sa *SA) Expired() bool { return sa.expired.Load() }

// Expire marks the SA dead (hard lifetime reached or deleted); it refuses traffic from now on.
func (sa *SA) Expire() { sa.expired.Store(true) }

// Retired reports whether the SA was taken out of service; Wiped whether its keys are gone.
func (sa *SA) Retired() bool { return sa.retired.Load() }
func (sa *SA) Wiped() bool   { return sa.wiped.Load() }

// Close takes the SA out of service. An SA installed in a data plane is retired there (its
// keys are wiped once no batch in flight can use them); a standalone SA is wiped at once, so
// its owner must not be using it concurrently.
func (sa *SA) Close() {
	if sa.owner != nil {
		sa.owner.Retire(sa)
		return
	}
	sa.retired.Store(true)
	sa.wipe()
}

// wipe expires the SA and wipes its keys.
func (sa *SA) wipe() {
	if sa.wiped.Swap(true) {
		return
	}
	sa.Expire()
	if sa.cipher != nil {
		sa.cipher.Close()
	}
	if sa.integ != nil {
		sa.integ.Close()
	}
	ocrypto.Wipe(sa.cfg.EncKey)
	ocrypto.Wipe(sa.cfg.IntegKey)
}

// reserve takes n consecutive sequence numbers, returning the first (RFC 4303 §3.3.3).
func (sa *SA) reserve(n int) (uint64, error) {
	if n == 0 {
		return 0, nil
	}
	last := sa.seq.Add(uint64(n))
	if last > sa.seqMax || last < uint64(n) {
		sa.hardExpire()
		return 0, ErrSeqOverflow
	}
	if last >= sa.seqSoft {
		sa.softExpire()
	}
	return last - uint64(n) + 1, nil
}

// account adds traffic to the lifetime counters and checks the limits (RFC 4301 §4.4.2.1).
// It reports false when the SA had already reached a hard limit before this traffic, which
// the caller then must not send (outbound accounts before sealing, so no packet beyond the
// hard limit is ever protected; inbound accounts what it verified).
func (sa *SA) account(packets, bytes uint64) bool {
	p := sa.Stats.Packets.Add(packets)
	b := sa.Stats.Bytes.Add(bytes)
	l := &sa.cfg.Life
	hardB := l.HardBytes != 0 && b-bytes >= l.HardBytes
	hardP := l.HardPackets != 0 && p-packets >= l.HardPackets
	if hardB || hardP {
		sa.Stats.Packets.Add(-packets)
		sa.Stats.Bytes.Add(-bytes)
		sa.hardExpire()
		return false
	}
	if l.HardBytes != 0 && b >= l.HardBytes || l.HardPackets != 0 && p >= l.HardPackets {
		sa.hardExpire()
	}
	if l.SoftBytes != 0 && b >= l.SoftBytes || l.SoftPackets != 0 && p >= l.SoftPackets {
		sa.softExpire()
	}
	return true
}

// softExpire marks a soft limit crossed and tells the key manager once (a rekey is due).
func (sa *SA) softExpire() {
	if sa.soft.CompareAndSwap(false, true) {
		sa.signal(EventSoft)
	}
}

// hardExpire marks the SA dead by a hard limit and tells the key manager once.
func (sa *SA) hardExpire() {
	sa.expired.Store(true)
	sa.signal(EventHard)
}

// policyOK checks an inbound inner packet against the SA's selectors (RFC 4301 §5.2 step 4).
func (sa *SA) policyOK(pkt []byte) bool {
	if len(sa.cfg.Remote) == 0 && len(sa.cfg.Local) == 0 {
		return true
	}
	f, ok := ParseFlow(pkt)
	if !ok {
		return false
	}
	return MatchAny(sa.cfg.Remote, f.Src, f.Proto, f.SrcPort, f.HasPorts) &&
		MatchAny(sa.cfg.Local, f.Dst, f.Proto, f.DstPort, f.HasPorts)
}

// OutboundMatches reports whether an outbound packet's flow falls inside the SA's selectors.
func (sa *SA) OutboundMatches(f *Flow) bool {
	return MatchAny(sa.cfg.Local, f.Src, f.Proto, f.SrcPort, f.HasPorts) &&
		MatchAny(sa.cfg.Remote, f.Dst, f.Proto, f.DstPort, f.HasPorts)
}
