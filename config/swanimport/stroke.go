package swanimport

// ipsec.conf (the stroke/starter format) → oakley. A conn section is one IKE connection with
// one child of the same name, written in terms of left and right: one of them is this host
// (Options.Local, else left unless only right's address is one of this host's). Keys are
// read through connSide, which maps left*/right* to local/remote. README.md has the table.

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"oakley/crypto"
)

// strokeConn is one conn being converted: its effective parameters and sides.
type strokeConn struct {
	st      *Stanza
	eff     map[string]*KV
	l, r    string // "left"/"right" of this host and of the peer
	co      *connOut
	ch      *childOut
	cb      *block
	mode    string
	pskUsed bool
}

// get returns a parameter, marking it read.
func (sc *strokeConn) get(k string) *KV {
	kv := sc.eff[k]
	if kv != nil {
		kv.used = true
	}
	return kv
}

func (sc *strokeConn) local(suffix string) *KV  { return sc.get(sc.l + suffix) }
func (sc *strokeConn) remote(suffix string) *KV { return sc.get(sc.r + suffix) }

// value returns a parameter's value or def, and its position (the conn's without one).
func (sc *strokeConn) value(k, def string) (string, Pos) {
	if kv := sc.get(k); kv != nil && kv.Value != "" {
		return kv.Value, kv.Pos
	}
	return def, sc.st.Pos
}

func (c *converter) stroke(conf *IpsecConf, secrets []*SecretEntry) {
	skipped := map[*Stanza]string{}
	if s := conf.Setup; s != nil {
		for _, kv := range s.Keys {
			kv.used = true
			c.d.warnf(kv.Pos, "config setup %s: oakley's daemon settings are its [daemon] table; not converted", kv.Key)
		}
	}
	for _, v := range conf.Versions {
		c.d.warnf(v, "the version line of old ipsec.conf files means nothing to strongSwan 5 or oakley; ignored")
	}
	c.libreswan = isLibreswan(conf)
	cas := c.strokeCAs(conf)
	for _, st := range conf.Conns {
		if st.Name == "%default" {
			continue
		}
		if why := c.strokeConn(conf, st, cas, secrets); why != "" {
			skipped[st] = why
		}
	}
	var ike, eap []secretCand
	for _, e := range secrets {
		cand := secretCand{ids: e.Selectors, value: e.Value, pos: e.Pos, from: []Pos{e.Pos}, used: &e.used}
		switch e.Type {
		case "PSK":
			ike = append(ike, cand)
		case "EAP", "XAUTH":
			eap = append(eap, cand)
		}
	}
	c.assignSecrets(ike, eap)
	for _, e := range secrets {
		if e.used {
			continue
		}
		switch e.Type {
		case "NTLM":
			c.d.warnf(e.Pos, "NTLM secret: oakley's [[user]] password_file needs the password itself; not converted")
		case "PIN":
			c.d.warnf(e.Pos, "PIN secret: keys on smartcards are not supported by oakley; not converted")
		case "P12":
			c.d.warnf(e.Pos, "P12 secret: oakley reads PEM or DER certificates and keys, not PKCS#12; not converted")
		case "RSA", "ECDSA":
			c.d.warnf(e.Pos, "%s key %s is used by no converted connection; not converted", e.Type, e.Value)
		}
	}
	c.strokeSweep(conf, skipped)
}

// strokeSweep reports every parameter no conversion step read.
func (c *converter) strokeSweep(conf *IpsecConf, skipped map[*Stanza]string) {
	all := append([]*Stanza(nil), conf.Conns...)
	all = append(all, conf.CAs...)
	for _, st := range all {
		for _, kv := range append(append([]*KV(nil), st.Also...), st.Keys...) {
			if kv.used {
				continue
			}
			switch {
			case skipped[st] != "":
				c.d.warnf(kv.Pos, "%s in conn %s: not converted, because the conn is not (%s)", kv.Key, st.Name, skipped[st])
			case st.Name == "%default":
				c.d.warnf(kv.Pos, "%s in conn %%default: no converted connection uses it (each overrides it, or it is unknown to the importer); not converted", kv.Key)
			default:
				c.d.warnf(kv.Pos, "%s in %s %s is unknown to the importer; not converted", kv.Key, st.Type, st.Name)
			}
		}
	}
}

// strokeCAs collects the trust anchors strongSwan loads: ipsec.d/cacerts/* and the
// cacert of every ca section with auto = add.
func (c *converter) strokeCAs(conf *IpsecConf) []caFile {
	var cas []caFile
	for _, f := range c.listDir(filepath.Join(c.baseDir, "ipsec.d", "cacerts")) {
		cas = append(cas, caFile{path: absPath("", f)})
	}
	for _, st := range conf.CAs {
		auto := st.key("auto")
		if auto == nil || !strings.EqualFold(strings.TrimSpace(auto.Value), "add") {
			pos := st.Pos
			if auto != nil {
				pos = auto.Pos
			}
			c.d.warnf(pos, "ca %s has auto=ignore (the default): strongSwan does not load it; not converted", st.Name)
			for _, kv := range st.Keys {
				kv.used = true
				if kv != auto {
					c.d.warnf(kv.Pos, "%s: not converted, with the rest of ca %s", kv.Key, st.Name)
				}
			}
			continue
		}
		auto.used = true
		for _, kv := range st.Keys {
			switch kv.Key {
			case "cacert":
				kv.used = true
				p := absPath(filepath.Join(c.baseDir, "ipsec.d", "cacerts"), kv.Value)
				dup := false
				for _, x := range cas {
					dup = dup || x.path == p
				}
				if !dup {
					cas = append(cas, caFile{path: p, from: []Pos{kv.Pos, auto.Pos}})
				}
			case "auto":
			default:
				kv.used = true
				c.d.warnf(kv.Pos, "ca %s: %s is not supported by oakley (it checks the CRLs named in crls and fetches none); not converted", st.Name, kv.Key)
			}
		}
	}
	return cas
}

// caFile is a trust anchor strongSwan loads for ipsec.conf connections.
type caFile struct {
	path string
	from []Pos
}

// conf reports whether a conn of that name exists.
func (c *converter) conf(conf *IpsecConf, name string) bool { return conf.Conn(name) != nil }

// referenced reports whether another conn names st in also=.
func referenced(conf *IpsecConf, st *Stanza) bool {
	for _, o := range conf.Conns {
		for _, a := range o.Also {
			if o != st && a.Value == st.Name {
				return true
			}
		}
	}
	return false
}

// chooseSides decides which of left and right is this host.
func (c *converter) chooseSides(eff map[string]*KV, name string) (string, string) {
	switch c.opts.Local {
	case "left":
		return "left", "right"
	case "right":
		return "right", "left"
	}
	mine := func(k string) bool {
		kv := eff[k]
		if kv == nil {
			return false
		}
		for _, it := range splitList(kv.Value) {
			if kind, ip := classifyAddr(it); kind == addrIP {
				for _, a := range c.localAddrs() {
					if a == ip {
						return true
					}
				}
			}
		}
		return false
	}
	if mine("right") && !mine("left") {
		c.d.warnf(eff["right"].Pos, "conn %s: right (%s) is an address of this host and left is not, so right is taken as the local side (use --local left to override)", name, eff["right"].Value)
		return "right", "left"
	}
	return "left", "right"
}

// strokeConn converts one conn; it returns why it was skipped, or "".
func (c *converter) strokeConn(conf *IpsecConf, st *Stanza, cas []caFile, secrets []*SecretEntry) string {
	eff, also := conf.Effective(st, c.d)
	aliasNotes := libreswanAliases(eff)
	peek := func(k string) string {
		if kv := eff[k]; kv != nil {
			return strings.ToLower(strings.TrimSpace(kv.Value))
		}
		return ""
	}
	switch a := peek("auto"); a {
	case "", "ignore":
		pos := st.Pos
		if kv := eff["auto"]; kv != nil {
			pos, kv.used = kv.Pos, true
		}
		if referenced(conf, st) {
			c.d.warnf(pos, "conn %s has auto=ignore (the default): strongSwan loads it only through also= (its settings are converted there), not as a connection of its own", st.Name)
		} else {
			c.d.warnf(pos, "conn %s has auto=ignore (the default): strongSwan does not load it, so it is not converted (set auto=add to convert it)", st.Name)
		}
		return "auto=ignore"
	case "add", "route", "start":
	default:
		c.d.warnf(eff["auto"].Pos, "conn %s: auto=%s is not add, route, start or ignore; not converted", st.Name, clip(a))
		eff["auto"].used = true
		return "bad auto"
	}
	switch t := peek("type"); t {
	case "", "tunnel", "transport":
	case "passthrough", "pass", "drop", "reject":
		eff["type"].used = true
		c.d.warnf(eff["type"].Pos, "conn %s: type=%s is a shunt policy (traffic bypasses IPsec or is dropped), which oakley does not have; not converted", st.Name, t)
		return "type=" + t
	default:
		eff["type"].used = true
		c.d.warnf(eff["type"].Pos, "conn %s: type=%s is not supported by oakley (tunnel, transport); not converted", st.Name, clip(t))
		return "type=" + t
	}
	if peek("authby") == "never" {
		eff["authby"].used = true
		c.d.warnf(eff["authby"].Pos, "conn %s: authby=never negotiates nothing (shunt-only); not converted", st.Name)
		return "authby=never"
	}
	name, same := oakleyName(st.Name, c.connNames)
	if !same {
		c.d.warnf(st.Pos, "conn %q is named %q in oakley", st.Name, name)
	}
	b := newBlock("[[connection]]", "", connectionKeys)
	b.setStr("name", name, st.Pos)
	sc := &strokeConn{st: st, eff: eff, co: &connOut{b: b, name: name, pos: st.Pos}}
	sc.l, sc.r = c.chooseSides(eff, st.Name)
	sc.co.encapFrom = st.Pos
	for _, n := range aliasNotes {
		b.notef("%s", n)
	}
	for _, a := range also {
		if c.conf(conf, a.Value) {
			a.used = true
			b.notef("%s: also=%s: its settings are converted where they apply", a.Pos, a.Value)
		}
	}
	cb := newBlock("[[connection.child]]", "  ", childKeys)
	cb.setStr("name", name, st.Pos)
	sc.cb = cb
	sc.ch = &childOut{b: cb, name: name, start: "none", startPos: st.Pos}

	c.strokeVersion(sc)
	c.strokeAddrs(sc)
	c.strokeAuth(sc, secrets)
	c.strokeCerts(sc, cas, secrets)
	c.strokeIKE(sc)
	c.strokeChild(sc)
	c.strokeUnsupported(sc)
	sc.co.children = append(sc.co.children, sc.ch)
	b.children = append(b.children, cb)
	c.finishConn(sc.co)
	return ""
}

// strokeVersion converts keyexchange (ike = either as responder, IKEv2 as initiator: the
// same choice as swanctl's version = 0) and aggressive.
func (c *converter) strokeVersion(sc *strokeConn) {
	co := sc.co
	v, pos := sc.value("keyexchange", "ike")
	switch strings.ToLower(v) {
	case "ikev1":
		co.version = 1
	case "ikev2":
		co.version = 2
	default:
		if strings.ToLower(v) != "ike" {
			c.d.warnf(pos, "keyexchange=%s is not ike, ikev1 or ikev2; treated as ike", clip(v))
		}
		reason := ""
		if a := sc.eff["aggressive"]; a != nil {
			if on, _ := parseBool(a.Value); on {
				reason = "aggressive=yes"
			}
		}
		for _, k := range []string{"authby", "leftauth", "rightauth", "leftauth2", "rightauth2"} {
			if kv := sc.eff[k]; kv != nil && strings.Contains(strings.ToLower(kv.Value), "xauth") {
				reason = k + "=" + kv.Value
			}
		}
		if reason != "" {
			co.version = 1
			c.d.warnf(pos, "keyexchange=ike (IKEv1 or IKEv2 as responder, IKEv2 as initiator): oakley needs one version; chose 1 because of %s, which only IKEv1 has", reason)
		} else {
			co.version = 2
			c.d.warnf(pos, "keyexchange=ike (IKEv1 or IKEv2 as responder, IKEv2 as initiator): oakley needs one version; chose 2, the version strongSwan initiates with")
		}
	}
	co.b.set("version", fmt.Sprint(co.version), pos)
	if kv := sc.get("aggressive"); kv != nil {
		on, ok := parseBool(kv.Value)
		switch {
		case !ok:
			c.d.warnf(kv.Pos, "aggressive=%s is not yes or no; Main Mode is used", clip(kv.Value))
		case on && co.version == 2:
			c.d.warnf(kv.Pos, "aggressive=yes applies to IKEv1 only; ignored for this IKEv2 connection")
		default:
			co.aggressive = on
			co.b.set("aggressive", tomlBool(on), kv.Pos)
		}
	}
}

// strokeAddrs converts left/right (this host's and the peer's address) and the IKE ports.
func (c *converter) strokeAddrs(sc *strokeConn) {
	co, b := sc.co, sc.co.b
	if kv := sc.local(""); kv != nil {
		for i, it := range splitList(kv.Value) {
			if i > 0 {
				c.d.warnf(kv.Pos, "%s: %s is not converted; oakley's local_addr is one address", sc.l, it)
				continue
			}
			switch kind, ip := classifyAddr(it); kind {
			case addrIP:
				co.localIP = ip
				b.setStr("local_addr", ip.String(), kv.Pos)
				if strings.HasPrefix(it, "%") {
					c.d.warnf(kv.Pos, "%s=%s: the %% prefix lets strongSwan use any local address as well; oakley binds to %s", sc.l, it, ip)
				}
			case addrAny:
				b.notef("%s: %s=%s: any local address, oakley's default", kv.Pos, sc.l, it)
			case addrName:
				c.d.warnf(kv.Pos, "%s=%s is a DNS name; oakley's local_addr takes an IP address, so any local address is used", sc.l, it)
			default:
				c.d.warnf(kv.Pos, "%s=%s is a subnet or range; oakley uses any local address", sc.l, it)
			}
		}
	}
	kv := sc.remote("")
	if kv == nil {
		b.setStr("remote_addr", "%any", sc.st.Pos).note = sc.r + " is not set: any peer (%any)"
	} else {
		chosen := false
		for _, it := range splitList(kv.Value) {
			kind, ip := classifyAddr(it)
			switch {
			case chosen:
				c.d.warnf(kv.Pos, "%s: %s is not converted; oakley's remote_addr is one peer", sc.r, it)
			case kind == addrIP:
				co.remoteIP, chosen = ip, true
				b.setStr("remote_addr", ip.String(), kv.Pos)
				if strings.HasPrefix(it, "%") {
					c.d.warnf(kv.Pos, "%s=%s: the %% prefix lets strongSwan accept this peer from any address; oakley expects it at %s", sc.r, it, ip)
				}
			case kind == addrName:
				chosen = true
				b.setStr("remote_addr", strings.TrimPrefix(strings.TrimSuffix(it, "."), "%"), kv.Pos)
			case kind == addrAny:
				chosen = true
				b.setStr("remote_addr", "%any", kv.Pos)
			default:
				c.d.warnf(kv.Pos, "%s=%s is a subnet, range or not an address; oakley cannot restrict peers to one, so it answers any peer that authenticates", sc.r, it)
			}
		}
		if !chosen {
			b.setStr("remote_addr", "%any", kv.Pos)
		}
	}
	if kv := sc.local("ikeport"); kv != nil {
		if n, ok := parseCount(kv.Value); ok && n == 500 {
			b.notef("%s: %sikeport=500 is oakley's default", kv.Pos, sc.l)
		} else {
			c.d.warnf(kv.Pos, "%sikeport=%s: oakley's IKE port is the daemon's ([daemon] ike_port); not converted", sc.l, clip(kv.Value))
		}
	}
	if kv := sc.remote("ikeport"); kv != nil {
		n, ok := parseCount(kv.Value)
		switch {
		case !ok || n == 0 || n > 65535:
			c.d.warnf(kv.Pos, "%sikeport=%s is not a port; not converted", sc.r, clip(kv.Value))
		case n == 500:
			b.notef("%s: %sikeport=500 is oakley's default", kv.Pos, sc.r)
		default:
			b.set("remote_port", tomlInt(int64(n)), kv.Pos)
			b.set("remote_natt_port", tomlInt(int64(n)), kv.Pos).note = "strongSwan does not float to 4500 from a port other than 500"
		}
	}
}

// strokeIKE converts ike=, the IKE SA lifetime, DPD, forceencaps, mobike and fragmentation.
func (c *converter) strokeIKE(sc *strokeConn) {
	co, b := sc.co, sc.co.b
	if kv := sc.get("ike"); kv != nil {
		proto := crypto.ProtoIKEv2
		if co.version == 1 {
			proto = crypto.ProtoIKEv1
		}
		value := c.strict(b, kv, "ike")
		props, insecure := convertProposals(c.d, kv.Pos, "ike", value, proto, co.version == 1)
		if co.aggressive {
			props = sameGroup(c.d, kv.Pos, "ike", props)
		}
		if len(props) > 0 {
			b.setList("proposals", props, kv.Pos)
			c.noteInsecure(insecure, kv.Pos)
		}
	} else {
		b.notef("ike is not set: strongSwan proposes its defaults, oakley its own (CONFIG.md)")
	}
	margin, marginPos := c.strokeTime(sc, "margintime", 9*time.Minute)
	life, lifePos := c.strokeTime(sc, "ikelifetime", c.defaultLife(3*time.Hour))
	c.rekeyTime(sc, b, life, margin, lifePos, marginPos, "ikelifetime")
	if kv := sc.get("reauth"); kv != nil {
		if on, _ := parseBool(kv.Value); on && co.version == 2 {
			c.d.warnf(kv.Pos, "reauth=yes: oakley rekeys the IKEv2 SA and does not reauthenticate; not converted")
		} else {
			b.notef("%s: reauth=%s: IKEv1 always reauthenticates; IKEv2 is rekeyed, as oakley does", kv.Pos, kv.Value)
		}
	}

	action, actionPos := sc.value("dpdaction", "none")
	action = strings.ToLower(action)
	delayKV, timeoutKV := sc.get("dpddelay"), sc.get("dpdtimeout")
	switch action {
	case "none":
		b.setStr("dpd_delay", "0s", actionPos).note = "strongSwan's dpdaction=none: no DPD"
		for _, kv := range []*KV{delayKV, timeoutKV} {
			if kv != nil {
				c.d.warnf(kv.Pos, "%s has no effect without dpdaction (clear, hold, restart); not converted", kv.Key)
			}
		}
	case "clear", "hold", "restart":
		b.setStr("dpd_action", action, actionPos)
		delay, dpos := c.strokeTime(sc, "dpddelay", 30*time.Second)
		b.setStr("dpd_delay", fmtDuration(delay), dpos)
		timeout, tpos := c.strokeTime(sc, "dpdtimeout", 150*time.Second)
		switch {
		case co.version == 2 && timeoutKV != nil:
			c.d.warnf(timeoutKV.Pos, "dpdtimeout applies to IKEv1 only (IKEv2 uses retransmissions); not converted")
		case timeout <= delay:
			c.d.warnf(tpos, "dpdtimeout (%s) is not longer than dpddelay; oakley needs it longer (RFC 3706 §5.5): written as %s", fmtDuration(timeout), fmtDuration(5*delay))
			b.setStr("dpd_timeout", fmtDuration(5*delay), tpos)
		case timeoutKV != nil:
			b.setStr("dpd_timeout", fmtDuration(timeout), tpos)
		}
	default:
		c.d.warnf(actionPos, "dpdaction=%s is not none, clear, hold or restart; DPD is off", clip(action))
		b.setStr("dpd_delay", "0s", actionPos)
	}

	if kv := sc.get("forceencaps"); kv != nil {
		on, ok := parseBool(kv.Value)
		co.encapFrom = kv.Pos
		switch {
		case !ok:
			c.d.warnf(kv.Pos, "forceencaps=%s is not yes or no; strongSwan's default (no) is used", clip(kv.Value))
			b.setStr("encap", "auto", kv.Pos)
		case on:
			co.encapForce = true
			b.setStr("encap", "udp", kv.Pos)
		default:
			b.setStr("encap", "auto", kv.Pos).note = "raw ESP unless a NAT is detected"
		}
	} else {
		b.setStr("encap", "auto", sc.st.Pos).note = "strongSwan's default forceencaps=no: raw ESP unless a NAT is detected"
	}
	kv := sc.get("mobike")
	switch {
	case co.version == 2 && kv == nil:
		b.set("mobike", "true", sc.st.Pos).note = "strongSwan's default for IKEv2"
	case kv != nil:
		on, ok := parseBool(kv.Value)
		switch {
		case !ok:
			c.d.warnf(kv.Pos, "mobike=%s is not yes or no; not converted", clip(kv.Value))
		case co.version == 1:
			b.notef("%s: mobike=%s: MOBIKE is IKEv2 only; strongSwan ignores it with IKEv1", kv.Pos, kv.Value)
		default:
			b.set("mobike", tomlBool(on), kv.Pos)
		}
	}
	if kv := sc.get("fragmentation"); kv != nil {
		switch v := strings.ToLower(strings.TrimSpace(kv.Value)); v {
		case "yes", "accept", "force", "no":
			if v == "force" && co.version == 2 {
				c.d.warnf(kv.Pos, "fragmentation=force is IKEv1 only; written as yes")
				v = "yes"
			}
			b.setStr("fragmentation", v, kv.Pos)
		default:
			c.d.warnf(kv.Pos, "fragmentation=%s is not yes, accept, force or no; not converted", clip(kv.Value))
		}
	}
}

// strict strips the trailing '!' of a proposal list (strongSwan then offers only the list;
// without it, strongSwan appends its defaults, which oakley does not).
func (c *converter) strict(b *block, kv *KV, key string) string {
	v := strings.TrimSpace(kv.Value)
	if strings.HasSuffix(v, "!") {
		v = strings.TrimSuffix(v, "!")
	} else if !c.libreswan {
		c.d.warnf(kv.Pos, "%s=%s has no trailing '!': strongSwan also offers its default proposals, oakley offers only these", key, clip(v))
	}
	if out, changed := libreswanProposals(v); changed {
		b.notef("%s: %s=%s: libreswan's proposal syntax, read as %s", kv.Pos, key, v, out)
		v = out
	}
	return v
}

// defaultLife is strongSwan's default lifetime, or libreswan's (8h for both the IKE SA and
// the child) for a libreswan file.
func (c *converter) defaultLife(strongswan time.Duration) time.Duration {
	if c.libreswan {
		return 8 * time.Hour
	}
	return strongswan
}

// strokeTime reads a time parameter with its stroke default.
func (c *converter) strokeTime(sc *strokeConn, key string, def time.Duration) (time.Duration, Pos) {
	kv := sc.get(key)
	if kv == nil || kv.Value == "" {
		return def, sc.st.Pos
	}
	d, ok := parseTime(kv.Value)
	if !ok {
		c.d.warnf(kv.Pos, "%s=%s is not a time; strongSwan's default %s is used", key, clip(kv.Value), fmtDuration(def))
		return def, kv.Pos
	}
	return d, kv.Pos
}

// rekeyTime writes rekey_time = lifetime - margintime (ipsec.conf(5) "SA EXPIRY/REKEY":
// strongSwan rekeys between margintime and margintime·(1+rekeyfuzz) before the lifetime
// ends; oakley rekeys at rekey_time minus its jitter and proposes rekey_time + 10%).
func (c *converter) rekeyTime(sc *strokeConn, b *block, life, margin time.Duration, lifePos, marginPos Pos, lifeKey string) {
	var extra []Pos
	if kv := sc.get("rekey"); kv != nil {
		on, ok := parseBool(kv.Value)
		switch {
		case !ok:
			c.d.warnf(kv.Pos, "rekey=%s is not yes or no; strongSwan's default (yes) is used", clip(kv.Value))
		case !on:
			b.setStr("rekey_time", "0s", kv.Pos).note = "rekey=no: never rekey"
			c.d.warnf(kv.Pos, "rekey=no: oakley never rekeys (rekey_time = 0s); strongSwan still lets the SA expire after %s=%s", lifeKey, fmtDuration(life))
			return
		default:
			extra = append(extra, kv.Pos)
		}
	}
	rekey := life - margin
	if rekey <= 0 {
		c.d.warnf(marginPos, "margintime (%s) is not shorter than %s (%s); rekey_time = %s", fmtDuration(margin), lifeKey, fmtDuration(life), fmtDuration(life))
		rekey = life
	}
	e := b.setStr("rekey_time", fmtDuration(rekey), append([]Pos{lifePos, marginPos}, extra...)...)
	e.note = fmt.Sprintf("%s %s - margintime %s", lifeKey, fmtDuration(life), fmtDuration(margin))
	if kv := sc.get("rekeyfuzz"); kv != nil && strings.TrimSpace(kv.Value) != "100%" {
		c.d.warnf(kv.Pos, "rekeyfuzz=%s: oakley picks its own rekey jitter; not converted", clip(kv.Value))
	}
}
