//go:build linux

package e2e

// oakley's side of the interop tests: an IKE configuration generated from a small struct,
// the daemon started in a site's namespace, its control commands, and the IKE parts of
// `oakley status --json`.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ikeChild is one [[connection.child]].
type ikeChild struct {
	Name              string // "" = "net"
	Mode              string // "" = tunnel
	LocalTS, RemoteTS []string
	ESP, AH           []string
	RekeyTime         string
	StartAction       string
	LifeBytes         string // "" = unlimited, e.g. "2MB"
	LifePackets       int    // 0 = unlimited
	ReplayWindow      int    // 0 = oakley's default
}

// ikeSite is an oakley configuration with one IKE connection.
type ikeSite struct {
	LogLevel  string // "" = debug
	Insecure  bool
	Addresses []string
	DevKind   string // [device] kind; "" = tun
	// Unprivileged runs the daemon as the user nobody without capabilities (with the
	// netstack device; the namespace lets unprivileged users bind ports from 0 on).
	Unprivileged      bool
	IKEPort, NATTPort int
	// Retransmission schedule ([daemon] retransmit_*); zero values leave oakley's defaults.
	RetransmitTimeout string
	RetransmitBase    float64
	RetransmitTries   int

	Conn           string // connection name, "" = "peer"
	Version        int    // IKE version, 0 = 1
	Aggressive     bool
	LocalAddr      string
	RemoteAddr     string
	LocalID        string
	RemoteID       string
	PSK            string
	Files          map[string][]byte // written beside the configuration (keys 0600)
	Proposals      []string
	RekeyTime      string
	DPDDelay       string // "" = "0s" (off), so that only the tests about DPD see it
	DPDTimeout     string
	DPDAction      string
	StartAction    string // "" = none
	Encap          string
	RemotePort     int
	RemoteNATTPort int
	Children       []ikeChild

	// Certificates (auth = "pubkey" / "pke"); file paths as written into the TOML.
	Auth          string // "" = "psk"
	Cert, Key     string
	CACerts, CRLs []string
	RemoteCert    string
	SendCert      string
	Fragmentation string
	MOBIKE        bool
	Extra         string // more lines of the [daemon] table (retransmit_*)

	// Remote access: the client's vips, the gateway's pools (names) and its [[pool]] tables
	// (TOML text); Env is more environment for the daemon (KEY=VALUE, e.g. OAKLEY_KEYLOG).
	VIPs      []string
	Pools     []string
	PoolTOML  string
	Env       []string
	ConnExtra string // more lines of the [[connection]] table (xauth, vips, pools)
	TopExtra  string // more tables at the end ([[pool]], [[user]])
}

func (s *ikeSite) connName() string {
	if s.Conn == "" {
		return "peer"
	}
	return s.Conn
}

// toml renders the configuration with the control socket sock.
func (s *ikeSite) toml(sock string) string {
	var b strings.Builder
	q := strconv.Quote
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	opt := func(key, val string) {
		if val != "" {
			line("%s = %s", key, q(val))
		}
	}
	line("[daemon]")
	line("control_socket = %s", q(sock))
	if s.LogLevel == "" {
		line(`log_level = "debug"`)
	} else {
		line("log_level = %s", q(s.LogLevel))
	}
	if s.Insecure {
		line("insecure_algorithms = true")
	}
	if s.IKEPort != 0 {
		line("ike_port = %d", s.IKEPort)
	}
	if s.NATTPort != 0 {
		line("natt_port = %d", s.NATTPort)
	}
	opt("retransmit_timeout", s.RetransmitTimeout)
	if s.RetransmitBase != 0 {
		line("retransmit_base = %g", s.RetransmitBase)
	}
	if s.RetransmitTries != 0 {
		line("retransmit_tries = %d", s.RetransmitTries)
	}
	if s.Extra != "" {
		line("%s", s.Extra)
	}
	line("\n[device]")
	opt("kind", s.DevKind)
	line("addresses = [%s]", quoteList(s.Addresses))
	line("\n[[connection]]")
	line("name = %s", q(s.connName()))
	line(`keying = "ike"`)
	if s.Version == 0 {
		line("version = 1")
	} else {
		line("version = %d", s.Version)
	}
	if s.Aggressive {
		line("aggressive = true")
	}
	opt("local_addr", s.LocalAddr)
	opt("remote_addr", s.RemoteAddr)
	opt("local_id", s.LocalID)
	opt("remote_id", s.RemoteID)
	if s.Auth == "" || s.Auth == "psk" {
		line(`auth = "psk"`)
		line("psk = %s", q(s.PSK))
	} else {
		line("auth = %s", q(s.Auth))
		opt("cert", s.Cert)
		opt("key", s.Key)
		if len(s.CACerts) > 0 {
			line("cacerts = [%s]", quoteList(s.CACerts))
		}
		opt("remote_cert", s.RemoteCert)
		if len(s.CRLs) > 0 {
			line("crls = [%s]", quoteList(s.CRLs))
		}
		opt("send_cert", s.SendCert)
	}
	opt("fragmentation", s.Fragmentation)
	if len(s.VIPs) > 0 {
		line("vips = [%s]", quoteList(s.VIPs))
	}
	if len(s.Pools) > 0 {
		line("pools = [%s]", quoteList(s.Pools))
	}
	if s.ConnExtra != "" {
		line("%s", s.ConnExtra)
	}
	if len(s.Proposals) > 0 {
		line("proposals = [%s]", quoteList(s.Proposals))
	}
	opt("rekey_time", s.RekeyTime)
	if s.DPDDelay == "" {
		line(`dpd_delay = "0s"`)
	} else {
		opt("dpd_delay", s.DPDDelay)
	}
	opt("dpd_timeout", s.DPDTimeout)
	opt("dpd_action", s.DPDAction)
	if s.StartAction == "" {
		line(`start_action = "none"`)
	} else {
		opt("start_action", s.StartAction)
	}
	opt("encap", s.Encap)
	if s.MOBIKE {
		line("mobike = true")
	}
	if s.RemotePort != 0 {
		line("remote_port = %d", s.RemotePort)
	}
	if s.RemoteNATTPort != 0 {
		line("remote_natt_port = %d", s.RemoteNATTPort)
	}
	for _, c := range s.Children {
		line("\n  [[connection.child]]")
		name := c.Name
		if name == "" {
			name = "net"
		}
		line("  name = %s", q(name))
		if c.Mode != "" {
			line("  mode = %s", q(c.Mode))
		}
		if c.LocalTS != nil {
			line("  local_ts = [%s]", quoteList(c.LocalTS))
		}
		if c.RemoteTS != nil {
			line("  remote_ts = [%s]", quoteList(c.RemoteTS))
		}
		if len(c.AH) > 0 {
			line("  ah_proposals = [%s]", quoteList(c.AH))
		} else if len(c.ESP) > 0 {
			line("  esp_proposals = [%s]", quoteList(c.ESP))
		}
		if c.RekeyTime != "" {
			line("  rekey_time = %s", q(c.RekeyTime))
		}
		if c.StartAction != "" {
			line("  start_action = %s", q(c.StartAction))
		}
		if c.LifeBytes != "" {
			line("  life_bytes = %s", q(c.LifeBytes))
		}
		if c.LifePackets != 0 {
			line("  life_packets = %d", c.LifePackets)
		}
		if c.ReplayWindow != 0 {
			line("  replay_window = %d", c.ReplayWindow)
		}
	}
	if s.PoolTOML != "" {
		line("\n%s", s.PoolTOML)
	}
	if s.TopExtra != "" {
		line("\n%s", s.TopExtra)
	}
	return b.String()
}

// siteFor returns the usual oakley configuration of a site in a topology: its inner host
// address on the TUN, one tunnel-mode child between the two inner subnets, IDs by site, PSK
// psk, remote address the other site as this one sees it.
func siteFor(tp *ioTopo, s *ioSide, psk string) ikeSite {
	o := tp.other(s)
	id, rid := leftID, rightID
	if s == tp.right {
		id, rid = rightID, leftID
	}
	return ikeSite{
		Addresses: []string{s.host + "/32"},
		LocalAddr: s.outer, RemoteAddr: o.seen, LocalID: id, RemoteID: rid, PSK: psk,
		Children: []ikeChild{{LocalTS: []string{s.net}, RemoteTS: []string{o.net}}},
	}
}

// startIKE runs `oakley up` with the configuration of s in side's namespace until the test
// ends (a clean SIGTERM shutdown is checked then, as startOakley does) and returns once the
// control socket answers. On failure the test log gets its status and log.
func startIKE(t *testing.T, side *ioSide, name string, s ikeSite) *oakley {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, name+".sock")
	o := &oakley{name: name, ns: side.ns, cfg: filepath.Join(dir, name+".toml"),
		spec: siteSpec{Socket: sock, ConnName: s.connName(), Keying: "ike", PSK: s.PSK, Children: make([]childSpec, len(s.Children))}}
	if err := os.WriteFile(o.cfg, []byte(s.toml(sock)), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, data := range s.Files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bin, cmd := oakleyBin, []string(nil)
	if s.Unprivileged {
		bin, cmd = asNobody(t, side.ns, dir)
	}
	if len(s.Env) > 0 {
		cmd = append(append(cmd, "env"), s.Env...)
	}
	cmd = append(cmd, bin, "up", "-c", o.cfg)
	o.p = startProc(t, "oakley-"+name, side.ns.args(cmd[0], cmd[1:]...)...)
	t.Cleanup(func() {
		if o.p.exited() {
			return
		}
		o.p.signal(syscall.SIGTERM)
		if !o.p.wait(10 * time.Second) {
			t.Errorf("oakley %s did not exit within 10 s of SIGTERM; its log:\n%s", name, tail(o.p.out.String(), 6000))
		} else if code := exitCode(o.p.err); code != 0 {
			t.Errorf("oakley %s exited with status %d after SIGTERM (%v); its log:\n%s", name, code, o.p.err, tail(o.p.out.String(), 6000))
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			o.dumpTail(t)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if o.p.exited() {
			t.Fatalf("oakley %s (configuration %s) exited during start-up (%v):\n%s", name, o.cfg, o.p.err, o.p.out.String())
		}
		if _, err := os.Stat(sock); err == nil {
			if _, err := o.status(); err == nil {
				return o
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("oakley %s: control socket %s did not answer within 15 s", name, sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dumpTail is dump with the log shortened to its last part.
func (o *oakley) dumpTail(t *testing.T) {
	t.Helper()
	if !o.p.exited() {
		if out, err := o.statusText(); err == nil {
			t.Logf("oakley %s (%s) status:\n%s", o.name, o.ns, out)
		}
	} else {
		t.Logf("oakley %s (%s) has exited: %v", o.name, o.ns, o.p.err)
	}
	t.Logf("oakley %s (%s) log:\n%s", o.name, o.ns, tail(o.p.out.String(), 12000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "...\n" + s[len(s)-n:]
	}
	return s
}

// ctl runs `oakley CMD -s SOCK ARG` (initiate, terminate, rekey). The flag goes first:
// the command line parser stops at the first argument that is not a flag.
func (o *oakley) ctl(cmd, arg string) (string, error) {
	return runTimeout(90*time.Second, oakleyBin, cmd, "-s", o.spec.Socket, arg)
}

func (o *oakley) mustCtl(t *testing.T, cmd, arg string) {
	t.Helper()
	if out, err := o.ctl(cmd, arg); err != nil {
		t.Fatalf("oakley %s %s %s: %v\n%s", o.name, cmd, arg, err, out)
	}
}

// ikeStatus is `oakley status --json` with the IKE parts.
type ikeStatus struct {
	Connections []struct {
		Name   string `json:"name"`
		State  string `json:"state"`
		IKESAs []struct {
			Initiator   bool   `json:"initiator"`
			Cookies     string `json:"cookies"`
			State       string `json:"state"`
			Peer        string `json:"peer"`
			Mode        string `json:"mode"`
			Algorithms  string `json:"algorithms"`
			Auth        string `json:"auth"`
			NAT         string `json:"nat"`
			Established string `json:"established"`
			DPD         string `json:"dpd"`
			PeerCert    *struct {
				Subject     string `json:"subject"`
				Issuer      string `json:"issuer"`
				Fingerprint string `json:"sha256"`
			} `json:"peer_cert"`
			VirtualIPs []string `json:"virtual_ips"`
		} `json:"ike_sas"`
		Children []struct {
			Name     string   `json:"name"`
			Mode     string   `json:"mode"`
			State    string   `json:"state"`
			PFS      string   `json:"pfs"`
			LocalTS  []string `json:"local_ts"`
			RemoteTS []string `json:"remote_ts"`
			SAs      []ioSA   `json:"sas"`
		} `json:"children"`
	} `json:"connections"`
	Counters    map[string]uint64 `json:"counters"`
	IKECounters map[string]uint64 `json:"ike_counters"`
	raw         string
}

// ioSA is one SA of a child in `oakley status --json`.
type ioSA struct {
	Dir        string            `json:"dir"`
	SPI        string            `json:"spi"`
	Protocol   string            `json:"protocol"`
	Algorithms string            `json:"algorithms"`
	Encap      string            `json:"encap"`
	Peer       string            `json:"peer"`
	Packets    uint64            `json:"packets"`
	Bytes      uint64            `json:"bytes"`
	Errors     map[string]uint64 `json:"errors"`
	Seq        uint64            `json:"seq"` // outbound: the last sent; inbound: the highest accepted
	Rekeying   bool              `json:"rekeying"`
	Expired    bool              `json:"expired"`
}

// spi returns the SPI as lower-case hex without "0x", as swanctl prints it.
func (sa ioSA) spi() string { return strings.TrimPrefix(strings.ToLower(sa.SPI), "0x") }

func (o *oakley) ikeStatus() (*ikeStatus, error) {
	st, out, err := statusJSON[ikeStatus](o)
	if err == nil {
		st.raw = out
	}
	return st, err
}

func (o *oakley) mustIKEStatus(t *testing.T) *ikeStatus {
	t.Helper()
	s, err := o.ikeStatus()
	if err != nil {
		t.Fatalf("oakley %s: %v", o.name, err)
	}
	return s
}

// established returns the established IKE SAs of every connection.
func (s *ikeStatus) established() (n int) {
	for _, c := range s.Connections {
		for _, sa := range c.IKESAs {
			if sa.State == "established" {
				n++
			}
		}
	}
	return n
}

// allSAs returns every SA of every child.
func (s *ikeStatus) allSAs() []ioSA {
	var out []ioSA
	for _, c := range s.Connections {
		for _, ch := range c.Children {
			out = append(out, ch.SAs...)
		}
	}
	return out
}

// waitIKE polls o's status until cond holds, failing the test after timeout.
func waitIKE(t *testing.T, o *oakley, what string, timeout time.Duration, cond func(*ikeStatus) bool) *ikeStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s, err := o.ikeStatus()
		if err == nil && cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			raw := ""
			if s != nil {
				raw = s.raw
			}
			t.Fatalf("oakley %s: %s not reached within %s (%v):\n%s", o.name, what, timeout, err, raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitChildUp waits until o has an established IKE SA and a pair of SAs per child.
func waitChildUp(t *testing.T, o *oakley, timeout time.Duration) *ikeStatus {
	t.Helper()
	return waitIKE(t, o, "IKE SA and child SAs", timeout, func(s *ikeStatus) bool {
		return s.established() > 0 && len(s.allSAs()) >= 2*len(o.spec.Children)
	})
}
