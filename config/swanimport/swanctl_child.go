package swanimport

// Children (swanctl.conf(5) connections.<conn>.children.<child>) → [[connection.child]].

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"oakley/crypto"
)

// Child settings with no oakley equivalent: strongSwan's default and why.
var swanChildUnsupported = []struct{ key, def, what string }{
	{"sha256_96", "no", "oakley uses only the standard 128-bit HMAC-SHA-256 truncation (RFC 4868)"},
	{"updown", "", "oakley runs no updown scripts"},
	{"hostaccess", "no", "oakley runs no updown scripts"},
	{"policies", "yes", "oakley has no setting to leave its policies out"},
	{"policies_fwd_out", "no", "oakley has no kernel forward policies"},
	{"ipcomp", "no", "oakley does not implement IPComp"},
	{"inactivity", "0s", "oakley has no inactivity timeout"},
	{"reqid", "0", "reqids are kernel (XFRM) state; oakley has none"},
	{"priority", "0", "oakley has no policy priorities"},
	{"interface", "", "oakley has no per-interface policies"},
	{"mark_in", "0/0x00000000", "netfilter marks do not apply to oakley's userspace data plane"},
	{"mark_in_sa", "no", "netfilter marks do not apply to oakley's userspace data plane"},
	{"mark_out", "0/0x00000000", "netfilter marks do not apply to oakley's userspace data plane"},
	{"set_mark_in", "0/0x00000000", "netfilter marks do not apply to oakley's userspace data plane"},
	{"set_mark_out", "0/0x00000000", "netfilter marks do not apply to oakley's userspace data plane"},
	{"if_id_in", "0", "XFRM interface IDs do not apply to a userspace data plane"},
	{"if_id_out", "0", "XFRM interface IDs do not apply to a userspace data plane"},
	{"label", "", "oakley has no security labels"},
	{"label_mode", "system", "oakley has no security labels"},
	{"tfc_padding", "0", "oakley does not pad for traffic flow confidentiality"},
	{"hw_offload", "no", "oakley's data plane is in userspace"},
	{"copy_df", "yes", "oakley does not copy the inner DF bit to its outer UDP packets"},
	{"copy_ecn", "yes", "oakley does not copy ECN between inner and outer headers"},
	{"copy_dscp", "out", "oakley does not copy DSCP between inner and outer headers"},
	{"close_action", "none", "oakley has no action for a child the peer closes"},
	{"rand_time", "", "oakley picks its own rekey jitter"},
	{"rand_bytes", "", "oakley rekeys at about 90% of life_bytes"},
	{"rand_packets", "", "oakley rekeys at about 90% of life_packets"},
}

func (c *converter) swanChildren(co *connOut, children *Section, pools *Section) {
	if children == nil {
		c.d.warnf(co.pos, "connection %s has no children: no traffic would be protected", co.name)
		return
	}
	names := map[string]bool{}
	dpd := ""
	var dpdPos Pos
	for _, s := range children.Subs {
		s.used = true
		ch := c.swanChild(co, s, names, pools)
		if ch == nil {
			continue
		}
		if kv := s.Key("dpd_action"); kv != nil {
			a := ""
			switch v := strings.ToLower(strings.TrimSpace(kv.Value)); v {
			case "clear", "restart":
				a = v
			case "trap", "hold":
				a = "hold"
			case "none":
				a = "clear"
			default:
				c.d.warnf(kv.Pos, "dpd_action = %s is not clear, trap or restart; not converted", clip(kv.Value))
			}
			switch {
			case a == "":
			case dpd == "":
				dpd, dpdPos = a, kv.Pos
			case a != dpd:
				c.d.warnf(kv.Pos, "dpd_action = %s: oakley's dpd_action is per connection; the first child's (%s, %s) is used", kv.Value, dpd, dpdPos)
			default:
				dpdPos = kv.Pos
			}
		}
		co.children = append(co.children, ch)
		co.b.children = append(co.b.children, ch.b)
	}
	if dpd != "" {
		co.b.setStr("dpd_action", dpd, dpdPos).note = "trap in strongSwan is hold in oakley"
		if dpd != "hold" {
			co.b.get("dpd_action").note = ""
		}
	} else if d := co.b.get("dpd_delay"); d != nil && d.raw != "0s" {
		co.b.setStr("dpd_action", "clear", co.pos).note = "strongSwan's default dpd_action"
	}
}

func (c *converter) swanChild(co *connOut, s *Section, names map[string]bool, pools *Section) *childOut {
	b := newBlock("[[connection.child]]", "  ", childKeys)
	name, same := oakleyName(s.Name, names)
	if !same {
		c.d.warnf(s.Pos, "child %q is named %q in oakley", s.Name, name)
	}
	b.setStr("name", name, s.Pos)
	ch := &childOut{b: b, name: name, start: "none", startPos: s.Pos}
	mode := "tunnel"
	if kv := s.Key("mode"); kv != nil {
		switch v := strings.ToLower(strings.TrimSpace(kv.Value)); v {
		case "tunnel", "transport":
			mode = v
			b.setStr("mode", v, kv.Pos)
		case "pass", "drop":
			c.d.warnf(kv.Pos, "mode = %s makes child %s a shunt policy (traffic %s), which oakley does not have", v, s.Name, map[string]string{"pass": "bypasses IPsec", "drop": "is dropped"}[v])
			c.dropSection(s, "child %s is not converted (mode = %s)", s.Name, v)
			return nil
		default:
			c.d.warnf(kv.Pos, "mode = %s is not supported by oakley (tunnel, transport)", clip(v))
			c.dropSection(s, "child %s is not converted (mode = %s)", s.Name, clip(v))
			return nil
		}
	}
	c.swanSelectors(co, s, b, mode, pools)
	c.swanChildProposals(co, s, b)
	c.swanChildLife(s, b)
	if kv := s.Key("replay_window"); kv != nil {
		n, ok := parseCount(kv.Value)
		switch {
		case !ok:
			c.d.warnf(kv.Pos, "replay_window = %s is not a number; not converted", clip(kv.Value))
		case n > 65536:
			c.d.warnf(kv.Pos, "replay_window = %d is above oakley's maximum, 65536: written as 65536", n)
			b.set("replay_window", "65536", kv.Pos)
		default:
			b.set("replay_window", tomlInt(int64(n)), kv.Pos)
		}
	}
	if kv := s.Key("start_action"); kv != nil {
		ch.startPos = kv.Pos
		switch v := strings.ToLower(strings.ReplaceAll(kv.Value, " ", "")); v {
		case "none", "trap", "start":
			ch.start = v
		case "trap|start", "start|trap":
			ch.start = "start"
			c.d.warnf(kv.Pos, "start_action = %s: oakley has one action: start (no trap policy while it is down)", kv.Value)
		default:
			c.d.warnf(kv.Pos, "start_action = %s is not none, trap or start; none is used", clip(kv.Value))
		}
	}
	for _, u := range swanChildUnsupported {
		c.defaultOr(b, s, u.key, u.def, u.what)
	}
	return ch
}

// dropSection reports a section that is not converted, with why, at its header, and each of
// its settings at its own line.
func (c *converter) dropSection(s *Section, format string, args ...any) {
	c.d.warnf(s.Pos, format, args...)
	var walk func(x *Section)
	walk = func(x *Section) {
		x.used = true
		for _, kv := range x.Keys {
			kv.used = true
			if !c.d.warned[kv.Pos] {
				c.d.warnf(kv.Pos, "%s: not converted, with the rest of %s (line %d)", kv.Key, s.path, s.Pos.Line)
			}
		}
		for _, sub := range x.Subs {
			walk(sub)
		}
	}
	walk(s)
}

// swanSelectors converts local_ts and remote_ts; "dynamic" (the default) is the IKE
// address, or the virtual IPs of a pool.
func (c *converter) swanSelectors(co *connOut, s *Section, b *block, mode string, pools *Section) {
	for _, side := range []string{"local_ts", "remote_ts"} {
		kv := s.Key(side)
		pos := s.Pos
		items := []string{"dynamic"}
		if kv != nil {
			pos, items = kv.Pos, splitList(kv.Value)
		}
		var out []string
		for i, it := range items {
			if co.version == 1 && i > 0 {
				c.d.warnf(pos, "%s: %s is not converted: with IKEv1 strongSwan negotiates only the first selector (define another child for it)", side, it)
				continue
			}
			if strings.EqualFold(it, "dynamic") || strings.HasPrefix(strings.ToLower(it), "dynamic[") {
				out = append(out, c.dynamicTS(co, side, it, mode, pos, pools)...)
				continue
			}
			ts, notes, problem := convertTS(it, co.version == 1)
			if problem != "" {
				c.d.warnf(pos, "%s: %s; not converted", side, problem)
				continue
			}
			for _, n := range notes {
				b.notef("%s: %s: %s", pos, side, n)
			}
			out = append(out, ts...)
		}
		if len(out) > 0 {
			b.setList(side, out, pos)
		}
	}
}

func (c *converter) dynamicTS(co *connOut, side, item, mode string, pos Pos, pools *Section) []string {
	suffix := ""
	if i := strings.IndexByte(item, '['); i >= 0 {
		suffix = item[i:]
	}
	ip := co.localIP
	if side == "remote_ts" {
		ip = co.remoteIP
	}
	vipSide := side == "local_ts" && co.b.get("vips") != nil || side == "remote_ts" && co.b.get("pools") != nil
	switch {
	case vipSide && side == "remote_ts":
		var out []string
		for _, name := range co.b.get("pools").items {
			if pools == nil {
				break
			}
			if p := pools.subByName(name); p != nil {
				if a := p.keyByName("addrs"); a != nil {
					ts, _, problem := convertTS(a.Value+suffix, co.version == 1)
					if problem == "" {
						out = append(out, ts...)
					}
				}
			}
		}
		if len(out) > 0 {
			c.d.warnf(pos, "remote_ts = dynamic: strongSwan narrows it to each client's virtual IP; written as the pools' addresses %s", strings.Join(out, ", "))
			return out
		}
		c.d.warnf(pos, "remote_ts = dynamic: the clients' virtual IPs come from a pool not defined here; set remote_ts")
	case vipSide:
		c.d.warnf(pos, "local_ts = dynamic: strongSwan uses the virtual IP it is assigned, known only at run time; set local_ts")
	case ip.IsValid():
		ts, _, problem := convertTS(netip.PrefixFrom(ip, ip.BitLen()).String()+suffix, co.version == 1)
		if problem != "" {
			c.d.warnf(pos, "%s = %s: %s; not converted", side, item, problem)
			return nil
		}
		if suffix == "" && mode == "transport" {
			return nil // oakley's default in transport mode is the IKE address
		}
		return ts
	case mode == "transport" && suffix == "":
		// oakley defaults to the IKE addresses in transport mode.
	default:
		c.d.warnf(pos, "%s = %s: the IKE address is not a fixed IP address here; set %s", side, item, side)
	}
	return nil
}

func (c *converter) swanChildProposals(co *connOut, s *Section, b *block) {
	esp, ah := s.Key("esp_proposals"), s.Key("ah_proposals")
	if ah != nil && strings.TrimSpace(ah.Value) != "" {
		props, insecure := convertProposals(c.d, ah.Pos, "ah_proposals", ah.Value, crypto.ProtoAH, co.version == 1)
		if len(props) > 0 {
			b.setList("ah_proposals", props, ah.Pos)
			c.noteInsecure(insecure, ah.Pos)
			co.ah = true
		}
		if esp != nil {
			c.d.warnf(esp.Pos, "esp_proposals: strongSwan does not bundle AH with ESP, and uses AH here; not converted")
		}
		return
	}
	if esp == nil {
		return
	}
	props, insecure := convertProposals(c.d, esp.Pos, "esp_proposals", esp.Value, crypto.ProtoESP, co.version == 1)
	if len(props) > 0 {
		b.setList("esp_proposals", props, esp.Pos)
		c.noteInsecure(insecure, esp.Pos)
	}
}

// swanChildLife converts the lifetimes. oakley rekeys at rekey_time and proposes rekey_time
// + 10% as the lifetime (strongSwan's default life_time); its life_bytes / life_packets are
// hard limits with the rekey at about 90%, so strongSwan's life_* map to them, or, when only
// rekey_* is set, strongSwan's default hard limit rekey_* + 10%.
func (c *converter) swanChildLife(s *Section, b *block) {
	var rekey time.Duration
	if kv := s.Key("rekey_time"); kv != nil {
		if d, ok := parseTime(kv.Value); ok {
			rekey = d
			b.setStr("rekey_time", fmtDuration(d), kv.Pos)
		} else {
			c.d.warnf(kv.Pos, "rekey_time = %s is not a time; not converted", clip(kv.Value))
		}
	}
	if kv := s.Key("life_time"); kv != nil {
		d, ok := parseTime(kv.Value)
		base := rekey
		if b.get("rekey_time") == nil {
			base = time.Hour
		}
		switch {
		case !ok:
			c.d.warnf(kv.Pos, "life_time = %s is not a time; not converted", clip(kv.Value))
		case absDiff(d, base*11/10) <= time.Second:
			b.notef("%s: life_time = %s is rekey_time + 10%%, which oakley proposes too", kv.Pos, kv.Value)
		default:
			c.d.warnf(kv.Pos, "life_time = %s: oakley proposes rekey_time + 10%% (%s) as the lifetime; not converted", kv.Value, fmtDuration(base*11/10))
		}
	}
	for _, unit := range []string{"bytes", "packets"} {
		c.volumeLimit(s, b, unit)
	}
}

func absDiff(a, b time.Duration) time.Duration {
	if a > b {
		return a - b
	}
	return b - a
}

func (c *converter) volumeLimit(s *Section, b *block, unit string) {
	rekeyKV, lifeKV := s.Key("rekey_"+unit), s.Key("life_"+unit)
	read := func(kv *KV) (uint64, bool) {
		if kv == nil {
			return 0, false
		}
		n, ok := parseCount(kv.Value)
		if !ok || n > math.MaxInt64 {
			c.d.warnf(kv.Pos, "%s = %s is not a count; not converted", kv.Key, clip(kv.Value))
			return 0, false
		}
		return n, true
	}
	rekey, hasRekey := read(rekeyKV)
	life, hasLife := read(lifeKV)
	key := "life_" + unit
	switch {
	case hasLife && life > 0:
		b.set(key, tomlInt(int64(life)), lifeKV.Pos)
		if hasRekey && rekey > 0 {
			c.d.warnf(rekeyKV.Pos, "%s = %d: oakley rekeys at about 90%% of %s (%d), not at a separate threshold", rekeyKV.Key, rekey, key, life)
		}
	case hasRekey && rekey > 0:
		hard := rekey + rekey/10
		b.set(key, tomlInt(int64(hard)), rekeyKV.Pos).note = fmt.Sprintf("strongSwan's hard limit %s + 10%%; oakley rekeys at about 90%% of it", rekeyKV.Key)
	default:
		for _, kv := range []*KV{rekeyKV, lifeKV} {
			if kv != nil {
				b.notef("%s: %s = %s: no limit, oakley's default", kv.Pos, kv.Key, kv.Value)
			}
		}
	}
}
