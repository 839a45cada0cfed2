package swanimport

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// golden renders a conversion for comparison: the TOML, the warnings and the secret files'
// names (never their content), with the working directory replaced by $PWD.
func golden(t *testing.T, res *Result) string {
	t.Helper()
	var b strings.Builder
	b.Write(res.TOML)
	b.WriteString("\n# ---- warnings ----\n")
	for _, w := range res.Warnings {
		fmt.Fprintf(&b, "# %s\n", w)
	}
	b.WriteString("# ---- secret files ----\n")
	for _, s := range res.Secrets {
		fmt.Fprintf(&b, "# %s: %s\n", s.Name, s.For)
	}
	wd, _ := os.Getwd()
	return strings.ReplaceAll(b.String(), wd, "$PWD")
}

// TestGolden pins the whole conversion of every sample and kitchen sink (go test -update
// rewrites testdata/golden after a deliberate change; review the diff).
func TestGolden(t *testing.T) {
	var inputs []string
	for _, pat := range []string{"testdata/strongswan/*/*/swanctl.conf", "testdata/swanctl/*/swanctl.conf",
		"testdata/stroke/*/ipsec.conf", "testdata/kitchen/*.conf"} {
		m, _ := filepath.Glob(pat)
		inputs = append(inputs, m...)
	}
	for _, in := range inputs {
		t.Run(in, func(t *testing.T) {
			res := importFile(t, in, Options{LocalAddrs: func() []netip.Addr { return nil }})
			got := golden(t, res)
			name := strings.ReplaceAll(strings.TrimPrefix(in, "testdata/"), "/", "_") + ".golden"
			path := filepath.Join("testdata", "golden", name)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("conversion of %s differs from %s:\n%s", in, path, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff lists the lines that differ (a small, order-aware comparison for test output).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, a, c)
		}
	}
	return b.String()
}

func convert(t *testing.T, name, text string, opts Options) *Result {
	t.Helper()
	res, err := ImportData(name, []byte(text), opts)
	if err != nil {
		t.Fatalf("ImportData: %v", err)
	}
	return res
}

func has(t *testing.T, res *Result, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(string(res.TOML), l) {
			t.Errorf("no %q in:\n%s", l, res.TOML)
		}
	}
}

func warned(t *testing.T, res *Result, line int, text string) {
	t.Helper()
	for _, w := range res.Warnings {
		if w.Pos.Line == line && strings.Contains(w.Msg, text) {
			return
		}
	}
	t.Errorf("no warning at line %d with %q; warnings:\n%v", line, text, res.Warnings)
}

func TestSwanctlVersionZero(t *testing.T) {
	base := "connections {\n a {\n  remote_addrs = 198.18.0.2\n  %s\n  children { net { local_ts = 192.0.2.0/24\n remote_ts = 198.51.100.0/24 } }\n }\n}\n"
	res := convert(t, "swanctl.conf", fmt.Sprintf(base, ""), Options{FS: mapFS{}})
	has(t, res, "version = 2  # from swanctl.conf:2; strongSwan's version = 0", "mobike = true")
	warned(t, res, 2, "chose 2")
	res = convert(t, "swanctl.conf", fmt.Sprintf(base, "aggressive = yes"), Options{FS: mapFS{}})
	has(t, res, "version = 1", "aggressive = true")
	warned(t, res, 2, "chose 1 because the connection uses aggressive = yes")
	res = convert(t, "swanctl.conf", fmt.Sprintf(base, "local { auth = psk }\n  local-2 { auth = xauth }"), Options{FS: mapFS{}})
	has(t, res, "version = 1", `xauth = "client"`)
}

func TestSwanctlDefaultsThatDiffer(t *testing.T) {
	// strongSwan's defaults that oakley does not share are written out: DPD off, raw ESP
	// unless NAT, any remote identity; its dpd_action default (clear) once DPD is on.
	res := convert(t, "swanctl.conf", `connections {
  a {
    version = 1
    remote_addrs = 198.18.0.2
    dpd_delay = 10s
    children {
      net {
        local_ts = 192.0.2.0/24
        remote_ts = 198.51.100.0/24
        rekey_bytes = 1000
        life_packets = 50
      }
    }
  }
  b {
    version = 1
    remote_addrs = 198.18.0.3
    encap = yes
    remote { auth = psk }
    children { net { local_ts = 192.0.2.0/24
      remote_ts = 198.51.100.0/24
      dpd_action = trap } }
  }
}
`, Options{FS: mapFS{}})
	has(t, res, `dpd_delay = "10s"`, `dpd_action = "clear"  # from swanctl.conf:2; strongSwan's default dpd_action`,
		`encap = "auto"`, `remote_id = "%any"`, "life_bytes = 1100", "life_packets = 50",
		`dpd_delay = "0s"  # from swanctl.conf:15; strongSwan's default: no DPD`, `encap = "udp"`, `dpd_action = "hold"`)
}

func TestStrokeSides(t *testing.T) {
	text := "conn a\n\tkeyexchange=ikev1\n\tauthby=secret\n\tleft=198.18.0.1\n\tleftsubnet=192.0.2.0/24\n\tright=198.18.0.2\n\trightsubnet=198.51.100.0/24\n\tauto=start\n"
	secrets := mapFS{"ipsec.secrets": "198.18.0.1 198.18.0.2 : PSK \"shared between the two\"\n"}
	res := convert(t, "ipsec.conf", text, Options{FS: secrets, LocalAddrs: func() []netip.Addr { return nil }})
	has(t, res, `local_addr = "198.18.0.1"`, `remote_addr = "198.18.0.2"`, `local_ts = ["192.0.2.0/24"]`,
		`start_action = "start"`, `rekey_time = "2h51m"`, `rekey_time = "51m"`, `psk_file = "a.psk"`)
	if len(res.Secrets) != 1 || string(res.Secrets[0].Data) != "shared between the two\n" {
		t.Errorf("secrets: %+v", res.Secrets)
	}
	// The right side's address is this host's: right is local.
	res = convert(t, "ipsec.conf", text, Options{FS: secrets, LocalAddrs: func() []netip.Addr {
		return []netip.Addr{netip.MustParseAddr("198.18.0.2")}
	}})
	has(t, res, `local_addr = "198.18.0.2"`, `remote_addr = "198.18.0.1"`, `local_ts = ["198.51.100.0/24"]`)
	warned(t, res, 6, "right is taken as the local side")
	res = convert(t, "ipsec.conf", text, Options{FS: secrets, Local: "right", LocalAddrs: func() []netip.Addr { return nil }})
	has(t, res, `local_addr = "198.18.0.2"`)
}

func TestNothingConverted(t *testing.T) {
	for name, text := range map[string]string{
		"swanctl.conf": "# empty\nconnections {\n}\n",
		"ipsec.conf":   "conn a\n\tleft=1.2.3.4\n",
	} {
		res, err := ImportData(name, []byte(text), Options{FS: mapFS{}})
		if !errors.Is(err, ErrNothingConverted) || res == nil || res.TOML != nil {
			t.Errorf("%s: %v, want ErrNothingConverted and no TOML", name, err)
		}
	}
	if _, err := Import("testdata/does-not-exist.conf", Options{}); err == nil || !strings.Contains(err.Error(), "cannot read") {
		t.Errorf("missing file: %v", err)
	}
}

func TestDetectFormat(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"/etc/swanctl/swanctl.conf", "", "swanctl"},
		{"/etc/ipsec.conf", "", "ipsec"},
		{"site.conf", "conn a\n\tleft=1.2.3.4\n", "ipsec"},
		{"site.conf", "connections {\n a {\n }\n}\n", "swanctl"},
		{"site.conf", "config setup\n\tuniqueids=no\nconn b\n\tauto=add\n", "ipsec"},
	} {
		if got := detectFormat(c.name, []byte(c.text)); got != c.want {
			t.Errorf("detectFormat(%s) = %s, want %s", c.name, got, c.want)
		}
	}
}

// TestSecretsNeverPrinted: PSKs and passwords go to the secret files only.
func TestSecretsNeverPrinted(t *testing.T) {
	secrets := []string{"TopSecretPSK-4f1c9a", "TopSecretPassword-77e1"}
	text := fmt.Sprintf(`connections {
  a {
    version = 1
    remote_addrs = 198.18.0.2
    local { auth = psk }
    local-2 { auth = xauth
      xauth_id = carol }
    children { net { local_ts = 192.0.2.0/24
      remote_ts = 198.51.100.0/24 } }
  }
}
secrets {
  ike { secret = %s }
  xauth { id = carol
    secret = "%s" }
  ike-unused { id = x.example
    secret = %s }
}
`, secrets[0], secrets[1], secrets[0]+"-unused")
	res := convert(t, "swanctl.conf", text, Options{FS: mapFS{}})
	out := string(res.TOML)
	for _, w := range res.Warnings {
		out += w.String()
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%q appears in the TOML or a warning", s)
		}
	}
	if len(res.Secrets) != 2 || string(res.Secrets[0].Data) != secrets[0]+"\n" || string(res.Secrets[1].Data) != secrets[1]+"\n" {
		t.Errorf("secret files: %d", len(res.Secrets))
	}
	res.Wipe()
	for _, s := range res.Secrets {
		for _, c := range s.Data {
			if c != 0 {
				t.Fatal("Wipe left secret bytes")
			}
		}
	}
}

func TestMiscConversions(t *testing.T) {
	res := convert(t, "swanctl.conf", "connections {\n a {\n  version = 1\n  remote_port = 4501\n  children { net { local_ts = 192.0.2.0/24\n remote_ts = 198.51.100.0/24 } }\n }\n}\n", Options{FS: mapFS{}})
	has(t, res, "remote_port = 4501", "remote_natt_port = 4501")
	res = convert(t, "ipsec.conf", "ca old\n\tcacert=old.crt\n\tcrluri=http://x\nconn a\n\tleft=198.18.0.1\n\tright=198.18.0.2\n\tauthby=secret\n\tkeyexchange=ikev1\n\tauto=add\n",
		Options{FS: mapFS{}, LocalAddrs: func() []netip.Addr { return nil }})
	warned(t, res, 1, "ca old has auto=ignore")
	warned(t, res, 2, "cacert: not converted, with the rest of ca old")
	warned(t, res, 3, "crluri: not converted, with the rest of ca old")
	warned(t, res, 7, "no IKE secret matches")
}
