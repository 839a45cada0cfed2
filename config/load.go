package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// maxConfigSize bounds the configuration file Load reads.
const maxConfigSize = 4 << 20

// DefaultControlSocket is control_socket's default: /run/oakley/oakley.sock on Linux,
// /var/run/oakley/oakley.sock on macOS (/run does not exist there), and
// %ProgramData%\oakley\oakley.sock on Windows (Unix sockets are supported since Windows 10).
var DefaultControlSocket = func() string {
	switch runtime.GOOS {
	case "darwin", "freebsd", "openbsd", "netbsd":
		return "/var/run/oakley/oakley.sock"
	case "windows":
		dir := os.Getenv("ProgramData")
		if dir == "" {
			dir = `C:\ProgramData`
		}
		return filepath.Join(dir, "oakley", "oakley.sock")
	}
	return "/run/oakley/oakley.sock"
}()

var defaultControlSocket = DefaultControlSocket

// Defaults of the [daemon] and [device] tables (CONFIG.md).
const (
	defaultLogLevel     = "info"
	defaultLogFormat    = "console"
	defaultIKEPort      = 500
	defaultNATTPort     = 4500
	defaultSocketBuffer = 4_000_000 // "4MB"
	maxSocketBuffer     = 1 << 30
	maxWorkers          = 4096
	defaultDeviceKind   = "tun"
	defaultDeviceName   = "oakley0"
)

// Load reads and checks the configuration file at path. Relative file names inside it are
// resolved against path's directory. On failure the error is an Errors listing every problem.
func Load(path string) (*Config, error) { return load(path, notImplemented) }

// load is Load with the set of features still refused (tests pass none to check the rules
// of features that are not implemented yet).
func load(path string, refused map[feature]bool) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: "cannot read the configuration: " + describeOSError(err)}}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, Errors{{File: path, Msg: "cannot read the configuration: " + describeOSError(err)}}
	}
	if len(data) > maxConfigSize {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("the configuration is larger than %d bytes", maxConfigSize)}}
	}
	cfg, secretLine, err := parse(path, data, filepath.Dir(path), refused)
	if err != nil {
		return nil, err
	}
	// Inline secrets (psk, manual keys) deserve the same protection as psk_file.
	if fi, statErr := f.Stat(); statErr == nil && secretLine > 0 {
		if perr := checkPrivate("the configuration", "", fi); perr != nil {
			cfg.Warnings = append(cfg.Warnings, Warning{File: path, Line: secretLine, Msg: fmt.Sprintf(
				"this file holds a secret inline and is readable or writable by group/other (mode %04o); chmod 600 it, or move the secret to psk_file", fi.Mode().Perm())})
			sort.SliceStable(cfg.Warnings, func(i, j int) bool { return cfg.Warnings[i].Line < cfg.Warnings[j].Line })
		}
	}
	return cfg, nil
}

func describeOSError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Parse checks a configuration held in memory (an embedded demo configuration, a test). name
// is used in messages; relative file names are resolved against baseDir ("" = the current
// directory). On failure the error is an Errors listing every problem.
func Parse(name string, data []byte, baseDir string) (*Config, error) {
	cfg, _, err := parse(name, data, baseDir, notImplemented)
	return cfg, err
}

// parse is Parse that also returns the line of the first inline secret (0 = none).
func parse(name string, data []byte, baseDir string, refused map[feature]bool) (*Config, int, error) {
	return parseRecording(name, data, baseDir, refused, nil)
}

// parseRecording is parse that records in asked (unless nil) every key the loader asks for,
// as schemaKind(table, key), so a test can check the schema against what the loader reads.
func parseRecording(name string, data []byte, baseDir string, refused map[feature]bool, asked map[string]bool) (*Config, int, error) {
	r := &report{file: name, asked: asked}
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, 0, Errors{{File: name, Line: pe.Position.Line, Col: pe.Position.Col,
				Msg: "TOML syntax: " + syntaxMessage(pe, string(data))}}
		}
		return nil, 0, Errors{{File: name, Msg: "TOML: " + err.Error()}}
	}
	l := &loader{r: r, cfg: &Config{File: name, Dir: baseDir}, spis: map[uint32]spiUse{}, keys: map[string]keyUse{},
		refused: refused, usedPools: map[string]bool{}}
	l.load(newTable(r, scanPositions(string(data)), doc, "", "", "the top level"))
	r.sort()
	if len(r.errs) > 0 {
		l.cfg.Wipe()
		return nil, 0, r.errs
	}
	l.cfg.Warnings = r.warnings
	return l.cfg, l.secretLine, nil
}

// secretKeys hold secrets inline; a syntax error in their values must not quote them.
var secretKeys = []string{"psk", "in_key", "out_key", "in_auth_key", "out_auth_key"}

// syntaxMessage returns the parser's message, unless the error lies in the value of a secret
// key: the parser quotes the offending token ("expected value but found \"…\""), so then
// only the key is named.
func syntaxMessage(pe toml.ParseError, data string) string {
	last := pe.LastKey
	if i := strings.LastIndexByte(last, '.'); i >= 0 {
		last = last[i+1:]
	}
	line := ""
	if lines := strings.Split(data, "\n"); pe.Position.Line >= 1 && pe.Position.Line <= len(lines) {
		line = strings.TrimSpace(lines[pe.Position.Line-1])
	}
	for _, k := range secretKeys {
		if last == k || strings.HasPrefix(line, k+" ") || strings.HasPrefix(line, k+"=") {
			return fmt.Sprintf("the value of %s is not valid TOML (the parser's message is withheld because the value is a secret); quote it like %s = \"...\"", k, k)
		}
	}
	return pe.Message
}

// loader carries the state of one Parse across tables.
type loader struct {
	r    *report
	cfg  *Config
	spis map[uint32]spiUse // inbound SPIs of manual children, which must be unique
	keys map[string]keyUse // private key files, by resolved path

	refused    map[feature]bool // features still refused (notimpl.go)
	usedPools  map[string]bool  // pools named by some connection
	usersUsed  bool             // some connection authenticates [[user]]s
	poolLines  []int            // header line of each [[pool]]
	deviceLine int              // header line of [device] (0 when absent)
	userLines  []int            // header line of each [[user]]

	mtuLine    int  // line of device.mtu
	ipv6       bool // some address or selector is IPv6 (MTU minimum 1280)
	secretLine int  // line of the first inline secret (psk, in_key, …), 0 = none
}

type keyUse struct {
	auth, conn string
	line       int
}

type spiUse struct {
	conn, child string
	line        int
}

// inlineSecret records where the file holds a secret itself.
func (l *loader) inlineSecret(line int) {
	if l.secretLine == 0 || line < l.secretLine {
		l.secretLine = line
	}
}

func (l *loader) load(root *table) {
	empty := func(name, path string) *table { return newTable(l.r, root.pos, map[string]any{}, path, path, name) }
	d := root.sub("daemon", "[daemon]")
	if d == nil {
		d = empty("[daemon]", "daemon")
	}
	l.daemon(d)
	dev := root.sub("device", "[device]")
	if dev == nil {
		dev = empty("[device]", "device")
	}
	l.device(dev)
	// Pools and users first: connections refer to them wherever they stand in the file.
	l.pools(root)
	l.users(root)
	conns := root.tables("connection", func(i int) string { return fmt.Sprintf("[[connection]] #%d", i+1) })
	names := map[string]int{}
	for _, t := range conns {
		c := l.connection(t)
		if c.Name != "" {
			if first, dup := names[c.Name]; dup {
				l.r.errorf(t.keyLine("name"), "connection name %q is already used on line %d; names must be unique", c.Name, first)
			} else {
				names[c.Name] = t.keyLine("name")
			}
		}
		l.cfg.Connections = append(l.cfg.Connections, c)
	}
	if ns := root.sub("netstack", "[netstack]"); ns != nil {
		l.netstack(ns)
	}
	root.done()
	if l.cfg.Device.Kind == "netstack" && len(l.cfg.Device.Addresses) == 0 && !anyVIPs(l.cfg) {
		// A remote-access client (vips) gets its addresses from the gateway.
		l.r.errorf(l.deviceLine, `[device] kind = "netstack" needs addresses (the addresses of this site inside the tunnel), unless a connection asks for vips`)
	}
	l.checkMTU()
	for i, p := range l.cfg.Pools {
		if p.Name != "" && !l.usedPools[p.Name] {
			l.r.warnf(l.poolLines[i], "pool %q is not named in any connection's pools", p.Name)
		}
	}
	if len(l.cfg.Users) > 0 && !l.usersUsed {
		l.r.warnf(l.userLines[0], `no connection authenticates [[user]]s (xauth = "server", or eap = "mschapv2" with pools)`)
	}
}

// anyVIPs reports whether a connection asks the gateway for virtual IPs.
func anyVIPs(cfg *Config) bool {
	for _, c := range cfg.Connections {
		if len(c.VIPs) > 0 {
			return true
		}
	}
	return false
}

func (l *loader) device(t *table) {
	d := &l.cfg.Device
	d.Kind = t.enum("kind", defaultDeviceKind, "tun", "netstack")
	d.Name = t.str("name", defaultDeviceName)
	if err := checkIfName(d.Name); err != nil {
		l.r.errorf(t.keyLine("name"), "name = %q: %v", d.Name, err)
	}
	d.MTU = int(t.integer("mtu", 0, 0, 65535, "0 (automatic) or 576..65535"))
	l.mtuLine = t.keyLine("mtu")
	if d.MTU > 0 && d.MTU < 576 {
		l.r.errorf(l.mtuLine, "mtu = %d is too small; want 0 (automatic) or 576..65535 (RFC 791 §3.1)", d.MTU)
		d.MTU = 0
	}
	addrs, lines, _ := t.strList("addresses")
	seen := map[netip.Prefix]bool{}
	for i, s := range addrs {
		p, err := parseAddrPrefix(s)
		if err != nil {
			l.r.errorf(lines[i], "addresses: %v", err)
			continue
		}
		if seen[p] {
			l.r.errorf(lines[i], "addresses: %s is listed twice", p)
			continue
		}
		seen[p] = true
		l.ipv6 = l.ipv6 || p.Addr().Is6()
		d.Addresses = append(d.Addresses, p)
	}
	l.deviceLine = t.line()
	d.Routes = t.boolean("routes", true)
	d.Offload = t.boolean("offload", true)
	t.done()
}

// parseAddrPrefix reads an interface address: "192.0.2.1/24" (host bits allowed) or a bare
// address meaning /32 or /128.
func parseAddrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an address with prefix length like 192.0.2.1/24", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or address/length", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// checkIfName accepts names a TUN device can take on Linux (IFNAMSIZ 16 with the NUL).
func checkIfName(name string) error {
	if name == "" {
		return fmt.Errorf("empty; omit it for %q", defaultDeviceName)
	}
	if len(name) > 15 {
		return fmt.Errorf("longer than 15 bytes (the Linux interface name limit)")
	}
	for _, c := range []byte(name) {
		if !isBareKeyChar(c) && c != '.' {
			return fmt.Errorf("want letters, digits, '-', '_' or '.'")
		}
	}
	return nil
}

// checkHostPort accepts "host:port" with a port 1..65535 ("127.0.0.1:9477", "[::1]:1080",
// "localhost:1080").
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want host:port like 127.0.0.1:9477")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("port %q is not 1..65535", port)
	}
	if host != "" && !validHostname(host) {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q is not an IP address or host name", host)
		}
	}
	return nil
}

// validHostname accepts a DNS name of letters, digits and hyphens (RFC 1123 §2.1), with an
// optional trailing dot.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func (l *loader) netstack(t *table) {
	ns := &l.cfg.Netstack
	if l.cfg.Device.Kind != "netstack" {
		l.r.errorf(t.line(), `[netstack] needs device.kind = "netstack" (kind is %q)`, l.cfg.Device.Kind)
	}
	ns.SOCKS5 = t.str("socks5", "")
	if ns.SOCKS5 != "" {
		if err := checkHostPort(ns.SOCKS5); err != nil {
			l.r.errorf(t.keyLine("socks5"), "socks5 = %q: %v", ns.SOCKS5, err)
		}
	}
	type listener struct {
		proto string
		ap    netip.AddrPort
	}
	listening := map[listener]int{}
	for _, kind := range []string{"forward", "expose"} {
		tables := t.tables(kind, func(i int) string { return fmt.Sprintf("[[netstack.%s]] #%d", kind, i+1) })
		for _, ft := range tables {
			f, ok := l.forward(ft, kind)
			if !ok {
				continue
			}
			key := listener{f.Proto, f.Listen}
			if first, dup := listening[key]; dup {
				l.r.errorf(ft.keyLine("listen"), "%s listen %s/%s is already used on line %d", kind, f.Listen, f.Proto, first)
				continue
			}
			listening[key] = ft.keyLine("listen")
			if kind == "forward" {
				ns.Forward = append(ns.Forward, f)
			} else {
				ns.Expose = append(ns.Expose, f)
			}
		}
	}
	t.done()
}

// forward reads one [[netstack.forward]] / [[netstack.expose]].
func (l *loader) forward(t *table, kind string) (Forward, bool) {
	var f Forward
	ok := true
	f.Proto = t.enum("proto", "", "tcp", "udp")
	if !t.has("proto") {
		l.r.errorf(t.line(), `%s needs proto = "tcp" or "udp"`, t.name)
		ok = false
	} else if f.Proto == "" {
		ok = false
	}
	for _, k := range []string{"listen", "to"} {
		s, present := t.optStr(k)
		if !present {
			if !t.has(k) {
				l.r.errorf(t.line(), "%s needs %s = \"address:port\"", t.name, k)
			}
			ok = false
			continue
		}
		ap, err := netip.ParseAddrPort(s)
		if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
			l.r.errorf(t.keyLine(k), "%s = %q is not an IP address and port like 127.0.0.1:8080", k, s)
			ok = false
			continue
		}
		if k == "listen" {
			f.Listen = ap
		} else {
			f.To = ap
		}
	}
	t.done()
	if !ok {
		return f, false
	}
	switch kind {
	case "expose":
		// The netstack owns only the device addresses; it cannot listen on anything else.
		if a := f.Listen.Addr(); !a.IsUnspecified() && !l.deviceHas(a) {
			l.r.errorf(t.keyLine("listen"), "expose listen %s is not one of device.addresses", f.Listen)
			return f, false
		}
	case "forward":
		if !l.remoteCovers(f.To.Addr()) {
			l.r.warnf(t.keyLine("to"), "forward to %s is outside every child's remote_ts; nothing would carry its traffic", f.To)
		}
	}
	return f, true
}

func (l *loader) deviceHas(a netip.Addr) bool {
	for _, p := range l.cfg.Device.Addresses {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

func (l *loader) remoteCovers(a netip.Addr) bool {
	for _, c := range l.cfg.Connections {
		for _, ch := range c.Children {
			for _, ts := range ch.RemoteTS {
				if ts.Prefix.Contains(a) {
					return true
				}
			}
		}
	}
	return false
}

// checkMTU applies IPv6's 1280-byte minimum link MTU (RFC 8200 §5) when any address or
// selector in the configuration is IPv6.
func (l *loader) checkMTU() {
	mtu := l.cfg.Device.MTU
	if mtu == 0 || mtu >= 1280 {
		return
	}
	for _, c := range l.cfg.Connections {
		l.ipv6 = l.ipv6 || c.LocalIP.Is6() || c.RemoteIP.Is6()
		for _, ch := range c.Children {
			for _, ts := range append(append([]TrafficSelector(nil), ch.LocalTS...), ch.RemoteTS...) {
				l.ipv6 = l.ipv6 || ts.Prefix.Addr().Is6()
			}
		}
	}
	if l.ipv6 {
		l.r.errorf(l.mtuLine, "mtu = %d is below 1280, the IPv6 minimum (RFC 8200 §5), and this configuration carries IPv6", mtu)
	}
}
