package config

// Remote access: [[pool]] (virtual IPs a gateway hands out), [[user]] (XAUTH / EAP-MSCHAPv2
// logins of a gateway) and a connection's vips (client) and pools (gateway).

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"oakley/crypto"
)

// pool reads one [[pool]].
func (l *loader) pool(t *table) *Pool {
	p := &Pool{}
	if name, ok := t.optStr("name"); ok {
		if validName(name) {
			p.Name = name
			t.name = fmt.Sprintf("pool %q", name)
		} else {
			l.r.errorf(t.keyLine("name"), "pool name %q is not valid; want 1..64 letters, digits, '-', '_' or '.'", name)
		}
	} else if !t.has("name") {
		l.r.errorf(t.line(), `%s has no name; add name = "..."`, t.name)
	}
	if s, ok := t.optStr("addrs"); ok {
		p.Addrs = s
		var err error
		if p.Prefix, p.First, p.Last, err = parsePoolAddrs(s); err != nil {
			l.r.errorf(t.keyLine("addrs"), "addrs: %v", err)
		}
	} else if !t.has("addrs") {
		l.r.errorf(t.line(), `%s needs addrs, a CIDR like "203.0.113.0/24" or a range like "203.0.113.10-203.0.113.200"`, t.name)
	}
	dns, lines, _ := t.strList("dns")
	for i, s := range dns {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			l.r.errorf(lines[i], "dns: %q is not an IP address", s)
			continue
		}
		p.DNS = append(p.DNS, a.Unmap())
	}
	split, lines, _ := t.strList("split")
	for i, s := range split {
		pf, err := parseCIDR(s)
		if err != nil {
			l.r.errorf(lines[i], "split: %v", err)
			continue
		}
		p.Split = append(p.Split, pf)
	}
	t.done()
	return p
}

// parseCIDR reads a network "203.0.113.0/24" without host bits (a bare address is a /32 or
// /128).
func parseCIDR(s string) (netip.Prefix, error) {
	p, err := parseAddrPrefix(strings.TrimSpace(s))
	if err != nil {
		return p, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p != p.Masked() {
		return p, fmt.Errorf("%s has host bits set; write %s", p, p.Masked())
	}
	return p, nil
}

// parsePoolAddrs reads a pool's addrs: a CIDR (First/Last leave out the network address and,
// for IPv4, the broadcast address, RFC 919, unless the prefix is a /31 or /32 (RFC 3021), a
// /127 (RFC 6164) or a /128), or a range "first-last" of one family with first ≤ last.
func parsePoolAddrs(s string) (prefix netip.Prefix, first, last netip.Addr, err error) {
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, errA := netip.ParseAddr(strings.TrimSpace(lo))
		b, errB := netip.ParseAddr(strings.TrimSpace(hi))
		switch {
		case errA != nil || errB != nil || a.Zone() != "" || b.Zone() != "":
			return prefix, first, last, fmt.Errorf("%q is not a range of two IP addresses like \"203.0.113.10-203.0.113.200\"", s)
		case a.Unmap().Is4() != b.Unmap().Is4():
			return prefix, first, last, fmt.Errorf("range %q mixes IPv4 and IPv6", s)
		}
		a, b = a.Unmap(), b.Unmap()
		if b.Less(a) {
			return prefix, first, last, fmt.Errorf("range %q is reversed: its first address %s comes after its last %s", s, a, b)
		}
		return prefix, a, b, nil
	}
	if !strings.Contains(s, "/") {
		return prefix, first, last, fmt.Errorf("%q is neither a CIDR like \"203.0.113.0/24\" nor a range like \"203.0.113.10-203.0.113.200\"", s)
	}
	p, err := parseCIDR(s)
	if err != nil {
		return prefix, first, last, err
	}
	first, last = p.Addr(), lastAddr(p)
	hostBits := p.Addr().BitLen() - p.Bits()
	if hostBits >= 2 {
		first = first.Next()
		if p.Addr().Is4() {
			last = last.Prev()
		}
	}
	return p, first, last, nil
}

// lastAddr is the highest address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// poolSpan is the whole block a pool names (the entire CIDR), used for the overlap check.
func poolSpan(p *Pool) (netip.Addr, netip.Addr) {
	if p.Prefix.IsValid() {
		return p.Prefix.Addr(), lastAddr(p.Prefix)
	}
	return p.First, p.Last
}

// pools reads every [[pool]]: names unique, blocks disjoint.
func (l *loader) pools(root *table) {
	names := map[string]int{}
	type span struct {
		lo, hi netip.Addr
		name   string
		line   int
	}
	var spans []span
	for _, t := range root.tables("pool", func(i int) string { return fmt.Sprintf("[[pool]] #%d", i+1) }) {
		p := l.pool(t)
		if p.Name != "" {
			if first, dup := names[p.Name]; dup {
				l.r.errorf(t.keyLine("name"), "pool name %q is already used on line %d; names must be unique", p.Name, first)
			} else {
				names[p.Name] = t.keyLine("name")
			}
		}
		if p.First.IsValid() {
			lo, hi := poolSpan(p)
			for _, s := range spans {
				if lo.Is4() == s.lo.Is4() && !hi.Less(s.lo) && !s.hi.Less(lo) {
					l.r.errorf(t.keyLine("addrs"), "addrs %s overlaps pool %q (line %d); pools must not overlap", p.Addrs, s.name, s.line)
					break
				}
			}
			spans = append(spans, span{lo, hi, p.Name, t.keyLine("addrs")})
		}
		l.poolLines = append(l.poolLines, t.line())
		l.cfg.Pools = append(l.cfg.Pools, p)
	}
}

// poolNames reads t's pools: names of [[pool]]s, each once (pools must be read before).
func (l *loader) poolNames(t *table) []string {
	names, lines, _ := t.strList("pools")
	seen := map[string]bool{}
	var out []string
	for i, n := range names {
		switch {
		case seen[n]:
			l.r.errorf(lines[i], "pools: %q is listed twice", n)
			continue
		case l.cfg.Pool(n) == nil:
			msg := fmt.Sprintf("pools: no [[pool]] is named %q", n)
			var known []string
			for _, p := range l.cfg.Pools {
				known = append(known, p.Name)
			}
			if s := suggest(n, known); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			l.r.errorf(lines[i], "%s", msg)
			continue
		}
		seen[n] = true
		l.usedPools[n] = true
		out = append(out, n)
	}
	return out
}

// users reads every [[user]]: names unique, passwords from private files.
func (l *loader) users(root *table) {
	names := map[string]int{}
	for _, t := range root.tables("user", func(i int) string { return fmt.Sprintf("[[user]] #%d", i+1) }) {
		u := &User{}
		if name, ok := t.optStr("name"); ok {
			if err := checkLoginName(name); err != nil {
				l.r.errorf(t.keyLine("name"), "user name %v", err)
			} else {
				u.Name = name
				t.name = fmt.Sprintf("user %q", name)
				if first, dup := names[name]; dup {
					l.r.errorf(t.keyLine("name"), "user name %q is already used on line %d; names must be unique", name, first)
				} else {
					names[name] = t.keyLine("name")
				}
			}
		} else if !t.has("name") {
			l.r.errorf(t.line(), `%s has no name; add name = "..."`, t.name)
		}
		if w, ok := t.optStr("password_file"); ok && w != "" {
			u.PasswordFile, u.Password = l.password(t, w)
		} else if !t.has("password_file") || ok {
			l.r.errorf(t.line(), `%s needs password_file (a file only its owner can read)`, t.name)
		}
		u.Pools = l.poolNames(t)
		t.done()
		l.userLines = append(l.userLines, t.line())
		l.cfg.Users = append(l.cfg.Users, u)
	}
}

// password reads a password_file: resolved against Config.Dir, refused if group or other
// may read or write it, at most maxPasswordLen bytes of UTF-8 text once trailing blanks and
// newlines are cut. The messages never quote it.
func (l *loader) password(t *table, written string) (string, crypto.Key) {
	path := resolvePath(l.cfg.Dir, written)
	data, err := readSecretFile("password_file", written, path)
	if err != nil {
		l.r.errorf(t.keyLine("password_file"), "%v", err)
		return path, nil
	}
	switch {
	case len(data) == 0:
		l.r.errorf(t.keyLine("password_file"), "password_file %s is empty", written)
	case len(data) > maxPasswordLen:
		l.r.errorf(t.keyLine("password_file"), "password_file %s holds more than %d bytes; a password is at most %d bytes", written, maxPasswordLen, maxPasswordLen)
	case !utf8.Valid(data) || strings.ContainsRune(string(data), 0) || strings.ContainsAny(string(data), "\r\n"):
		l.r.errorf(t.keyLine("password_file"), "password_file %s must hold one line of UTF-8 text (the password)", written)
	default:
		return path, data
	}
	crypto.Wipe(data)
	return path, nil
}

// checkLoginName accepts an XAUTH / EAP user name: 1..255 bytes of UTF-8 without control
// characters.
func checkLoginName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is empty")
	case len(s) > 255:
		return fmt.Errorf("is longer than 255 bytes")
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return fmt.Errorf("%q must be UTF-8 text without control characters", s)
	}
	return nil
}

// virtualIPs reads vips (client) and pools (gateway) of a connection.
func (l *loader) virtualIPs(t *table, c *Connection) {
	vips, lines, _ := t.strList("vips")
	fam := map[bool]int{} // Is4 → line
	for i, s := range vips {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			l.r.errorf(lines[i], `vips: %q is not an IP address; want an address, or "0.0.0.0" / "::" for any address of that family`, s)
			continue
		}
		a = a.Unmap()
		if first, dup := fam[a.Is4()]; dup {
			l.r.errorf(lines[i], "vips: %s is a second IPv%s address (the first is on line %d); request at most one per family", a, map[bool]string{true: "4", false: "6"}[a.Is4()], first)
			continue
		}
		fam[a.Is4()] = lines[i]
		c.VIPs = append(c.VIPs, a)
	}
	names := l.poolNames(t)
	c.Pools = append(c.Pools, names...)
	if len(vips) > 0 && len(names) > 0 {
		l.r.errorf(t.keyLine("pools"), "vips (a client asking for addresses) and pools (a gateway handing them out) exclude each other")
	}
	if c.Keying == "manual" {
		return
	}
	v1 := c.Version == 1
	if len(vips) > 0 {
		l.refuseUnimplemented(map[bool]feature{true: featVIPsIKEv1, false: featVIPsIKEv2}[v1], t.keyLine("vips"))
	}
	if len(names) > 0 {
		l.refuseUnimplemented(map[bool]feature{true: featPoolsIKEv1, false: featPoolsIKEv2}[v1], t.keyLine("pools"))
	}
}
