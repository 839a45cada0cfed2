package swanimport

// Authentication rounds (swanctl.conf(5) connections.<conn>.local<suffix> and
// remote<suffix>): oakley has one method for both directions (auth), plus IKEv1 XAUTH after
// Phase 1 (xauth = client | server) and IKEv2 EAP (eap = mschapv2 | tls) where the client
// authenticates with EAP and the gateway with auth.

import (
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

type swanAuthRounds struct{ local, remote []*Section }

// swanRounds collects the local* and remote* sections, ordered by their round keys, then
// by position (swanctl.conf(5) "round").
func swanRounds(s *Section) swanAuthRounds {
	var r swanAuthRounds
	for _, sub := range s.Subs {
		switch {
		case strings.HasPrefix(sub.Name, "local"):
			r.local = append(r.local, sub)
		case strings.HasPrefix(sub.Name, "remote"):
			r.remote = append(r.remote, sub)
		}
	}
	order := func(list []*Section) {
		round := func(x *Section) int {
			if kv := x.keyByName("round"); kv != nil {
				if n, err := strconv.Atoi(strings.TrimSpace(kv.Value)); err == nil {
					return n
				}
			}
			return 0
		}
		sort.SliceStable(list, func(i, j int) bool { return round(list[i]) < round(list[j]) })
	}
	order(r.local)
	order(r.remote)
	return r
}

// authMethod classifies an auth value: "psk", "pubkey", "xauth", "eap" (with its method:
// "" for any, "mschapv2", "tls" or another name), or "" for what oakley lacks. constrained
// is true when the value also carries signature or key constraints.
func authMethod(v string) (kind, method string, constrained bool) {
	a := strings.ToLower(strings.TrimSpace(v))
	switch {
	case a == "psk":
		return "psk", "", false
	case strings.HasPrefix(a, "xauth"):
		return "xauth", strings.TrimPrefix(strings.TrimPrefix(a, "xauth"), "-"), false
	case strings.HasPrefix(a, "eap"):
		m := strings.TrimPrefix(strings.TrimPrefix(a, "eap"), "-")
		m, cons, _ := strings.Cut(m, ":")
		return "eap", m, cons != ""
	case a == "pubkey" || a == "rsa" || a == "ecdsa":
		return "pubkey", "", false
	case strings.HasPrefix(a, "pubkey") || strings.HasPrefix(a, "rsa") || strings.HasPrefix(a, "ecdsa") ||
		strings.HasPrefix(a, "ike:") || strings.HasPrefix(a, "ed25519") || strings.HasPrefix(a, "ed448"):
		return "pubkey", "", true
	}
	return "", "", false
}

// roundAuth reads a round's auth (strongSwan's default is pubkey).
func (c *converter) roundAuth(r *Section) (kind, method string, pos Pos) {
	if r == nil {
		return "pubkey", "", Pos{}
	}
	kv := r.Key("auth")
	if kv == nil {
		return "pubkey", "", r.Pos
	}
	kind, method, cons := authMethod(kv.Value)
	if kind == "" {
		c.d.warnf(kv.Pos, "auth = %s is not supported by oakley (psk, pubkey, xauth, eap-mschapv2, eap-tls)", clip(kv.Value))
	} else if cons {
		c.d.warnf(kv.Pos, "auth = %s: the signature/key constraints are not converted; oakley accepts any key its trust anchors certify", clip(kv.Value))
	}
	return kind, method, kv.Pos
}

func (c *converter) swanAuth(co *connOut, s *Section, rounds swanAuthRounds) {
	b := co.b
	var l1, r1 *Section
	if len(rounds.local) > 0 {
		l1 = rounds.local[0]
	}
	if len(rounds.remote) > 0 {
		r1 = rounds.remote[0]
	}
	for _, r := range append(append([]*Section(nil), rounds.local...), rounds.remote...) {
		r.used = true
		if kv := r.Key("round"); kv != nil {
			b.notef("%s: round = %s orders the authentication rounds", kv.Pos, kv.Value)
		}
	}
	lk, lm, lpos := c.roundAuth(l1)
	rk, rm, rpos := c.roundAuth(r1)
	if l1 == nil {
		b.notef("no local round: strongSwan authenticates this side with pubkey")
	}
	eapMethod := func(m string, pos Pos) string {
		switch m {
		case "mschapv2", "tls":
			return m
		case "":
			c.d.warnf(pos, "auth = eap lets the peers pick an EAP method; oakley needs one: written as mschapv2")
			return "mschapv2"
		}
		c.d.warnf(pos, "EAP method %s is not supported by oakley (mschapv2, tls); not converted", m)
		return ""
	}
	setAuth := func(kind string, pos Pos) {
		switch kind {
		case "psk", "pubkey":
			co.auth = kind
			b.setStr("auth", kind, pos)
			co.needPSK = co.needPSK || kind == "psk"
			if kind == "psk" {
				co.pskFrom = pos
			}
		case "xauth":
			c.d.warnf(pos, "XAUTH in the first round is Hybrid Mode authentication, which oakley does not support; put XAUTH in a second round")
		}
	}
	switch {
	case lk == "eap":
		if co.version == 1 {
			c.d.warnf(lpos, "EAP is IKEv2 only; not converted")
			break
		}
		if m := eapMethod(lm, lpos); m != "" {
			b.setStr("eap", m, lpos)
			id := l1.Key("eap_id")
			if id == nil {
				id = l1.keyByName("id")
			}
			if id != nil {
				co.clientUser, co.clientFrom = id.Value, id.Pos
				b.setStr("eap_id", id.Value, id.Pos)
			}
		}
		setAuth(rk, rpos) // how the gateway proves itself
	case rk == "eap":
		if co.version == 1 {
			c.d.warnf(rpos, "EAP is IKEv2 only; not converted")
		} else if m := eapMethod(rm, rpos); m != "" {
			b.setStr("eap", m, rpos)
		}
		setAuth(lk, lpos)
	default:
		setAuth(lk, lpos)
		if rk == lk && rk != "" && b.get("auth") != nil {
			b.get("auth").from = dedupPos(append(b.get("auth").from, rpos))
		}
		if rk != lk && rk != "" && lk != "" {
			c.d.warnf(rpos, "the peer authenticates with %s and this side with %s; oakley uses one method both ways (auth = %q)", rk, lk, lk)
		}
	}
	c.swanLaterRounds(co, rounds)
	c.swanLocalRound(co, l1, lk == "pubkey" || rk == "eap")
	c.swanRemoteRound(co, r1, rk == "pubkey" || lk == "eap")
	if co.auth == "pubkey" && b.get("cert") == nil {
		c.d.warnf(co.pos, "connection %s signs with a certificate, but none is named (local certs); set cert and key", co.name)
	}
}

// swanLaterRounds handles rounds after the first: IKEv1 XAUTH is the only one oakley has.
func (c *converter) swanLaterRounds(co *connOut, rounds swanAuthRounds) {
	b := co.b
	for side, list := range map[string][]*Section{"local": rounds.local, "remote": rounds.remote} {
		for i, r := range list {
			if i == 0 {
				continue
			}
			kind, _, pos := c.roundAuth(r)
			switch {
			case i > 1 || kind != "xauth":
				c.dropSection(r, "%s round %d (%s) is not supported by oakley, which has one authentication plus IKEv1 XAUTH; not converted", side, i+1, r.Name)
			case co.version != 1:
				c.d.warnf(pos, "XAUTH is IKEv1 only; not converted")
			case side == "local":
				b.setStr("xauth", "client", pos)
				id := r.Key("xauth_id")
				if id == nil {
					id = r.Key("id")
				}
				if id == nil && len(list) > 0 {
					id = list[0].keyByName("id")
				}
				if id != nil {
					co.clientUser, co.clientFrom = id.Value, id.Pos
					b.setStr("xauth_id", id.Value, id.Pos)
				}
				c.roundLeftovers(r, "local")
			default:
				b.setStr("xauth", "server", pos)
				c.roundLeftovers(r, "remote")
			}
		}
	}
}

// roundLeftovers reports the keys of an XAUTH round that oakley has no use for.
func (c *converter) roundLeftovers(r *Section, side string) {
	for _, kv := range r.Keys {
		if !kv.used {
			kv.used = true
			c.d.warnf(kv.Pos, "%s in the %s XAUTH round: not converted (oakley's XAUTH takes only the user name)", kv.Key, side)
		}
	}
}

// certPath resolves a certificate named in swanctl.conf: relative names are in the swanctl
// directory's sub-directory dir (x509, x509ca).
func (c *converter) certPath(dir, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return absPath(filepath.Join(c.baseDir, dir), name)
}

func (c *converter) swanLocalRound(co *connOut, r *Section, signs bool) {
	b := co.b
	if r == nil {
		return
	}
	if kv := r.Key("id"); kv != nil {
		out, problem := convertID(kv.Value)
		if problem != "" {
			c.d.warnf(kv.Pos, "id: %s; local_id not converted (oakley uses local_addr)", problem)
		} else {
			b.setStr("local_id", out, kv.Pos)
		}
		co.localID = kv.Value
	}
	if kv := r.Key("certs"); kv != nil {
		for i, f := range splitList(kv.Value) {
			if i > 0 {
				c.d.warnf(kv.Pos, "certs: %s is not converted; oakley uses one certificate (the first)", f)
				continue
			}
			b.setStr("cert", c.certPath("x509", f), kv.Pos)
		}
	}
	for _, sub := range r.Subs {
		if !strings.HasPrefix(sub.Name, "cert") {
			continue
		}
		sub.used = true
		c.certSection(b, sub, "cert", false)
	}
	if kv := r.Key("pubkeys"); kv != nil {
		c.d.warnf(kv.Pos, "pubkeys: raw public keys are not supported by oakley (use a certificate); not converted")
	}
	for _, k := range []string{"aaa_id"} {
		if kv := r.Key(k); kv != nil {
			c.d.warnf(kv.Pos, "%s: oakley has no separate AAA identity; not converted", k)
		}
	}
	if kv := r.Key("eap_id"); kv != nil && b.get("eap_id") == nil {
		c.d.warnf(kv.Pos, "eap_id without EAP in this round; not converted")
	}
	if kv := r.Key("xauth_id"); kv != nil {
		switch x := b.get("xauth"); {
		case x == nil || x.raw != "client":
			c.d.warnf(kv.Pos, "xauth_id without an XAUTH client round; not converted")
		case b.get("xauth_id") == nil:
			b.setStr("xauth_id", kv.Value, kv.Pos)
			co.clientUser, co.clientFrom = kv.Value, kv.Pos
		default:
			c.d.warnf(kv.Pos, "xauth_id: the XAUTH round names its own; not converted")
		}
	}
	r.Key("auth")
	if signs && co.auth == "pubkey" {
		c.localKey(co, r)
	}
}

// localKey finds the private key of a pubkey connection and, without an id, the identity
// strongSwan would use: the certificate's subject.
func (c *converter) localKey(co *connOut, r *Section) {
	b := co.b
	cert := b.get("cert")
	if cert == nil {
		return
	}
	certFile := cert.raw
	dirs := []string{"private", "rsa", "ecdsa", "pkcs8"}
	for i := range dirs {
		dirs[i] = filepath.Join(c.baseDir, dirs[i])
	}
	key, problem := c.findKey(dirs, certFile)
	if problem != "" {
		c.d.warnf(cert.from[0], "oakley needs the private key of %s (key): %s; set key", filepath.Base(certFile), problem)
	} else {
		b.setStr("key", absPath("", key), cert.from...).note = "the key strongSwan loads from the swanctl directory"
	}
	if b.get("local_id") == nil && r.keyByName("id") == nil {
		if dn, err := c.certSubject(certFile); err == nil {
			b.setStr("local_id", dn, cert.from...).note = "the certificate's subject, strongSwan's default identity"
			co.localID = dn
		} else {
			c.d.warnf(cert.from[0], "no id: strongSwan identifies this side by the certificate's subject, which could not be read (%v); set local_id", err)
		}
	}
}

// certSection converts a cert<suffix> / cacert<suffix> section (file; tokens unsupported).
func (c *converter) certSection(b *block, sub *Section, key string, list bool) {
	if kv := sub.Key("file"); kv != nil {
		p := absPath(c.baseDir, kv.Value)
		switch {
		case list:
			b.appendList(key, p, kv.Pos)
		case b.get(key) == nil:
			b.setStr(key, p, kv.Pos)
		default:
			c.d.warnf(kv.Pos, "%s.file: oakley uses one certificate; not converted", sub.Name)
		}
	}
	for _, k := range []string{"handle", "slot", "module"} {
		if kv := sub.Key(k); kv != nil {
			c.d.warnf(kv.Pos, "%s.%s: certificates on PKCS#11 tokens are not supported by oakley; not converted", sub.Name, k)
		}
	}
}

func (c *converter) swanRemoteRound(co *connOut, r *Section, verifies bool) {
	b := co.b
	if r == nil {
		b.setStr("remote_id", "%any", co.pos).note = "no remote round: strongSwan accepts any identity"
		return
	}
	if kv := r.Key("id"); kv != nil {
		out, problem := convertID(kv.Value)
		if problem != "" {
			c.d.warnf(kv.Pos, "id: %s; remote_id not converted, so oakley expects remote_addr as the peer's identity (fails closed)", problem)
		} else {
			b.setStr("remote_id", out, kv.Pos)
		}
		co.remoteID = kv.Value
	} else {
		b.setStr("remote_id", "%any", r.Pos).note = "strongSwan's default remote id"
	}
	if kv := r.Key("certs"); kv != nil {
		for i, f := range splitList(kv.Value) {
			if i > 0 {
				c.d.warnf(kv.Pos, "certs: %s is not converted; oakley pins one peer certificate (remote_cert)", f)
				continue
			}
			b.setStr("remote_cert", c.certPath("x509", f), kv.Pos)
		}
	}
	if kv := r.Key("cacerts"); kv != nil {
		for _, f := range splitList(kv.Value) {
			b.appendList("cacerts", c.certPath("x509ca", f), kv.Pos)
		}
	}
	for _, sub := range r.Subs {
		switch {
		case strings.HasPrefix(sub.Name, "cacert"):
			sub.used = true
			c.certSection(b, sub, "cacerts", true)
		case strings.HasPrefix(sub.Name, "cert"):
			sub.used = true
			c.certSection(b, sub, "remote_cert", false)
		}
	}
	if verifies && b.get("cacerts") == nil && b.get("remote_cert") == nil {
		dir := filepath.Join(c.baseDir, "x509ca")
		if cas := c.listDir(dir); len(cas) > 0 {
			for _, f := range cas {
				b.appendList("cacerts", absPath("", f), r.Pos)
			}
			c.d.warnf(r.Pos, "no cacerts: strongSwan trusts every CA certificate it loaded; listed the %d in %s as cacerts", len(cas), dir)
		} else {
			c.d.warnf(r.Pos, "no cacerts: strongSwan trusts every CA certificate it loaded, and none was found in %s; set cacerts", dir)
		}
	}
	if kv := r.Key("revocation"); kv != nil {
		if strings.EqualFold(strings.TrimSpace(kv.Value), "relaxed") {
			b.notef("%s: revocation = relaxed: oakley refuses revoked certificates listed in crls, like strongSwan's default", kv.Pos)
		} else {
			c.d.warnf(kv.Pos, "revocation = %s: oakley checks the CRLs it is given (crls) and fetches none; not converted", clip(kv.Value))
		}
	}
	msgs := map[string]string{
		"ca_id":       "oakley has no CA identity constraint; use cacerts",
		"groups":      "oakley has no authorization groups",
		"cert_policy": "oakley does not check certificate policies",
		"pubkeys":     "raw public keys are not supported by oakley",
		"aaa_id":      "oakley has no separate AAA identity",
		"xauth_id":    "a server learns the XAUTH user from the client",
	}
	for _, k := range []string{"ca_id", "groups", "cert_policy", "pubkeys", "aaa_id", "xauth_id"} {
		if kv := r.Key(k); kv != nil {
			c.d.warnf(kv.Pos, "%s: %s; not converted", k, msgs[k])
		}
	}
	if kv := r.Key("eap_id"); kv != nil {
		if v := strings.TrimSpace(kv.Value); v == "%any" {
			b.notef("%s: eap_id = %%any: the gateway asks the client for its EAP identity, as oakley does", kv.Pos)
		} else {
			c.d.warnf(kv.Pos, "eap_id = %s: oakley's gateway accepts any [[user]]; not converted", clip(v))
		}
	}
	r.Key("auth")
}
