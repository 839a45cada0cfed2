package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// TrafficSelector is one entry of local_ts or remote_ts: the RFC 4301 §4.4.1.1 selectors an
// SPD entry matches on, an address prefix, the next-layer protocol and a port range.
//
// Written as "192.0.2.0/24", "192.0.2.0/24[tcp/443]", "192.0.2.0/24[udp]",
// "192.0.2.0/24[tcp/1000-2000]", "2001:db8::/32[47]" or a bare address "192.0.2.7" (= /32,
// or /128 for IPv6). The protocol is a name (icmp, tcp, udp, gre, esp, ah, icmpv6, sctp) or a
// number 0..255; ports (a number, a range lo-hi, or %any) are allowed only with tcp, udp,
// sctp and udplite (136).
//
// TrafficSelector is a comparable value type, safe for concurrent use.
type TrafficSelector struct {
	Prefix netip.Prefix // masked: no host bits set
	Proto  uint8        // IP protocol number; 0 = any protocol
	PortLo uint16       // with PortHi, an inclusive range; 0..65535 = any port
	PortHi uint16
}

// protoNames are the protocol keywords accepted in brackets (IANA protocol numbers).
var protoNames = map[string]uint8{
	"icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
	"icmpv6": 58, "ipv6-icmp": 58, "sctp": 132,
}

// protoHasPorts lists the protocols whose selectors may carry ports (RFC 4301 §4.4.1.1).
func protoHasPorts(p uint8) bool { return p == 6 || p == 17 || p == 132 || p == 136 }

func protoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 58:
		return "icmpv6"
	case 132:
		return "sctp"
	}
	return strconv.Itoa(int(p))
}

// AnyPort reports whether the selector matches every port.
func (ts TrafficSelector) AnyPort() bool { return ts.PortLo == 0 && ts.PortHi == 65535 }

// String writes the selector in the syntax it is parsed from; parsing the result gives the
// same selector back.
func (ts TrafficSelector) String() string {
	s := ts.Prefix.String()
	if ts.Proto == 0 && ts.AnyPort() {
		return s
	}
	s += "[" + protoName(ts.Proto)
	switch {
	case ts.AnyPort():
	case ts.PortLo == ts.PortHi:
		s += "/" + strconv.Itoa(int(ts.PortLo))
	default:
		s += "/" + strconv.Itoa(int(ts.PortLo)) + "-" + strconv.Itoa(int(ts.PortHi))
	}
	return s + "]"
}

// parseTS parses one traffic selector (see TrafficSelector for the syntax).
func parseTS(text string) (TrafficSelector, error) {
	ts := TrafficSelector{PortLo: 0, PortHi: 65535}
	addr, rest := strings.TrimSpace(text), ""
	if i := strings.IndexByte(addr, '['); i >= 0 {
		addr, rest = strings.TrimSpace(addr[:i]), addr[i:]
		if !strings.HasSuffix(rest, "]") || strings.Count(rest, "[") != 1 || strings.Count(rest, "]") != 1 {
			return ts, fmt.Errorf("traffic selector %q: want ADDRESS/LEN[PROTO/PORTS], e.g. \"192.0.2.0/24[tcp/443]\"", text)
		}
		rest = rest[1 : len(rest)-1]
	}
	if addr == "" {
		return ts, fmt.Errorf("traffic selector %q has no address; want e.g. \"192.0.2.0/24\" (0.0.0.0/0 or ::/0 for any)", text)
	}
	if strings.Contains(addr, "/") {
		p, err := netip.ParsePrefix(addr)
		if err != nil {
			return ts, fmt.Errorf("traffic selector %q: %q is not an address prefix like 192.0.2.0/24", text, addr)
		}
		if p != p.Masked() {
			return ts, fmt.Errorf("traffic selector %q has host bits set; write %s", text, p.Masked())
		}
		ts.Prefix = p
	} else {
		a, err := netip.ParseAddr(addr)
		if err != nil || a.Zone() != "" {
			return ts, fmt.Errorf("traffic selector %q: %q is not an IP address or prefix", text, addr)
		}
		ts.Prefix = netip.PrefixFrom(a, a.BitLen())
	}
	if ts.Prefix.Addr().Zone() != "" {
		return ts, fmt.Errorf("traffic selector %q: zones are not allowed", text)
	}
	if rest == "" && strings.Contains(text, "[") {
		return ts, fmt.Errorf("traffic selector %q: empty brackets; write a protocol like [tcp] or drop them", text)
	}
	if rest == "" {
		return ts, nil
	}
	proto, ports, hasPorts := strings.Cut(rest, "/")
	proto = strings.ToLower(strings.TrimSpace(proto))
	switch n, ok := protoNames[proto]; {
	case ok:
		ts.Proto = n
	case proto == "%any" || proto == "any":
		ts.Proto = 0
	default:
		v, err := strconv.ParseUint(proto, 10, 8)
		if err != nil {
			return ts, fmt.Errorf("traffic selector %q: unknown protocol %q; want tcp, udp, icmp, icmpv6, sctp, gre, esp, ah or a number 0..255", text, proto)
		}
		ts.Proto = uint8(v)
	}
	if !hasPorts {
		return ts, nil
	}
	ports = strings.TrimSpace(ports)
	if ports == "%any" || ports == "any" {
		return ts, nil
	}
	if !protoHasPorts(ts.Proto) {
		return ts, fmt.Errorf("traffic selector %q: ports need tcp, udp, sctp or udplite (136)", text)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	l, errLo := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	h := l
	var errHi error
	if isRange {
		h, errHi = strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	}
	if errLo != nil || errHi != nil {
		return ts, fmt.Errorf("traffic selector %q: ports %q: want a port 0..65535, a range like 1000-2000, or %%any", text, ports)
	}
	if l > h {
		return ts, fmt.Errorf("traffic selector %q: port range %d-%d is reversed", text, l, h)
	}
	ts.PortLo, ts.PortHi = uint16(l), uint16(h)
	return ts, nil
}
