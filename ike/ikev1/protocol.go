package ikev1

// The IKEv1 protocol on the shared core: its ISAKMP SA tables, routing of datagrams by
// cookies (RFC 2408 §5), first messages, and the randomness the protocol draws. Not safe for
// concurrent use: the core's goroutine owns it.

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// saKey names an ISAKMP SA by its cookie pair.
type saKey struct{ i, r isakmp.Cookie }

// firstKey names a responder's half-open SA by what its first message carried, so a
// retransmitted MM1/AM1 finds it.
type firstKey struct {
	i    isakmp.Cookie
	from netip.AddrPort
}

// testHooks replace sources of randomness in replay tests (nil fields: use the core's).
type testHooks struct {
	cookie func() isakmp.Cookie
	nonce  func() []byte
	mid    func() uint32
	dh     func(group uint16) (keyExchange, error)
	// fakeNATD, when set, replaces the random bytes of a faked NAT-D hash.
	fakeNATD func(n int) []byte
}

// Protocol is IKEv1 (RFC 2407, 2408, 2409) for the core. Create it with New and pass it to
// core.New, which attaches it.
type Protocol struct {
	*core.Core
	hooks testHooks

	sas        map[saKey]*ikeSA
	initiating map[isakmp.Cookie]*ikeSA // our initiator SAs by CKY-I
	firsts     map[firstKey]*ikeSA
	reasm      reassembler // IKEv1 fragments being reassembled (frag.go)
}

// New returns the IKEv1 protocol, to be attached to a core.
func New() *Protocol {
	return &Protocol{sas: map[saKey]*ikeSA{}, initiating: map[isakmp.Cookie]*ikeSA{}, firsts: map[firstKey]*ikeSA{}}
}

// Version is 1.
func (c *Protocol) Version() uint8 { return 1 }

// Attach keeps the core.
func (c *Protocol) Attach(cr *core.Core) { c.Core = cr }

// SplitsSelectors: a Quick Mode carries one pair of identities (RFC 2409 §5.5).
func (c *Protocol) SplitsSelectors() bool { return true }

// inbound is one received message with what the core learned about it.
type inbound struct {
	*core.Datagram
	msg *isakmp.Message
}

// Randomness. Every value the protocol draws comes from the core's source (or a test hook).

func (c *Protocol) newCookie() isakmp.Cookie {
	if c.hooks.cookie != nil {
		return c.hooks.cookie()
	}
	for {
		var ck isakmp.Cookie
		copy(ck[:], c.RandBytes(8))
		if !ck.IsZero() && c.initiating[ck] == nil {
			return ck
		}
	}
}

func (c *Protocol) newNonce() []byte {
	if c.hooks.nonce != nil {
		return c.hooks.nonce()
	}
	return c.RandBytes(nonceLen)
}

func (c *Protocol) newMID(sa *ikeSA) uint32 {
	if c.hooks.mid != nil {
		return c.hooks.mid()
	}
	for {
		m := binary.BigEndian.Uint32(c.RandBytes(4))
		if m != 0 && sa.qms[m] == nil && !sa.seenMID(m) {
			return m
		}
	}
}

func (c *Protocol) newDH(group uint16) (keyExchange, error) {
	if c.hooks.dh != nil {
		return c.hooks.dh(group)
	}
	return crypto.NewDH(group, c.Rand)
}

// HandleDatagram is the entry point for every IKEv1 message (RFC 2408 §5: the checks of
// §5.1–5.2 happen in the decoder; routing by cookies here).
func (c *Protocol) HandleDatagram(now time.Time, d *core.Datagram) {
	m, err := isakmp.DecodeMessage(d.Raw)
	if err != nil {
		c.Ctr.Inc(core.CtrMalformed)
		c.Log.Debug("dropping undecodable IKE message", zap.Stringer("from", d.From), zap.Error(err))
		return
	}
	in := &inbound{Datagram: d, msg: m}
	if m.Header.NextPayload == isakmp.PayloadFragment {
		whole := c.handleFragment(now, in)
		if whole == nil {
			return
		}
		if m, err = isakmp.DecodeMessage(whole.Raw); err != nil {
			c.Ctr.Inc(core.CtrMalformed)
			c.Log.Debug("dropping undecodable reassembled IKE message", zap.Stringer("from", d.From), zap.Error(err))
			return
		}
		in = &inbound{Datagram: whole, msg: m}
	}
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
		c.Ctr.Inc(core.CtrInvalidCookie)
		c.Log.Debug("message for an unknown ISAKMP SA", zap.Stringer("from", d.From),
			zap.Stringer("icookie", h.InitiatorCookie), zap.Stringer("rcookie", h.ResponderCookie),
			zap.Stringer("exchange", h.ExchangeType))
		return
	}
	sa.handle(now, in)
}

// handleFirst handles a message with a zero responder cookie: a new Main or Aggressive
// Mode from a peer (or its retransmission), or an unprotected notification a responder
// sent before it had a cookie.
func (c *Protocol) handleFirst(now time.Time, in *inbound) {
	h := &in.msg.Header
	if sa := c.firsts[firstKey{h.InitiatorCookie, in.From}]; sa != nil {
		sa.handle(now, in)
		return
	}
	if sa := c.initiating[h.InitiatorCookie]; sa != nil {
		// Only a refusal may come back without a responder cookie; anything else (our own
		// first message reflected back, say) is dropped.
		if h.ExchangeType == isakmp.ExchangeInformational && !h.Flags.Has(isakmp.FlagEncryption) {
			sa.handle(now, in)
		} else {
			c.Ctr.Inc(core.CtrUnexpected)
		}
		return
	}
	switch h.ExchangeType {
	case isakmp.ExchangeMainMode, isakmp.ExchangeAggressive:
	default:
		c.Ctr.Inc(core.CtrInvalidCookie)
		return
	}
	if h.Flags.Has(isakmp.FlagEncryption) || h.MessageID != 0 {
		c.Ctr.Inc(core.CtrMalformed)
		return
	}
	// RFC 2408 §2.5.3 / RFC 2409 §5: the state an unauthenticated peer can make us keep is
	// bounded (the core's half-open table).
	sa := newResponderSA(c, in)
	ho, ok := c.AdmitHalfOpen(now, in.From.Addr(), sa.halfOpenExpired)
	if !ok {
		c.Log.Debug("half-open limit for this source reached, dropping first message", zap.Stringer("from", in.From))
		return
	}
	sa.HalfOpen = ho
	c.firsts[sa.first] = sa
	c.sas[saKey{sa.ckyI, sa.ckyR}] = sa
	sa.handle(now, in)
}

// forgetSA removes an ISAKMP SA from every index.
func (c *Protocol) forgetSA(sa *ikeSA) {
	if c.sas[saKey{sa.ckyI, sa.ckyR}] == sa {
		delete(c.sas, saKey{sa.ckyI, sa.ckyR})
	}
	if c.initiating[sa.ckyI] == sa {
		delete(c.initiating, sa.ckyI)
	}
	if sa.first.from.IsValid() && c.firsts[sa.first] == sa {
		delete(c.firsts, sa.first)
	}
}

// Initiate starts Main or Aggressive Mode towards a connection's peer.
func (c *Protocol) Initiate(now time.Time, cs *core.Conn, replaces core.IKESA) (core.IKESA, error) {
	sa := newInitiatorSA(c, cs, now)
	sa.ReplacesSA = replaces
	var err error
	if cs.Cfg.Aggressive {
		err = sa.startAggressive(now)
	} else {
		err = sa.startMainMode(now)
	}
	if err != nil {
		sa.destroy(now, false, err)
		return nil, err
	}
	return sa, nil
}

// SAs returns every ISAKMP SA, deduplicated.
func (c *Protocol) SAs() []core.IKESA {
	seen := map[*ikeSA]bool{}
	var out []core.IKESA
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
	for _, cs := range c.Conns() {
		for _, sa := range cs.IKEs() {
			if s, ok := sa.(*ikeSA); ok {
				add(s)
			}
		}
	}
	return out
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

func equalBytes(a, b []byte) bool { return bytes.Equal(a, b) }
