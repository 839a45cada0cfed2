package config

import (
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"oakley/crypto"
)

// writeFullExample writes testdata/full.toml (with daemon.user set to the current user) and
// the files it names into a temporary directory and returns the configuration's path.
func writeFullExample(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Skipf("no current user to run as: %v", err)
	}
	dir := writeTree(t, map[string]string{
		"oakley.toml":        strings.ReplaceAll(string(src), "@USER@", me.Username),
		"secrets/site-b.psk": testPSK + "\n",
		"secrets/alice.pass": "correct horse battery staple\n",
		"private/alice.pass": "alice's password\n",
		"private/carol.pass": "carol's password",
		"certs/site-a.pem":   "-----BEGIN CERTIFICATE-----\n",
		"certs/site-b.pem":   "-----BEGIN CERTIFICATE-----\n",
		"certs/ca.pem":       "-----BEGIN CERTIFICATE-----\n",
		"certs/ca.crl":       "-----BEGIN X509 CRL-----\n",
		"private/site-a.pem": "-----BEGIN PRIVATE KEY-----\n",
	})
	return filepath.Join(dir, "oakley.toml")
}

// TestFullExample loads CONFIG.md's example with every key (testdata/full.toml, adjusted to be
// valid), with no feature refused as not implemented, and checks that every key arrived in its
// parsed form.
func TestFullExample(t *testing.T) {
	path := writeFullExample(t)
	dir := filepath.Dir(path)
	cfg, err := load(path, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, w := range cfg.Warnings {
		t.Logf("warning: %s", w)
	}
	d := cfg.Daemon
	if d.LogLevel != "info" || d.LogFormat != "console" || d.ControlSocket != "/run/oakley/oakley.sock" ||
		d.Metrics != "127.0.0.1:9477" || d.IKEPort != 500 || d.NATTPort != 4500 || d.InsecureAlgorithms ||
		!d.UDPOffload || d.SocketBuffer != 4<<20 || d.Workers != 2 ||
		d.RetransmitTimeout != 2*time.Second || d.RetransmitBase != 2 || d.RetransmitTries != 4 {
		t.Errorf("daemon = %+v", d)
	}
	if me, _ := user.Current(); d.User != me.Username || strconv.Itoa(d.UID) != me.Uid || strconv.Itoa(d.GID) != me.Gid {
		t.Errorf("daemon user %q uid %d gid %d, want %s %s %s", d.User, d.UID, d.GID, me.Username, me.Uid, me.Gid)
	}
	dev := cfg.Device
	if dev.Kind != "netstack" || dev.Name != "oakley0" || dev.MTU != 0 || !dev.Routes || dev.Offload ||
		len(dev.Addresses) != 1 || dev.Addresses[0] != netip.MustParsePrefix("192.0.2.1/32") {
		t.Errorf("device = %+v", dev)
	}
	ns := cfg.Netstack
	if ns.SOCKS5 != "127.0.0.1:1080" || len(ns.Forward) != 1 || len(ns.Expose) != 1 ||
		ns.Forward[0] != (Forward{"tcp", netip.MustParseAddrPort("127.0.0.1:8080"), netip.MustParseAddrPort("198.51.100.10:80")}) ||
		ns.Expose[0] != (Forward{"tcp", netip.MustParseAddrPort("192.0.2.1:22"), netip.MustParseAddrPort("127.0.0.1:22")}) {
		t.Errorf("netstack = %+v", ns)
	}
	if len(cfg.Connections) != 4 {
		t.Fatalf("%d connections, want 4", len(cfg.Connections))
	}
	c := cfg.Connections[0]
	if c.Name != "site-b" || c.Keying != "ike" || c.Version != 1 || c.Aggressive ||
		c.LocalIP != netip.MustParseAddr("198.18.0.1") || c.RemoteIP != netip.MustParseAddr("198.18.0.2") ||
		c.RemoteAddr != "198.18.0.2" || c.Auth != "pubkey" || c.PSK != nil ||
		c.Cert != filepath.Join(dir, "certs/site-a.pem") || c.Key != filepath.Join(dir, "private/site-a.pem") ||
		len(c.CACerts) != 1 || c.CACerts[0] != filepath.Join(dir, "certs/ca.pem") ||
		c.RemoteCert != filepath.Join(dir, "certs/site-b.pem") ||
		c.RekeyTime != 4*time.Hour || c.DPDDelay != 30*time.Second || c.DPDTimeout != 150*time.Second ||
		c.DPDAction != "restart" || c.StartAction != "start" || c.Encap != "udp" || c.MOBIKE ||
		c.RemotePort != 500 || c.RemoteNATTPort != 4500 ||
		len(c.CRLs) != 1 || c.CRLs[0] != filepath.Join(dir, "certs/ca.crl") || c.SendCert != "always" ||
		c.Fragmentation != "force" || fmt.Sprint(c.VIPs) != "[0.0.0.0 ::]" || c.Pools != nil ||
		c.XAuth != "client" || c.XAuthID != "alice" || string(c.Password) != "alice's password" ||
		c.PasswordFile != filepath.Join(dir, "private/alice.pass") || c.EAP != "" || c.EAPClient() || c.EAPServer() {
		t.Errorf("connection = %+v", c)
	}
	if c.LocalID.Type != IDFQDN || string(c.LocalID.Data) != "site-a.example" {
		t.Errorf("local_id = %+v", c.LocalID)
	}
	if c.RemoteID.Type != IDDN || len(c.RemoteID.DN) != 3 || c.RemoteID.DN[2][0].Value != "site-b" {
		t.Errorf("remote_id = %+v", c.RemoteID)
	}
	if len(c.Proposals) != 2 || c.Proposals[0].Text != "aes256-sha256-modp2048" || c.Proposals[1].DH[0].Group != 19 {
		t.Errorf("proposals = %v", c.Proposals)
	}
	ch := c.Children[0]
	if ch.Name != "net" || ch.Mode != "tunnel" || len(ch.ESPProposals) != 2 || !ch.ESPProposals[0].AEAD() ||
		len(ch.AHProposals) != 0 || ch.RekeyTime != time.Hour || ch.LifeBytes != 0 || ch.LifePackets != 0 ||
		ch.ReplayWindow != 1024 || ch.StartAction != "start" ||
		len(ch.LocalTS) != 1 || ch.LocalTS[0].String() != "192.0.2.0/24" ||
		len(ch.RemoteTS) != 1 || ch.RemoteTS[0].String() != "198.51.100.0/24" {
		t.Errorf("child = %+v", ch)
	}
	m := cfg.Connections[1]
	mc := m.Children[0]
	if m.Keying != "manual" || mc.InSPI != 0x1000 || mc.OutSPI != 0x2000 || len(mc.InKey) != 16 ||
		len(mc.OutKey) != 16 || len(mc.InAuthKey) != 32 || len(mc.OutAuthKey) != 32 ||
		mc.InKey[0] != 0x00 || mc.OutKey[0] != 0x10 || mc.InAuthKey[0] != 0x20 || mc.OutAuthKey[0] != 0x40 ||
		mc.LocalTS[0] != (TrafficSelector{netip.MustParsePrefix("192.0.2.0/24"), 6, 443, 443}) {
		t.Errorf("manual child = %+v", mc)
	}
	if !hasWarning(cfg.Warnings, lineOf(t, "testdata/full.toml", `psk_file = "secrets/site-b.psk"    # ignored`), `psk_file is ignored with keying = "manual"`) {
		t.Errorf("no warning for the ignored psk_file: %v", cfg.Warnings)
	}

	gw := cfg.Connections[2]
	if gw.Name != "rw" || gw.XAuth != "server" || strings.Join(gw.Pools, ",") != "rw,rw6" || gw.VIPs != nil ||
		gw.Password != nil || gw.RemoteID.Type != IDAny || string(gw.PSK) != testPSK ||
		gw.Children[0].LifeBytes != 1_000_000_000 || gw.Children[0].LifePackets != 1_000_000 {
		t.Errorf("gateway = %+v", gw)
	}
	rw := cfg.Connections[3]
	if rw.Name != "roadwarrior" || rw.Version != 2 || rw.Auth != "pubkey" || rw.EAP != "mschapv2" ||
		rw.EAPID != "carol" || string(rw.Password) != "carol's password" || !rw.EAPClient() || rw.EAPServer() ||
		fmt.Sprint(rw.VIPs) != "[0.0.0.0]" || !rw.MOBIKE || rw.Cert != "" || rw.Key != "" ||
		rw.RekeyTime != 5*time.Second || rw.SendCert != "ifasked" || rw.Fragmentation != "yes" {
		t.Errorf("road warrior = %+v", rw)
	}
	if rw.LocalID.Type != IDKeyID || fmt.Sprintf("%x", rw.LocalID.Data) != "0102abcd" ||
		rw.RemoteID.Type != IDFQDN || string(rw.RemoteID.Data) != "gw.example" {
		t.Errorf("road warrior ids = %+v / %+v", rw.LocalID, rw.RemoteID)
	}
	if got := rw.Proposals[0].Text; got != crypto.DefaultProposals(crypto.ProtoIKEv2)[0] {
		t.Errorf("IKEv2 default proposal %q", got)
	}
	if ts := rw.Children[0].RemoteTS[0]; ts.PortLo != 1000 || ts.PortHi != 2000 {
		t.Errorf("IKEv2 port range %v", ts)
	}

	if len(cfg.Pools) != 2 || cfg.Pool("rw") != cfg.Pools[0] || cfg.Pool("nope") != nil {
		t.Fatalf("pools = %+v", cfg.Pools)
	}
	p4, p6 := cfg.Pools[0], cfg.Pools[1]
	if p4.Prefix != netip.MustParsePrefix("203.0.113.0/24") || p4.First != netip.MustParseAddr("203.0.113.1") ||
		p4.Last != netip.MustParseAddr("203.0.113.254") || fmt.Sprint(p4.DNS) != "[203.0.113.53]" ||
		fmt.Sprint(p4.Split) != "[192.0.2.0/24]" {
		t.Errorf("pool rw = %+v", p4)
	}
	if p6.Prefix.IsValid() || p6.First != netip.MustParseAddr("2001:db8:2::10") || p6.Last != netip.MustParseAddr("2001:db8:2::ff") ||
		fmt.Sprint(p6.DNS) != "[2001:db8:2::53]" || p6.Split != nil {
		t.Errorf("pool rw6 = %+v", p6)
	}
	if len(cfg.Users) != 1 || cfg.User("alice") == nil || string(cfg.Users[0].Password) != "correct horse battery staple" ||
		cfg.Users[0].PasswordFile != filepath.Join(dir, "secrets/alice.pass") || fmt.Sprint(cfg.Users[0].Pools) != "[rw6 rw]" {
		t.Errorf("users = %+v", cfg.Users)
	}
	if s := fmt.Sprintf("%v %+v %+v %#v", cfg.Users[0], *cfg.Users[0], *rw, *c); strings.Contains(s, "correct horse") || strings.Contains(s, "carol's") || strings.Contains(s, "alice's") {
		t.Errorf("a password prints: %s", s)
	}
	cfg.Wipe()
	if string(rw.Password) != strings.Repeat("\x00", len(rw.Password)) || cfg.Users[0].Password[0] != 0 {
		t.Errorf("Wipe left passwords")
	}
}

// TestFullExampleRefusals: with the real notImplemented table, the full example is refused at
// exactly the lines that use a feature the table lists, each saying "not implemented yet".
func TestFullExampleRefusals(t *testing.T) {
	path := writeFullExample(t)
	_, err := Load(path)
	refused := 0 // of the features the example uses (it has no eap = "tls")
	for _, f := range []feature{featPubkey, featVIPsIKEv1, featXAUTH, featPoolsIKEv1, featIKEv2, featEAP, featVIPsIKEv2, featMOBIKE} {
		if notImplemented[f] {
			refused++
		}
	}
	if refused == 0 {
		if err != nil {
			t.Fatalf("nothing is refused any more, yet: %v", err)
		}
		return
	}
	es := asErrors(t, err)
	line := func(s string) int { return lineOf(t, "testdata/full.toml", s) }
	rwLine := func(s string) int { // in the road warrior, the last connection
		start := line(`name = "roadwarrior"`)
		data, _ := os.ReadFile("testdata/full.toml")
		for i, l := range strings.Split(string(data), "\n")[start:] {
			if strings.HasPrefix(l, s) {
				return start + i + 1
			}
		}
		t.Fatalf("no %q after the road warrior", s)
		return 0
	}
	want := map[feature]int{
		featPubkey:     line(`auth = "pubkey"                    # psk`),
		featVIPsIKEv1:  line(`vips = ["0.0.0.0", "::"]`),
		featXAUTH:      line(`xauth = "client"`),
		featPoolsIKEv1: line(`pools = ["rw", "rw6"]`),
		featIKEv2:      rwLine("version = 2"),
		featEAP:        rwLine(`eap = "mschapv2"`),
		featVIPsIKEv2:  rwLine(`vips = ["0.0.0.0"]`),
		featMOBIKE:     rwLine("mobike = true"),
	}
	n := 0
	for f, l := range want {
		if !notImplemented[f] {
			continue
		}
		n++
		if !hasError(es, l, featureText[f]) {
			t.Errorf("no refusal %q at line %d", featureText[f], l)
		}
	}
	// The road warrior's auth = "pubkey" is IKEv2, which signs with certificates.
	if notImplemented[featXAUTH] {
		n++ // the gateway's xauth = "server"
	}
	for _, e := range es {
		if !strings.Contains(e.Msg, "not implemented yet") {
			t.Errorf("unexpected error: %v", e)
		}
	}
	if len(es) != n {
		t.Errorf("%d errors, want %d:\n%v", len(es), n, err)
	}
}
