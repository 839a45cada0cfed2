// Package coretest has test doubles for the IKE core: a fake data plane that records what
// the engines install and a deterministic random source. Both are safe for concurrent use.
package coretest

import (
	"testing"
	"time"

	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/netip"
	"sort"
	"sync"

	"oakley/crypto"
	"oakley/ike/core"

	"oakley/esp"
)

// SeededRand is a deterministic random stream (ChaCha8), safe for concurrent use.
type SeededRand struct {
	mu sync.Mutex
	r  *mrand.ChaCha8
}

func NewSeededRand(seed byte) *SeededRand {
	var s [32]byte
	s[0] = seed
	return &SeededRand{r: mrand.NewChaCha8(s)}
}

func (s *SeededRand) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Read(p)
}

// FakeDP is a Dataplane that records what the engine installs. Safe for concurrent use.
type FakeDP struct {
	mu         sync.Mutex
	inbound    map[uint32]*esp.SA
	reserved   map[uint32]bool
	bindings   []*esp.Binding
	policies   []*esp.Policy
	retired    []*esp.SA
	keepalives []netip.AddrPort
	Sent       chan SentMsg // Run-mode tests: messages go here (nil: dropped)
	AddErr     error        // Install fails with it when set
	wake       chan struct{}
	events     []esp.SAEvent
	acquires   []esp.Acquire
}

// SentMsg is one IKE message a FakeDP was asked to send.
type SentMsg struct {
	Msg  []byte
	To   netip.AddrPort
	NATT bool
}

func NewFakeDP() *FakeDP {
	return &FakeDP{inbound: map[uint32]*esp.SA{}, reserved: map[uint32]bool{}, wake: make(chan struct{}, 1)}
}

func (d *FakeDP) SendIKE(msg []byte, local netip.Addr, to netip.AddrPort, natt bool) error {
	if d.Sent != nil {
		d.Sent <- SentMsg{append([]byte(nil), msg...), to, natt}
	}
	return nil
}

func (d *FakeDP) SendKeepalive(local netip.Addr, to netip.AddrPort) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keepalives = append(d.keepalives, to)
	return nil
}

func (d *FakeDP) Install(cfg esp.Config) (*esp.SA, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.AddErr != nil {
		return nil, d.AddErr
	}
	if cfg.Dir == esp.Inbound && d.inbound[cfg.SPI] != nil {
		return nil, fmt.Errorf("SPI %08x in use", cfg.SPI)
	}
	sa, err := esp.NewSA(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Dir == esp.Inbound {
		d.inbound[cfg.SPI] = sa
		delete(d.reserved, cfg.SPI)
	}
	return sa, nil
}

func (d *FakeDP) Bind(p *esp.Policy, sa *esp.SA, peer netip.AddrPort, local netip.Addr, encap esp.Encap, mtu int) error {
	b := &esp.Binding{SA: sa, Peer: peer, Encap: encap, MTU: mtu}
	d.mu.Lock()
	d.bindings = append(d.bindings, b)
	d.mu.Unlock()
	p.SetOutbound(b)
	return nil
}

func (d *FakeDP) Unbind(p *esp.Policy) { p.SetOutbound(nil) }

// Retire forgets the SA. Its keys are wiped, as the real data plane does once no batch in
// flight can use them (nothing is in flight here).
func (d *FakeDP) Retire(sa *esp.SA) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if sa.Config().Dir == esp.Inbound && d.inbound[sa.SPI()] == sa {
		delete(d.inbound, sa.SPI())
	}
	for _, p := range d.policies {
		if b := p.Binding(); b != nil && b.SA == sa {
			p.SetOutbound(nil)
		}
	}
	d.retired = append(d.retired, sa)
	sa.Close()
}

func (d *FakeDP) AddPolicy(p *esp.Policy) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.policies = append(d.policies, p)
}

func (d *FakeDP) RemovePolicy(p *esp.Policy) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, q := range d.policies {
		if q == p {
			d.policies = append(d.policies[:i], d.policies[i+1:]...)
			break
		}
	}
}

// Wake and TakeEvents make the fake an event source (Run-mode tests).
func (d *FakeDP) Wake() <-chan struct{} { return d.wake }

func (d *FakeDP) TakeEvents() esp.Events {
	d.mu.Lock()
	defer d.mu.Unlock()
	ev := esp.Events{SA: d.events, Acquires: d.acquires}
	d.events, d.acquires = nil, nil
	return ev
}

// Signal queues a data-plane event and wakes the engine.
func (d *FakeDP) Signal(e esp.SAEvent) {
	d.mu.Lock()
	d.events = append(d.events, e)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *FakeDP) AllocSPI(r io.Reader) (uint32, error) {
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

func (d *FakeDP) ReleaseSPI(spi uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.reserved, spi)
}

// InboundSPIs lists the installed inbound SPIs.
func (d *FakeDP) InboundSPIs() []uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []uint32
	for s := range d.inbound {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// InboundOf returns the inbound SA installed with spi, or nil.
func (d *FakeDP) InboundOf(spi uint32) *esp.SA {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inbound[spi]
}

// Keepalives lists where NAT keepalives were sent.
func (d *FakeDP) Keepalives() []netip.AddrPort {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]netip.AddrPort(nil), d.keepalives...)
}

// Retired lists the SAs retired so far.
func (d *FakeDP) Retired() []*esp.SA {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*esp.SA(nil), d.retired...)
}

// Policies lists the SPD entries added and not removed.
func (d *FakeDP) Policies() []*esp.Policy {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*esp.Policy(nil), d.policies...)
}

// PSK is the pre-shared key of PairConfig.
var PSK = crypto.Key("a pre-shared key for in-memory tests, long enough")

// MustProposals parses proposals or fails the test.
func MustProposals(t testing.TB, proto crypto.Protocol, insecure bool, texts ...string) []*crypto.Proposal {
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

// Sel is the selector of a prefix.
func Sel(s string) esp.Selector { return esp.SelectorFor(netip.MustParsePrefix(s)) }

// IPA and IPB are the two peers' addresses in PairConfig.
var (
	IPA = netip.MustParseAddr("198.18.0.1")
	IPB = netip.MustParseAddr("198.18.0.2")
)

// PairConfig returns matching IKEv1 connections for A (initiator, start_action = start) and
// B (responder).
func PairConfig(t testing.TB, ike, esps []string) (a, b *core.Connection) {
	a = &core.Connection{Version: 1,
		Name: "ab", LocalAddr: IPA, RemoteAddr: IPB,
		LocalID: core.FQDNIdentity("a.test"), RemoteID: core.FQDNIdentity("b.test"),
		PSK: PSK, Proposals: MustProposals(t, crypto.ProtoIKEv1, true, ike...),
		RekeyTime: 4 * time.Hour, StartAction: "start", Encap: "auto",
		Children: []*core.Child{{
			Name: "net", LocalTS: []esp.Selector{Sel("192.0.2.0/24")}, RemoteTS: []esp.Selector{Sel("198.51.100.0/24")},
			ESPProposals: MustProposals(t, crypto.ProtoESP, true, esps...), RekeyTime: time.Hour,
			ReplayWindow: 64,
		}},
	}
	b = &core.Connection{Version: 1,
		Name: "ba", LocalAddr: IPB, RemoteAddr: netip.Addr{},
		LocalID: core.FQDNIdentity("b.test"), RemoteID: core.FQDNIdentity("a.test"),
		PSK: PSK, Proposals: MustProposals(t, crypto.ProtoIKEv1, true, ike...),
		RekeyTime: 4 * time.Hour, StartAction: "none", Encap: "auto",
		Children: []*core.Child{{
			Name: "net", LocalTS: []esp.Selector{Sel("198.51.100.0/24")}, RemoteTS: []esp.Selector{Sel("192.0.2.0/24")},
			ESPProposals: MustProposals(t, crypto.ProtoESP, true, esps...), RekeyTime: time.Hour,
			ReplayWindow: 64,
		}},
	}
	return a, b
}

// Acquire reports traffic on a policy without an SA, as the data plane does.
func (d *FakeDP) Acquire(p *esp.Policy) {
	d.mu.Lock()
	d.acquires = append(d.acquires, esp.Acquire{Policy: p})
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// StandInDH is a key exchange for fuzz targets: a fixed public value and shared secret,
// refusing a peer value of the wrong length for the group as crypto.DH does first. It
// spares the targets a scalar multiplication or modular exponentiation per exchange;
// crypto's FuzzSharedSecret fuzzes the real checks of a peer's value.
type StandInDH struct {
	G      uint16
	Pub    []byte
	Secret []byte
}

// NewStandInDH returns a StandInDH for group with a public value of the group's length and
// a 32-byte secret.
func NewStandInDH(group uint16) (*StandInDH, error) {
	n := crypto.DHPublicLen(group)
	if n == 0 {
		return nil, fmt.Errorf("%w %d", crypto.ErrUnknownGroup, group)
	}
	pub := make([]byte, n)
	for i := range pub {
		pub[i] = byte(i + 1)
	}
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = 0x5a
	}
	return &StandInDH{G: group, Pub: pub, Secret: secret}, nil
}

func (d *StandInDH) Group() uint16  { return d.G }
func (d *StandInDH) Public() []byte { return append([]byte(nil), d.Pub...) }
func (d *StandInDH) Wipe()          {}

// SharedSecret returns a copy of Secret after the length check.
func (d *StandInDH) SharedSecret(peer []byte) (crypto.Key, error) {
	if want := crypto.DHPublicLen(d.G); len(peer) != want {
		return nil, fmt.Errorf("%w: group %d takes %d bytes, got %d", crypto.ErrInvalidPublic, d.G, want, len(peer))
	}
	return crypto.Key(append([]byte(nil), d.Secret...)), nil
}
