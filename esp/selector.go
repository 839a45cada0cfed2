package esp

// Traffic selectors and the flow fields they match, RFC 4301 §4.4.1.1.

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IP protocol numbers used by the data plane.
const (
	ProtoICMP   = 1
	ProtoIPIP   = 4 // IPv4 in IP: ESP next header for a tunnelled IPv4 packet
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoIPv6   = 41 // IPv6 in IP
	ProtoESPNum = 50
	ProtoAHNum  = 51
	ProtoICMPv6 = 58
	ProtoNoNext = 59 // "no next header": an ESP dummy packet, RFC 4303 §2.6
)

// Selector matches packets by address prefix, IP protocol and port range. Proto 0 matches any
// protocol; PortLo 0 with PortHi 65535 matches any port (and packets that carry none). For ICMP
// the "port" is the ICMP type, as RFC 4301 §4.4.1.1 lets the Type field stand in for a port.
type Selector struct {
	Prefix netip.Prefix
	Proto  uint8
	PortLo uint16
	PortHi uint16
}

// AnyPort reports whether the selector accepts every port.
func (s Selector) AnyPort() bool { return s.PortLo == 0 && s.PortHi == 0xffff }

// SelectorFor returns a selector covering a whole prefix, any protocol and port.
func SelectorFor(p netip.Prefix) Selector { return Selector{Prefix: p.Masked(), PortHi: 0xffff} }

// Matches reports whether an address, protocol and port (hasPort false for packets without
// one, such as non-first fragments) fall inside the selector.
func (s Selector) Matches(a netip.Addr, proto uint8, port uint16, hasPort bool) bool {
	if !s.Prefix.Contains(a) {
		return false
	}
	if s.Proto != 0 && s.Proto != proto {
		return false
	}
	if s.AnyPort() {
		return true
	}
	return hasPort && port >= s.PortLo && port <= s.PortHi
}

func (s Selector) String() string {
	str := s.Prefix.String()
	switch {
	case s.Proto == 0 && s.AnyPort():
		return str
	case s.AnyPort():
		return fmt.Sprintf("%s[%d]", str, s.Proto)
	case s.PortLo == s.PortHi:
		return fmt.Sprintf("%s[%d/%d]", str, s.Proto, s.PortLo)
	}
	return fmt.Sprintf("%s[%d/%d-%d]", str, s.Proto, s.PortLo, s.PortHi)
}

// Flow holds the selector fields of one IP packet.
type Flow struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
	HasPorts         bool
}

// ParseFlow extracts addresses, protocol and ports from an IPv4 or IPv6 packet without
// allocating. IPv6 extension headers are walked (bounded); non-first fragments have no ports.
func ParseFlow(pkt []byte) (Flow, bool) {
	var f Flow
	if len(pkt) < 1 {
		return f, false
	}
	var l4 []byte
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return f, false
		}
		ihl := int(pkt[0]&0x0f) * 4
		if ihl < 20 || len(pkt) < ihl {
			return f, false
		}
		f.Src = netip.AddrFrom4([4]byte(pkt[12:16]))
		f.Dst = netip.AddrFrom4([4]byte(pkt[16:20]))
		f.Proto = pkt[9]
		if binary.BigEndian.Uint16(pkt[6:8])&0x1fff != 0 {
			return f, true // non-first fragment: no transport header
		}
		l4 = pkt[ihl:]
	case 6:
		if len(pkt) < 40 {
			return f, false
		}
		f.Src = netip.AddrFrom16([16]byte(pkt[8:24]))
		f.Dst = netip.AddrFrom16([16]byte(pkt[24:40]))
		next, off := pkt[6], 40
		for range 8 { // RFC 8200 §4: hop-by-hop, routing, fragment, destination options
			switch next {
			case 0, 43, 60:
				if len(pkt) < off+8 {
					return f, false
				}
				next, off = pkt[off], off+(int(pkt[off+1])+1)*8
				continue
			case 44:
				if len(pkt) < off+8 {
					return f, false
				}
				if binary.BigEndian.Uint16(pkt[off+2:off+4])&0xfff8 != 0 {
					f.Proto = pkt[off]
					return f, true
				}
				next, off = pkt[off], off+8
				continue
			}
			break
		}
		if off > len(pkt) {
			return f, false
		}
		f.Proto = next
		l4 = pkt[off:]
	default:
		return f, false
	}
	switch f.Proto {
	case ProtoTCP, ProtoUDP, 132: // SCTP shares the port layout
		if len(l4) >= 4 {
			f.SrcPort = binary.BigEndian.Uint16(l4[0:2])
			f.DstPort = binary.BigEndian.Uint16(l4[2:4])
			f.HasPorts = true
		}
	case ProtoICMP, ProtoICMPv6:
		if len(l4) >= 2 { // RFC 4301 §4.4.1.3: type in the local/remote port fields
			f.SrcPort = uint16(l4[0])
			f.DstPort = uint16(l4[0])
			f.HasPorts = true
		}
	}
	return f, true
}

// MatchAny reports whether the address/port fall inside any of the selectors.
func MatchAny(sels []Selector, a netip.Addr, proto uint8, port uint16, hasPort bool) bool {
	for i := range sels {
		if sels[i].Matches(a, proto, port, hasPort) {
			return true
		}
	}
	return false
}
