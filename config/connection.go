package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"oakley/crypto"
)

// Defaults of a [[connection]] (CONFIG.md).
const (
	defaultKeying      = "ike"
	defaultAuth        = "psk"
	defaultRekeyTime   = 4 * time.Hour
	defaultDPDDelay    = 30 * time.Second
	defaultDPDTimeout  = 150 * time.Second
	defaultDPDAction   = "restart"
	defaultStartAction = "start"
	defaultEncap       = "udp"
	defaultSendCert    = "ifasked"
	defaultFragment    = "yes"
	anyAddr            = "%any"
)

// ikeOnlyKeys are ignored (with a warning) under keying = "manual".
var ikeOnlyKeys = []string{"version", "aggressive", "local_id", "remote_id", "auth", "psk", "psk_file",
	"cert", "key", "cacerts", "remote_cert", "crls", "send_cert", "fragmentation", "vips", "pools",
	"xauth", "xauth_id", "eap", "eap_id", "password_file", "proposals", "rekey_time", "dpd_delay",
	"dpd_timeout", "dpd_action", "mobike"}

// validName accepts connection and child names usable on the command line (NAME/CHILD).
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !isBareKeyChar(c) && c != '.' {
			return false
		}
	}
	return true
}

func (l *loader) connection(t *table) *Connection {
	c := &Connection{}
	insecure := l.cfg.Daemon.InsecureAlgorithms
	if name, ok := t.optStr("name"); ok {
		if validName(name) {
			c.Name = name
			t.name = fmt.Sprintf("connection %q", name)
		} else {
			l.r.errorf(t.keyLine("name"), "connection name %q is not valid; want 1..64 letters, digits, '-', '_' or '.'", name)
		}
	} else if !t.has("name") {
		l.r.errorf(t.line(), `%s has no name; add name = "..."`, t.name)
	}

	c.Keying = t.enum("keying", defaultKeying, "ike", "manual")
	manual := c.Keying == "manual"
	c.Version = int(t.integer("version", DefaultIKEVersion, 1, 2, "1 (IKEv1) or 2 (IKEv2)"))
	if c.Version == 2 && !manual {
		l.refuseUnimplemented(featIKEv2, t.keyLine("version"))
	}
	c.Aggressive = t.boolean("aggressive", false)
	if c.Aggressive && c.Version == 2 && !manual {
		l.r.errorf(t.keyLine("aggressive"), "aggressive = true is IKEv1 only (IKEv2 has no Aggressive Mode); drop it or set version = 1")
	}
	l.addresses(t, c)
	c.LocalID = l.identity(t, "local_id", c.LocalAddr, c.LocalIP)
	c.RemoteID = l.identity(t, "remote_id", c.RemoteAddr, c.RemoteIP)
	c.Auth = t.enum("auth", defaultAuth, "psk", "pubkey", "pke", "pke-revised", "pke-original")

	if manual {
		c.RekeyTime = t.duration("rekey_time", defaultRekeyTime) // ignored, see below
	} else {
		c.RekeyTime = t.rekeyTime(defaultRekeyTime)
	}
	c.DPDDelay = t.duration("dpd_delay", defaultDPDDelay)
	c.DPDTimeout = t.duration("dpd_timeout", defaultDPDTimeout)
	if c.DPDDelay > 0 && c.DPDTimeout <= c.DPDDelay && !manual {
		line := t.keyLine("dpd_timeout")
		if !t.has("dpd_timeout") {
			line = t.keyLine("dpd_delay")
		}
		l.r.errorf(line, "dpd_timeout (%s) must be longer than dpd_delay (%s) (RFC 3706 §5.5)", c.DPDTimeout, c.DPDDelay)
	}
	c.DPDAction = t.enum("dpd_action", defaultDPDAction, "clear", "hold", "restart")
	c.StartAction = t.enum("start_action", defaultStartAction, "start", "trap", "none")
	c.Encap = t.enum("encap", defaultEncap, "udp", "raw", "auto")
	// Additions (strongSwan's remote_port): the peer's IKE port and the port it receives
	// ESP-in-UDP and floated IKE on, for peers (sidecars, the demo) not on 500/4500.
	c.RemotePort = uint16(t.integer("remote_port", defaultIKEPort, 1, 65535, "a port 1..65535"))
	c.RemoteNATTPort = uint16(t.integer("remote_natt_port", defaultNATTPort, 1, 65535, "a port 1..65535"))
	c.MOBIKE = t.boolean("mobike", false)
	if c.MOBIKE && !manual {
		if c.Version != 2 {
			l.r.errorf(t.keyLine("mobike"), "mobike needs IKEv2 (version = 2): MOBIKE is an IKEv2 extension (RFC 4555)")
		} else {
			l.refuseUnimplemented(featMOBIKE, t.keyLine("mobike"))
		}
	}
	c.SendCert = t.enum("send_cert", defaultSendCert, "ifasked", "always", "never")
	c.Fragmentation = t.enum("fragmentation", defaultFragment, "yes", "accept", "force", "no")
	if c.Fragmentation == "force" && c.Version == 2 && !manual {
		// RFC 7383 §2.5: only messages with an Encrypted payload are fragmented, so
		// IKE_SA_INIT never is (strongSwan supports "force" for IKEv1 only as well).
		l.r.warnf(t.keyLine("fragmentation"), `fragmentation = "force" applies to IKEv1; with IKEv2 it acts as "yes" (RFC 7383 §2.5: IKE_SA_INIT is never fragmented)`)
	}
	l.virtualIPs(t, c)

	if manual {
		for _, k := range ikeOnlyKeys {
			if _, set := t.m[k]; set {
				l.r.warnf(t.keyLine(k), `%s is ignored with keying = "manual"`, k)
			}
		}
		// Read them anyway, so mistyped values are still reported.
		t.str("psk_file", "")
		t.has("psk")
		t.str("cert", "")
		t.str("key", "")
		t.strList("cacerts")
		t.str("remote_cert", "")
		t.strList("crls")
		t.enum("xauth", "", "", "client", "server")
		t.enum("eap", "", "", "mschapv2", "tls")
		t.str("xauth_id", "")
		t.str("eap_id", "")
		t.str("password_file", "")
		t.strList("proposals")
	} else {
		l.authentication(t, c)
		c.Proposals = l.ikeProposals(t, c, insecure)
	}

	children := t.tables("child", func(i int) string { return fmt.Sprintf("child #%d of %s", i+1, t.name) })
	names := map[string]int{}
	for _, ct := range children {
		ch := l.child(ct, c)
		if ch.Name != "" {
			if first, dup := names[ch.Name]; dup {
				l.r.errorf(ct.keyLine("name"), "child name %q is already used in this connection on line %d", ch.Name, first)
			} else {
				names[ch.Name] = ct.keyLine("name")
			}
		}
		c.Children = append(c.Children, ch)
	}
	if len(children) == 0 {
		l.r.warnf(t.line(), "%s has no [[connection.child]]: no traffic will be protected", t.name)
	}
	l.checkPeer(t, c)
	t.done()
	return c
}

// addresses reads local_addr and remote_addr.
func (l *loader) addresses(t *table, c *Connection) {
	c.LocalAddr = t.str("local_addr", anyAddr)
	if c.LocalAddr == "" {
		c.LocalAddr = anyAddr
	}
	if c.LocalAddr != anyAddr {
		a, err := netip.ParseAddr(c.LocalAddr)
		if err != nil || a.Zone() != "" {
			l.r.errorf(t.keyLine("local_addr"), `local_addr = %q is not an IP address; want an address or "%%any"`, c.LocalAddr)
		} else {
			c.LocalIP = a.Unmap()
		}
	}
	c.RemoteAddr = t.str("remote_addr", "")
	switch {
	case c.RemoteAddr == "" || c.RemoteAddr == anyAddr:
	case validIP(c.RemoteAddr):
		c.RemoteIP, _ = netip.ParseAddr(c.RemoteAddr)
		c.RemoteIP = c.RemoteIP.Unmap()
	case validHostname(c.RemoteAddr):
	default:
		l.r.errorf(t.keyLine("remote_addr"), `remote_addr = %q is not an IP address, a DNS name or "%%any"`, c.RemoteAddr)
	}
	if c.LocalIP.IsValid() && c.RemoteIP.IsValid() && c.LocalIP.Is4() != c.RemoteIP.Is4() {
		l.r.errorf(t.keyLine("remote_addr"), "local_addr %s and remote_addr %s are of different IP versions", c.LocalIP, c.RemoteIP)
	}
}

func validIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// checkPeer applies the rules that tie remote_addr to keying and start_action.
func (l *loader) checkPeer(t *table, c *Connection) {
	absent := c.RemoteAddr == ""
	if absent {
		c.RemoteAddr = anyAddr
	}
	if c.Keying == "manual" {
		switch {
		case absent:
			l.r.errorf(t.line(), `%s: keying = "manual" needs remote_addr (there is no IKE to learn the peer)`, t.name)
		case c.RemoteAddr == anyAddr:
			l.r.errorf(t.keyLine("remote_addr"), `remote_addr = "%%any" cannot be used with keying = "manual"; want the peer's address`)
		}
		return
	}
	action := c.StartAction
	for _, ch := range c.Children {
		if action == "none" && ch.StartAction != "none" {
			action = ch.StartAction
		}
	}
	switch {
	case action == "none":
	case absent:
		l.r.errorf(t.line(), `%s: remote_addr is required with start_action = %q (or set start_action = "none" to respond only)`, t.name, action)
	case c.RemoteAddr == anyAddr:
		l.r.errorf(t.keyLine("remote_addr"), `remote_addr = "%%any" only works with start_action = "none" (respond only); start_action is %q`, action)
	}
}

// identity reads local_id / remote_id, defaulting to the address (see Identity).
func (l *loader) identity(t *table, key, addr string, ip netip.Addr) Identity {
	s, ok := t.optStr(key)
	if !ok {
		if ip.IsValid() {
			id := addrIdentity(addr, ip.Unmap())
			id.FromAddr = true
			return id
		}
		return Identity{Type: IDAny, FromAddr: true}
	}
	id, err := parseIdentity(s)
	if err != nil {
		l.r.errorf(t.keyLine(key), "%s: %v", key, err)
	}
	return id
}

// ikeProposals reads proposals, or the defaults (RFC 8247 choices from the crypto package).
func (l *loader) ikeProposals(t *table, c *Connection, insecure bool) []*crypto.Proposal {
	proto := crypto.ProtoIKEv1
	if c.Version == 2 {
		proto = crypto.ProtoIKEv2
	}
	texts, lines, present := t.strList("proposals")
	if !present {
		texts = crypto.DefaultProposals(proto)
		if c.Aggressive {
			// RFC 2409 §5: Aggressive Mode cannot negotiate the group; offer only the
			// defaults that share the first one's group.
			texts = sameGroupDefaults(texts)
		}
		lines = make([]int, len(texts))
		for i := range lines {
			lines[i] = t.line()
		}
	} else if t.emptyList("proposals") {
		l.r.errorf(t.keyLine("proposals"), "proposals is empty; omit it for the defaults %s", quoteList(crypto.DefaultProposals(proto)))
		return nil
	}
	props := l.proposals("proposals", proto, texts, lines, insecure)
	if c.Aggressive && present {
		var group *crypto.Algorithm
		for _, p := range props {
			for _, g := range p.DH {
				if group == nil {
					group = g
				}
				if len(p.DH) > 1 || g != group {
					l.r.errorf(t.keyLine("proposals"), "Aggressive Mode sends its key exchange first and cannot negotiate the DH group (RFC 2409 §5): every proposal must name the same single group")
					return props
				}
			}
		}
	}
	return props
}

func sameGroupDefaults(texts []string) []string {
	var out []string
	var group string
	for _, s := range texts {
		parts := strings.Split(s, "-")
		g := parts[len(parts)-1]
		if group == "" {
			group = g
		}
		if g == group {
			out = append(out, s)
		}
	}
	return out
}

// proposals parses a proposal list with crypto.ParseProposal; errors and insecure-algorithm
// warnings go to the line of each entry.
func (l *loader) proposals(key string, proto crypto.Protocol, texts []string, lines []int, insecure bool) []*crypto.Proposal {
	var out []*crypto.Proposal
	for i, s := range texts {
		p, err := crypto.ParseProposal(proto, s, insecure)
		if err != nil {
			l.r.errorf(lines[i], "%s: %v", key, err)
			continue
		}
		var weak []string
		for _, set := range [][]*crypto.Algorithm{p.Encr, p.Integ, p.PRF, p.DH} {
			for _, a := range set {
				if a.Insecure {
					weak = append(weak, a.Name)
				}
			}
		}
		if len(weak) > 0 {
			l.r.warnf(lines[i], "%s: %q uses insecure %s (allowed by insecure_algorithms)", key, s, strings.Join(weak, ", "))
		}
		out = append(out, p)
	}
	return out
}
