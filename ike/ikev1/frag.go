package ikev1

// IKEv1 fragmentation: the Cisco vendor-ID extension strongSwan implements (payload 132,
// isakmp.Fragment). A message too large for the path (certificate chains) is sent as
// several datagrams, each an ISAKMP header (the SA's cookies, Message ID 0, the Phase 1
// exchange type, no E flag) and one FRAG payload carrying a slice of the whole encoded
// message; the receiver concatenates the slices in order and processes the result as if it
// had arrived whole. Nothing about fragments is authenticated, so reassembly is bounded
// (fragments per message, bytes, reassemblies in all and per source, time) and counted.
//
// fragmentation (CONFIG.md), with strongSwan's meanings:
//
//	yes     announce support; fragment what is too large if the peer announced it too
//	accept  announce support; never fragment
//	force   announce support; fragment what is too large, even the first message, even if
//	        the peer did not announce support
//	no      do not announce support; never fragment
//
// Fragmented messages from a peer are reassembled whatever the setting, as strongSwan does
// ("fragmented IKE messages sent by a peer are always accepted").

import (
	"crypto/sha256"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// Sizes and bounds.
const (
	// fragDatagram is the largest IP datagram we send whole (strongSwan's fragment_size).
	fragDatagram = 1280
	// fragOverhead is the ISAKMP header plus the FRAG payload's headers.
	fragOverhead = isakmp.HeaderLen + 8

	maxFragments       = 32               // fragments of one message
	maxReassembled     = 32 << 10         // bytes of one reassembled message
	maxReassemblies    = 64               // incomplete reassemblies in all
	maxReassembliesSrc = 8                // incomplete reassemblies per source address
	reassemblyTimeout  = 15 * time.Second // an incomplete reassembly is dropped after this
)

// fragState is what we split last, so that a retransmission sends the same fragments
// (with the same Fragment ID, which lets the peer complete from both tries).
type fragState struct {
	nextID uint16
	msg    []byte
	frags  [][]byte
}

// fragMode is the connection's fragmentation setting ("yes" until one is known).
func (sa *ikeSA) fragMode() string {
	if sa.Conn == nil {
		return "yes"
	}
	return sa.Conn.Cfg.FragmentationOf()
}

// announcesFragmentation reports whether we send the FRAGMENTATION vendor ID: an initiator
// unless fragmentation = "no", a responder only in answer to the peer's.
func (sa *ikeSA) announcesFragmentation() bool {
	if sa.fragMode() == "no" {
		return false
	}
	return sa.Initiator || sa.ext.frag
}

// fragLimit is the largest IKE message sent whole to a peer: fragDatagram less the IP and
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

// shouldFragment applies the setting to a message of n bytes.
func (sa *ikeSA) shouldFragment(n int, to netip.AddrPort, natt bool) bool {
	if n <= fragLimit(to, natt) {
		return false
	}
	switch sa.fragMode() {
	case "force":
		return true
	case "yes":
		return sa.ext.frag
	}
	return false
}

// transmit sends a message of this SA, in fragments when the setting and its size say so.
// It is the retransmitter's Transmit too.
func (sa *ikeSA) transmit(msg []byte, local netip.Addr, to netip.AddrPort, natt bool) {
	if !sa.shouldFragment(len(msg), to, natt) {
		sa.out(msg, local, to, natt)
		return
	}
	frags := sa.fragments(msg, fragLimit(to, natt))
	if frags == nil {
		sa.out(msg, local, to, natt)
		return
	}
	for _, f := range frags {
		sa.c.Ctr.Inc(core.CtrFragmentsOut)
		sa.out(f, local, to, natt)
	}
}

// fragments splits msg into datagrams of at most limit bytes (nil if it cannot be split).
func (sa *ikeSA) fragments(msg []byte, limit int) [][]byte {
	if sa.frag.msg != nil && len(sa.frag.msg) == len(msg) && &sa.frag.msg[0] == &msg[0] {
		return sa.frag.frags
	}
	h, err := isakmp.DecodeHeader(msg)
	if err != nil {
		return nil
	}
	size := limit - fragOverhead
	n := (len(msg) + size - 1) / size
	if size <= 0 || n > 255 {
		return nil
	}
	sa.frag.nextID++
	if sa.frag.nextID == 0 {
		sa.frag.nextID = 1
	}
	exch := isakmp.ExchangeMainMode
	if sa.aggressive {
		exch = isakmp.ExchangeAggressive
	}
	fh := isakmp.Header{InitiatorCookie: h.InitiatorCookie, ResponderCookie: h.ResponderCookie, ExchangeType: exch}
	var out [][]byte
	for i := 0; i < n; i++ {
		part := msg[i*size : min(len(msg), (i+1)*size)]
		f := &isakmp.Fragment{ID: sa.frag.nextID, Number: uint8(i + 1), Data: part}
		if i == n-1 {
			f.Flags = isakmp.FragmentLast
		}
		m, err := isakmp.EncodeMessage(fh, []isakmp.Payload{f})
		if err != nil {
			return nil
		}
		out = append(out, m.Raw)
	}
	sa.frag.msg, sa.frag.frags = msg, out
	sa.Log.Debug("sending a message in fragments", zap.Int("bytes", len(msg)), zap.Int("fragments", n))
	return out
}

// reasmKey names one message being reassembled.
type reasmKey struct {
	i, r isakmp.Cookie
	from netip.AddrPort
	id   uint16
}

// reassembly is one message being reassembled.
type reassembly struct {
	started time.Time
	parts   [maxFragments + 1][]byte
	have    int
	last    uint8
	bytes   int
}

// reassembler holds the incomplete reassemblies. Owned by the core's goroutine.
type reassembler struct {
	m     map[reasmKey]*reassembly
	bySrc map[netip.Addr]int
}

// handleFragment takes one FRAG datagram and, when it completes a message, returns the
// whole message as a new datagram (nil otherwise). Every refusal is counted.
func (c *Protocol) handleFragment(now time.Time, in *inbound) *core.Datagram {
	c.Ctr.Inc(core.CtrFragmentsIn)
	r := &c.reasm
	if r.m == nil {
		r.m, r.bySrc = map[reasmKey]*reassembly{}, map[netip.Addr]int{}
	}
	r.expire(c, now)
	drop := func(why string) *core.Datagram {
		c.Ctr.Inc(core.CtrFragmentsDropped)
		c.Log.Debug("dropping IKE fragment", zap.Stringer("from", in.From), zap.String("why", why))
		return nil
	}
	chain := &in.msg.Chain
	if in.msg.Header.Flags.Has(isakmp.FlagEncryption) {
		// racoon sets the E flag on fragments, which are not encrypted (strongSwan reads
		// them all the same).
		ch, err := isakmp.DecodePayloads(in.msg.Header.NextPayload, in.msg.Encrypted, isakmp.DecodeOptions{})
		if err != nil {
			return drop("undecodable")
		}
		chain = ch
	}
	if len(chain.Payloads) != 1 {
		return drop("a FRAG payload must be alone in its message")
	}
	f, ok := chain.Payloads[0].(*isakmp.Fragment)
	if !ok || f.Number == 0 || int(f.Number) > maxFragments || len(f.Data) == 0 {
		return drop("fragment number out of range or empty")
	}
	h := &in.msg.Header
	key := reasmKey{h.InitiatorCookie, h.ResponderCookie, in.From, f.ID}
	e := r.m[key]
	if e == nil {
		src := in.From.Addr()
		if r.bySrc[src] >= maxReassembliesSrc {
			return drop("too many reassemblies from this source")
		}
		if len(r.m) >= maxReassemblies {
			r.evictOldest(c)
		}
		e = &reassembly{started: now}
		r.m[key] = e
		r.bySrc[src]++
	}
	switch {
	case e.last != 0 && f.Number > e.last:
		return drop("fragment after the last one")
	case f.Last() && e.last != 0 && f.Number != e.last:
		return drop("two last fragments")
	case e.parts[f.Number] != nil:
		return drop("duplicate fragment")
	case f.Last() && e.have > 0 && r.highest(e) > int(f.Number):
		return drop("last fragment before others")
	}
	if e.bytes+len(f.Data) > maxReassembled {
		r.remove(c, key)
		return drop("reassembled message too large")
	}
	e.parts[f.Number] = append([]byte(nil), f.Data...)
	e.have++
	e.bytes += len(f.Data)
	if f.Last() {
		e.last = f.Number
	}
	c.Ctr.Set(core.GaugeReassemblies, uint64(len(r.m)))
	if e.last == 0 || e.have != int(e.last) {
		return nil
	}
	whole := make([]byte, 0, e.bytes)
	for i := 1; i <= int(e.last); i++ {
		whole = append(whole, e.parts[i]...)
	}
	r.remove(c, key)
	wh, err := isakmp.DecodeHeader(whole)
	if err != nil || wh.InitiatorCookie != h.InitiatorCookie || wh.ResponderCookie != h.ResponderCookie || wh.NextPayload == isakmp.PayloadFragment {
		return drop("the reassembled message does not belong to the fragments' SA")
	}
	c.Ctr.Inc(core.CtrFragmentsReassembled)
	c.Log.Debug("reassembled an IKE message", zap.Stringer("from", in.From), zap.Int("bytes", len(whole)), zap.Uint8("fragments", e.last))
	return &core.Datagram{Raw: whole, From: in.From, Local: in.Local, NATT: in.NATT, Hash: sha256.Sum256(whole)}
}

// highest is the largest fragment number received so far.
func (r *reassembler) highest(e *reassembly) int {
	for i := maxFragments; i > 0; i-- {
		if e.parts[i] != nil {
			return i
		}
	}
	return 0
}

// remove forgets a reassembly.
func (r *reassembler) remove(c *Protocol, k reasmKey) {
	if _, ok := r.m[k]; !ok {
		return
	}
	delete(r.m, k)
	src := k.from.Addr()
	if r.bySrc[src]--; r.bySrc[src] <= 0 {
		delete(r.bySrc, src)
	}
	c.Ctr.Set(core.GaugeReassemblies, uint64(len(r.m)))
}

// expire drops reassemblies older than reassemblyTimeout.
func (r *reassembler) expire(c *Protocol, now time.Time) {
	for k, e := range r.m {
		if now.Sub(e.started) > reassemblyTimeout {
			c.Ctr.Inc(core.CtrFragmentsExpired)
			r.remove(c, k)
		}
	}
}

// evictOldest makes room in a full table.
func (r *reassembler) evictOldest(c *Protocol) {
	var oldest reasmKey
	var t time.Time
	for k, e := range r.m {
		if t.IsZero() || e.started.Before(t) {
			oldest, t = k, e.started
		}
	}
	c.Ctr.Inc(core.CtrFragmentsExpired)
	r.remove(c, oldest)
}
