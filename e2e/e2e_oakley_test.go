//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childSpec is one [[connection.child]] of a generated configuration.
type childSpec struct {
	Name              string
	Mode              string   // "" = tunnel
	LocalTS, RemoteTS []string // nil in transport mode = the connection's addresses
	ESP, AH           string   // the proposal: exactly one of them is set

	// keying = "manual": the fixed SAs (RFC 4301 §4.5). An IKE variant leaves them empty.
	InSPI, OutSPI                        uint32
	InKey, OutKey, InAuthKey, OutAuthKey string // hex
}

// siteSpec is one site's configuration: the daemon, its device and one connection.
type siteSpec struct {
	LogLevel          string // "" = info
	Socket            string // control socket; startOakley fills it in
	IKEPort, NATTPort int    // 0 = 500 / 4500
	Insecure          bool
	User              string // [daemon] user; "" = stay as started
	DevKind           string // "" = tun
	MTU               int    // 0 = computed by oakley
	Addresses         []string
	Extra             string // TOML inserted after [device], e.g. the [netstack] tables

	ConnName              string
	Keying                string // "manual" or "ike"
	PSK                   string // keying = "ike": the pre-shared key
	StartAction           string // keying = "ike": "" = start
	LocalAddr, RemoteAddr string
	Encap                 string // "" = udp
	RemoteNATTPort        int    // 0 = 4500
	Children              []childSpec
}

// toml renders the configuration file.
func (s *siteSpec) toml() string {
	var b strings.Builder
	q := strconv.Quote
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("[daemon]")
	line("control_socket = %s", q(s.Socket))
	if s.LogLevel != "" {
		line("log_level = %s", q(s.LogLevel))
	}
	if s.IKEPort != 0 {
		line("ike_port = %d", s.IKEPort)
	}
	if s.NATTPort != 0 {
		line("natt_port = %d", s.NATTPort)
	}
	if s.Insecure {
		line("insecure_algorithms = true")
	}
	if s.User != "" {
		line("user = %s", q(s.User))
	}
	line("\n[device]")
	if s.DevKind != "" {
		line("kind = %s", q(s.DevKind))
	}
	if s.MTU != 0 {
		line("mtu = %d", s.MTU)
	}
	line("addresses = [%s]", quoteList(s.Addresses))
	b.WriteString(s.Extra)
	line("\n[[connection]]")
	line("name = %s", q(s.ConnName))
	line("keying = %s", q(s.Keying))
	line("local_addr = %s", q(s.LocalAddr))
	line("remote_addr = %s", q(s.RemoteAddr))
	if s.Encap != "" {
		line("encap = %s", q(s.Encap))
	}
	if s.RemoteNATTPort != 0 {
		line("remote_natt_port = %d", s.RemoteNATTPort)
	}
	if s.Keying == "ike" {
		line("psk = %s", q(s.PSK))
		if s.StartAction != "" {
			line("start_action = %s", q(s.StartAction))
		}
	}
	for _, c := range s.Children {
		line("\n  [[connection.child]]")
		line("  name = %s", q(c.Name))
		if c.Mode != "" {
			line("  mode = %s", q(c.Mode))
		}
		if c.LocalTS != nil {
			line("  local_ts = [%s]", quoteList(c.LocalTS))
			line("  remote_ts = [%s]", quoteList(c.RemoteTS))
		}
		if c.AH != "" {
			line("  ah_proposals = [%s]", q(c.AH))
		} else {
			line("  esp_proposals = [%s]", q(c.ESP))
		}
		if s.Keying == "manual" {
			line("  in_spi = %s", q(fmt.Sprintf("0x%08x", c.InSPI)))
			line("  out_spi = %s", q(fmt.Sprintf("0x%08x", c.OutSPI)))
			for _, k := range []struct{ key, val string }{{"in_key", c.InKey}, {"out_key", c.OutKey}, {"in_auth_key", c.InAuthKey}, {"out_auth_key", c.OutAuthKey}} {
				if k.val != "" {
					line("  %s = %s", k.key, q(k.val))
				}
			}
		}
	}
	return b.String()
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

// secrets lists every key in the configuration (hex), for the "never printed" checks.
func (s *siteSpec) secrets() []string {
	var out []string
	if s.PSK != "" {
		out = append(out, s.PSK)
	}
	for _, c := range s.Children {
		for _, k := range []string{c.InKey, c.OutKey, c.InAuthKey, c.OutAuthKey} {
			if k != "" {
				out = append(out, k)
			}
		}
	}
	return out
}

var gcmName = regexp.MustCompile(`^aes(128|192|256)gcm(8|12|16)$`)

// keyLengths returns the manual-keying key sizes of a proposal in bytes, from the RFCs
// rather than from oakley's registry: AES-GCM takes its key plus a 4-byte salt (RFC 4106
// §8.1), ChaCha20-Poly1305 a 32-byte key plus a 4-byte salt (RFC 7634 §2), HMAC keys are as
// long as the hash output (RFC 2104, RFC 4868 §2.1.1), 3DES 24 bytes (RFC 2451), DES 8.
func keyLengths(t *testing.T, proposal string, ah bool) (enc, integ int) {
	t.Helper()
	var toks []string
	for _, tok := range strings.Split(proposal, "-") {
		if tok != "esn" && tok != "noesn" {
			toks = append(toks, tok)
		}
	}
	integOf := func(name string) int {
		n, ok := map[string]int{"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64, "md5": 16}[name]
		if !ok {
			t.Fatalf("keyLengths: unknown integrity algorithm %q in %q", name, proposal)
		}
		return n
	}
	if ah {
		if len(toks) != 1 {
			t.Fatalf("keyLengths: AH proposal %q", proposal)
		}
		return 0, integOf(toks[0])
	}
	if m := gcmName.FindStringSubmatch(toks[0]); m != nil {
		bits, _ := strconv.Atoi(m[1])
		enc = bits/8 + 4
	} else {
		n, ok := map[string]int{"aes128": 16, "aes192": 24, "aes256": 32, "3des": 24, "des": 8, "null": 0, "chacha20poly1305": 36}[toks[0]]
		if !ok {
			t.Fatalf("keyLengths: unknown encryption algorithm %q in %q", toks[0], proposal)
		}
		enc = n
	}
	if len(toks) > 1 {
		integ = integOf(toks[1])
	}
	return enc, integ
}

// tunnelSpec describes a two-site tunnel; sites turns it into the two configurations.
type tunnelSpec struct {
	Proposal string // ESP proposal, or the AH one when AH is set; "" = aes128gcm16
	AH       bool
	Encap    string // "" = udp
	Mode     string // "" = tunnel
	Families string // inner address families: "4" (default), "6" or "46"
	Outer6   bool   // the sites talk over 2001:db8:ffff::/64 instead of 198.18.0.0/24
	MTU      int    // [device] mtu, 0 = computed
	LogLevel string
	Insecure bool
	SPIBase  uint32 // 0 = 0x1000; child i: A receives on SPIBase+2i, B on SPIBase+2i+1
	Keying   string // "" = manual; "ike": IKEv1 with a PSK, A initiates, B responds
}

// sites returns A's and B's configurations with fresh random keys; B mirrors A.
func (ts tunnelSpec) sites(t *testing.T) (a, b siteSpec) {
	t.Helper()
	if ts.Proposal == "" {
		ts.Proposal = "aes128gcm16"
	}
	if ts.Families == "" {
		ts.Families = "4"
	}
	if ts.SPIBase == 0 {
		ts.SPIBase = 0x1000
	}
	if ts.Keying == "" {
		ts.Keying = "manual"
	}
	a = siteSpec{LogLevel: ts.LogLevel, Insecure: ts.Insecure, MTU: ts.MTU, ConnName: "site-b", Keying: ts.Keying,
		LocalAddr: outerA4, RemoteAddr: outerB4, Encap: ts.Encap}
	b = siteSpec{LogLevel: ts.LogLevel, Insecure: ts.Insecure, MTU: ts.MTU, ConnName: "site-a", Keying: ts.Keying,
		LocalAddr: outerB4, RemoteAddr: outerA4, Encap: ts.Encap}
	if ts.Keying == "ike" {
		a.PSK = randomID(t, 32)
		b.PSK, b.StartAction = a.PSK, "none"
	}
	if ts.Outer6 {
		a.LocalAddr, a.RemoteAddr = outerA6, outerB6
		b.LocalAddr, b.RemoteAddr = outerB6, outerA6
	}
	encLen, integLen := keyLengths(t, ts.Proposal, ts.AH)
	key := func(n int) string {
		if n == 0 {
			return ""
		}
		return randomID(t, n)
	}
	for i, fam := range ts.Families {
		ca := childSpec{Name: "net" + string(fam), Mode: ts.Mode,
			InSPI: ts.SPIBase + uint32(2*i), OutSPI: ts.SPIBase + uint32(2*i+1),
			InKey: key(encLen), OutKey: key(encLen), InAuthKey: key(integLen), OutAuthKey: key(integLen)}
		if ts.AH {
			ca.AH = ts.Proposal
		} else {
			ca.ESP = ts.Proposal
		}
		cb := ca
		cb.InSPI, cb.OutSPI = ca.OutSPI, ca.InSPI
		cb.InKey, cb.OutKey = ca.OutKey, ca.InKey
		cb.InAuthKey, cb.OutAuthKey = ca.OutAuthKey, ca.InAuthKey
		if ts.Mode != "transport" {
			switch fam {
			case '4':
				ca.LocalTS, ca.RemoteTS = []string{netA4}, []string{netB4}
				a.Addresses = append(a.Addresses, hostA4+"/32")
				b.Addresses = append(b.Addresses, hostB4+"/32")
			case '6':
				ca.LocalTS, ca.RemoteTS = []string{netA6}, []string{netB6}
				a.Addresses = append(a.Addresses, hostA6+"/128")
				b.Addresses = append(b.Addresses, hostB6+"/128")
			default:
				t.Fatalf("tunnelSpec: family %q", fam)
			}
			cb.LocalTS, cb.RemoteTS = ca.RemoteTS, ca.LocalTS
		}
		a.Children = append(a.Children, ca)
		b.Children = append(b.Children, cb)
	}
	return a, b
}

// oakley is a running `oakley up` in a namespace.
type oakley struct {
	name string // "a", "b", ...
	ns   netns
	spec siteSpec
	cfg  string // the configuration file
	p    *proc
}

// launch tells startOakley how to run the daemon; the zero value runs oakleyBin as root with
// its files in t.TempDir().
type launch struct {
	dir    string   // where the configuration and the control socket go
	bin    string   // the binary to run
	prefix []string // put before the binary, e.g. setpriv to drop privileges
}

// startOakley writes spec as a configuration file (mode 0600) and runs `oakley up` in ns
// until the test ends; it returns once the control socket answers. On failure the test's
// log gets the daemon's log and status.
func startOakley(t *testing.T, ns netns, name string, spec siteSpec, l launch) *oakley {
	t.Helper()
	if l.dir == "" {
		l.dir = t.TempDir()
	}
	if l.bin == "" {
		l.bin = oakleyBin
	}
	spec.Socket = filepath.Join(l.dir, name+".sock")
	o := &oakley{name: name, ns: ns, spec: spec, cfg: filepath.Join(l.dir, name+".toml")}
	if err := os.WriteFile(o.cfg, []byte(spec.toml()), 0o600); err != nil {
		t.Fatal(err)
	}
	if len(l.prefix) > 0 {
		// The unprivileged user must be able to read its own configuration.
		if err := chownLike(o.cfg, l.dir); err != nil {
			t.Fatal(err)
		}
	}
	argv := append(append([]string{}, l.prefix...), l.bin, "up", "-c", o.cfg)
	o.p = startProc(t, "oakley-"+name, ns.args(argv[0], argv[1:]...)...)
	// Cleanups run last-in, first-out: first the diagnostics (while the daemon still
	// answers), then a clean shutdown, which every test thereby checks.
	t.Cleanup(func() {
		if o.p.exited() {
			return // the test stopped it, or it died (then the test has failed already)
		}
		o.p.signal(syscall.SIGTERM)
		if !o.p.wait(10 * time.Second) {
			t.Errorf("oakley %s did not exit within 10 s of SIGTERM; its log:\n%s", name, o.p.out.String())
		} else if code := exitCode(o.p.err); code != 0 {
			t.Errorf("oakley %s exited with status %d after SIGTERM (%v); its log:\n%s", name, code, o.p.err, o.p.out.String())
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			o.dump(t)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if o.p.exited() {
			t.Fatalf("oakley %s (configuration %s) exited during start-up (%v)", name, o.cfg, o.p.err)
		}
		if _, err := os.Stat(spec.Socket); err == nil {
			if _, err := o.status(); err == nil {
				return o
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("oakley %s: control socket %s did not answer within 15 s", name, spec.Socket)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// chownLike gives path the owner of dir.
func chownLike(path, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("no owner for %s", dir)
	}
	return os.Chown(path, int(st.Uid), int(st.Gid))
}

// dump logs the daemon's status and log, for diagnosing a failed test.
func (o *oakley) dump(t *testing.T) {
	t.Helper()
	if !o.p.exited() {
		if out, err := o.statusText(); err == nil {
			t.Logf("oakley %s (%s) status:\n%s", o.name, o.ns, out)
		} else {
			t.Logf("oakley %s (%s) status: %v", o.name, o.ns, err)
		}
	} else {
		t.Logf("oakley %s (%s) has exited: %v", o.name, o.ns, o.p.err)
	}
	t.Logf("oakley %s (%s) log:\n%s", o.name, o.ns, o.p.out.String())
}

// statusText runs `oakley status -s SOCK`.
func (o *oakley) statusText() (string, error) {
	out, err := runTimeout(10*time.Second, oakleyBin, "status", "-s", o.spec.Socket)
	if err != nil {
		return out, fmt.Errorf("oakley status: %w: %s", err, out)
	}
	return out, nil
}

// status runs `oakley status --json -s SOCK` and decodes it.
func (o *oakley) status() (*status, error) {
	s, out, err := statusJSON[status](o)
	if err == nil {
		s.raw = out
	}
	return s, err
}

// statusJSON runs `oakley status --json -s SOCK` and decodes it into a T, returning the
// output too.
func statusJSON[T any](o *oakley) (*T, string, error) {
	out, err := runTimeout(10*time.Second, oakleyBin, "status", "--json", "-s", o.spec.Socket)
	if err != nil {
		return nil, out, fmt.Errorf("oakley status --json: %w: %s", err, out)
	}
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return nil, out, fmt.Errorf("oakley status --json: %w\n%s", err, out)
	}
	return &v, out, nil
}

func (o *oakley) mustStatus(t *testing.T) *status {
	t.Helper()
	s, err := o.status()
	if err != nil {
		t.Fatalf("oakley %s: %v", o.name, err)
	}
	return s
}

// status is the part of `oakley status --json` the tests read.
type status struct {
	Version string `json:"version"`
	Device  struct {
		Kind      string   `json:"kind"`
		Name      string   `json:"name"`
		MTU       int      `json:"mtu"`
		Addresses []string `json:"addresses"`
	} `json:"device"`
	Connections []struct {
		Name     string `json:"name"`
		Keying   string `json:"keying"`
		State    string `json:"state"`
		Children []struct {
			Name   string     `json:"name"`
			Mode   string     `json:"mode"`
			State  string     `json:"state"`
			SAs    []saStatus `json:"sas"`
			NoSA   uint64     `json:"dropped_no_sa"`
			TooBig uint64     `json:"too_big"`
		} `json:"children"`
	} `json:"connections"`
	Counters map[string]uint64 `json:"counters"`
	raw      string
}

type saStatus struct {
	Dir        string            `json:"dir"`
	SPI        string            `json:"spi"`
	Protocol   string            `json:"protocol"`
	Algorithms string            `json:"algorithms"`
	Encap      string            `json:"encap"`
	Peer       string            `json:"peer"`
	ESN        bool              `json:"esn"`
	Packets    uint64            `json:"packets"`
	Bytes      uint64            `json:"bytes"`
	Errors     map[string]uint64 `json:"errors"`
	Seq        uint64            `json:"seq"`
}

// sas lists every SA of every child.
func (s *status) sas() []saStatus {
	var out []saStatus
	for _, c := range s.Connections {
		for _, ch := range c.Children {
			out = append(out, ch.SAs...)
		}
	}
	return out
}

// sa returns the SA with this SPI (0x%08x).
func (s *status) sa(t *testing.T, spi uint32) saStatus {
	t.Helper()
	want := fmt.Sprintf("0x%08x", spi)
	for _, sa := range s.sas() {
		if sa.SPI == want {
			return sa
		}
	}
	t.Fatalf("status has no SA with SPI %s:\n%s", want, s.raw)
	return saStatus{}
}

// waitSAs waits until every child of o has its two SAs (at once with manual keying, after
// the negotiation with IKE).
func waitSAs(t *testing.T, o *oakley) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := o.mustStatus(t)
		if len(s.sas()) >= 2*len(o.spec.Children) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("oakley %s: SAs not installed within 20 s:\n%s", o.name, s.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkSAsCarried asserts that every SA of o counted packets and no errors, and that the
// protocol (ESP or AH) is the expected one. It returns the status it checked.
func checkSAsCarried(t *testing.T, o *oakley, proto string) *status {
	t.Helper()
	s := o.mustStatus(t)
	sas := s.sas()
	if want := 2 * len(o.spec.Children); len(sas) != want {
		t.Errorf("oakley %s: %d SAs in status, want %d:\n%s", o.name, len(sas), want, s.raw)
	}
	for _, sa := range sas {
		if sa.Packets == 0 || sa.Bytes == 0 {
			t.Errorf("oakley %s: %s SA %s counted %d packets, %d bytes; want > 0", o.name, sa.Dir, sa.SPI, sa.Packets, sa.Bytes)
		}
		if len(sa.Errors) > 0 {
			t.Errorf("oakley %s: %s SA %s has errors %v", o.name, sa.Dir, sa.SPI, sa.Errors)
		}
		if !strings.EqualFold(sa.Protocol, proto) {
			t.Errorf("oakley %s: SA %s protocol %q, want %s", o.name, sa.SPI, sa.Protocol, proto)
		}
	}
	return s
}

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// ping sends n echo requests from src to dst inside ns and returns ping's output and how
// many replies came back.
func ping(ns netns, src, dst string, n int, extra ...string) (string, int, error) {
	args := []string{"-n", "-c", strconv.Itoa(n), "-i", "0.2", "-W", "2", "-I", src}
	args = append(append(args, extra...), dst)
	out, err := ns.run("ping", args...)
	received := 0
	if m := pingSummary.FindStringSubmatch(out); m != nil {
		received, _ = strconv.Atoi(m[2])
	}
	return out, received, err
}

// mustPing asserts that all n echo requests from src to dst are answered, each within 2 s.
// The echoes go one ping at a time: once a reply has arrived, iputils ping waits only two
// round-trip times for the others (its -W applies only before the first reply), which on a
// loaded machine counts a reply that takes 2 ms after one that took 0.5 ms as lost.
func mustPing(t *testing.T, ns netns, src, dst string, n int) {
	t.Helper()
	for i := range n {
		out, got, err := ping(ns, src, dst, 1)
		if err != nil || got != 1 {
			t.Fatalf("ping %s -> %s in %s: echo %d of %d not answered within 2 s (%v)\n%s", src, dst, ns, i+1, n, err, out)
		}
	}
}

// startPair starts oakley on both sites of p with the configurations of ts.
func startPair(t *testing.T, p *pair, ts tunnelSpec) (a, b *oakley) {
	t.Helper()
	sa, sb := ts.sites(t)
	// B first: with keying = "ike" it is the responder, and A initiates as it starts.
	b = startOakley(t, p.b, "b", sb, launch{})
	a = startOakley(t, p.a, "a", sa, launch{})
	if sa.Keying != "manual" {
		waitSAs(t, a)
		waitSAs(t, b)
	}
	return a, b
}
