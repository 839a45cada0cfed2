package config

// Authentication of a connection with keying = "ike": auth with its secrets and certificates,
// and the user authentication layered on it (xauth in IKEv1, eap in IKEv2).

import (
	"fmt"

	"oakley/crypto"
)

// authentication reads auth, its secrets and certificates, and the user authentication.
func (l *loader) authentication(t *table, c *Connection) {
	insecure := l.cfg.Daemon.InsecureAlgorithms
	psk, hasPSK := t.optStr("psk")
	pskFile, hasPSKFile := t.optStr("psk_file")
	hasPSK, hasPSKFile = hasPSK && psk != "", hasPSKFile && pskFile != ""
	files := map[string]string{} // key → name as written
	for _, k := range []string{"cert", "key", "remote_cert"} {
		if v := t.str(k, ""); v != "" {
			files[k] = v
		}
	}
	cacerts, caLines, _ := t.strList("cacerts")
	crls, crlLines, _ := t.strList("crls")
	set := func(k string) bool {
		return files[k] != "" || k == "cacerts" && len(cacerts) > 0 || k == "crls" && len(crls) > 0 ||
			k == "psk" && hasPSK || k == "psk_file" && hasPSKFile || k == "send_cert" && t.has(k)
	}
	l.userAuth(t, c)
	if c.EAP != "" && c.Auth != "pubkey" {
		// RFC 7296 §2.16: the responder authenticates with a public-key signature when the
		// initiator uses EAP; auth names that proof on both sides.
		l.r.errorf(t.keyLine("eap"), `eap needs auth = "pubkey": with EAP the gateway proves itself with its certificate (RFC 7296 §2.16); auth is %q`, c.Auth)
	}

	switch c.Auth {
	case "psk":
		switch {
		case hasPSK && hasPSKFile:
			l.r.errorf(t.keyLine("psk_file"), "set psk or psk_file, not both")
		case !hasPSK && !hasPSKFile:
			l.r.errorf(t.line(), `%s: auth = "psk" needs psk or psk_file`, t.name)
		case hasPSK:
			l.inlineSecret(t.keyLine("psk"))
			l.setPSK(t, c, "psk", "psk", []byte(psk))
		default:
			c.PSKFile = resolvePath(l.cfg.Dir, pskFile)
			data, err := readPSKFile(pskFile, c.PSKFile)
			if err != nil {
				l.r.errorf(t.keyLine("psk_file"), "%v", err)
				break
			}
			l.setPSK(t, c, "psk_file", "psk_file "+pskFile, data)
			crypto.Wipe(data)
		}
		for _, k := range []string{"cert", "key", "cacerts", "remote_cert", "crls", "send_cert"} {
			if set(k) {
				l.r.warnf(t.keyLine(k), `%s is ignored with auth = "psk"`, k)
			}
		}
		if c.Aggressive {
			// STANDARDS.md: Aggressive Mode with PSK sends a hash an eavesdropper can crack
			// offline; answering it as a responder needs the insecure opt-in.
			if insecure {
				l.r.warnf(t.keyLine("aggressive"), "Aggressive Mode with a PSK sends a hash an eavesdropper can crack offline; insecure_algorithms lets oakley answer it as a responder; prefer Main Mode or certificates")
			} else {
				l.r.warnf(t.keyLine("aggressive"), "Aggressive Mode with a PSK sends a hash an eavesdropper can crack offline; oakley initiates it, but as a responder it needs insecure_algorithms = true")
			}
		}
	case "pubkey", "pke", "pke-revised", "pke-original":
		if c.Auth == "pubkey" {
			l.refuseUnimplemented(featPubkey, t.keyLine("auth"))
		} else {
			l.refuseUnimplemented(featPKE, t.keyLine("auth"))
			if c.Version != 1 {
				l.r.errorf(t.keyLine("auth"), `auth = %q is IKEv1 only: IKEv2 has no public-key-encryption authentication`, c.Auth)
			}
		}
		l.certificates(t, c, files, cacerts, caLines, crls, crlLines)
		for _, k := range []string{"psk", "psk_file"} {
			if set(k) {
				l.r.warnf(t.keyLine(k), "%s is ignored with auth = %q", k, c.Auth)
			}
		}
		if isPKE(c.Auth) {
			// STANDARDS.md: the IKEv1 public-key-encryption modes leak a Bleichenbacher
			// oracle (Felsch et al., USENIX Security 2018) and stay behind the opt-in.
			if insecure {
				l.r.warnf(t.keyLine("auth"), `auth = %q (IKEv1 public-key encryption) is insecure (a Bleichenbacher oracle); allowed by insecure_algorithms`, c.Auth)
			} else {
				l.r.errorf(t.keyLine("auth"), `auth = %q (IKEv1 public-key encryption) is insecure (a Bleichenbacher oracle); it needs insecure_algorithms = true`, c.Auth)
			}
		}
	}
}

// certificates resolves and checks the files of auth = "pubkey" / "pke": this site's cert and
// key, and the trust anchors, pinned certificate and CRLs that verify the peer. An EAP client
// needs its own certificate only for eap = "tls"; an EAP-MSCHAPv2 gateway verifies no client
// certificate.
func (l *loader) certificates(t *table, c *Connection, files map[string]string, cacerts []string, caLines []int, crls []string, crlLines []int) {
	needOwn := !c.EAPClient() || c.EAP == "tls"
	needPeer := !(c.EAPServer() && c.EAP == "mschapv2")
	own := fmt.Sprintf("auth = %q", c.Auth)
	peer := fmt.Sprintf("auth = %q needs cacerts or remote_cert to verify the peer's certificate", c.Auth)
	switch {
	case c.EAPClient():
		own, peer = `eap = "tls"`, "an EAP client needs cacerts or remote_cert to verify the gateway's certificate"
	case c.EAPServer():
		peer = `eap = "tls" on a gateway needs cacerts or remote_cert to verify the clients' certificates`
	}
	if needOwn && files["cert"] == "" {
		l.r.errorf(t.line(), "%s: %s needs cert (this site's certificate)", t.name, own)
	}
	if needOwn && files["key"] == "" {
		l.r.errorf(t.line(), "%s: %s needs key (this site's private key)", t.name, own)
	}
	if needPeer && len(cacerts) == 0 && files["remote_cert"] == "" {
		l.r.errorf(t.line(), "%s: %s", t.name, peer)
	} else if isPKE(c.Auth) && files["remote_cert"] == "" && c.RemoteAddr != "" && c.RemoteAddr != "%any" {
		// RFC 2409 §5.2/§5.3: the initiator encrypts its first message to the responder's
		// public key, so it must have the certificate beforehand.
		l.r.errorf(t.keyLine("auth"), `auth = %q can initiate (remote_addr is set) and so needs remote_cert, the peer's certificate: the first message is encrypted to it; only a responder (remote_addr = "%%any") may rely on cacerts`, c.Auth)
	}
	check := func(key, written string, line int) string {
		p := resolvePath(l.cfg.Dir, written)
		if c.FileLines == nil {
			c.FileLines = map[string]int{}
		}
		c.FileLines[p] = line
		fi, err := statFile(key, written, p)
		if err == nil && key == "key" {
			err = checkPrivate(key, written, fi)
		}
		if err != nil {
			l.r.errorf(line, "%v", err)
		}
		return p
	}
	if w := files["cert"]; w != "" {
		c.Cert = check("cert", w, t.keyLine("cert"))
	}
	if w := files["remote_cert"]; w != "" {
		c.RemoteCert = check("remote_cert", w, t.keyLine("remote_cert"))
	}
	for i, w := range cacerts {
		c.CACerts = append(c.CACerts, check("cacerts", w, caLines[i]))
	}
	for i, w := range crls {
		c.CRLs = append(c.CRLs, check("crls", w, crlLines[i]))
	}
	if w := files["key"]; w != "" {
		c.Key = check("key", w, t.keyLine("key"))
		// STANDARDS.md: an RSA key used for public-key encryption must never also sign.
		if prev, ok := l.keys[c.Key]; ok && isPKE(prev.auth) != isPKE(c.Auth) {
			l.r.errorf(t.keyLine("key"), "key %s is used with auth = %q here and auth = %q by connection %q (line %d); a public-key-encryption key must never also sign", w, c.Auth, prev.auth, prev.conn, prev.line)
		} else if !ok {
			l.keys[c.Key] = keyUse{auth: c.Auth, conn: c.Name, line: t.keyLine("key")}
		}
	}
}

// userAuth reads xauth and eap and the client credentials they need (xauth_id / eap_id and
// password_file); a server side needs [[user]]s to check logins against.
func (l *loader) userAuth(t *table, c *Connection) {
	c.XAuth = t.enum("xauth", "", "", "client", "server")
	c.EAP = t.enum("eap", "", "", "mschapv2", "tls")
	if c.XAuth != "" {
		if c.Version != 1 {
			l.r.errorf(t.keyLine("xauth"), "xauth is IKEv1 only; IKEv2 authenticates users with eap")
		} else {
			l.refuseUnimplemented(featXAUTH, t.keyLine("xauth"))
		}
	}
	if c.EAP != "" {
		if c.Version != 2 {
			l.r.errorf(t.keyLine("eap"), "eap needs IKEv2 (version = 2); IKEv1 authenticates users with xauth")
		} else if c.EAP == "tls" {
			l.refuseUnimplemented(featEAPTLS, t.keyLine("eap"))
		} else {
			l.refuseUnimplemented(featEAP, t.keyLine("eap"))
		}
	}
	xauthClient, eapClient := c.XAuth == "client", c.EAPClient()
	c.XAuthID = l.loginID(t, "xauth_id", xauthClient, `xauth = "client"`)
	c.EAPID = l.loginID(t, "eap_id", eapClient, "an EAP client (eap set, pools empty)")

	pwFor := ""
	switch {
	case xauthClient:
		pwFor = `xauth = "client"`
	case eapClient && c.EAP == "mschapv2":
		pwFor = `eap = "mschapv2" (as a client)`
	}
	w, present := t.optStr("password_file")
	switch {
	case pwFor != "" && w == "":
		if present || !t.has("password_file") {
			l.r.errorf(t.line(), "%s: %s needs password_file (the password, in a file only its owner can read)", t.name, pwFor)
		}
	case pwFor != "":
		c.PasswordFile, c.Password = l.password(t, w)
	case present && w != "":
		l.r.warnf(t.keyLine("password_file"), `password_file is used only by an XAUTH client or an EAP-MSCHAPv2 client; it is ignored here`)
	}

	server, line := "", 0
	switch {
	case c.XAuth == "server":
		server, line = `xauth = "server"`, t.keyLine("xauth")
	case c.EAPServer() && c.EAP == "mschapv2":
		server, line = `eap = "mschapv2" on a gateway (pools set)`, t.keyLine("eap")
	}
	if server != "" {
		l.usersUsed = true
		if len(l.cfg.Users) == 0 {
			l.r.errorf(line, "%s needs at least one [[user]] (name and password_file): no client could log in", server)
		}
	}
}

// loginID reads xauth_id / eap_id: required (a user name) when needed, else ignored.
func (l *loader) loginID(t *table, key string, needed bool, who string) string {
	s, present := t.optStr(key)
	switch {
	case needed && s == "":
		if present || !t.has(key) {
			l.r.errorf(t.line(), "%s: %s needs %s (the user name)", t.name, who, key)
		}
	case needed:
		if err := checkLoginName(s); err != nil {
			l.r.errorf(t.keyLine(key), "%s %v", key, err)
			return ""
		}
		return s
	case present && s != "":
		l.r.warnf(t.keyLine(key), "%s is used only by %s; it is ignored here", key, who)
	}
	return ""
}

// setPSK decodes and rates a PSK; the messages name the key, never the secret.
func (l *loader) setPSK(t *table, c *Connection, key, label string, text []byte) {
	k, binary, err := decodePSK(text)
	if err != nil {
		l.r.errorf(t.keyLine(key), "%s %v", label, err)
		return
	}
	c.PSK = k
	if bits := pskEntropy(k, binary); bits < minPSKBits {
		l.r.warnf(t.keyLine(key), "the PSK has only about %d bits of estimated entropy; use at least 128 bits (e.g. head -c 32 /dev/urandom | base64) or certificates", int(bits))
	}
}

// isPKE reports whether an auth value is IKEv1 public-key encryption: "pke" (the revised
// mode, falling back to the original one) or one mode alone ("pke-revised", "pke-original").
func isPKE(auth string) bool {
	return auth == "pke" || auth == "pke-revised" || auth == "pke-original"
}
