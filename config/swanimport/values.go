package swanimport

// strongSwan's value syntaxes (swanctl.conf(5), ipsec.conf(5)) and their oakley spellings:
// booleans, times, counts, address lists, identities and traffic selectors.

import (
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// parseBool reads strongSwan's booleans (yes/no, true/false, enabled/disabled, 1/0).
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "enabled", "1", "on":
		return true, true
	case "no", "false", "disabled", "0", "off":
		return false, true
	}
	return false, false
}

// parseTime reads a strongSwan time: a number of seconds, or a (decimal) number with an s,
// m, h or d suffix.
func parseTime(s string) (time.Duration, bool) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, false
	}
	unit := time.Second
	switch t[len(t)-1] {
	case 's':
		t = t[:len(t)-1]
	case 'm':
		unit, t = time.Minute, t[:len(t)-1]
	case 'h':
		unit, t = time.Hour, t[:len(t)-1]
	case 'd':
		unit, t = 24*time.Hour, t[:len(t)-1]
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f < 0 || math.IsNaN(f) || f*float64(unit) > float64(100*365*24*time.Hour) {
		return 0, false
	}
	return time.Duration(math.Round(f*float64(unit)/float64(time.Second))) * time.Second, true
}

// fmtDuration writes a duration the way CONFIG.md does: "0s", "30s", "51m", "2h51m", "7d".
func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	d = d.Round(time.Second)
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	var b strings.Builder
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
		d -= m * time.Minute
	}
	if d > 0 {
		fmt.Fprintf(&b, "%ds", d/time.Second)
	}
	return b.String()
}

// parseCount reads a decimal or 0x-hexadecimal count.
func parseCount(s string) (uint64, bool) {
	t := strings.TrimSpace(s)
	base := 10
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		t, base = t[2:], 16
	}
	n, err := strconv.ParseUint(t, base, 64)
	return n, err == nil
}

// splitList splits a comma-separated value, dropping blanks around and empty items.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// addrKind classifies one entry of local_addrs / remote_addrs / left / right.
type addrKind int

const (
	addrAny addrKind = iota
	addrIP
	addrName
	addrSubnet
	addrRange
	addrBad
)

func classifyAddr(s string) (addrKind, netip.Addr) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "%")
	switch strings.ToLower(t) {
	case "any", "any4", "any6", "0.0.0.0", "::", "defaultroute", "":
		return addrAny, netip.Addr{}
	}
	if a, err := netip.ParseAddr(t); err == nil && a.Zone() == "" {
		return addrIP, a.Unmap()
	}
	if _, err := netip.ParsePrefix(t); err == nil {
		return addrSubnet, netip.Addr{}
	}
	if lo, hi, ok := strings.Cut(t, "-"); ok {
		if _, err := netip.ParseAddr(strings.TrimSpace(lo)); err == nil {
			if _, err := netip.ParseAddr(strings.TrimSpace(hi)); err == nil {
				return addrRange, netip.Addr{}
			}
		}
	}
	if validDNSName(t) {
		return addrName, netip.Addr{}
	}
	return addrBad, netip.Addr{}
}

// validDNSName accepts letters, digits, '-' and '.' labels (RFC 1123 §2.1).
func validDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// convertID turns a strongSwan identity (swanctl id, ipsec.conf leftid) into oakley's
// spelling. problem is non-empty when oakley cannot express it; out is then "".
func convertID(s string) (out, problem string) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "%any", "%any6", "*", "0.0.0.0", "::":
		return "%any", ""
	case "":
		return "", "an empty identity"
	}
	if strings.ContainsAny(t, "*") {
		return "", fmt.Sprintf("identity %q is a wildcard pattern; oakley matches exact identities or %%any", t)
	}
	if prefix, rest, ok := strings.Cut(t, ":"); ok && isIDTypePrefix(prefix) {
		return convertTypedID(strings.ToLower(prefix), rest)
	}
	switch {
	case strings.HasPrefix(t, "@#"):
		return "", fmt.Sprintf("identity %q is a KEY_ID, which oakley does not support", t)
	case strings.HasPrefix(t, "@@"):
		if strings.Contains(t[2:], "@") {
			return t[2:], ""
		}
		return "", fmt.Sprintf("identity %q is a USER_FQDN without '@', which oakley cannot write", t)
	}
	return t, ""
}

func isIDTypePrefix(p string) bool {
	switch strings.ToLower(p) {
	case "ipv4", "ipv6", "rfc822", "email", "userfqdn", "fqdn", "dns", "asn1dn", "asn1gn", "keyid":
		return true
	}
	return len(p) > 2 && p[0] == '{' && p[len(p)-1] == '}'
}

func convertTypedID(prefix, rest string) (string, string) {
	binary := strings.HasPrefix(rest, "#")
	data := rest
	if binary {
		b, err := hex.DecodeString(rest[1:])
		if err != nil {
			return "", fmt.Sprintf("identity %s:%s: the part after '#' is not hex", prefix, rest)
		}
		data = string(b)
	}
	switch prefix {
	case "ipv4", "ipv6":
		if !binary {
			return "", fmt.Sprintf("identity %s:%s: strongSwan sends the text itself as address bytes; write the address without the prefix", prefix, rest)
		}
		a, ok := netip.AddrFromSlice([]byte(data))
		if !ok || (prefix == "ipv4") != a.Is4() {
			return "", fmt.Sprintf("identity %s:%s is not a %s address", prefix, rest, prefix)
		}
		return a.String(), ""
	case "fqdn", "dns":
		if data == "" || strings.ContainsAny(data, "@ \t") {
			return "", fmt.Sprintf("identity %s:%s cannot be written as an oakley FQDN", prefix, rest)
		}
		return "@" + data, ""
	case "rfc822", "email", "userfqdn":
		if u, dom, ok := strings.Cut(data, "@"); ok && u != "" && dom != "" && !strings.Contains(dom, "@") {
			return data, ""
		}
		return "", fmt.Sprintf("identity %s:%s: oakley writes a user FQDN as user@domain", prefix, rest)
	case "asn1dn":
		if !binary && strings.Contains(data, "=") {
			return data, ""
		}
		return "", fmt.Sprintf("identity %s:%s: write the DN as text (C=.., O=.., CN=..)", prefix, clip(rest))
	}
	return "", fmt.Sprintf("identity type %s: is not supported by oakley", prefix)
}

// protoNumbers are getprotobyname(3) names strongSwan accepts in selectors; oakley takes
// icmp, tcp, udp, gre, esp, ah, icmpv6, sctp by name and the rest as numbers.
var protoNumbers = map[string]int{
	"icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "udp": 17, "ipv6": 41, "gre": 47, "esp": 50,
	"ah": 51, "ipv6-icmp": 58, "icmpv6": 58, "ospf": 89, "pim": 103, "l2tp": 115, "sctp": 132,
	"udplite": 136,
}

var oakleyProtoNames = map[string]bool{"icmp": true, "tcp": true, "udp": true, "gre": true,
	"esp": true, "ah": true, "icmpv6": true, "ipv6-icmp": true, "sctp": true}

// serviceNumbers are getservent(3) names common in selectors.
var serviceNumbers = map[string]int{
	"ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "dns": 53, "bootps": 67,
	"bootpc": 68, "tftp": 69, "http": 80, "www": 80, "kerberos": 88, "pop3": 110, "ntp": 123,
	"imap": 143, "snmp": 161, "ldap": 389, "https": 443, "isakmp": 500, "syslog": 514,
	"submission": 587, "ldaps": 636, "imaps": 993, "pop3s": 995, "openvpn": 1194, "l2tp": 1701,
	"radius": 1812, "ms-wbt-server": 3389, "ipsec-nat-t": 4500,
}

// convertTS turns one strongSwan traffic selector ("192.0.2.0/24[tcp/http]", "10.0.0.1-
// 10.0.0.9", "192.0.2.7") into oakley selectors (CONFIG.md: CIDRs with optional [proto/
// ports]). A range becomes the CIDRs covering exactly it. notes explain value-preserving
// rewrites; problem, when set, means the selector cannot be converted.
func convertTS(s string, ikev1 bool) (out []string, notes []string, problem string) {
	t := strings.TrimSpace(s)
	addr, suffix := t, ""
	if i := strings.IndexByte(t, '['); i >= 0 {
		if !strings.HasSuffix(t, "]") {
			return nil, nil, fmt.Sprintf("selector %q: want ADDRESS[PROTO/PORT]", t)
		}
		addr, suffix = strings.TrimSpace(t[:i]), t[i+1:len(t)-1]
	}
	var prefixes []netip.Prefix
	switch strings.ToLower(addr) {
	case "%any", "0.0.0.0/0":
		prefixes = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	case "%any6", "::/0":
		prefixes = []netip.Prefix{netip.MustParsePrefix("::/0")}
	default:
		if p, err := netip.ParsePrefix(addr); err == nil && p.Addr().Zone() == "" {
			if p != p.Masked() {
				notes = append(notes, fmt.Sprintf("%s has host bits set; strongSwan uses %s", p, p.Masked()))
			}
			prefixes = []netip.Prefix{p.Masked()}
		} else if a, err := netip.ParseAddr(addr); err == nil && a.Zone() == "" {
			a = a.Unmap()
			prefixes = []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}
		} else if lo, hi, ok := strings.Cut(addr, "-"); ok {
			a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
			b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
			if err1 != nil || err2 != nil || a.Is4() != b.Is4() || b.Less(a) {
				return nil, nil, fmt.Sprintf("selector %q: not an address range low-high", t)
			}
			prefixes = rangePrefixes(a.Unmap(), b.Unmap(), 64)
			if prefixes == nil {
				return nil, nil, fmt.Sprintf("selector %q: the range needs more than 64 CIDRs", t)
			}
			if len(prefixes) > 1 && ikev1 {
				return nil, nil, fmt.Sprintf("selector %q: the range is %d CIDRs, and IKEv1 negotiates one selector per child", t, len(prefixes))
			}
			notes = append(notes, fmt.Sprintf("range %s written as CIDR(s)", addr))
		} else {
			return nil, nil, fmt.Sprintf("selector %q: %q is not an address, CIDR or range", t, addr)
		}
	}
	suffixOut, problem := convertProtoPort(suffix, ikev1)
	if problem != "" {
		return nil, nil, fmt.Sprintf("selector %q: %s", t, problem)
	}
	for _, p := range prefixes {
		s := p.String()
		if p.Bits() == p.Addr().BitLen() && !strings.Contains(addr, "/") {
			s = p.Addr().String()
		}
		out = append(out, s+suffixOut)
	}
	return out, notes, ""
}

// convertProtoPort converts the part in brackets: "proto", "proto/port", "/port",
// "proto/lo-hi", "%any".
func convertProtoPort(suffix string, ikev1 bool) (string, string) {
	if strings.TrimSpace(suffix) == "" {
		return "", ""
	}
	proto, port, hasPort := strings.Cut(suffix, "/")
	proto = strings.ToLower(strings.TrimSpace(proto))
	port = strings.ToLower(strings.TrimSpace(port))
	pname := ""
	pnum := -1
	switch {
	case proto == "" || proto == "%any" || proto == "any":
		pnum = 0
	case oakleyProtoNames[proto]:
		pname, pnum = proto, protoNumbers[proto]
	default:
		if n, ok := protoNumbers[proto]; ok {
			pnum = n
		} else if n, err := strconv.Atoi(proto); err == nil && n >= 0 && n <= 255 {
			pnum = n
		} else {
			return "", fmt.Sprintf("unknown protocol %q", proto)
		}
		pname = strconv.Itoa(pnum)
	}
	if !hasPort || port == "" || port == "%any" || port == "any" {
		if pnum == 0 {
			return "", ""
		}
		return "[" + pname + "]", ""
	}
	if port == "opaque" || port == "%opaque" {
		return "", "OPAQUE ports (RFC 4301) are not supported by oakley"
	}
	if pnum != 6 && pnum != 17 && pnum != 132 && pnum != 136 {
		if pnum == 1 || pnum == 58 {
			return "", "an ICMP type/code restriction is not supported by oakley"
		}
		return "", "oakley takes ports only with tcp, udp, sctp or udplite (a protocol is needed)"
	}
	lo, hi, isRange := strings.Cut(port, "-")
	l, ok1 := servicePort(lo)
	h := l
	ok2 := true
	if isRange {
		h, ok2 = servicePort(hi)
	}
	if !ok1 || !ok2 || l > h {
		return "", fmt.Sprintf("port %q is not a number, a known service name or a range", port)
	}
	if isRange && l != h && ikev1 {
		return "", "IKEv1 negotiates a single port or any port, not a range (RFC 2407 §4.6.2)"
	}
	if l == h {
		return fmt.Sprintf("[%s/%d]", pname, l), ""
	}
	return fmt.Sprintf("[%s/%d-%d]", pname, l, h), ""
}

func servicePort(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 65535 {
		return n, true
	}
	n, ok := serviceNumbers[s]
	return n, ok
}

// rangePrefixes returns the smallest list of prefixes covering exactly lo..hi, or nil when it
// would be longer than max.
func rangePrefixes(lo, hi netip.Addr, max int) []netip.Prefix {
	var out []netip.Prefix
	cur := lo
	for {
		// The largest aligned block starting at cur that does not pass hi.
		best := netip.PrefixFrom(cur, cur.BitLen())
		for bits := cur.BitLen() - 1; bits >= 0; bits-- {
			p := netip.PrefixFrom(cur, bits).Masked()
			if p.Addr() != cur || hi.Less(lastAddr(p)) {
				break
			}
			best = p
		}
		out = append(out, best)
		if len(out) > max {
			return nil
		}
		last := lastAddr(best)
		if last == hi {
			return out
		}
		cur = last.Next()
		if !cur.IsValid() {
			return out
		}
	}
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := range b {
		hostBits := len(b)*8 - p.Bits() - (len(b)-1-i)*8
		switch {
		case hostBits >= 8:
			b[i] = 0xff
		case hostBits > 0:
			b[i] |= byte(1<<hostBits - 1)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
