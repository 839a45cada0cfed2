package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadExamples copies ../examples to a temporary directory (git does not keep the 0600 mode
// of the secrets, and the test must not change the checkout), fixes the secrets' mode there
// and loads every *.toml.
func loadExamples(t *testing.T) map[string]*Config {
	t.Helper()
	src, err := filepath.Abs("../examples")
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	err = filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(rel, "secrets"+string(filepath.Separator)) {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dst, rel), data, mode); err != nil {
			return err
		}
		return os.Chmod(filepath.Join(dst, rel), mode)
	})
	if err != nil {
		t.Fatal(err)
	}
	makeExampleCerts(t, dst)
	files, _ := filepath.Glob(filepath.Join(dst, "*.toml"))
	if len(files) < 6 {
		t.Fatalf("only %d examples in %s", len(files), src)
	}
	out := map[string]*Config{}
	for _, f := range files {
		cfg, err := Load(f)
		if err != nil {
			t.Errorf("%s is not valid:\n%v", filepath.Base(f), err)
			continue
		}
		for _, w := range cfg.Warnings {
			t.Logf("%s", w)
		}
		out[filepath.Base(f)] = cfg
	}
	return out
}

// TestExamples: every examples/*.toml is valid, and the pairs match each other.
func TestExamples(t *testing.T) {
	ex := loadExamples(t)
	for _, name := range []string{"site-a.toml", "site-b.toml", "sidecar.toml", "manual-a.toml", "manual-b.toml", "strongswan-peer.toml"} {
		if ex[name] == nil {
			t.Fatalf("%s missing or invalid", name)
		}
	}

	a, b := ex["site-a.toml"].Connections[0], ex["site-b.toml"].Connections[0]
	if a.LocalIP != b.RemoteIP || a.RemoteIP != b.LocalIP || a.LocalID.Raw != b.RemoteID.Raw ||
		a.RemoteID.Raw != b.LocalID.Raw || !bytes.Equal(a.PSK, b.PSK) || len(a.PSK) == 0 {
		t.Errorf("site-a and site-b do not mirror each other")
	}
	if len(a.Children) != len(b.Children) {
		t.Fatalf("site children differ")
	}
	for i := range a.Children {
		ca, cb := a.Children[i], b.Children[i]
		if ca.LocalTS[0] != cb.RemoteTS[0] || ca.RemoteTS[0] != cb.LocalTS[0] {
			t.Errorf("child %s: selectors do not mirror", ca.Name)
		}
	}

	ma, mb := ex["manual-a.toml"].Connections[0].Children[0], ex["manual-b.toml"].Connections[0].Children[0]
	if ma.InSPI != mb.OutSPI || ma.OutSPI != mb.InSPI || !bytes.Equal(ma.InKey, mb.OutKey) ||
		!bytes.Equal(ma.OutKey, mb.InKey) || len(ma.InKey) != 36 {
		t.Errorf("manual-a and manual-b are not crossed over")
	}
	if !hasWarning(ex["manual-a.toml"].Warnings, lineOf(t, "../examples/manual-a.toml", "esp_proposals"), "discouraged (RFC 4106 §8)") {
		t.Errorf("manual-a: no AEAD warning: %v", ex["manual-a.toml"].Warnings)
	}

	sc := ex["sidecar.toml"]
	if sc.Device.Kind != "netstack" || sc.Daemon.IKEPort < 1024 || sc.Daemon.NATTPort < 1024 ||
		sc.Netstack.SOCKS5 == "" || len(sc.Netstack.Forward) == 0 {
		t.Errorf("sidecar: %+v %+v", sc.Daemon, sc.Netstack)
	}

	// Only the documentation ranges (RFC 5737, RFC 3849, RFC 2544's 198.18.0.0/15).
	for name, cfg := range ex {
		for _, c := range cfg.Connections {
			for _, ip := range []string{c.LocalIP.String(), c.RemoteIP.String()} {
				if ip != "invalid IP" && !docAddr(ip) {
					t.Errorf("%s: %s is not a documentation address", name, ip)
				}
			}
			for _, ch := range c.Children {
				for _, ts := range append(append([]TrafficSelector(nil), ch.LocalTS...), ch.RemoteTS...) {
					if !docAddr(ts.Prefix.Addr().String()) {
						t.Errorf("%s: %s is not a documentation range", name, ts)
					}
				}
			}
		}
	}
}

// lineOf returns the first line of file containing s.
func lineOf(t *testing.T, file, s string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%s has no %q", file, s)
	return 0
}

func docAddr(s string) bool {
	for _, p := range []string{"192.0.2.", "198.51.100.", "203.0.113.", "198.18.", "198.19.", "2001:db8:"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
