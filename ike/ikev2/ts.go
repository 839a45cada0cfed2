package ikev2

// Traffic selectors (RFC 7296 §2.9, §3.13): our configured selectors as TSi/TSr, the
// responder's narrowing to the intersection of what the initiator proposed and what it is
// configured for, the initiator's check that the answer lies within its proposal, and the
// conversion to the data plane's selectors (a prefix, protocol and port range each: an
// address range that is not one prefix becomes several).

import (
	"net/netip"

	"oakley/esp"
	"oakley/ike/ikev2/wire"
)

// maxSelectors bounds the selectors one child may carry after conversion (a peer's ranges
// could otherwise split into thousands of prefixes).
const maxSelectors = 64

// toTS turns configured selectors into traffic selectors.
func toTS(sels []esp.Selector) []wire.TrafficSelector {
	var out []wire.TrafficSelector
	for _, s := range sels {
		ts := wire.TSFromPrefix(s.Prefix)
		ts.Protocol, ts.StartPort, ts.EndPort = s.Proto, s.PortLo, s.PortHi
		out = append(out, ts)
	}
	return out
}

// hostTS is the selector of one address (transport mode without configured selectors).
func hostTS(a netip.Addr) wire.TrafficSelector {
	a = a.Unmap()
	return wire.TSFromPrefix(netip.PrefixFrom(a, a.BitLen()))
}

// toSelectors turns traffic selectors into the data plane's, splitting ranges into
// prefixes. Selectors of other types are skipped; OPAQUE ports cannot be expressed.
func toSelectors(tss []wire.TrafficSelector) ([]esp.Selector, bool) {
	var out []esp.Selector
	for _, ts := range tss {
		if !ts.AddrRange() || ts.Opaque() {
			continue
		}
		for _, p := range ts.Prefixes() {
			out = append(out, esp.Selector{Prefix: p, Proto: ts.Protocol, PortLo: ts.StartPort, PortHi: ts.EndPort})
			if len(out) > maxSelectors {
				return nil, false
			}
		}
	}
	return out, len(out) > 0
}

// intersect is the overlap of two selectors (same type, address range, protocol with 0 =
// any, port range), if any.
func intersect(a, b wire.TrafficSelector) (wire.TrafficSelector, bool) {
	if !a.AddrRange() || !b.AddrRange() || a.TSType != b.TSType || a.Opaque() || b.Opaque() {
		return wire.TrafficSelector{}, false
	}
	r := a
	if b.Start.Compare(r.Start) > 0 {
		r.Start = b.Start
	}
	if b.End.Compare(r.End) < 0 {
		r.End = b.End
	}
	if r.Start.Compare(r.End) > 0 {
		return wire.TrafficSelector{}, false
	}
	switch {
	case a.Protocol == 0:
		r.Protocol = b.Protocol
	case b.Protocol != 0 && b.Protocol != a.Protocol:
		return wire.TrafficSelector{}, false
	}
	r.StartPort, r.EndPort = max(a.StartPort, b.StartPort), min(a.EndPort, b.EndPort)
	if r.StartPort > r.EndPort {
		return wire.TrafficSelector{}, false
	}
	return r, true
}

// within reports whether a lies inside b.
func within(a, b wire.TrafficSelector) bool {
	r, ok := intersect(a, b)
	return ok && r.Start == a.Start && r.End == a.End && r.Protocol == a.Protocol && r.StartPort == a.StartPort && r.EndPort == a.EndPort
}

// narrow is the responder's narrowing (§2.9): every overlap of a proposed selector with a
// configured one, without selectors another one already covers.
func narrow(proposed, ours []wire.TrafficSelector) []wire.TrafficSelector {
	var out []wire.TrafficSelector
	for _, p := range proposed {
		for _, o := range ours {
			if r, ok := intersect(p, o); ok {
				out = append(out, r)
			}
		}
	}
	var kept []wire.TrafficSelector
	for i, r := range out {
		covered := false
		for j, s := range out {
			if i != j && within(r, s) && (!within(s, r) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			kept = append(kept, r)
		}
	}
	return kept
}

// allWithin reports whether every selector of got lies inside one of offered (the
// initiator's check of a narrowed answer).
func allWithin(got, offered []wire.TrafficSelector) bool {
	if len(got) == 0 {
		return false
	}
	for _, g := range got {
		ok := false
		for _, o := range offered {
			if within(g, o) {
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

func tsString(tss []wire.TrafficSelector) string {
	s := ""
	for i, t := range tss {
		if i > 0 {
			s += ","
		}
		s += t.String()
	}
	return s
}
