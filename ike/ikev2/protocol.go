package ikev2

// The IKEv2 protocol on the shared core: its IKE SA tables, the routing of datagrams by
// SPIs (RFC 7296 §2.2: each side finds the SA by the SPI it chose), and the randomness the
// protocol draws. Not safe for concurrent use: the core's goroutine owns it.

import (
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// keyExchange is one side of a Diffie-Hellman exchange (*crypto.DH; tests inject recorded
// values).
type keyExchange interface {
	Group() uint16
	Public() []byte
	SharedSecret(peer []byte) (crypto.Key, error)
	Wipe()
}

// testHooks replace sources of randomness in known-answer tests (nil fields: the core's).
type testHooks struct {
	spi   func() wire.SPI
	nonce func() []byte
	dh    func(group uint16) (keyExchange, error)
	// noSigHash: do not announce SIGNATURE_HASH_ALGORITHMS (a pre-RFC 7427 peer).
	noSigHash bool
	// localAddrs and routeFrom replace the host's addresses and routing lookup (MOBIKE).
	localAddrs func() []netip.Addr
	routeFrom  func(remote netip.Addr) netip.Addr
}

// firstKey names a responder's half-open SA by what its IKE_SA_INIT request carried, so a
// retransmitted request finds it (RFC 7296 §2.1: the responder answers it again).
type firstKey struct {
	spii wire.SPI
	from netip.AddrPort
}

// Protocol is IKEv2 (RFC 7296) for the core. Create it with New and pass it to core.New,
// which attaches it.
type Protocol struct {
	*core.Core
	hooks testHooks

	sas     map[wire.SPI]*ikeSA // every IKE SA by the SPI we chose
	firsts  map[firstKey]*ikeSA // responder SAs by their IKE_SA_INIT request
	cookies cookieSecrets
	// unknownSPI rate-limits INVALID_IKE_SPI answers (unknown.go).
	unknownSPI tokenBucket
}

// New returns the IKEv2 protocol, to be attached to a core.
func New() *Protocol {
	return &Protocol{sas: map[wire.SPI]*ikeSA{}, firsts: map[firstKey]*ikeSA{}}
}

// Version is 2.
func (p *Protocol) Version() uint8 { return 2 }

// Attach keeps the core.
func (p *Protocol) Attach(c *core.Core) { p.Core = c }

// SplitsSelectors: an IKEv2 child carries all its selectors in one SA pair (RFC 7296 §2.9).
func (p *Protocol) SplitsSelectors() bool { return false }

// Randomness. Every value the protocol draws comes from the core's source (or a test hook).

func (p *Protocol) newSPI() wire.SPI {
	if p.hooks.spi != nil {
		return p.hooks.spi()
	}
	for {
		var s wire.SPI
		copy(s[:], p.RandBytes(8))
		if !s.IsZero() && p.sas[s] == nil {
			return s
		}
	}
}

func (p *Protocol) newNonce() []byte {
	if p.hooks.nonce != nil {
		return p.hooks.nonce()
	}
	return p.RandBytes(nonceLen)
}

func (p *Protocol) newDH(group uint16) (keyExchange, error) {
	if p.hooks.dh != nil {
		return p.hooks.dh(group)
	}
	return crypto.NewDH(group, p.Rand)
}

// HandleDatagram is the entry point for every IKEv2 message: IKE_SA_INIT requests start
// responder SAs; everything else goes to the SA whose SPI we chose (RFC 7296 §2.2, §3.1:
// the I flag says whether the sender is the original initiator, and so which SPI is ours).
func (p *Protocol) HandleDatagram(now time.Time, d *core.Datagram) {
	h, err := wire.DecodeHeader(d.Raw)
	if err != nil {
		p.Ctr.Inc(core.CtrMalformed)
		p.Log.Debug("dropping undecodable IKEv2 message", zap.Stringer("from", d.From), zap.Error(err))
		return
	}
	if h.Exchange == wire.ExchangeIKESAInit && !h.IsResponse() && h.SPIr.IsZero() {
		p.handleInitRequest(now, d, h)
		return
	}
	ours := h.SPIi
	if h.FromInitiator() {
		ours = h.SPIr
	}
	sa := p.sas[ours]
	if sa == nil || sa.spiI != h.SPIi || (!sa.spiR.IsZero() && sa.spiR != h.SPIr) {
		p.Ctr.Inc(core.CtrInvalidCookie)
		p.Log.Debug("message for an unknown IKE SA", zap.Stringer("from", d.From),
			zap.Stringer("spi_i", h.SPIi), zap.Stringer("spi_r", h.SPIr), zap.Stringer("exchange", h.Exchange))
		p.answerUnknownSPI(now, d, h)
		return
	}
	sa.handle(now, d, h)
}

// Initiate starts IKE_SA_INIT towards a connection's peer (core.Protocol).
func (p *Protocol) Initiate(now time.Time, cs *core.Conn, replaces core.IKESA) (core.IKESA, error) {
	sa := newInitiatorSA(p, cs, now)
	sa.ReplacesSA = replaces
	if err := sa.startInit(now); err != nil {
		sa.destroy(now, false, err)
		return nil, err
	}
	return sa, nil
}

// SAs returns every IKE SA the protocol holds (core.Protocol).
func (p *Protocol) SAs() []core.IKESA {
	var out []core.IKESA
	for _, sa := range p.sas {
		if sa.state != stDead && sa.state != stDeleting {
			out = append(out, sa)
		}
	}
	return out
}

// register indexes an SA by the SPI we chose.
func (p *Protocol) register(sa *ikeSA) { p.sas[sa.ourSPI()] = sa }

// forget removes an SA from every index.
func (p *Protocol) forget(sa *ikeSA) {
	if p.sas[sa.ourSPI()] == sa {
		delete(p.sas, sa.ourSPI())
	}
	if sa.first.from.IsValid() && p.firsts[sa.first] == sa {
		delete(p.firsts, sa.first)
	}
}
