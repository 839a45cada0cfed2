package swanimport

// swanctl.conf → oakley: connections (this file), their authentication rounds
// (swanctl_auth.go), children (swanctl_child.go), secrets and pools (swanctl_secrets.go).
// README.md has the mapping table.

import (
	"fmt"
	"strings"
	"time"

	"oakley/crypto"
)

// swanctl converts a parsed swanctl.conf.
func (c *converter) swanctl(root *Section) {
	ike, eap := c.swanSecrets(root.Sub("secrets"))
	pools := root.Sub("pools")
	c.swanPools(pools)
	if conns := root.Sub("connections"); conns != nil {
		for _, s := range conns.Subs {
			s.used = true
			c.swanConn(s, pools)
		}
	}
	c.assignSecrets(ike, eap)
	c.swanAuthorities(root.Sub("authorities"))
	sweep(root, c.d)
}

// sweep reports every section and key no converter step read: nothing is dropped silently.
// A section only other sections reference (a template) is not reported itself; its keys
// are, unless a section that inherits them had them converted.
func sweep(s *Section, d *diags) {
	if !s.used && !s.template {
		d.warnf(s.Pos, "section %s is unknown to the importer; not converted", s.path)
	}
	for _, kv := range s.Keys {
		if !kv.used {
			where := s.path
			if where == "" {
				where = "the top level"
			}
			d.warnf(kv.Pos, "%s in %s is unknown to the importer; not converted", kv.Key, where)
		}
	}
	for _, sub := range s.Subs {
		sweep(sub, d)
	}
}

// defaultOr notes a key whose value changes nothing (strongSwan's default, which is also
// what oakley does) and warns about any other value: it has no oakley equivalent.
func (c *converter) defaultOr(b *block, s *Section, key, def, what string) {
	kv := s.Key(key)
	if kv == nil {
		return
	}
	if sameValue(kv.Value, def) {
		b.notef("%s: %s = %s is strongSwan's default; not converted: %s", kv.Pos, key, kv.Value, what)
		return
	}
	c.d.warnf(kv.Pos, "%s = %s: %s; not converted", key, clip(kv.Value), what)
}

// sameValue compares two strongSwan values as booleans, times or text.
func sameValue(a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" || strings.EqualFold(a, b) {
		return true
	}
	if x, ok := parseBool(a); ok {
		if y, ok := parseBool(b); ok {
			return x == y
		}
	}
	if x, ok := parseTime(a); ok {
		if y, ok := parseTime(b); ok {
			return x == y
		}
	}
	return false
}

// Settings of a connection with no oakley equivalent: strongSwan's default and why.
var swanConnUnsupported = []struct{ key, def, what string }{
	{"pull", "yes", "oakley has no Mode Config push mode"},
	{"dscp", "000000", "oakley does not mark IKE packets with a DSCP"},
	{"childless", "allow", "oakley has no setting for childless IKE_SA initiation (RFC 6023)"},
	{"send_certreq", "yes", "oakley has no setting for certificate requests"},
	{"ppk_id", "", "oakley has no postquantum preshared keys"},
	{"ppk_required", "no", "oakley has no postquantum preshared keys"},
	{"keyingtries", "1", "oakley has no keyingtries setting"},
	{"unique", "no", "oakley has no uniqueness policy"},
	{"if_id_in", "0", "XFRM interface IDs do not apply to a userspace data plane"},
	{"if_id_out", "0", "XFRM interface IDs do not apply to a userspace data plane"},
	{"mediation", "no", "the IKEv2 mediation extension is not supported by oakley"},
	{"mediated_by", "", "the IKEv2 mediation extension is not supported by oakley"},
	{"mediation_peer", "", "the IKEv2 mediation extension is not supported by oakley"},
	{"local_port", "500", "oakley's IKE port is the daemon's ([daemon] ike_port), not a connection's"},
}

func (c *converter) swanConn(s *Section, pools *Section) {
	name, same := oakleyName(s.Name, c.connNames)
	b := newBlock("[[connection]]", "", connectionKeys)
	b.setStr("name", name, s.Pos)
	if !same {
		c.d.warnf(s.Pos, "connection %q is named %q in oakley (names are letters, digits, '-', '_' and '.')", s.Name, name)
	}
	co := &connOut{b: b, name: name, pos: s.Pos}
	rounds := swanRounds(s)
	c.swanVersion(co, s, rounds)
	if kv := s.Key("aggressive"); kv != nil {
		v, ok := parseBool(kv.Value)
		switch {
		case !ok:
			c.d.warnf(kv.Pos, "aggressive = %s is not yes or no; Main Mode is used", clip(kv.Value))
		case v && co.version == 2:
			c.d.warnf(kv.Pos, "aggressive = yes applies to IKEv1 only; ignored for this IKEv2 connection, as strongSwan does")
		default:
			co.aggressive = v
			b.set("aggressive", tomlBool(v), kv.Pos)
		}
	}
	c.swanAddrs(co, s)
	c.swanProposals(co, s)
	c.swanLiveness(co, s)
	c.swanIKETimes(co, s)
	c.swanConnMisc(co, s, pools)
	for _, u := range swanConnUnsupported {
		c.defaultOr(b, s, u.key, u.def, u.what)
	}
	c.swanAuth(co, s, rounds)
	c.swanChildren(co, s.Sub("children"), pools)
	c.finishConn(co)
}

// swanVersion sets version: 1 and 2 as written; 0 (strongSwan's default: either as a
// responder, IKEv2 as initiator) needs a choice, which is 1 when the connection uses
// something only IKEv1 has (Aggressive Mode, an XAUTH round), else 2.
func (c *converter) swanVersion(co *connOut, s *Section, rounds swanAuthRounds) {
	kv := s.Key("version")
	pos := s.Pos
	v := "0"
	if kv != nil {
		v, pos = strings.TrimSpace(kv.Value), kv.Pos
	}
	switch v {
	case "1", "2":
		co.version = int(v[0] - '0')
		co.b.set("version", v, pos)
		return
	case "0", "":
	default:
		c.d.warnf(pos, "version = %s is not 0, 1 or 2; treated as 0", clip(v))
	}
	reason := ""
	if a := s.keyByName("aggressive"); a != nil {
		if on, _ := parseBool(a.Value); on {
			reason = "aggressive = yes"
		}
	}
	for _, r := range append(append([]*Section(nil), rounds.local...), rounds.remote...) {
		if a := r.keyByName("auth"); a != nil && strings.HasPrefix(strings.ToLower(a.Value), "xauth") {
			reason = "an XAUTH round"
		}
	}
	if reason != "" {
		co.version = 1
		c.d.warnf(pos, "version = 0 (IKEv1 or IKEv2 as responder, IKEv2 as initiator): oakley needs one version; chose 1 because the connection uses %s, which only IKEv1 has", reason)
	} else {
		co.version = 2
		c.d.warnf(pos, "version = 0 (IKEv1 or IKEv2 as responder, IKEv2 as initiator): oakley needs one version; chose 2, the version strongSwan initiates with (it would also have answered IKEv1)")
	}
	co.b.set("version", fmt.Sprint(co.version), pos).note = "strongSwan's version = 0"
}

// swanAddrs converts local_addrs, remote_addrs and remote_port.
func (c *converter) swanAddrs(co *connOut, s *Section) {
	b := co.b
	if kv := s.Key("local_addrs"); kv != nil {
		items := splitList(kv.Value)
		chosen := false
		for _, it := range items {
			kind, ip := classifyAddr(it)
			switch {
			case chosen:
				c.d.warnf(kv.Pos, "local_addrs: %s is not converted: oakley's local_addr is one address (strongSwan would also have answered on it)", it)
			case kind == addrIP:
				co.localIP, chosen = ip, true
				b.setStr("local_addr", ip.String(), kv.Pos)
			case kind == addrAny:
				chosen = true
				b.notef("%s: local_addrs = %s: any local address, oakley's default", kv.Pos, it)
			case kind == addrName:
				c.d.warnf(kv.Pos, "local_addrs: %s is a DNS name; oakley's local_addr takes an IP address, so any local address is used", it)
			default:
				c.d.warnf(kv.Pos, "local_addrs: %s is a subnet or range; oakley cannot restrict the local address to one and uses any local address", it)
			}
		}
	}
	c.swanRemotePort(co, s)
	kv := s.Key("remote_addrs")
	if kv == nil {
		b.notef("remote_addrs is not set: strongSwan accepts any peer (%%any) and cannot initiate")
		return
	}
	items := splitList(kv.Value)
	chosen, anyPeer := false, false
	for _, it := range items {
		kind, ip := classifyAddr(it)
		switch {
		case chosen:
			c.d.warnf(kv.Pos, "remote_addrs: %s is not converted: oakley's remote_addr is one peer", it)
		case kind == addrIP:
			co.remoteIP, chosen = ip, true
			b.setStr("remote_addr", ip.String(), kv.Pos)
		case kind == addrName:
			chosen = true
			b.setStr("remote_addr", strings.TrimSuffix(it, "."), kv.Pos)
		case kind == addrAny:
			anyPeer = true
		case kind == addrBad:
			c.d.warnf(kv.Pos, "remote_addrs: %q is not an address, DNS name, subnet or range; not converted", it)
		default:
			anyPeer = true
			c.d.warnf(kv.Pos, "remote_addrs: %s is a subnet or range; oakley cannot restrict peers to one, so it answers any peer that authenticates (remote_addr = \"%%any\")", it)
		}
	}
	if !chosen && (anyPeer || len(items) == 0) {
		b.setStr("remote_addr", "%any", kv.Pos)
	}
}

// swanRemotePort converts remote_port.
func (c *converter) swanRemotePort(co *connOut, s *Section) {
	b := co.b
	if kv := s.Key("remote_port"); kv != nil {
		n, ok := parseCount(kv.Value)
		switch {
		case !ok || n == 0 || n > 65535:
			c.d.warnf(kv.Pos, "remote_port = %s is not a port; not converted", clip(kv.Value))
		case n == 500:
			b.notef("%s: remote_port = 500 is oakley's default", kv.Pos)
		default:
			b.set("remote_port", tomlInt(int64(n)), kv.Pos)
			b.set("remote_natt_port", tomlInt(int64(n)), kv.Pos).note = "strongSwan does not float to 4500 from a port other than 500"
		}
	}
}

// swanProposals converts proposals (IKEv1 or IKEv2 rules by the chosen version).
func (c *converter) swanProposals(co *connOut, s *Section) {
	kv := s.Key("proposals")
	if kv == nil {
		return
	}
	proto := crypto.ProtoIKEv2
	if co.version == 1 {
		proto = crypto.ProtoIKEv1
	}
	props, insecure := convertProposals(c.d, kv.Pos, "proposals", kv.Value, proto, co.version == 1)
	if co.aggressive {
		props = sameGroup(c.d, kv.Pos, "proposals", props)
	}
	if len(props) > 0 {
		co.b.setList("proposals", props, kv.Pos)
		c.noteInsecure(insecure, kv.Pos)
	}
}

// swanLiveness converts dpd_delay and dpd_timeout. strongSwan's DPD is off by default,
// oakley's is on, so an absent dpd_delay is written as "0s".
func (c *converter) swanLiveness(co *connOut, s *Section) {
	b := co.b
	delay := time.Duration(0)
	if kv := s.Key("dpd_delay"); kv != nil {
		d, ok := parseTime(kv.Value)
		if !ok {
			c.d.warnf(kv.Pos, "dpd_delay = %s is not a time; DPD stays off", clip(kv.Value))
			b.setStr("dpd_delay", "0s", kv.Pos)
		} else {
			delay = d
			b.setStr("dpd_delay", fmtDuration(d), kv.Pos)
		}
	} else {
		b.setStr("dpd_delay", "0s", s.Pos).note = "strongSwan's default: no DPD"
	}
	kv := s.Key("dpd_timeout")
	switch {
	case kv != nil && co.version == 2:
		c.d.warnf(kv.Pos, "dpd_timeout applies to IKEv1 only (IKEv2 uses retransmissions); not converted")
	case kv != nil:
		d, ok := parseTime(kv.Value)
		switch {
		case !ok:
			c.d.warnf(kv.Pos, "dpd_timeout = %s is not a time; not converted", clip(kv.Value))
		case d == 0:
			b.notef("%s: dpd_timeout = 0: oakley's default timeout (150s) applies", kv.Pos)
		case delay > 0 && d <= delay:
			c.d.warnf(kv.Pos, "dpd_timeout = %s is not longer than dpd_delay; oakley needs it longer (RFC 3706 §5.5): written as %s", fmtDuration(d), fmtDuration(5*delay))
			b.setStr("dpd_timeout", fmtDuration(5*delay), kv.Pos)
		default:
			b.setStr("dpd_timeout", fmtDuration(d), kv.Pos)
		}
	}
	if delay >= 150*time.Second && b.get("dpd_timeout") == nil {
		b.setStr("dpd_timeout", fmtDuration(5*delay), s.Pos).note = "oakley's default 150s must exceed dpd_delay"
	}
}

// swanIKETimes converts rekey_time, reauth_time, over_time and rand_time. In IKEv1 strongSwan
// reauthenticates instead of rekeying, which is what oakley's rekey_time does for IKEv1.
func (c *converter) swanIKETimes(co *connOut, s *Section) {
	b := co.b
	get := func(key string) (*KV, time.Duration, bool) {
		kv := s.Key(key)
		if kv == nil {
			return nil, 0, false
		}
		d, ok := parseTime(kv.Value)
		if !ok {
			c.d.warnf(kv.Pos, "%s = %s is not a time; not converted", key, clip(kv.Value))
			return nil, 0, false
		}
		return kv, d, true
	}
	rk, rekey, hasRekey := get("rekey_time")
	ra, reauth, hasReauth := get("reauth_time")
	switch {
	case co.version == 1 && hasReauth && hasRekey && rekey > 0 && reauth > 0:
		t := min(rekey, reauth)
		c.d.warnf(ra.Pos, "reauth_time and rekey_time are both set; IKEv1 only reauthenticates, at the earlier (%s)", fmtDuration(t))
		b.setStr("rekey_time", fmtDuration(t), rk.Pos, ra.Pos)
	case co.version == 1 && hasReauth:
		b.setStr("rekey_time", fmtDuration(reauth), ra.Pos).note = "IKEv1 reauthentication"
		if hasRekey {
			b.notef("%s: rekey_time = %s: IKEv1 reauthenticates at reauth_time instead", rk.Pos, rk.Value)
		}
	case hasRekey && hasReauth && rekey > 0 && reauth > 0:
		b.setStr("rekey_time", fmtDuration(rekey), rk.Pos)
		c.d.warnf(ra.Pos, "reauth_time: oakley rekeys the IKEv2 SA at rekey_time and does not reauthenticate; not converted")
	case hasReauth && reauth > 0 && !(hasRekey && rekey > 0):
		b.setStr("rekey_time", fmtDuration(reauth), ra.Pos)
		c.d.warnf(ra.Pos, "reauth_time: oakley rekeys the IKEv2 SA instead of reauthenticating; converted to rekey_time")
	case hasRekey:
		b.setStr("rekey_time", fmtDuration(rekey), rk.Pos)
		if hasReauth {
			b.notef("%s: reauth_time = 0 (off) is strongSwan's default", ra.Pos)
		}
	case hasReauth:
		b.notef("%s: reauth_time = 0 (off) is strongSwan's default", ra.Pos)
	}
	for _, key := range []string{"over_time", "rand_time"} {
		if kv := s.Key(key); kv != nil {
			c.d.warnf(kv.Pos, "%s: oakley proposes rekey_time + 10%% as the IKE SA lifetime and picks its own jitter; not converted", key)
		}
	}
}

// swanConnMisc converts vips, pools, encap, mobike, fragmentation and send_cert.
func (c *converter) swanConnMisc(co *connOut, s *Section, pools *Section) {
	b := co.b
	if kv := s.Key("vips"); kv != nil {
		var vips []string
		for _, it := range splitList(kv.Value) {
			if kind, ip := classifyAddr(it); kind == addrIP || it == "0.0.0.0" || it == "::" {
				if kind == addrIP {
					it = ip.String()
				}
				vips = append(vips, it)
			} else {
				c.d.warnf(kv.Pos, "vips: %s is not an IP address; not converted", it)
			}
		}
		if len(vips) > 0 {
			b.setList("vips", vips, kv.Pos)
		}
	}
	if kv := s.Key("pools"); kv != nil {
		var names []string
		for _, it := range splitList(kv.Value) {
			if pools == nil || pools.subByName(it) == nil {
				c.d.warnf(kv.Pos, "pools: %s is not defined in this file's pools section (an external pool, e.g. from a database or RADIUS?); oakley needs a [[pool]] of that name", it)
			}
			n, _ := oakleyName(it, map[string]bool{})
			names = append(names, n)
		}
		if len(names) > 0 {
			b.setList("pools", names, kv.Pos)
		}
	}
	if kv := s.Key("encap"); kv != nil {
		v, ok := parseBool(kv.Value)
		co.encapFrom = kv.Pos
		switch {
		case !ok:
			c.d.warnf(kv.Pos, "encap = %s is not yes or no; strongSwan's default (no) is used", clip(kv.Value))
			b.setStr("encap", "auto", kv.Pos)
		case v:
			co.encapForce = true
			b.setStr("encap", "udp", kv.Pos)
		default:
			b.setStr("encap", "auto", kv.Pos).note = "raw ESP unless a NAT is detected"
		}
	} else {
		co.encapFrom = s.Pos
		b.setStr("encap", "auto", s.Pos).note = "strongSwan's default encap = no: raw ESP unless a NAT is detected"
	}
	kv := s.Key("mobike")
	switch {
	case co.version == 2 && kv == nil:
		b.set("mobike", "true", s.Pos).note = "strongSwan's default for IKEv2"
	case kv != nil:
		v, ok := parseBool(kv.Value)
		switch {
		case !ok:
			c.d.warnf(kv.Pos, "mobike = %s is not yes or no; not converted", clip(kv.Value))
		case co.version == 1:
			b.notef("%s: mobike = %s: MOBIKE is IKEv2 only; strongSwan ignores it with IKEv1", kv.Pos, kv.Value)
		default:
			b.set("mobike", tomlBool(v), kv.Pos)
		}
	}
	if kv := s.Key("fragmentation"); kv != nil {
		switch v := strings.ToLower(strings.TrimSpace(kv.Value)); v {
		case "yes", "accept", "force", "no":
			if v == "force" && co.version == 2 {
				c.d.warnf(kv.Pos, "fragmentation = force is IKEv1 only; written as yes")
				v = "yes"
			}
			b.setStr("fragmentation", v, kv.Pos)
		default:
			c.d.warnf(kv.Pos, "fragmentation = %s is not yes, accept, force or no; not converted", clip(kv.Value))
		}
	}
	if kv := s.Key("send_cert"); kv != nil {
		switch v := strings.ToLower(strings.TrimSpace(kv.Value)); v {
		case "ifasked", "always", "never":
			b.setStr("send_cert", v, kv.Pos)
		default:
			c.d.warnf(kv.Pos, "send_cert = %s is not ifasked, always or never; not converted", clip(kv.Value))
		}
	}
}
