package ikev2

// Sending RFC 7383 fragments. Support is announced with IKEV2_FRAGMENTATION_SUPPORTED in
// IKE_SA_INIT (§2.3: the initiator unless fragmentation = "no", the responder only in
// answer to the initiator's); once both sent it, a protected message (never IKE_SA_INIT,
// §2.5) too large for one datagram of fragDatagram bytes goes as SKF fragments, each
// sealed separately (wire.EncodeFragments). A retransmission resends every fragment of the
// first transmission (§2.6: the same fragments, so the peer completes from either try),
// and so does an answer from the reply cache. The peer's fragments are reassembled
// whatever the setting (messages.go), as strongSwan does.
//
// fragmentation (CONFIG.md), with strongSwan's meanings:
//
//	yes     announce support; fragment what is too large if the peer announced it too
//	accept  announce support; never fragment
//	force   IKEv1 only; with IKEv2 the same as yes (config warns)
//	no      do not announce support; never fragment

import (
	"net/netip"
	"time"

	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// fragDatagram is the largest IP datagram of an IKE message or fragment we send
// (strongSwan's fragment_size default, 1280: the IPv6 minimum MTU, for both families).
const fragDatagram = 1280

// fragState is what RFC 7383 negotiated and what we sent last in fragments.
type fragState struct {
	peer bool     // the peer announced IKEV2_FRAGMENTATION_SUPPORTED
	out  [][]byte // the datagrams of the request being retransmitted
}

// fragMode is the connection's fragmentation setting ("yes" until one is known).
func (sa *ikeSA) fragMode() string {
	if cfg := sa.cfg(); cfg != nil {
		return cfg.FragmentationOf()
	}
	return "yes"
}

// fragNotify is IKEV2_FRAGMENTATION_SUPPORTED for our IKE_SA_INIT message, or nil: the
// initiator announces unless fragmentation = "no", the responder only if the initiator did
// (RFC 7383 §2.3).
func (sa *ikeSA) fragNotify() []wire.Payload {
	if sa.fragMode() == "no" || !sa.Initiator && !sa.frag.peer {
		return nil
	}
	return []wire.Payload{wire.NewNotify(wire.NotifyIKEv2FragmentationSupported, nil)}
}

// peerFragNotify records whether the peer's IKE_SA_INIT message announced fragmentation.
func (sa *ikeSA) peerFragNotify(c *wire.Chain) {
	for _, n := range c.Notifies() {
		if n.NotifyType == wire.NotifyIKEv2FragmentationSupported {
			sa.frag.peer = true
		}
	}
}

// fragmenting reports whether we send oversized messages in fragments: both announced
// support and ours is not "accept" (nor "no", which announced nothing).
func (sa *ikeSA) fragmenting() bool {
	if !sa.frag.peer {
		return false
	}
	m := sa.fragMode()
	return m == "yes" || m == "force"
}

// fragLimit is the largest IKE message sent whole to the peer: fragDatagram less the IP and
// UDP headers and, on the NAT-T port, the non-ESP marker.
func fragLimit(to netip.AddrPort, natt bool) int {
	n := fragDatagram - 8 - 20
	if !to.Addr().Unmap().Is4() {
		n = fragDatagram - 8 - 40
	}
	if natt {
		n -= 4
	}
	return n
}

// seal encodes a protected message of this SA: one datagram, or its SKF fragments when it
// is too large and fragmentation was negotiated.
func (sa *ikeSA) seal(exch wire.ExchangeType, mid uint32, response bool, payloads []wire.Payload, to netip.AddrPort, natt bool) ([][]byte, error) {
	raw, err := sa.encode(exch, mid, response, payloads)
	if err != nil {
		return nil, err
	}
	limit := fragLimit(to, natt)
	if len(raw) <= limit || !sa.fragmenting() {
		return [][]byte{raw}, nil
	}
	h := wire.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: exch, MessageID: mid}
	if sa.Initiator {
		h.Flags |= wire.FlagInitiator
	}
	if response {
		h.Flags |= wire.FlagResponse
	}
	frags, err := wire.EncodeFragments(h, payloads, sa.keys.out, limit)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(frags))
	for i, f := range frags {
		out[i] = f.Raw
	}
	return out, nil
}

// sendAll sends the datagrams of one message (its fragments counted).
func (sa *ikeSA) sendAll(msgs [][]byte, local netip.Addr, to netip.AddrPort, natt bool) {
	for _, m := range msgs {
		if len(msgs) > 1 {
			sa.p.Ctr.Inc(core.CtrFragmentsOut)
		}
		sa.p.Send(m, local, to, natt)
	}
}

// startRequest sends a request's datagrams and arms their retransmission.
func (sa *ikeSA) startRequest(now time.Time, what string, msgs [][]byte) {
	sa.frag.out = msgs
	sa.retrans.Start(now, what, msgs[0])
}

// transmit is the retransmitter's Transmit: the request's fragments when it was
// fragmented (all of them on each try), else the one message.
func (sa *ikeSA) transmit(msg []byte, local netip.Addr, to netip.AddrPort, natt bool) {
	if len(sa.frag.out) > 1 && len(msg) > 0 && &sa.frag.out[0][0] == &msg[0] {
		sa.sendAll(sa.frag.out, local, to, natt)
		return
	}
	sa.p.Send(msg, local, to, natt)
}
