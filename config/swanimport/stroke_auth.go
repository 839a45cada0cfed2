package swanimport

// ipsec.conf authentication: authby, leftauth/rightauth(2), leftid/rightid, xauth,
// xauth_identity, eap_identity, and the certificates (leftcert, rightcert, leftca,
// leftsendcert) with keys from ipsec.secrets.

import (
	"path/filepath"
	"strings"
)

func (c *converter) strokeAuth(sc *strokeConn, secrets []*SecretEntry) {
	co, b := sc.co, sc.co.b
	authby, authPos := sc.value("authby", "pubkey")
	base, xauth := "", false
	switch strings.ToLower(authby) {
	case "psk", "secret":
		base = "psk"
	case "pubkey", "rsasig", "ecdsasig", "rsa", "ecdsa":
		base = "pubkey"
	case "xauthpsk":
		base, xauth = "psk", true
	case "xauthrsasig":
		base, xauth = "pubkey", true
	default:
		c.d.warnf(authPos, "authby=%s is not supported by oakley (psk, secret, pubkey, rsasig, ecdsasig, xauthpsk, xauthrsasig); pubkey is assumed", clip(authby))
		base = "pubkey"
	}
	side := func(kv *KV) (string, string, Pos) {
		if kv == nil {
			return base, "", authPos
		}
		kind, method, cons := authMethod(kv.Value)
		if kind == "" {
			c.d.warnf(kv.Pos, "%s=%s is not supported by oakley (psk, pubkey, xauth, eap-mschapv2, eap-tls)", kv.Key, clip(kv.Value))
		} else if cons {
			c.d.warnf(kv.Pos, "%s=%s: the signature/key constraints are not converted", kv.Key, clip(kv.Value))
		}
		return kind, method, kv.Pos
	}
	lk, lm, lpos := side(sc.local("auth"))
	rk, rm, rpos := side(sc.remote("auth"))
	eapMethod := func(m string, pos Pos) string {
		switch m {
		case "mschapv2", "tls":
			return m
		case "":
			c.d.warnf(pos, "eap without a method lets the peers pick one; oakley needs one: written as mschapv2")
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
			if kind == "psk" {
				co.needPSK, co.pskFrom = true, pos
			}
		case "xauth":
			c.d.warnf(pos, "XAUTH as the first authentication is Hybrid Mode, which oakley does not support; use leftauth2/rightauth2")
		}
	}
	switch {
	case lk == "eap" || rk == "eap":
		client := lk == "eap"
		pos, m := rpos, rm
		if client {
			pos, m = lpos, lm
		}
		if co.version == 1 {
			c.d.warnf(pos, "EAP is IKEv2 only; not converted")
		} else if m = eapMethod(m, pos); m != "" {
			b.setStr("eap", m, pos)
		}
		if client {
			setAuth(rk, rpos)
			id := sc.get("eap_identity")
			if id == nil {
				id = sc.local("id")
			}
			if id != nil {
				b.setStr("eap_id", id.Value, id.Pos)
				co.clientUser, co.clientFrom = id.Value, id.Pos
			}
		} else {
			setAuth(lk, lpos)
			if id := sc.get("eap_identity"); id != nil {
				if id.Value == "%identity" {
					b.notef("%s: eap_identity=%%identity: the gateway asks for the EAP identity, as oakley does", id.Pos)
				} else {
					c.d.warnf(id.Pos, "eap_identity=%s: oakley's gateway accepts any [[user]]; not converted", clip(id.Value))
				}
			}
		}
	default:
		setAuth(lk, lpos)
		if rk == lk && rk != "" && b.get("auth") != nil {
			b.get("auth").from = dedupPos(append(b.get("auth").from, rpos))
		}
		if rk != lk && rk != "" && lk != "" {
			c.d.warnf(rpos, "the peer authenticates with %s and this side with %s; oakley uses one method both ways (auth = %q)", rk, lk, lk)
		}
	}
	// XAUTH after Phase 1: authby=xauth* with xauth=client|server, or leftauth2/rightauth2.
	role, rolePos := sc.value("xauth", "client")
	l2, r2 := sc.local("auth2"), sc.remote("auth2")
	for _, kv := range []*KV{l2, r2} {
		if kv != nil {
			if k, _, _ := authMethod(kv.Value); k != "xauth" {
				c.d.warnf(kv.Pos, "%s=%s: a second round other than XAUTH is not supported by oakley; not converted", kv.Key, clip(kv.Value))
			}
		}
	}
	switch {
	case l2 != nil && strings.HasPrefix(strings.ToLower(l2.Value), "xauth"):
		role, rolePos, xauth = "client", l2.Pos, true
	case r2 != nil && strings.HasPrefix(strings.ToLower(r2.Value), "xauth"):
		role, rolePos, xauth = "server", r2.Pos, true
	}
	if xauth {
		if co.version != 1 {
			c.d.warnf(rolePos, "XAUTH is IKEv1 only; not converted")
		} else if role != "client" && role != "server" {
			c.d.warnf(rolePos, "xauth=%s is not client or server; not converted", clip(role))
		} else {
			b.setStr("xauth", role, rolePos, authPos)
			if role == "client" {
				id := sc.get("xauth_identity")
				if id == nil {
					id = sc.local("id")
				}
				if id != nil {
					b.setStr("xauth_id", id.Value, id.Pos)
					co.clientUser, co.clientFrom = id.Value, id.Pos
				}
			}
		}
	}
	c.strokeIDs(sc)
	if kv := sc.get("aaa_identity"); kv != nil {
		c.d.warnf(kv.Pos, "aaa_identity: oakley has no separate AAA identity; not converted")
	}
	if kv := sc.get("xauth_identity"); kv != nil && b.get("xauth_id") == nil {
		c.d.warnf(kv.Pos, "xauth_identity without an XAUTH client round; not converted")
	}
	if kv := sc.get("eap_identity"); kv != nil && b.get("eap_id") == nil && b.get("eap") == nil {
		c.d.warnf(kv.Pos, "eap_identity without EAP; not converted")
	}
}

// strokeIDs converts leftid/rightid. strongSwan's defaults are the addresses, as oakley's.
func (c *converter) strokeIDs(sc *strokeConn) {
	co, b := sc.co, sc.co.b
	if kv := sc.local("id"); kv != nil {
		out, problem := convertID(kv.Value)
		if problem != "" {
			c.d.warnf(kv.Pos, "%sid: %s; local_id not converted (oakley uses local_addr)", sc.l, problem)
		} else {
			b.setStr("local_id", out, kv.Pos)
		}
		co.localID = kv.Value
	}
	if kv := sc.remote("id"); kv != nil {
		v := kv.Value
		if strings.HasPrefix(v, "%") && v != "%any" && v != "%any6" {
			c.d.warnf(kv.Pos, "%sid=%s: the %% prefix (IKEv2: do not send IDr) has no oakley equivalent; the identity is kept", sc.r, v)
			v = v[1:]
		}
		out, problem := convertID(v)
		if problem != "" {
			c.d.warnf(kv.Pos, "%sid: %s; remote_id not converted, so oakley expects remote_addr as the peer's identity (fails closed)", sc.r, problem)
		} else {
			b.setStr("remote_id", out, kv.Pos)
		}
		co.remoteID = v
	}
	for _, k := range []string{"id2", "ca2", "cert2", "groups", "groups2", "certpolicy", "sigkey"} {
		for _, kv := range []*KV{sc.local(k), sc.remote(k)} {
			if kv != nil {
				c.d.warnf(kv.Pos, "%s is not supported by oakley; not converted", kv.Key)
			}
		}
	}
}

// strokeCerts converts leftcert/rightcert/leftsendcert/leftca and finds the key and trust
// anchors of a pubkey connection.
func (c *converter) strokeCerts(sc *strokeConn, cas []caFile, secrets []*SecretEntry) {
	co, b := sc.co, sc.co.b
	certDir := filepath.Join(c.baseDir, "ipsec.d", "certs")
	if kv := sc.local("cert"); kv != nil {
		for i, f := range splitList(kv.Value) {
			if i > 0 {
				c.d.warnf(kv.Pos, "%scert: %s is not converted; oakley uses one certificate", sc.l, f)
				continue
			}
			if strings.HasPrefix(f, "%smartcard") {
				c.d.warnf(kv.Pos, "%scert=%s: smartcards are not supported by oakley; not converted", sc.l, clip(f))
				continue
			}
			b.setStr("cert", absPath(certDir, f), kv.Pos)
		}
	}
	if kv := sc.remote("cert"); kv != nil {
		for i, f := range splitList(kv.Value) {
			if i > 0 {
				c.d.warnf(kv.Pos, "%scert: %s is not converted; oakley pins one peer certificate", sc.r, f)
				continue
			}
			b.setStr("remote_cert", absPath(certDir, f), kv.Pos)
		}
	}
	if kv := sc.local("sendcert"); kv != nil {
		switch v := strings.ToLower(strings.TrimSpace(kv.Value)); v {
		case "never", "no":
			b.setStr("send_cert", "never", kv.Pos)
		case "always", "yes":
			b.setStr("send_cert", "always", kv.Pos)
		case "ifasked":
			b.setStr("send_cert", "ifasked", kv.Pos)
		default:
			c.d.warnf(kv.Pos, "%ssendcert=%s is not never, ifasked or always; not converted", sc.l, clip(v))
		}
	}
	if kv := sc.remote("sendcert"); kv != nil {
		c.d.warnf(kv.Pos, "%ssendcert is the peer's setting; not converted", sc.r)
	}
	for _, kv := range []*KV{sc.local("ca"), sc.remote("ca")} {
		if kv != nil {
			c.d.warnf(kv.Pos, "%s=%s: oakley has no CA constraint; it trusts the CA certificates in cacerts; not converted", kv.Key, clip(kv.Value))
		}
	}
	verifies := co.auth == "pubkey" || b.get("eap") != nil && co.clientUser != ""
	if verifies && b.get("remote_cert") == nil {
		if len(cas) > 0 {
			for _, f := range cas {
				b.appendList("cacerts", f.path, sc.st.Pos)
				e := b.get("cacerts")
				e.from = dedupPos(append(e.from, f.from...))
			}
			b.get("cacerts").note = "strongSwan trusts every CA certificate in ipsec.d/cacerts and its ca sections"
		} else {
			c.d.warnf(sc.st.Pos, "conn %s verifies certificates, but no CA certificate was found in ipsec.d/cacerts or ca sections; set cacerts", sc.st.Name)
		}
	}
	if co.auth != "pubkey" {
		return
	}
	cert := b.get("cert")
	if cert == nil {
		c.d.warnf(sc.st.Pos, "conn %s signs with a certificate, but %scert is not set; set cert and key", sc.st.Name, sc.l)
		return
	}
	c.strokeKey(sc, cert, secrets)
	if b.get("local_id") == nil {
		if dn, err := c.certSubject(cert.raw); err == nil {
			b.setStr("local_id", dn, cert.from...).note = "the certificate's subject, strongSwan's default identity"
			co.localID = dn
		} else {
			c.d.warnf(cert.from[0], "no %sid: strongSwan identifies this side by the certificate's subject, which could not be read (%v); set local_id", sc.l, err)
		}
	}
}

// strokeKey finds the private key in ipsec.secrets (": RSA file", relative to
// ipsec.d/private), preferring an entry whose selector is this side's identity.
func (c *converter) strokeKey(sc *strokeConn, cert *entry, secrets []*SecretEntry) {
	b := sc.co.b
	keyDir := filepath.Join(c.baseDir, "ipsec.d", "private")
	var cands []*SecretEntry
	for _, e := range secrets {
		if e.Type == "RSA" || e.Type == "ECDSA" {
			cands = append(cands, e)
		}
	}
	var pick *SecretEntry
	for _, e := range cands {
		for _, s := range e.Selectors {
			if sc.co.localID != "" && normID(s) == normID(sc.co.localID) && pick == nil {
				pick = e
			}
		}
	}
	if pick == nil && len(cands) == 1 {
		pick = cands[0]
	}
	if pick != nil {
		pick.used = true
		b.setStr("key", absPath(keyDir, pick.Value), pick.Pos).note = "from ipsec.secrets"
		return
	}
	key, problem := c.findKey([]string{keyDir}, cert.raw)
	if problem != "" {
		c.d.warnf(cert.from[0], "oakley needs the private key of %s: no single RSA/ECDSA entry in ipsec.secrets names it, and %s; set key", filepath.Base(cert.raw), problem)
		return
	}
	b.setStr("key", absPath("", key), cert.from...).note = "the only key in ipsec.d/private"
}
