package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFullExample loads CONFIG.md's example (testdata/full.toml, adjusted to be valid) and
// checks that every key arrived in its parsed form.
func TestFullExample(t *testing.T) {
	src, err := os.ReadFile("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := writeTree(t, map[string]string{
		"oakley.toml":        string(src),
		"secrets/site-b.psk": testPSK + "\n",
		"certs/site-a.pem":   "-----BEGIN CERTIFICATE-----\n",
		"certs/site-b.pem":   "-----BEGIN CERTIFICATE-----\n",
		"certs/ca.pem":       "-----BEGIN CERTIFICATE-----\n",
		"private/site-a.pem": "-----BEGIN PRIVATE KEY-----\n",
	})
	cfg, err := Load(filepath.Join(dir, "oakley.toml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, w := range cfg.Warnings {
		t.Logf("warning: %s", w)
	}
	d := cfg.Daemon
	if d.LogLevel != "info" || d.LogFormat != "console" || d.ControlSocket != "/run/oakley/oakley.sock" ||
		d.Metrics != "127.0.0.1:9477" || d.IKEPort != 500 || d.NATTPort != 4500 || d.InsecureAlgorithms ||
		!d.UDPOffload || d.SocketBuffer != 4<<20 || d.Workers != 2 {
		t.Errorf("daemon = %+v", d)
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
	if len(cfg.Connections) != 2 {
		t.Fatalf("%d connections, want 2", len(cfg.Connections))
	}
	c := cfg.Connections[0]
	if c.Name != "site-b" || c.Keying != "ike" || c.Version != 1 || c.Aggressive ||
		c.LocalIP != netip.MustParseAddr("198.18.0.1") || c.RemoteIP != netip.MustParseAddr("198.18.0.2") ||
		c.RemoteAddr != "198.18.0.2" || c.Auth != "pubkey" || c.PSK != nil ||
		c.Cert != filepath.Join(dir, "certs/site-a.pem") || c.Key != filepath.Join(dir, "private/site-a.pem") ||
		len(c.CACerts) != 1 || c.CACerts[0] != filepath.Join(dir, "certs/ca.pem") ||
		c.RemoteCert != filepath.Join(dir, "certs/site-b.pem") ||
		c.RekeyTime != 4*time.Hour || c.DPDDelay != 30*time.Second || c.DPDTimeout != 150*time.Second ||
		c.DPDAction != "restart" || c.StartAction != "start" || c.Encap != "udp" || c.MOBIKE {
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
	if !hasWarning(cfg.Warnings, 82, `psk_file is ignored with keying = "manual"`) {
		t.Errorf("no warning for the ignored psk_file: %v", cfg.Warnings)
	}
}
