package swanimport

// The child of an ipsec.conf conn (subnets, esp/ah, lifetimes, auto), its virtual IPs and
// pools (leftsourceip, rightsourceip, rightdns), and the conn parameters oakley lacks.

import (
	"math"
	"net/netip"
	"strings"
	"time"

	"oakley/crypto"
)

func (c *converter) strokeChild(sc *strokeConn) {
	co, cb := sc.co, sc.cb
	sc.mode = "tunnel"
	if kv := sc.get("type"); kv != nil && kv.Value != "" {
		sc.mode = strings.ToLower(strings.TrimSpace(kv.Value))
		cb.setStr("mode", sc.mode, kv.Pos)
	}
	c.strokeSources(sc)
	for _, side := range []string{"local_ts", "remote_ts"} {
		c.strokeSubnets(sc, side)
	}
	if kv := sc.get("ah"); kv != nil && strings.TrimSpace(kv.Value) != "" {
		props, insecure := convertProposals(c.d, kv.Pos, "ah", c.strict(cb, kv, "ah"), crypto.ProtoAH, co.version == 1)
		if len(props) > 0 {
			cb.setList("ah_proposals", props, kv.Pos)
			c.noteInsecure(insecure, kv.Pos)
			co.ah = true
		}
		if e := sc.get("esp"); e != nil {
			c.d.warnf(e.Pos, "esp: strongSwan does not bundle AH with ESP and uses AH here; not converted")
		}
	} else if kv := sc.get("esp"); kv != nil {
		props, insecure := convertProposals(c.d, kv.Pos, "esp", c.strict(cb, kv, "esp"), crypto.ProtoESP, co.version == 1)
		if len(props) > 0 {
			cb.setList("esp_proposals", props, kv.Pos)
			c.noteInsecure(insecure, kv.Pos)
		}
	} else {
		cb.notef("esp is not set: strongSwan proposes aes128-sha256 and its defaults, oakley its own (CONFIG.md)")
	}
	margin, marginPos := c.strokeTime(sc, "margintime", 9*time.Minute)
	life, lifePos := c.strokeTime(sc, "lifetime", c.defaultLife(time.Hour))
	c.rekeyTime(sc, cb, life, margin, lifePos, marginPos, "lifetime")
	for _, unit := range []string{"bytes", "packets"} {
		life, margin := sc.get("life"+unit), sc.get("margin"+unit)
		if life == nil {
			if margin != nil {
				c.d.warnf(margin.Pos, "margin%s without life%s has no effect; not converted", unit, unit)
			}
			continue
		}
		n, ok := parseCount(life.Value)
		if !ok || n > math.MaxInt64 {
			c.d.warnf(life.Pos, "life%s=%s is not a count; not converted", unit, clip(life.Value))
			continue
		}
		cb.set("life_"+unit, tomlInt(int64(n)), life.Pos)
		if margin != nil {
			c.d.warnf(margin.Pos, "margin%s: oakley rekeys at about 90%% of life_%s (%d), not at a separate margin", unit, unit, n)
		}
	}
	if kv := sc.get("replay_window"); kv != nil {
		v := strings.TrimSpace(kv.Value)
		n, err := parseReplay(v)
		switch {
		case err != "":
			c.d.warnf(kv.Pos, "replay_window=%s %s; not converted", clip(v), err)
		case n < 0:
			cb.notef("%s: replay_window=-1: strongSwan's charon.replay_window (32 by default); oakley's default (1024) applies", kv.Pos)
		case n > 65536:
			c.d.warnf(kv.Pos, "replay_window=%d is above oakley's maximum, 65536: written as 65536", n)
			cb.set("replay_window", "65536", kv.Pos)
		default:
			cb.set("replay_window", tomlInt(n), kv.Pos)
		}
	}
	auto, autoPos := sc.value("auto", "ignore")
	sc.ch.startPos = autoPos
	switch strings.ToLower(auto) {
	case "start":
		sc.ch.start = "start"
	case "route":
		sc.ch.start = "trap"
	default:
		sc.ch.start = "none"
	}
	if kv := sc.get("closeaction"); kv != nil {
		if v := strings.ToLower(strings.TrimSpace(kv.Value)); v == "none" || v == "" {
			cb.notef("%s: closeaction=none is strongSwan's default; oakley has no close action", kv.Pos)
		} else {
			c.d.warnf(kv.Pos, "closeaction=%s: oakley has no action for a child the peer closes; not converted", clip(v))
		}
	}
}

func parseReplay(v string) (int64, string) {
	if v == "-1" {
		return -1, ""
	}
	n, ok := parseCount(v)
	if !ok || n > math.MaxInt32 {
		return 0, "is not a number"
	}
	return int64(n), ""
}

// strokeSubnets converts leftsubnet/rightsubnet (with leftprotoport): absent or %dynamic is
// the side's address (or its virtual IP); IKEv1 negotiates only the first subnet.
func (c *converter) strokeSubnets(sc *strokeConn, side string) {
	co, cb := sc.co, sc.cb
	pick, key, ip := sc.local, sc.l, co.localIP
	if side == "remote_ts" {
		pick, key, ip = sc.remote, sc.r, co.remoteIP
	}
	kv := pick("subnet")
	proto := pick("protoport")
	suffix := ""
	if proto != nil && strings.TrimSpace(proto.Value) != "" {
		suffix = "[" + strings.TrimSpace(proto.Value) + "]"
	}
	pos := sc.st.Pos
	items := []string{"%dynamic"}
	if kv != nil && kv.Value != "" {
		pos, items = kv.Pos, splitList(kv.Value)
	}
	var out []string
	var from []Pos
	if kv != nil {
		from = append(from, kv.Pos)
	}
	if proto != nil {
		from = append(from, proto.Pos)
	}
	for i, it := range items {
		if i > 0 && co.version == 1 {
			c.d.warnf(pos, "%ssubnet: %s is not converted: with IKEv1 strongSwan negotiates only the first subnet (define another conn for it)", key, it)
			continue
		}
		if !strings.Contains(it, "[") {
			it += suffix
		}
		if strings.HasPrefix(strings.ToLower(it), "%dynamic") {
			rest := it[len("%dynamic"):]
			vips := side == "local_ts" && co.b.get("vips") != nil
			pools := side == "remote_ts" && co.b.get("pools") != nil
			switch {
			case vips:
				c.d.warnf(pos, "%ssubnet: without it strongSwan uses the virtual IP it is assigned, known only at run time; set local_ts", key)
			case pools:
				if p := c.poolTS(co, rest); len(p) > 0 {
					c.d.warnf(pos, "%ssubnet: strongSwan narrows it to each client's virtual IP; written as the pool's addresses %s", key, strings.Join(p, ", "))
					out = append(out, p...)
				} else {
					c.d.warnf(pos, "%ssubnet: the clients' virtual IPs come from a pool not defined here; set remote_ts", key)
				}
			case ip.IsValid():
				if rest == "" && sc.mode == "transport" {
					continue // oakley's default in transport mode is the IKE address
				}
				ts, _, problem := convertTS(netip.PrefixFrom(ip, ip.BitLen()).String()+rest, co.version == 1)
				if problem != "" {
					c.d.warnf(pos, "%ssubnet: %s; not converted", key, problem)
					continue
				}
				out = append(out, ts...)
				if kv == nil {
					from = append(from, sc.eff[key].Pos)
				}
			case sc.mode == "transport" && rest == "":
			default:
				c.d.warnf(pos, "%ssubnet is not set and %s is not a fixed IP address; set %s", key, key, side)
			}
			continue
		}
		ts, notes, problem := convertTS(it, co.version == 1)
		if problem != "" {
			c.d.warnf(pos, "%ssubnet: %s; not converted", key, problem)
			continue
		}
		for _, n := range notes {
			cb.notef("%s: %ssubnet: %s", pos, key, n)
		}
		out = append(out, ts...)
	}
	if len(out) > 0 {
		cb.setList(side, out, from...)
	} else if proto != nil {
		c.d.warnf(proto.Pos, "%sprotoport: no %s is written for it to restrict; not converted", key, side)
	}
}

// poolTS returns the selectors covering the pools of a connection.
func (c *converter) poolTS(co *connOut, suffix string) []string {
	var out []string
	names := co.b.get("pools").items
	for _, pb := range c.doc.pools {
		for _, n := range names {
			if pb.get("name").raw == n {
				ts, _, problem := convertTS(pb.get("addrs").raw+suffix, co.version == 1)
				if problem == "" {
					out = append(out, ts...)
				}
			}
		}
	}
	return out
}

// strokeSources converts leftsourceip (virtual IPs to request), rightsourceip (a pool for
// the peer) and rightdns (its DNS servers).
func (c *converter) strokeSources(sc *strokeConn) {
	co, b := sc.co, sc.co.b
	if kv := sc.local("sourceip"); kv != nil {
		var vips []string
		for _, it := range splitList(kv.Value) {
			switch strings.ToLower(it) {
			case "%config", "%cfg", "%modeconfig", "%modecfg":
				if co.remoteIP.Is6() {
					vips = append(vips, "::")
				} else {
					vips = append(vips, "0.0.0.0")
				}
			case "%config4":
				vips = append(vips, "0.0.0.0")
			case "%config6":
				vips = append(vips, "::")
			default:
				if a, err := netip.ParseAddr(it); err == nil {
					vips = append(vips, a.String())
				} else {
					c.d.warnf(kv.Pos, "%ssourceip: %s is not an address or %%config; not converted", sc.l, it)
				}
			}
		}
		if len(vips) > 0 {
			b.setList("vips", vips, kv.Pos)
		}
	}
	if kv := sc.local("dns"); kv != nil {
		c.d.warnf(kv.Pos, "%sdns: oakley has no setting for the DNS servers a client asks for; not converted", sc.l)
	}
	dns := sc.remote("dns")
	kv := sc.remote("sourceip")
	if kv == nil {
		if dns != nil {
			c.d.warnf(dns.Pos, "%sdns without %ssourceip: oakley hands DNS servers out with a pool; not converted", sc.r, sc.r)
		}
		return
	}
	var names []string
	for _, it := range splitList(kv.Value) {
		switch {
		case strings.EqualFold(it, "%config") || strings.EqualFold(it, "%cfg"):
			c.d.warnf(kv.Pos, "%ssourceip=%s: the client proposes its address; oakley's gateways assign from a [[pool]]; not converted", sc.r, it)
		case strings.HasPrefix(it, "%"):
			n, _ := oakleyName(it[1:], map[string]bool{})
			names = append(names, n)
			c.d.warnf(kv.Pos, "%ssourceip=%s is an external pool (a database or RADIUS); oakley needs a [[pool]] named %s", sc.r, it, n)
		default:
			addrs, problem := poolAddrs(it)
			if problem != "" {
				c.d.warnf(kv.Pos, "%ssourceip: %s; not converted", sc.r, problem)
				continue
			}
			name, _ := oakleyName(co.name, c.poolNames)
			pb := newBlock("[[pool]]", "", poolKeys)
			pb.setStr("name", name, kv.Pos)
			pb.setStr("addrs", addrs, kv.Pos)
			if dns != nil {
				for _, a := range splitList(dns.Value) {
					if _, err := netip.ParseAddr(a); err == nil {
						pb.appendList("dns", a, dns.Pos)
					} else {
						c.d.warnf(dns.Pos, "%sdns: %s is not an IP address; not converted", sc.r, a)
					}
				}
				dns = nil
			}
			c.doc.pools = append(c.doc.pools, pb)
			names = append(names, name)
		}
	}
	if dns != nil {
		c.d.warnf(dns.Pos, "%sdns: no pool was converted to hand it out; not converted", sc.r)
	}
	if len(names) > 0 {
		b.setList("pools", names, kv.Pos)
	}
}

// Conn parameters with no oakley equivalent: strongSwan's default and why.
var strokeUnsupported = []struct{ key, def, what string }{
	{"compress", "no", "oakley does not implement IPComp"},
	{"ikedscp", "000000", "oakley does not mark IKE packets with a DSCP"},
	{"inactivity", "", "oakley has no inactivity timeout"},
	{"installpolicy", "yes", "oakley has no setting to leave its policies out"},
	{"keyingtries", "3", "oakley has no keyingtries setting"},
	{"mark", "", "netfilter marks do not apply to oakley's userspace data plane"},
	{"mark_in", "", "netfilter marks do not apply to oakley's userspace data plane"},
	{"mark_out", "", "netfilter marks do not apply to oakley's userspace data plane"},
	{"me_peerid", "", "the IKEv2 mediation extension is not supported by oakley"},
	{"mediation", "no", "the IKEv2 mediation extension is not supported by oakley"},
	{"mediated_by", "", "the IKEv2 mediation extension is not supported by oakley"},
	{"modeconfig", "pull", "oakley has no Mode Config push mode"},
	{"reqid", "", "reqids are kernel (XFRM) state; oakley has none"},
	{"sha256_96", "no", "oakley uses only the standard 128-bit HMAC-SHA-256 truncation (RFC 4868)"},
	{"tfc", "", "oakley does not pad for traffic flow confidentiality"},
	{"auth", "", "the pluto AH+ESP option is not supported by strongSwan's charon either"},
	{"leftupdown", "", "oakley runs no updown scripts"},
	{"rightupdown", "", "oakley runs no updown scripts"},
	{"leftfirewall", "no", "oakley runs no updown scripts"},
	{"rightfirewall", "no", "oakley runs no updown scripts"},
	{"lefthostaccess", "no", "oakley runs no updown scripts"},
	{"righthostaccess", "no", "oakley runs no updown scripts"},
	{"leftallowany", "no", "oakley binds to one local address and expects the peer at remote_addr"},
	{"rightallowany", "no", "oakley binds to one local address and expects the peer at remote_addr"},
}

func (c *converter) strokeUnsupported(sc *strokeConn) {
	for _, u := range strokeUnsupported {
		kv := sc.get(u.key)
		if kv == nil {
			continue
		}
		if sameValue(kv.Value, u.def) {
			sc.co.b.notef("%s: %s=%s is strongSwan's default; not converted: %s", kv.Pos, u.key, kv.Value, u.what)
			continue
		}
		c.d.warnf(kv.Pos, "%s=%s: %s; not converted", u.key, clip(kv.Value), u.what)
	}
}
