package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// TSType is a TS Type (RFC 7296 §3.13.1; RFC 4595 for Fibre Channel, RFC 9478 for labels).
type TSType uint8

// Traffic selector types.
const (
	TSIPv4AddrRange TSType = 7  // TS_IPV4_ADDR_RANGE
	TSIPv6AddrRange TSType = 8  // TS_IPV6_ADDR_RANGE
	TSFCAddrRange   TSType = 9  // TS_FC_ADDR_RANGE, RFC 4595 (opaque here)
	TSSecLabel      TSType = 10 // TS_SECLABEL, RFC 9478 (opaque here)
)

func (t TSType) String() string {
	switch t {
	case TSIPv4AddrRange:
		return "TS_IPV4_ADDR_RANGE"
	case TSIPv6AddrRange:
		return "TS_IPV6_ADDR_RANGE"
	case TSFCAddrRange:
		return "TS_FC_ADDR_RANGE"
	case TSSecLabel:
		return "TS_SECLABEL"
	}
	return "TS(" + strconv.Itoa(int(t)) + ")"
}

// Selector lengths of the address range types (RFC 7296 §3.13.1).
const (
	tsHeaderLen = 4  // TS Type, IP Protocol ID, Selector Length
	tsIPv4Len   = 16 // + ports (4) + 2 × 4-octet addresses
	tsIPv6Len   = 40 // + ports (4) + 2 × 16-octet addresses
)

// TrafficSelector is one Traffic Selector substructure (RFC 7296 §3.13.1):
//
//	TS Type (1) | IP Protocol ID (1) | Selector Length (2) | Start Port (2) | End Port (2) |
//	Starting Address | Ending Address
//
// For TS_IPV4_ADDR_RANGE and TS_IPV6_ADDR_RANGE the decoder fills Protocol, the ports and the
// addresses and checks Start <= End and StartPort <= EndPort, except the OPAQUE port encoding
// (start 65535, end 0, §3.13.1). Selectors of any other type keep the octet after the type in
// Protocol and everything after the 4-octet header in Data, unparsed: the engine ignores types
// it does not support.
//
// TrafficSelector is plain data: safe for concurrent reads, not for concurrent mutation.
type TrafficSelector struct {
	TSType    TSType
	Protocol  uint8 // IP protocol ID; 0 = any
	StartPort uint16
	EndPort   uint16
	Start     netip.Addr
	End       netip.Addr
	Data      []byte // other TS types only
}

// AddrRange reports whether ts is an IPv4 or IPv6 address range.
func (ts TrafficSelector) AddrRange() bool {
	return ts.TSType == TSIPv4AddrRange || ts.TSType == TSIPv6AddrRange
}

// Opaque reports the OPAQUE port encoding (start 65535, end 0, RFC 7296 §3.13.1).
func (ts TrafficSelector) Opaque() bool { return ts.StartPort == 0xffff && ts.EndPort == 0 }

// AllPorts reports the port range 0..65535.
func (ts TrafficSelector) AllPorts() bool { return ts.StartPort == 0 && ts.EndPort == 0xffff }

// TrafficSelectors is the TSi or TSr payload (RFC 7296 §3.13):
//
//	generic header | Number of TSs (1) | RESERVED (3) | Traffic Selectors
//
// At least one selector; the count must match the selectors, which must fill the payload.
//
// TrafficSelectors is plain data: safe for concurrent reads, not for concurrent mutation.
type TrafficSelectors struct {
	wire
	// Responder selects TSr (true) or TSi (false).
	Responder bool
	Selectors []TrafficSelector
}

// Type returns PayloadTSi or PayloadTSr.
func (t *TrafficSelectors) Type() PayloadType {
	if t.Responder {
		return PayloadTSr
	}
	return PayloadTSi
}

func decodeTS(pt PayloadType, body []byte, off int) (*TrafficSelectors, error) {
	if len(body) < 4 {
		return nil, errAt(pt, off, ErrMalformed, "body of %d bytes cannot hold Number of TSs and RESERVED", len(body))
	}
	count := int(body[0])
	if count == 0 {
		return nil, errAt(pt, off, ErrMalformed, "Number of TSs is 0")
	}
	t := &TrafficSelectors{Responder: pt == PayloadTSr, Selectors: make([]TrafficSelector, 0, min(count, len(body)/tsHeaderLen))}
	pos := 4
	for i := 0; i < count; i++ {
		if len(body)-pos < tsHeaderLen {
			return nil, errAt(pt, off+pos, ErrMalformed, "Number of TSs %d but only %d selectors fit", count, i)
		}
		l := int(binary.BigEndian.Uint16(body[pos+2:]))
		if l < tsHeaderLen || l > len(body)-pos {
			return nil, errAt(pt, off+pos+2, ErrMalformed, "Selector Length %d does not fit the %d bytes left", l, len(body)-pos)
		}
		ts, err := decodeSelector(body[pos:pos+l:pos+l], pt, off+pos)
		if err != nil {
			return nil, err
		}
		t.Selectors = append(t.Selectors, ts)
		pos += l
	}
	if pos != len(body) {
		return nil, errAt(pt, off+pos, ErrTrailingData, "%d bytes after the last traffic selector", len(body)-pos)
	}
	return t, nil
}

func decodeSelector(b []byte, pt PayloadType, off int) (TrafficSelector, error) {
	ts := TrafficSelector{TSType: TSType(b[0]), Protocol: b[1]}
	var alen int
	switch ts.TSType {
	case TSIPv4AddrRange:
		alen = 4
	case TSIPv6AddrRange:
		alen = 16
	default:
		ts.Data = b[tsHeaderLen:]
		return ts, nil
	}
	if len(b) != tsHeaderLen+4+2*alen {
		return TrafficSelector{}, errAt(pt, off+2, ErrMalformed, "%s with Selector Length %d (want %d)", ts.TSType, len(b), tsHeaderLen+4+2*alen)
	}
	ts.StartPort = binary.BigEndian.Uint16(b[4:])
	ts.EndPort = binary.BigEndian.Uint16(b[6:])
	ts.Start, _ = netip.AddrFromSlice(b[8 : 8+alen])
	ts.End, _ = netip.AddrFromSlice(b[8+alen:])
	if err := ts.check(); err != "" {
		return TrafficSelector{}, errAt(pt, off, ErrMalformed, "%s", err)
	}
	return ts, nil
}

// check validates an address range selector; it returns the reason or "".
func (ts TrafficSelector) check() string {
	want4 := ts.TSType == TSIPv4AddrRange
	if !ts.Start.IsValid() || !ts.End.IsValid() || ts.Start.Is4() != want4 || ts.End.Is4() != want4 {
		return fmt.Sprintf("%s with addresses %v and %v", ts.TSType, ts.Start, ts.End)
	}
	if ts.Start.Zone() != "" || ts.End.Zone() != "" {
		return "zoned address"
	}
	if ts.Start.Compare(ts.End) > 0 {
		return fmt.Sprintf("Starting Address %v above Ending Address %v", ts.Start, ts.End)
	}
	if ts.StartPort > ts.EndPort && !ts.Opaque() {
		return fmt.Sprintf("Start Port %d above End Port %d (only 65535..0, OPAQUE, may be)", ts.StartPort, ts.EndPort)
	}
	return ""
}

func (t *TrafficSelectors) appendBody(b []byte) ([]byte, error) {
	if len(t.Selectors) == 0 || len(t.Selectors) > 255 {
		return nil, errEnc(t.Type(), "%d traffic selectors", len(t.Selectors))
	}
	b = append(b, byte(len(t.Selectors)), 0, 0, 0)
	for _, ts := range t.Selectors {
		start := len(b)
		b = append(b, byte(ts.TSType), ts.Protocol, 0, 0)
		if ts.AddrRange() {
			if reason := ts.check(); reason != "" {
				return nil, errEnc(t.Type(), "%s", reason)
			}
			b = binary.BigEndian.AppendUint16(b, ts.StartPort)
			b = binary.BigEndian.AppendUint16(b, ts.EndPort)
			b = append(b, ts.Start.AsSlice()...)
			b = append(b, ts.End.AsSlice()...)
		} else {
			b = append(b, ts.Data...)
		}
		var err error
		if b, err = putLength16(b, start, t.Type()); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// TSFromPrefix returns the selector covering a CIDR prefix, any protocol and port: the form
// of a swanctl local_ts/remote_ts such as "198.51.100.0/24". The prefix is masked and an
// IPv4-mapped address unmapped.
func TSFromPrefix(p netip.Prefix) TrafficSelector {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	p = p.Masked()
	return TrafficSelector{TSType: tsTypeOf(p.Addr()), EndPort: 0xffff, Start: p.Addr(), End: lastAddr(p)}
}

// TSFromRange returns the selector covering start..end (same family, start <= end), any
// protocol and port.
func TSFromRange(start, end netip.Addr) (TrafficSelector, error) {
	start, end = start.Unmap().WithZone(""), end.Unmap().WithZone("")
	ts := TrafficSelector{TSType: tsTypeOf(start), EndPort: 0xffff, Start: start, End: end}
	if reason := ts.check(); reason != "" {
		return TrafficSelector{}, errNoOff(PayloadNone, ErrMalformed, "%s", reason)
	}
	return ts, nil
}

func tsTypeOf(a netip.Addr) TSType {
	if a.Is4() {
		return TSIPv4AddrRange
	}
	return TSIPv6AddrRange
}

// Prefix returns the CIDR prefix the selector's address range is, if it is exactly one.
func (ts TrafficSelector) Prefix() (netip.Prefix, bool) {
	if !ts.AddrRange() || ts.check() != "" {
		return netip.Prefix{}, false
	}
	for bits := 0; bits <= ts.Start.BitLen(); bits++ {
		p := netip.PrefixFrom(ts.Start, bits)
		if p.Masked().Addr() == ts.Start && lastAddr(p) == ts.End {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// Prefixes returns the fewest CIDR prefixes whose union is the selector's address range, in
// address order (at most 2 × the address bit length); nil for a selector that is not a valid
// address range.
func (ts TrafficSelector) Prefixes() []netip.Prefix {
	if !ts.AddrRange() || ts.check() != "" {
		return nil
	}
	var ps []netip.Prefix
	for a := ts.Start; a.IsValid() && a.Compare(ts.End) <= 0; {
		bits := a.BitLen()
		for b := 0; b <= a.BitLen(); b++ {
			p := netip.PrefixFrom(a, b)
			if p.Masked().Addr() == a && lastAddr(p).Compare(ts.End) <= 0 {
				bits = b
				break
			}
		}
		p := netip.PrefixFrom(a, bits)
		ps = append(ps, p)
		a = lastAddr(p).Next() // invalid after the last address: the loop ends
	}
	return ps
}

// Contains reports whether the selector covers addr (family, range) with protocol proto and
// port; proto 0 or a selector protocol of 0 match anything, and so do OPAQUE ports.
func (ts TrafficSelector) Contains(addr netip.Addr, proto uint8, port uint16) bool {
	if !ts.AddrRange() {
		return false
	}
	addr = addr.Unmap()
	if addr.Is4() != (ts.TSType == TSIPv4AddrRange) || addr.Compare(ts.Start) < 0 || addr.Compare(ts.End) > 0 {
		return false
	}
	if ts.Protocol != 0 && proto != 0 && ts.Protocol != proto {
		return false
	}
	return ts.Opaque() || port >= ts.StartPort && port <= ts.EndPort
}

// String renders the selector as strongSwan logs it: "198.51.100.0/24", "192.0.2.1..192.0.2.9",
// followed by "[proto/port-port]" when protocol or ports are restricted.
func (ts TrafficSelector) String() string {
	if !ts.AddrRange() {
		return fmt.Sprintf("%s(%d bytes)", ts.TSType, len(ts.Data))
	}
	s := ts.Start.String() + ".." + ts.End.String()
	if p, ok := ts.Prefix(); ok {
		s = p.String()
	}
	if ts.Protocol == 0 && ts.AllPorts() {
		return s
	}
	s += "[" + strconv.Itoa(int(ts.Protocol))
	switch {
	case ts.Opaque():
		s += "/OPAQUE"
	case !ts.AllPorts():
		s += "/" + strconv.Itoa(int(ts.StartPort))
		if ts.EndPort != ts.StartPort {
			s += "-" + strconv.Itoa(int(ts.EndPort))
		}
	}
	return s + "]"
}

// lastAddr returns the highest address of p (host bits set).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
