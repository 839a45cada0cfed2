package swanimport

// swanctl.conf secrets, pools and authorities (swanctl.conf(5)), and the assignment of
// secrets to connections and users that ipsec.secrets shares.

import (
	"fmt"
	"net/netip"
	"strings"
)

// swanSecrets collects the IKE PSKs and the EAP/XAUTH passwords of a secrets section.
func (c *converter) swanSecrets(sec *Section) (ike, eap []secretCand) {
	if sec == nil {
		return nil, nil
	}
	for _, s := range sec.Subs {
		kind := ""
		for _, k := range []string{"ike", "eap", "xauth", "ntlm", "ppk", "private", "rsa", "ecdsa", "pkcs8", "pkcs12", "token"} {
			if strings.HasPrefix(s.Name, k) {
				kind = k
				break
			}
		}
		if kind == "" {
			continue // reported by the sweep
		}
		s.used = true
		switch kind {
		case "ike", "eap", "xauth":
			cand := secretCand{pos: s.Pos, used: new(bool)}
			from := []Pos{s.Pos}
			for _, kv := range s.Keys {
				if strings.HasPrefix(kv.Key, "id") {
					kv.used = true
					cand.ids = append(cand.ids, kv.Value)
					from = append(from, kv.Pos)
				}
			}
			kv := s.Key("secret")
			if kv == nil {
				c.d.warnf(s.Pos, "secrets.%s has no secret; ignored", s.Name)
				continue
			}
			cand.value, cand.pos = kv.Value, kv.Pos
			cand.from = append(from, kv.Pos)
			if kind == "ike" {
				ike = append(ike, cand)
			} else {
				eap = append(eap, cand)
			}
		case "ntlm":
			c.dropSection(s, "secrets.%s holds an NT hash; oakley's [[user]] password_file needs the password itself; not converted", s.Name)
		case "ppk":
			c.dropSection(s, "secrets.%s: oakley has no postquantum preshared keys; not converted", s.Name)
		case "token":
			c.dropSection(s, "secrets.%s: keys on PKCS#11 tokens are not supported by oakley; not converted", s.Name)
		default:
			c.dropSection(s, "secrets.%s is the passphrase of an encrypted private key; oakley reads unencrypted keys (key = ..., mode 0600): decrypt it (e.g. openssl pkey) and set key; not converted", s.Name)
		}
	}
	return ike, eap
}

// assignSecrets writes each connection's PSK and client password from the candidates,
// then turns the remaining passwords into [[user]]s.
func (c *converter) assignSecrets(ike, eap []secretCand) {
	gateway := false
	for _, co := range c.conns {
		if x := co.b.get("xauth"); x != nil && x.raw == "server" || co.b.get("eap") != nil && co.clientUser == "" {
			gateway = true
		}
		if co.needPSK {
			local, remote := co.localID, co.remoteID
			if local == "" && co.localIP.IsValid() {
				local = co.localIP.String()
			}
			if (remote == "" || remote == "%any") && co.remoteIP.IsValid() {
				remote = co.remoteIP.String()
			}
			s := bestSecret(ike, local, remote)
			name := c.secretFileName(co.name, ".psk")
			if s == nil {
				ref := name
				if c.opts.SecretsRef != nil {
					ref = c.opts.SecretsRef(name)
				}
				co.b.setStr("psk_file", ref, co.pskFrom).note = "no matching secret: create this file (mode 0600)"
				c.d.warnf(co.pskFrom, "connection %s uses a PSK, but no IKE secret matches its identities (%s, %s); create %s with the PSK, mode 0600", co.name, orAny(local), orAny(remote), name)
			} else {
				*s.used = true
				ref := c.addSecret(name, s.value, "the PSK of connection "+co.name)
				co.b.setStr("psk_file", ref, append([]Pos{co.pskFrom}, s.from...)...)
			}
		}
		if co.clientUser != "" {
			var found *secretCand
			for i := range eap {
				for _, id := range eap[i].ids {
					if found == nil && normID(id) == normID(co.clientUser) {
						found = &eap[i]
					}
				}
			}
			if found == nil {
				c.d.warnf(co.clientFrom, "no EAP/XAUTH secret for user %s; create a password file and set password_file", co.clientUser)
			} else {
				*found.used = true
				ref := c.addSecret(c.secretFileName(co.name, ".pass"), found.value, "the password of connection "+co.name)
				co.b.setStr("password_file", ref, append([]Pos{co.clientFrom}, found.from...)...)
			}
		}
	}
	users := 0
	for i := range eap {
		s := &eap[i]
		if *s.used {
			continue
		}
		if len(s.ids) == 0 {
			for _, p := range s.from {
				c.d.warnf(p, "an EAP/XAUTH secret without an id (line %d) cannot be an oakley [[user]], which needs a name; not converted", s.pos.Line)
			}
			continue
		}
		for _, id := range s.ids {
			if c.userNames[id] {
				c.d.warnf(s.pos, "user %s has a secret already; this one is not converted", id)
				continue
			}
			c.userNames[id] = true
			b := newBlock("[[user]]", "", userKeys)
			b.setStr("name", id, s.from...)
			ref := c.addSecret(c.secretFileName(id, ".pass"), s.value, "the password of user "+id)
			b.setStr("password_file", ref, s.pos)
			c.doc.users = append(c.doc.users, b)
			users++
		}
	}
	if users > 0 && !gateway {
		c.d.warnf(c.doc.users[0].get("name").from[0], "%d [[user]] entries written, but no converted connection is an XAUTH or EAP gateway", users)
	}
	for _, s := range ike {
		if !*s.used {
			for _, p := range s.from {
				c.d.warnf(p, "the IKE secret at line %d matches no converted connection; not written", s.pos.Line)
			}
		}
	}
}

func orAny(s string) string {
	if s == "" {
		return "%any"
	}
	return s
}

// swanPools converts pools.<name> into [[pool]]s.
func (c *converter) swanPools(pools *Section) {
	if pools == nil {
		return
	}
	for _, s := range pools.Subs {
		s.used = true
		name, same := oakleyName(s.Name, c.poolNames)
		if !same {
			c.d.warnf(s.Pos, "pool %q is named %q in oakley", s.Name, name)
		}
		b := newBlock("[[pool]]", "", poolKeys)
		b.setStr("name", name, s.Pos)
		kv := s.Key("addrs")
		if kv == nil {
			c.dropSection(s, "pool %s has no addrs; not converted", s.Name)
			continue
		}
		addrs, problem := poolAddrs(kv.Value)
		if problem != "" {
			c.d.warnf(kv.Pos, "pool %s: %s", s.Name, problem)
			c.dropSection(s, "pool %s is not converted", s.Name)
			continue
		}
		b.setStr("addrs", addrs, kv.Pos)
		for _, attr := range s.Keys {
			switch attr.Key {
			case "addrs":
			case "dns":
				attr.used = true
				for _, a := range splitList(attr.Value) {
					if _, err := netip.ParseAddr(a); err != nil {
						c.d.warnf(attr.Pos, "pool %s: dns %s is not an IP address; not converted", s.Name, a)
						continue
					}
					b.appendList("dns", a, attr.Pos)
				}
			case "split_include", "subnet":
				attr.used = true
				for _, a := range splitList(attr.Value) {
					p, err := netip.ParsePrefix(a)
					if err != nil {
						c.d.warnf(attr.Pos, "pool %s: %s %s is not a CIDR; not converted", s.Name, attr.Key, a)
						continue
					}
					b.appendList("split", p.Masked().String(), attr.Pos)
				}
			default:
				attr.used = true
				c.d.warnf(attr.Pos, "pool %s: attribute %s is not supported by oakley (dns, split_include, subnet); not converted", s.Name, attr.Key)
			}
		}
		c.doc.pools = append(c.doc.pools, b)
	}
}

// poolAddrs checks a pool's addrs: a CIDR or a range "from-to" (CONFIG.md [[pool]] addrs).
func poolAddrs(v string) (string, string) {
	t := strings.TrimSpace(v)
	if p, err := netip.ParsePrefix(t); err == nil {
		return p.Masked().String(), ""
	}
	if lo, hi, ok := strings.Cut(t, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		if err1 == nil && err2 == nil && a.Is4() == b.Is4() && !b.Less(a) {
			return a.String() + "-" + b.String(), ""
		}
	}
	if a, err := netip.ParseAddr(t); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String(), ""
	}
	return "", fmt.Sprintf("addrs = %s is not a CIDR or an address range (external pools such as dhcp or radius are not supported)", clip(t))
}

// swanAuthorities reports the authorities section: oakley names CA certificates per
// connection.
func (c *converter) swanAuthorities(auth *Section) {
	if auth == nil {
		return
	}
	for _, s := range auth.Subs {
		s.used = true
		c.dropSection(s, "authorities.%s: oakley has no CA sections; name the CA certificate in each connection's cacerts (CRL and OCSP URIs are not fetched); not converted", s.Name)
	}
}
