package ikev1

// Traffic selectors as Quick Mode identities (RFC 2409 §5.5: IDci / IDcr; RFC 2407
// §4.6.2: ID_IPV4_ADDR, _SUBNET, _RANGE with protocol and port) and the responder's
// rule that it accepts only what falls inside its configuration.

import (
	"fmt"
	"net/netip"

	"oakley/esp"
	"oakley/ike/isakmp"
)

// selectorID returns the ID payload of a selector: a single address for a full-length
// prefix (as strongSwan sends host selectors), a subnet otherwise; protocol and port as
// configured (port 0 = any).
func selectorID(s esp.Selector) (*isakmp.Identification, error) {
	var (
		id  *isakmp.Identification
		err error
	)
	if s.Prefix.IsSingleIP() {
		id, err = isakmp.IDFromAddr(s.Prefix.Addr())
	} else {
		id, err = isakmp.IDFromPrefix(s.Prefix)
	}
	if err != nil {
		return nil, err
	}
	id.ProtocolID = s.Proto
	if !s.AnyPort() {
		id.Port = s.PortLo
	}
	return id, nil
}

// idSelectors returns the selectors an ID payload names: one prefix for an address or a
// subnet, the covering prefixes of a range (RFC 2407 §4.6.2.7). Non-address IDs are
// ErrInvalidID.
func idSelectors(id *isakmp.Identification) ([]esp.Selector, error) {
	lo, hi, err := id.IPRange()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidID, err)
	}
	sel := esp.Selector{Proto: id.ProtocolID, PortHi: 0xffff}
	if id.Port != 0 {
		sel.PortLo, sel.PortHi = id.Port, id.Port
	}
	var out []esp.Selector
	for _, p := range rangePrefixes(lo, hi) {
		s := sel
		s.Prefix = p
		out = append(out, s)
		if len(out) > 256 {
			return nil, fmt.Errorf("%w: range %v-%v is too fragmented", ErrInvalidID, lo, hi)
		}
	}
	return out, nil
}

// rangePrefixes splits [lo, hi] (lo <= hi, one family) into the fewest prefixes covering
// it exactly.
func rangePrefixes(lo, hi netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for len(out) <= 257 {
		// The largest prefix that starts at lo and ends at or before hi.
		bits := lo.BitLen()
		for bits > 0 {
			p := netip.PrefixFrom(lo, bits-1)
			if p.Masked().Addr() != lo || lastAddr(p).Compare(hi) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(lo, bits)
		out = append(out, p)
		last := lastAddr(p)
		if last.Compare(hi) >= 0 {
			break
		}
		lo = last.Next()
	}
	return out
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// selectorWithin reports whether inner covers no more than outer: a sub-prefix, the same
// protocol unless outer allows all, and ports inside outer's.
func selectorWithin(inner, outer esp.Selector) bool {
	if inner.Prefix.Addr().Is4() != outer.Prefix.Addr().Is4() {
		return false
	}
	if inner.Prefix.Bits() < outer.Prefix.Bits() || !outer.Prefix.Contains(inner.Prefix.Addr()) {
		return false
	}
	if outer.Proto != 0 && inner.Proto != outer.Proto {
		return false
	}
	if outer.AnyPort() {
		return true
	}
	return inner.PortLo >= outer.PortLo && inner.PortHi <= outer.PortHi
}

// allWithin reports whether every selector of inner lies within one of outer's.
func allWithin(inner, outer []esp.Selector) bool {
	if len(inner) == 0 {
		return false
	}
	for _, s := range inner {
		ok := false
		for _, o := range outer {
			if selectorWithin(s, o) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// hostSelector is the selector of one address (a missing ID in Quick Mode means the
// ISAKMP endpoints, RFC 2409 §5.5).
func hostSelector(a netip.Addr) esp.Selector {
	a = a.Unmap()
	return esp.SelectorFor(netip.PrefixFrom(a, a.BitLen()))
}

func selectorsString(s []esp.Selector) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x.String()
	}
	return out
}
