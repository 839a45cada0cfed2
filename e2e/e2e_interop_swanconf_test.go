//go:build linux

package e2e

// strongSwan's side of the interop tests: a swanctl.conf generated from a small struct,
// charon started through oakley/e2e/lab in a site's namespace, and a reader for `swanctl
// --list-sas --raw` with strongSwan's algorithm names turned into oakley's.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"oakley/e2e/lab"
)

// swanChild is one child of a strongSwan connection.
type swanChild struct {
	Name        string // "" = "net"
	LocalTS     string
	RemoteTS    string
	ESP         string // esp_proposals
	AH          string // ah_proposals (instead of ESP)
	Mode        string // "" = tunnel
	StartAction string // "" = none
	RekeyTime   string
	DPDAction   string
}

// swanConf is a swanctl.conf with one IKEv1 PSK connection.
type swanConf struct {
	Conn        string // "" = "oakley"
	Version     int    // IKE version, 0 = 1
	Aggressive  bool
	Proposals   string // "" = aes256-sha256-modp2048
	LocalAddrs  string // "" = %any
	RemoteAddrs string // "" = %any
	LocalID     string
	RemoteID    string
	PSK         string
	DPDDelay    string // "" = off
	DPDTimeout  string
	RekeyTime   string // IKEv1: reauthentication
	Extra       string // more lines inside the connection
	Children    []swanChild
	LogLevels   string // charon's filelog levels; "" = "ike=2 cfg=1 knl=1 net=1 enc=1"
	// RetransmitTries is charon's retransmit_tries (0: the lab's 3, which keeps handshakes
	// short; 5 is strongSwan's default, for the cases that lose IKE datagrams on purpose).
	RetransmitTries int

	// Certificates: Auth "pubkey" authenticates both ways with LocalCerts (file names in
	// x509/), and RemoteCerts pins the peer's; Files are written into the swanctl directory
	// (x509/, x509ca/, x509crl/, private/).
	Auth        string // "" = psk
	LocalCerts  string
	RemoteCerts string
	Files       map[string][]byte

	// Pools is a top-level pools section's body (remote access: a connection names a pool
	// with Extra = "pools = NAME", a client asks with Extra = "vips = 0.0.0.0").
	Pools string
	// Tail is more top-level text (strongSwan merges sections of the same name: a second
	// connections or secrets section adds to the first).
	Tail string
}

func (c *swanConf) connName() string {
	if c.Conn == "" {
		return "oakley"
	}
	return c.Conn
}

func (c *swanConf) render() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	line("connections {")
	line("  %s {", c.connName())
	if c.Version == 0 {
		line("    version = 1")
	} else {
		line("    version = %d", c.Version)
	}
	if c.Version != 2 {
		line("    aggressive = %s", map[bool]string{true: "yes", false: "no"}[c.Aggressive])
	}
	line("    proposals = %s", or(c.Proposals, "aes256-sha256-modp2048"))
	line("    local_addrs = %s", or(c.LocalAddrs, "%any"))
	line("    remote_addrs = %s", or(c.RemoteAddrs, "%any"))
	if c.DPDDelay != "" {
		line("    dpd_delay = %s", c.DPDDelay)
	}
	if c.DPDTimeout != "" {
		line("    dpd_timeout = %s", c.DPDTimeout)
	}
	if c.RekeyTime != "" {
		line("    rekey_time = %s", c.RekeyTime)
	}
	b.WriteString(c.Extra)
	auth := or(c.Auth, "psk")
	line("    local {")
	line("      auth = %s", auth)
	line("      id = %s", swanValue(c.LocalID))
	if c.LocalCerts != "" {
		line("      certs = %s", c.LocalCerts)
	}
	line("    }")
	line("    remote {")
	line("      auth = %s", auth)
	line("      id = %s", swanValue(c.RemoteID))
	if c.RemoteCerts != "" {
		line("      certs = %s", c.RemoteCerts)
	}
	line("    }")
	line("    children {")
	for _, ch := range c.Children {
		line("      %s {", or(ch.Name, "net"))
		line("        local_ts = %s", ch.LocalTS)
		line("        remote_ts = %s", ch.RemoteTS)
		if ch.AH != "" {
			line("        ah_proposals = %s", ch.AH)
		} else {
			line("        esp_proposals = %s", or(ch.ESP, "aes128gcm16"))
		}
		line("        mode = %s", or(ch.Mode, "tunnel"))
		line("        start_action = %s", or(ch.StartAction, "none"))
		if ch.RekeyTime != "" {
			line("        rekey_time = %s", ch.RekeyTime)
		}
		if ch.DPDAction != "" {
			line("        dpd_action = %s", ch.DPDAction)
		}
		line("      }")
	}
	line("    }")
	line("  }")
	line("}")
	if c.Pools != "" {
		line("pools {")
		b.WriteString(c.Pools)
		line("}")
	}
	b.WriteString(c.Tail)
	if auth != "psk" {
		return b.String()
	}
	line("secrets {")
	line("  ike-1 {")
	line("    id-1 = %s", c.LocalID)
	line("    id-2 = %s", c.RemoteID)
	line("    secret = %q", c.PSK)
	line("  }")
	line("}")
	return b.String()
}

// swanValue quotes a value for swanctl.conf when it needs it (a DN: spaces, commas).
func swanValue(s string) string {
	if strings.ContainsAny(s, " ,=") {
		return strconv.Quote(s)
	}
	return s
}

// swanFor returns the usual strongSwan configuration of a site: the mirror of siteFor.
func swanFor(tp *ioTopo, s *ioSide, psk string) swanConf {
	o := tp.other(s)
	id, rid := leftID, rightID
	if s == tp.right {
		id, rid = rightID, leftID
	}
	return swanConf{LocalAddrs: s.outer, RemoteAddrs: o.seen, LocalID: id, RemoteID: rid, PSK: psk,
		Children: []swanChild{{LocalTS: s.net, RemoteTS: o.net}}}
}

// swan is a charon running in a site's namespace.
type swan struct {
	*lab.Charon
	side *ioSide
	conf swanConf
}

// startSwan starts charon in side's namespace with conf (the site's inner host address goes
// on lo); it is stopped when the test ends, its log shown if the test failed.
func startSwan(t *testing.T, side *ioSide, name string, conf swanConf) *swan {
	t.Helper()
	l, err := lab.New("oki")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	if out, err := side.ns.run("ip", "addr", "replace", side.host+"/32", "dev", "lo"); err != nil {
		t.Fatalf("ip addr replace %s dev lo: %v\n%s", side.host, err, out)
	}
	levels := conf.LogLevels
	if levels == "" {
		levels = "ike=2 cfg=1 knl=1 net=1 enc=1"
	}
	l.CharonRetransmitTries = conf.RetransmitTries
	c, err := l.StartCharon(string(side.ns), name, conf.render(), conf.Files, levels)
	if err != nil {
		t.Fatalf("starting charon in %s: %v", side.ns, err) // (its swanctl.conf holds the PSK)
	}
	sw := &swan{Charon: c, side: side, conf: conf}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("charon %s (%s) log:\n%s", name, side.ns, tail(c.Log(), 12000))
		}
	})
	return sw
}

// swanctl runs a swanctl command with a bounded time and returns its output.
func (s *swan) swanctl(t *testing.T, command string, args ...string) string {
	t.Helper()
	out, err := s.Swanctl(command, args...)
	if err != nil {
		t.Fatalf("swanctl %s %s: %v\n%s", command, strings.Join(args, " "), err, out)
	}
	return out
}

// swanSA is one IKE SA of `swanctl --list-sas --raw`, with its child SAs.
type swanSA struct {
	Conn     string
	Fields   map[string]string
	Children []map[string]string
}

// listSAs returns charon's IKE SAs.
func (s *swan) listSAs(t *testing.T) []swanSA {
	t.Helper()
	out := s.swanctl(t, "--list-sas", "--raw")
	sas, err := parseSwanRaw(out)
	if err != nil {
		t.Fatalf("swanctl --list-sas --raw: %v\n%s", err, out)
	}
	return sas
}

// parseSwanRaw reads the "list-sa event {CONN {k=v ... child-sas {NAME {k=v ...}}}}" lines
// of `swanctl --list-sas --raw` (vici's raw dump: sections in braces, lists in brackets).
func parseSwanRaw(out string) ([]swanSA, error) {
	var sas []swanSA
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "list-sa event {") {
			continue
		}
		p := &rawParser{s: strings.TrimPrefix(l, "list-sa event {")}
		top, err := p.section()
		if err != nil {
			return nil, fmt.Errorf("%w in %q", err, l)
		}
		for conn, v := range top {
			sec, ok := v.(map[string]any)
			if !ok {
				continue
			}
			sa := swanSA{Conn: conn, Fields: flat(sec)}
			if cs, ok := sec["child-sas"].(map[string]any); ok {
				for _, cv := range cs {
					if c, ok := cv.(map[string]any); ok {
						sa.Children = append(sa.Children, flat(c))
					}
				}
			}
			sas = append(sas, sa)
		}
	}
	return sas, nil
}

// flat keeps the scalar values of a section (lists joined by spaces).
func flat(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		switch v := v.(type) {
		case string:
			out[k] = v
		case []string:
			out[k] = strings.Join(v, " ")
		}
	}
	return out
}

type rawParser struct {
	s string
	i int
}

func (p *rawParser) skip() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

// section parses "k=v k=[a b] k {…} }" up to and including the closing brace.
func (p *rawParser) section() (map[string]any, error) {
	m := map[string]any{}
	for {
		p.skip()
		if p.i >= len(p.s) {
			return m, fmt.Errorf("unterminated section")
		}
		if p.s[p.i] == '}' {
			p.i++
			return m, nil
		}
		start := p.i
		for p.i < len(p.s) && !strings.ContainsRune(" ={}", rune(p.s[p.i])) {
			p.i++
		}
		key := p.s[start:p.i]
		p.skip()
		if p.i >= len(p.s) {
			return m, fmt.Errorf("key %q without value", key)
		}
		switch p.s[p.i] {
		case '{':
			p.i++
			sub, err := p.section()
			if err != nil {
				return m, err
			}
			m[key] = sub
		case '=':
			p.i++
			if p.i < len(p.s) && p.s[p.i] == '[' {
				end := strings.IndexByte(p.s[p.i:], ']')
				if end < 0 {
					return m, fmt.Errorf("unterminated list for %q", key)
				}
				m[key] = strings.Fields(p.s[p.i+1 : p.i+end])
				p.i += end + 1
				continue
			}
			start := p.i
			for p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != '}' {
				p.i++
			}
			m[key] = p.s[start:p.i]
		default:
			return m, fmt.Errorf("unexpected %q after key %q", p.s[p.i], key)
		}
	}
}

// swanNames turns strongSwan's algorithm names into oakley's (strongSwan's proposal
// keywords): AES_CBC/256 → aes256, AES_GCM_16/128 → aes128gcm16, HMAC_SHA2_256_128 →
// sha256, MODP_2048 → modp2048, ECP_256 → ecp256.
func swanNames(f map[string]string) (enc, integ, dh string) {
	bits := f["encr-keysize"]
	switch e := f["encr-alg"]; {
	case e == "AES_CBC":
		enc = "aes" + bits
	case strings.HasPrefix(e, "AES_GCM_"):
		enc = "aes" + bits + "gcm" + strings.TrimPrefix(e, "AES_GCM_")
	case e == "3DES" || e == "3DES_CBC":
		enc = "3des"
	case e == "DES_CBC":
		enc = "des"
	default:
		enc = strings.ReplaceAll(strings.ToLower(e), "_", "") // CHACHA20_POLY1305 → chacha20poly1305
	}
	integ = map[string]string{
		"HMAC_SHA1_96": "sha1", "HMAC_SHA2_256_128": "sha256", "HMAC_SHA2_384_192": "sha384",
		"HMAC_SHA2_512_256": "sha512", "HMAC_MD5_96": "md5", "": "",
	}[f["integ-alg"]]
	if integ == "" && f["integ-alg"] != "" {
		integ = strings.ToLower(f["integ-alg"])
	}
	if g := f["dh-group"]; g != "" {
		dh = strings.ToLower(strings.ReplaceAll(g, "_", ""))
		if g == "CURVE_25519" {
			dh = "curve25519"
		}
	}
	return enc, integ, dh
}

// dashJoin joins the non-empty parts with "-".
func dashJoin(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "-")
}
