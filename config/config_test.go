package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oakley/crypto"
)

// A minimal valid connection; cases append to it or replace parts of it.
const minimal = `[[connection]]
name = "b"
remote_addr = "198.51.100.2"
psk = "@PSK@"
  [[connection.child]]
  name = "net"
  local_ts = ["192.0.2.0/24"]
  remote_ts = ["203.0.113.0/24"]
`

// minimalV1 is minimal with version = 1 (IKEv1; the default is 2).
var minimalV1 = strings.Replace(minimal, "psk =", "version = 1\npsk =", 1)

// hdrMarked is minimal with the marker on its [[connection]] header.
var hdrMarked = strings.Replace(minimal, "[[connection]]", "[[connection]] #!", 1)

// markedLine returns the 1-based line of src that carries the "#!" marker.
func markedLine(t *testing.T, src string) int {
	t.Helper()
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, "#!") {
			return i + 1
		}
	}
	t.Fatalf("no #! marker in\n%s", src)
	return 0
}

func expand(src string) string { return strings.ReplaceAll(src, "@PSK@", testPSK) }

// TestErrors: each broken configuration reports its problem at the line marked "#!" with a
// message containing frag.
func TestErrors(t *testing.T) {
	cases := []errorCase{
		{"syntax", "[daemon]\nlog_level = #!\n", "TOML syntax", nil},
		{"syntax duplicate key", "[daemon]\nike_port = 500\nike_port = 501 #!\n", "already been defined", nil},
		{"unknown daemon key", "[daemon]\nlog_levl = \"info\" #!\n", `unknown key "log_levl" in [daemon]; did you mean "log_level"?`, nil},
		{"unknown table", "[deamon] #!\nlog_level = \"info\"\n", `unknown key "deamon" in the top level`, nil},
		{"unknown child key", minimal + "  pfs = true #!\n", `unknown key "pfs" in child "net" of connection "b"`, nil},
		{"unknown connection key", strings.Replace(minimal, "psk =", "remote_ip = \"198.18.0.9\" #!\npsk =", 1), `unknown key "remote_ip" in connection "b"`, nil},
		{"log_level", "[daemon]\nlog_level = \"verbose\" #!\n", `log_level = "verbose" is not valid; want "debug", "info", "warn" or "error"`, nil},
		{"log_format", "[daemon]\nlog_format = \"xml\" #!\n", `want "console" or "json"`, nil},
		{"ike_port range", "[daemon]\nike_port = 0 #!\n", "ike_port = 0 is out of range; want a port 1..65535", nil},
		{"natt_port range", "[daemon]\nnatt_port = 70000 #!\n", "natt_port = 70000 is out of range", nil},
		{"ike_port type", "[daemon]\nike_port = \"500\" #!\n", "ike_port must be an integer, not a string", nil},
		{"same ports", "[daemon]\nike_port = 4500\nnatt_port = 4500 #!\n", "ike_port and natt_port are both 4500", nil},
		{"metrics", "[daemon]\nmetrics = \"9477\" #!\n", "want host:port", nil},
		{"control_socket empty", "[daemon]\ncontrol_socket = \"\" #!\n", "control_socket is empty", nil},
		{"insecure type", "[daemon]\ninsecure_algorithms = \"yes\" #!\n", "insecure_algorithms must be true or false, not a string", nil},
		{"socket_buffer unit", "[daemon]\nsocket_buffer = \"4M\" #!\n", `unknown unit "M"`, nil},
		{"socket_buffer max", "[daemon]\nsocket_buffer = \"2GiB\" #!\n", "the maximum is 1073741824", nil},
		{"workers", "[daemon]\nworkers = -1 #!\n", "workers = -1 is out of range; want 0 (automatic) .. 4096", nil},
		{"device kind", "[device]\nkind = \"tap\" #!\n", `kind = "tap" is not valid; want "tun" or "netstack"`, nil},
		{"device name", "[device]\nname = \"a-very-long-interface-name\" #!\n", "longer than 15 bytes", nil},
		{"mtu small", "[device]\nmtu = 500 #!\n", "mtu = 500 is too small; want 0 (automatic) or 576..65535", nil},
		{"mtu ipv6", "[device]\nmtu = 1000 #!\naddresses = [\"2001:db8::1/64\"]\n", "below 1280, the IPv6 minimum", nil},
		{"mtu ipv6 selector", "[device]\nmtu = 1200 #!\n" + strings.Replace(minimal, `"203.0.113.0/24"`, `"2001:db8:1::/48"`, 1), "below 1280", nil},
		{"device address", "[device]\naddresses = [\"192.0.2.1\", \"192.0.2.300/24\"] #!\n", `"192.0.2.300/24" is not an address with prefix length`, nil},
		{"netstack without kind", "[netstack] #!\nsocks5 = \"127.0.0.1:1080\"\n", `[netstack] needs device.kind = "netstack" (kind is "tun")`, nil},
		{"netstack without addresses", "[device] #!\nkind = \"netstack\"\n", `kind = "netstack" needs addresses`, nil},
		{"forward proto missing", "[device]\nkind = \"netstack\"\naddresses = [\"192.0.2.1\"]\n[[netstack.forward]] #!\nlisten = \"127.0.0.1:80\"\nto = \"192.0.2.9:80\"\n", `needs proto = "tcp" or "udp"`, nil},
		{"forward proto", "[device]\nkind = \"netstack\"\naddresses = [\"192.0.2.1\"]\n[[netstack.forward]]\nproto = \"sctp\" #!\nlisten = \"127.0.0.1:80\"\nto = \"192.0.2.9:80\"\n", `proto = "sctp" is not valid; want "tcp" or "udp"`, nil},
		{"forward listen", "[device]\nkind = \"netstack\"\naddresses = [\"192.0.2.1\"]\n[[netstack.forward]]\nproto = \"tcp\"\nlisten = \"localhost:80\" #!\nto = \"192.0.2.9:80\"\n", `listen = "localhost:80" is not an IP address and port`, nil},
		{"expose listen", "[device]\nkind = \"netstack\"\naddresses = [\"192.0.2.1\"]\n[[netstack.expose]]\nproto = \"tcp\"\nlisten = \"192.0.2.2:22\" #!\nto = \"127.0.0.1:22\"\n", "expose listen 192.0.2.2:22 is not one of device.addresses", nil},
		{"connection name missing", "[[connection]] #!\nremote_addr = \"198.51.100.2\"\npsk = \"@PSK@\"\n", "[[connection]] #1 has no name", nil},
		{"connection name invalid", strings.Replace(minimal, `name = "b"`, `name = "a/b" #!`, 1), `connection name "a/b" is not valid`, nil},
		{"duplicate connection", minimal + strings.Replace(minimal, `name = "b"`, `name = "b" #!`, 1), `connection name "b" is already used on line 2`, nil},
		{"keying", strings.Replace(minimal, "psk =", "keying = \"static\" #!\npsk =", 1), `keying = "static" is not valid; want "ike" or "manual"`, nil},
		{"version 3", strings.Replace(minimal, "psk =", "version = 3 #!\npsk =", 1), "version = 3 is out of range; want 1 (IKEv1) or 2 (IKEv2)", nil},
		{"remote_addr missing", "[[connection]] #!\nname = \"b\"\npsk = \"@PSK@\"\n", `remote_addr is required with start_action = "start"`, nil},
		{"remote_addr missing trap", "[[connection]] #!\nname = \"b\"\nstart_action = \"trap\"\npsk = \"@PSK@\"\n", `remote_addr is required with start_action = "trap"`, nil},
		{"remote_addr any start", strings.Replace(minimal, `remote_addr = "198.51.100.2"`, `remote_addr = "%any" #!`, 1), `remote_addr = "%any" only works with start_action = "none"`, nil},
		{"remote_addr any child start", strings.Replace(strings.Replace(minimal, `remote_addr = "198.51.100.2"`, "remote_addr = \"%any\" #!\nstart_action = \"none\"", 1), `name = "net"`, "name = \"net\"\n  start_action = \"start\"", 1), `start_action is "start"`, nil},
		{"remote_addr invalid", strings.Replace(minimal, `remote_addr = "198.51.100.2"`, `remote_addr = "198.51.100.2:500" #!`, 1), "is not an IP address, a DNS name", nil},
		{"local_addr name", strings.Replace(minimal, "psk =", "local_addr = \"gw.example\" #!\npsk =", 1), `local_addr = "gw.example" is not an IP address`, nil},
		{"address families", strings.Replace(minimal, `remote_addr = "198.51.100.2"`, "local_addr = \"2001:db8::1\"\nremote_addr = \"198.51.100.2\" #!", 1), "different IP versions", nil},
		{"manual without remote_addr", "[[connection]] #!\nname = \"m\"\nkeying = \"manual\"\n", `keying = "manual" needs remote_addr`, nil},
		{"auth enum", strings.Replace(minimal, "psk =", "auth = \"eap\" #!\npsk =", 1), `auth = "eap" is not valid; want "psk", "pubkey", "pke", "pke-revised" or "pke-original"`, nil},
		{"psk and psk_file", strings.Replace(minimal, "psk =", "psk_file = \"secrets/b.psk\" #!\npsk =", 1), "set psk or psk_file, not both", map[string]string{"secrets/b.psk": testPSK}},
		{"no psk", strings.Replace(hdrMarked, `psk = "@PSK@"`, "", 1) + "", `auth = "psk" needs psk or psk_file`, nil},
		{"psk_file mode", strings.Replace(minimal, `psk = "@PSK@"`, `psk_file = "secrets/x.open" #!`, 1), "psk_file secrets/x.open is readable by group/other (mode 0644); chmod 600 it", map[string]string{"secrets/x.open": testPSK}},
		{"psk_file missing", strings.Replace(minimal, `psk = "@PSK@"`, `psk_file = "secrets/none.psk" #!`, 1), "psk_file secrets/none.psk does not exist", nil},
		{"psk_file empty", strings.Replace(minimal, `psk = "@PSK@"`, `psk_file = "secrets/e.psk" #!`, 1), "psk_file secrets/e.psk is empty", map[string]string{"secrets/e.psk": "\n"}},
		{"psk bad hex", strings.Replace(minimal, `psk = "@PSK@"`, `psk = "0xabz" #!`, 1), `psk starts with "0x" but is not valid hex`, nil},
		{"pubkey needs cert", strings.Replace(hdrMarked, `psk = "@PSK@"`, "auth = \"pubkey\"\nkey = \"private/k.pem\"\ncacerts = [\"ca.pem\"]", 1), `auth = "pubkey" needs cert`, map[string]string{"private/k.pem": "k", "ca.pem": "c"}},
		{"pubkey needs ca", strings.Replace(hdrMarked, `psk = "@PSK@"`, "auth = \"pubkey\"\nkey = \"private/k.pem\"\ncert = \"c.pem\"", 1), `needs cacerts or remote_cert`, map[string]string{"private/k.pem": "k", "c.pem": "c"}},
		{"key mode", strings.Replace(minimal, `psk = "@PSK@"`, "auth = \"pubkey\"\ncert = \"c.pem\"\nkey = \"k.pem\" #!\ncacerts = [\"c.pem\"]", 1), "key k.pem is readable by group/other (mode 0644); chmod 600 it", map[string]string{"k.pem": "k", "c.pem": "c"}},
		{"cacert missing", strings.Replace(minimal, `psk = "@PSK@"`, "auth = \"pubkey\"\ncert = \"c.pem\"\nkey = \"private/k.pem\"\ncacerts = [\n  \"c.pem\",\n  \"nope.pem\", #!\n]", 1), "cacerts nope.pem does not exist", map[string]string{"private/k.pem": "k", "c.pem": "c"}},
		{"pke needs opt-in", strings.Replace(minimal, `psk = "@PSK@"`, "auth = \"pke\" #!\ncert = \"c.pem\"\nkey = \"private/k.pem\"\ncacerts = [\"c.pem\"]", 1), `auth = "pke" (IKEv1 public-key encryption) is insecure (a Bleichenbacher oracle); it needs insecure_algorithms = true`, map[string]string{"private/k.pem": "k", "c.pem": "c"}},
		{"proposal unknown", strings.Replace(minimal, "psk =", "proposals = [\"aes256-sha256-modp2048\", \"aes256-sha999-modp2048\"] #!\npsk =", 1), `proposals: unknown algorithm "sha999" in proposal "aes256-sha999-modp2048"`, nil},
		{"proposal insecure", strings.Replace(minimal, "psk =", "proposals = [\"aes128-md5-modp2048\"] #!\npsk =", 1), "md5 in proposal \"aes128-md5-modp2048\" is insecure", nil},
		{"proposal multi-line", strings.Replace(minimal, "psk =", "proposals = [\n  \"aes256-sha256-modp2048\",\n  \"des-sha256-modp2048\", #!\n]\npsk =", 1), "des in proposal", nil},
		{"proposal IKEv1 AEAD", strings.Replace(minimalV1, "psk =", "proposals = [\"aes128gcm16-prfsha256-ecp256\"] #!\npsk =", 1), "not defined for IKEv1 Phase 1", nil},
		{"proposals empty", strings.Replace(minimal, "psk =", "proposals = [] #!\npsk =", 1), "proposals is empty; omit it for the defaults", nil},
		{"esp AEAD with integrity", minimal + "  esp_proposals = [\"aes128gcm16-sha256\"] #!\n", "aes128gcm16 is an AEAD and carries its own integrity: drop sha256", nil},
		{"esp empty", minimal + "  esp_proposals = [] #!\n", "esp_proposals is empty", nil},
		{"aggressive groups", strings.Replace(minimal, "psk =", "aggressive = true\nproposals = [\"aes256-sha256-modp2048\", \"aes256-sha256-ecp256\"] #!\npsk =", 1), "cannot negotiate the DH group (RFC 2409 §5)", nil},
		{"dpd_action", strings.Replace(minimal, "psk =", "dpd_action = \"reset\" #!\npsk =", 1), `want "clear", "hold" or "restart"`, nil},
		{"dpd timeout", strings.Replace(minimal, "psk =", "dpd_delay = \"60s\"\ndpd_timeout = \"30s\" #!\npsk =", 1), "dpd_timeout (30s) must be longer than dpd_delay (1m0s)", nil},
		{"start_action", strings.Replace(minimal, "psk =", "start_action = \"route\" #!\npsk =", 1), `want "start", "trap" or "none"`, nil},
		{"encap", strings.Replace(minimal, "psk =", "encap = \"tcp\" #!\npsk =", 1), `want "udp", "raw" or "auto"`, nil},
		{"rekey_time", strings.Replace(minimal, "psk =", "rekey_time = \"4 hours\" #!\npsk =", 1), `rekey_time: "4 hours" is not a duration`, nil},
		{"rekey_time int", strings.Replace(minimal, "psk =", "rekey_time = 3600 #!\npsk =", 1), `rekey_time must be a duration string like "3600s", not an integer`, nil},
		{"negative duration", strings.Replace(minimal, "psk =", "dpd_delay = \"-5s\" #!\npsk =", 1), `"-5s" is negative`, nil},
		{"mobike", strings.Replace(minimalV1, "psk =", "mobike = true #!\npsk =", 1), "mobike needs IKEv2 (version = 2)", nil},
		{"aggressive type", strings.Replace(minimal, "psk =", "aggressive = \"yes\" #!\npsk =", 1), "aggressive must be true or false, not a string", nil},
		{"local_id DN", strings.Replace(minimal, "psk =", "local_id = \"C=CH, X=foo\" #!\npsk =", 1), `local_id: DN "C=CH, X=foo": unknown attribute "X"`, nil},
		{"remote_id spaces", strings.Replace(minimal, "psk =", "remote_id = \"site b\" #!\npsk =", 1), "contains spaces", nil},
		{"mode", minimal + "  mode = \"beet\" #!\n", `mode = "beet" is not valid; want "tunnel" or "transport"`, nil},
		{"ts syntax", strings.Replace(minimal, `local_ts = ["192.0.2.0/24"]`, `local_ts = ["192.0.2.0/24[tcp/80"] #!`, 1), "want ADDRESS/LEN[PROTO/PORTS]", nil},
		{"ts proto", strings.Replace(minimal, `local_ts = ["192.0.2.0/24"]`, `local_ts = ["192.0.2.0/24[tpc]"] #!`, 1), `unknown protocol "tpc"`, nil},
		{"ts host bits", strings.Replace(minimal, `remote_ts = ["203.0.113.0/24"]`, `remote_ts = ["203.0.113.1/24"] #!`, 1), "has host bits set; write 203.0.113.0/24", nil},
		{"ts ports without proto", strings.Replace(minimal, `remote_ts = ["203.0.113.0/24"]`, `remote_ts = ["203.0.113.0/24[gre/1]"] #!`, 1), "ports need tcp, udp, sctp", nil},
		{"ts port range IKEv1", strings.Replace(minimalV1, `remote_ts = ["203.0.113.0/24"]`, `remote_ts = ["203.0.113.0/24[tcp/1000-2000]"] #!`, 1), "IKEv1 can negotiate a single port or any port, not a range (RFC 2407 §4.6.2)", nil},
		{"ts empty", strings.Replace(minimal, `remote_ts = ["203.0.113.0/24"]`, `remote_ts = [] #!`, 1), "remote_ts is empty", nil},
		{"ts missing tunnel", "[[connection]]\nname = \"b\"\nremote_addr = \"198.51.100.2\"\npsk = \"@PSK@\"\n  [[connection.child]] #!\n  name = \"net\"\n  local_ts = [\"192.0.2.0/24\"]\n", `needs remote_ts in tunnel mode`, nil},
		{"ts element type", strings.Replace(minimal, `local_ts = ["192.0.2.0/24"]`, "local_ts = [\n  \"192.0.2.0/24\",\n  24, #!\n]", 1), "local_ts[1] must be a string, not an integer", nil},
		{"child name duplicate", minimal + "  [[connection.child]]\n  name = \"net\" #!\n  local_ts = [\"192.0.2.0/24\"]\n  remote_ts = [\"203.0.113.0/24\"]\n", `child name "net" is already used in this connection on line 6`, nil},
		{"child without name", minimal + "  [[connection.child]] #!\n  local_ts = [\"192.0.2.0/24\"]\n  remote_ts = [\"203.0.113.0/24\"]\n", `child #2 of connection "b" has no name`, nil},
		{"replay_window", minimal + "  replay_window = 100000 #!\n", "replay_window = 100000 is out of range; want 0..65536 packets", nil},
		{"life_bytes", minimal + "  life_bytes = \"1.5GB\" #!\n", "is not a whole number of bytes", nil},
		{"life_packets", minimal + "  life_packets = -1 #!\n", "life_packets = -1 is out of range", nil},
		{"ah with udp", minimal + "  ah_proposals = [\"sha256\"] #!\n", `ah_proposals needs encap = "raw"`, nil},
		{"ah with esp", strings.Replace(minimal, "psk =", "encap = \"raw\"\npsk =", 1) + "  esp_proposals = [\"aes128gcm16\"] #!\n  ah_proposals = [\"sha256\"]\n", "esp_proposals and ah_proposals exclude each other", nil},
		{"ah encrypts", strings.Replace(minimal, "psk =", "encap = \"raw\"\npsk =", 1) + "  ah_proposals = [\"aes128-sha256\"] #!\n", "aes128: AH does not encrypt", nil},
	}
	runErrorCases(t, cases)
}

// errorCase is a broken configuration whose problem must be reported at the line marked "#!"
// with a message containing frag; files are written beside it.
type errorCase struct {
	name  string
	src   string
	frag  string
	files map[string]string
}

// runErrorCases loads each case with no feature refused as not implemented (the rules of a
// feature hold whether or not the daemon implements it yet; TestNotImplemented covers the
// refusals).
func runErrorCases(t *testing.T, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.frag, "chmod 600") {
				needModes(t)
			}
			src := expand(tc.src)
			want := markedLine(t, src)
			files := map[string]string{"oakley.toml": src}
			for k, v := range tc.files {
				files[k] = v
			}
			dir := writeTree(t, files)
			for name := range tc.files { // as a fresh git checkout leaves them
				if strings.HasSuffix(name, ".open") {
					if err := os.Chmod(filepath.Join(dir, name), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			path := filepath.Join(dir, "oakley.toml")
			cfg, err := load(path, nil)
			if err == nil {
				t.Fatalf("no error; warnings %v; want %d: %s", cfg.Warnings, want, tc.frag)
			}
			es := asErrors(t, err)
			if os.Getenv("SHOWMSG") != "" {
				t.Log(err)
			}
			if !hasError(es, want, tc.frag) {
				t.Fatalf("want line %d: ...%s...; got\n%v", want, tc.frag, err)
			}
			for _, e := range es {
				if e.File != path {
					t.Errorf("error names file %q, want %q", e.File, path)
				}
			}
		})
	}
}

// TestSeveralErrors: one file with many problems reports all of them, sorted by line.
func TestSeveralErrors(t *testing.T) {
	src := expand(`[daemon]
log_level = "loud"
ike_port = 0
[device]
kind = "tap"
[[connection]]
name = "b"
version = 3
psk = "@PSK@"
  [[connection.child]]
  name = "net"
  local_ts = ["192.0.2.0/33"]
  remote_ts = ["203.0.113.0/24[tcp/9-1]"]
  replay_window = -1
  colour = "blue"
`)
	_, err := Parse("site.toml", []byte(src), "")
	es := asErrors(t, err)
	want := []struct {
		line int
		frag string
	}{
		{2, `log_level = "loud"`},
		{3, "ike_port = 0"},
		{5, `kind = "tap"`},
		{6, "remote_addr is required"},
		{8, "version = 3 is out of range"},
		{12, `"192.0.2.0/33" is not an address prefix`},
		{13, "port range 9-1 is reversed"},
		{14, "replay_window = -1 is out of range"},
		{15, `unknown key "colour"`},
	}
	for _, w := range want {
		if !hasError(es, w.line, w.frag) {
			t.Errorf("missing site.toml:%d: ...%s...", w.line, w.frag)
		}
	}
	if len(es) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(es), len(want), err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(es) || lines[0] != `site.toml:2: log_level = "loud" is not valid; want "debug", "info", "warn" or "error"` {
		t.Errorf("Error() =\n%s", err)
	}
	for i := 1; i < len(es); i++ {
		if es[i].Line < es[i-1].Line {
			t.Errorf("errors not sorted by line: %d after %d", es[i].Line, es[i-1].Line)
		}
	}
}

func TestSyntaxErrorColumn(t *testing.T) {
	_, err := Parse("s.toml", []byte("[daemon]\nlog_level = \"info\nx = 1\n"), "")
	es := asErrors(t, err)
	if len(es) != 1 || es[0].Line != 2 || es[0].Col == 0 || !strings.HasPrefix(es[0].Error(), fmt.Sprintf("s.toml:2:%d: TOML syntax", es[0].Col)) {
		t.Fatalf("got %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	es := asErrors(t, err)
	if len(es) != 1 || es[0].Line != 0 || !strings.Contains(es[0].Error(), "none.toml: cannot read the configuration: no such file") {
		t.Fatalf("got %v", err)
	}
}

// TestDefaults: an almost empty configuration gets every documented default.
func TestDefaults(t *testing.T) {
	cfg, err := Parse("min.toml", []byte(expand(minimal)), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	want := Daemon{LogLevel: "info", LogFormat: "console", ControlSocket: "/run/oakley/oakley.sock",
		IKEPort: 500, NATTPort: 4500, UDPOffload: true, SocketBuffer: 4_000_000, UID: -1, GID: -1,
		RetransmitTimeout: 4 * time.Second, RetransmitBase: 1.8, RetransmitTries: 5}
	if cfg.Daemon != want {
		t.Errorf("daemon = %+v, want %+v", cfg.Daemon, want)
	}
	if cfg.Pools != nil || cfg.Users != nil {
		t.Errorf("pools %v users %v", cfg.Pools, cfg.Users)
	}
	dev := cfg.Device
	if dev.Kind != "tun" || dev.Name != "oakley0" || dev.MTU != 0 || !dev.Routes || !dev.Offload || dev.Addresses != nil {
		t.Errorf("device = %+v", dev)
	}
	c := cfg.Connections[0]
	if c.Keying != "ike" || c.Version != 2 || c.Aggressive || c.LocalAddr != "%any" || c.LocalIP.IsValid() ||
		c.Auth != "psk" || c.RekeyTime != 4*time.Hour || c.DPDDelay != 30*time.Second ||
		c.DPDTimeout != 150*time.Second || c.DPDAction != "restart" || c.StartAction != "start" ||
		c.Encap != "udp" || c.MOBIKE || string(c.PSK) != testPSK || c.Version != DefaultIKEVersion ||
		c.SendCert != "ifasked" || c.Fragmentation != "yes" || c.VIPs != nil || c.Pools != nil ||
		c.XAuth != "" || c.XAuthID != "" || c.EAP != "" || c.EAPID != "" || c.Password != nil ||
		c.PasswordFile != "" || c.CRLs != nil || c.RemotePort != 500 || c.RemoteNATTPort != 4500 {
		t.Errorf("connection = %+v", c)
	}
	if c.LocalID.Type != IDAny || !c.LocalID.FromAddr || c.RemoteID.Type != IDIPv4 || !c.RemoteID.FromAddr ||
		c.RemoteID.Addr != netip.MustParseAddr("198.51.100.2") || string(c.RemoteID.Data) != "\xc6\x33\x64\x02" {
		t.Errorf("ids = %+v / %+v", c.LocalID, c.RemoteID)
	}
	var got []string
	for _, p := range c.Proposals {
		got = append(got, p.Text)
	}
	if strings.Join(got, " ") != strings.Join(crypto.DefaultProposals(crypto.ProtoIKEv2), " ") {
		t.Errorf("proposals = %v", got)
	}
	ch := c.Children[0]
	got = nil
	for _, p := range ch.ESPProposals {
		got = append(got, p.Text)
	}
	if strings.Join(got, " ") != strings.Join(crypto.DefaultProposals(crypto.ProtoESP), " ") {
		t.Errorf("esp_proposals = %v", got)
	}
	if ch.Mode != "tunnel" || ch.RekeyTime != time.Hour || ch.LifeBytes != 0 || ch.LifePackets != 0 ||
		ch.ReplayWindow != 1024 || ch.StartAction != "start" || ch.AHProposals != nil {
		t.Errorf("child = %+v", ch)
	}
}

// TestChildInheritsStartAction: a child's start_action defaults to its connection's.
func TestChildInheritsStartAction(t *testing.T) {
	src := strings.Replace(minimal, "psk =", "start_action = \"trap\"\npsk =", 1) +
		"  [[connection.child]]\n  name = \"other\"\n  start_action = \"none\"\n  local_ts = [\"192.0.2.0/24\"]\n  remote_ts = [\"198.51.100.0/24\"]\n"
	cfg, err := Parse("s.toml", []byte(expand(src)), "")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := cfg.Connections[0].Children[0].StartAction, cfg.Connections[0].Children[1].StartAction; a != "trap" || b != "none" {
		t.Errorf("start actions %q, %q; want trap, none", a, b)
	}
}

func TestTransportDefaultsTS(t *testing.T) {
	src := expand("[[connection]]\nname = \"h\"\nlocal_addr = \"198.51.100.1\"\nremote_addr = \"198.51.100.2\"\npsk = \"@PSK@\"\n  [[connection.child]]\n  name = \"host\"\n  mode = \"transport\"\n  remote_ts = [\"198.51.100.2[udp/1701]\"]\n")
	cfg, err := Parse("s.toml", []byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	ch := cfg.Connections[0].Children[0]
	if len(ch.LocalTS) != 1 || ch.LocalTS[0].String() != "198.51.100.1/32" || ch.RemoteTS[0].String() != "198.51.100.2/32[udp/1701]" {
		t.Errorf("ts = %v %v", ch.LocalTS, ch.RemoteTS)
	}
}

// TestWarnings: problems that do not stop the daemon are warnings at their line.
func TestWarnings(t *testing.T) {
	cases := []struct {
		name, src, frag string
	}{
		{"aggressive psk", strings.Replace(minimalV1, "psk =", "aggressive = true #!\npsk =", 1), "as a responder it needs insecure_algorithms = true"},
		{"aggressive psk opt-in", "[daemon]\ninsecure_algorithms = true\n" + strings.Replace(minimalV1, "psk =", "aggressive = true #!\npsk =", 1), "insecure_algorithms lets oakley answer it as a responder"},
		{"weak psk", strings.Replace(minimal, `psk = "@PSK@"`, `psk = "secret123" #!`, 1), "the PSK has only about"},
		{"insecure algorithm opt-in", "[daemon]\ninsecure_algorithms = true\n" + strings.Replace(minimalV1, "psk =", "proposals = [\"aes128-md5-modp1024\"] #!\npsk =", 1), `proposals: "aes128-md5-modp1024" uses insecure md5, modp1024 (allowed by insecure_algorithms)`},
		{"replay off", minimal + "  replay_window = 0 #!\n", "turns off anti-replay protection"},
		{"ignored cert", strings.Replace(minimal, "psk =", "cert = \"c.pem\" #!\npsk =", 1), `cert is ignored with auth = "psk"`},
		{"no child", "[[connection]] #!\nname = \"b\"\nremote_addr = \"198.51.100.2\"\npsk = \"@PSK@\"\n", "no traffic will be protected"},
		{"ignored manual key", minimal + "  in_spi = \"0x1000\" #!\n", `in_spi is ignored with keying = "ike"`},
		{"forward outside", "[device]\nkind = \"netstack\"\naddresses = [\"192.0.2.1\"]\n" + minimal + "[[netstack.forward]]\nproto = \"tcp\"\nlisten = \"127.0.0.1:80\"\nto = \"198.51.100.9:80\" #!\n", "outside every child's remote_ts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := expand(tc.src)
			cfg, err := Parse("w.toml", []byte(src), "")
			if err != nil {
				t.Fatal(err)
			}
			if !hasWarning(cfg.Warnings, markedLine(t, src), tc.frag) {
				t.Fatalf("want warning at line %d: ...%s...; got %v", markedLine(t, src), tc.frag, cfg.Warnings)
			}
			if w := cfg.Warnings[0].String(); !strings.HasPrefix(w, "w.toml:") || !strings.Contains(w, ": warning: ") {
				t.Errorf("String() = %q", w)
			}
		})
	}
}

func TestPKEWithOptIn(t *testing.T) {
	dir := writeTree(t, map[string]string{"private/k.pem": "k", "c.pem": "c",
		"oakley.toml": "[daemon]\ninsecure_algorithms = true\n" + strings.Replace(minimalV1, `psk = "@PSK@"`,
			"auth = \"pke\"\ncert = \"c.pem\"\nkey = \"private/k.pem\"\nremote_cert = \"c.pem\"", 1)})
	cfg, err := load(filepath.Join(dir, "oakley.toml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(cfg.Warnings, 7, `auth = "pke"`) || cfg.Connections[0].PSK != nil {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}

// TestKeySharedBetweenPKEAndSignatures: STANDARDS.md forbids one RSA key for both.
func TestKeySharedBetweenPKEAndSignatures(t *testing.T) {
	conn := func(name, auth string) string {
		return fmt.Sprintf("[[connection]]\nname = %q\nremote_addr = \"198.51.100.2\"\nauth = %q\ncert = \"c.pem\"\nkey = \"private/k.pem\"\nremote_cert = \"c.pem\"\n", name, auth)
	}
	dir := writeTree(t, map[string]string{"private/k.pem": "k", "c.pem": "c",
		"oakley.toml": "[daemon]\ninsecure_algorithms = true\n" + conn("a", "pubkey") + conn("b", "pke")})
	_, err := load(filepath.Join(dir, "oakley.toml"), nil)
	if es := asErrors(t, err); !hasError(es, 15, "must never also sign") {
		t.Fatalf("got %v", err)
	}
}

// TestAggressiveDefaults: Aggressive Mode offers only the defaults sharing one DH group.
func TestAggressiveDefaults(t *testing.T) {
	cfg, err := Parse("a.toml", []byte(expand(strings.Replace(minimalV1, "psk =", "aggressive = true\npsk =", 1))), "")
	if err != nil {
		t.Fatal(err)
	}
	ps := cfg.Connections[0].Proposals
	if len(ps) == 0 {
		t.Fatal("no proposals")
	}
	for _, p := range ps {
		if len(p.DH) != 1 || p.DH[0] != ps[0].DH[0] {
			t.Errorf("proposal %s: groups %v", p, p.DH)
		}
	}
}

// TestSecretsNeverInMessages: a distinctive secret in every secret-bearing key never shows up
// in an error or a warning.
func TestSecretsNeverInMessages(t *testing.T) {
	const secret = "c0ffee5ecret" // valid hex prefix, so hex errors would be tempted to quote it
	srcs := []string{
		strings.Replace(minimal, `psk = "@PSK@"`, `psk = `+secret, 1),
		strings.Replace(minimal, `psk = "@PSK@"`, `psk = "`+secret+`\q"`, 1),
		strings.Replace(minimal, `psk = "@PSK@"`, "psk = \"\"\"\n"+secret+"\\x\"\"\"", 1),
		manualGCM + "  in_auth_key = " + secret + "\n",
		strings.Replace(minimal, `psk = "@PSK@"`, `psk = "0x`+secret+`zz"`, 1),
		strings.Replace(minimal, `psk = "@PSK@"`, `psk = "`+secret+`"`, 1),
		strings.Replace(minimal, `psk = "@PSK@"`, `psk = ["`+secret+`"]`, 1),
		"[[connection]]\nname = \"m\"\nkeying = \"manual\"\nremote_addr = \"198.51.100.2\"\n  [[connection.child]]\n  name = \"c\"\n  local_ts = [\"192.0.2.0/24\"]\n  remote_ts = [\"203.0.113.0/24\"]\n  esp_proposals = [\"aes128gcm16\"]\n  in_spi = 4096\n  out_spi = 8192\n" +
			"  in_key = \"" + secret + "zz\"\n  out_key = \"" + secret + "\"\n  in_auth_key = \"" + secret + "\"\n  out_auth_key = 12\n",
	}
	for _, src := range srcs {
		cfg, err := Parse("s.toml", []byte(expand(src)), "")
		var all []string
		if err != nil {
			all = append(all, err.Error())
		} else {
			for _, w := range cfg.Warnings {
				all = append(all, w.String())
			}
		}
		if len(all) == 0 {
			t.Errorf("no message at all for\n%s", src)
		}
		for _, m := range all {
			if strings.Contains(strings.ToLower(m), secret) || strings.Contains(m, "c0ffee") {
				t.Errorf("message reveals the secret: %s", m)
			}
		}
	}
}

// TestPSKEncodings: 0x (hex) and 0s (base64) PSKs, as in strongSwan.
func TestPSKEncodings(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"0x" + strings.Repeat("a5", 32), strings.Repeat("\xa5", 32)},
		{"0s" + "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"},
		{testPSK, testPSK},
	} {
		cfg, err := Parse("p.toml", []byte(strings.Replace(minimal, "@PSK@", tc.text, 1)), "")
		if err != nil {
			t.Fatal(err)
		}
		if got := string(cfg.Connections[0].PSK); got != tc.want {
			t.Errorf("%s: got %x", tc.text[:4], got)
		}
	}
}

func TestPSKFile(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"conf/oakley.toml":   strings.Replace(minimal, `psk = "@PSK@"`, `psk_file = "secrets/b.psk"`, 1),
		"conf/secrets/b.psk": testPSK + "\r\n\n",
	})
	os.Chmod(filepath.Join(dir, "conf/secrets/b.psk"), 0o600)
	cfg, err := Load(filepath.Join(dir, "conf/oakley.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Connections[0]
	if string(c.PSK) != testPSK || c.PSKFile != filepath.Join(dir, "conf/secrets/b.psk") {
		t.Errorf("psk %q from %s", c.PSK, c.PSKFile)
	}
	if s := fmt.Sprintf("%v %+v %s", c.PSK, *c, c.PSK); strings.Contains(s, testPSK[:10]) {
		t.Errorf("the PSK prints: %s", s)
	}
	// Group-writable is refused too.
	needModes(t)
	os.Chmod(filepath.Join(dir, "conf/secrets/b.psk"), 0o620)
	_, err = Load(filepath.Join(dir, "conf/oakley.toml"))
	if es := asErrors(t, err); !hasError(es, 4, "psk_file secrets/b.psk is writable by group/other (mode 0620); chmod 600 it") {
		t.Errorf("got %v", err)
	}
}

// TestInlineSecretFileMode: Load warns when a file holding an inline secret is readable by
// others, at the secret's line.
func TestInlineSecretFileMode(t *testing.T) {
	needModes(t)
	dir := writeTree(t, map[string]string{"open.toml": expand(minimal), "private/closed.toml": expand(minimal)})
	cfg, err := Load(filepath.Join(dir, "open.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(cfg.Warnings, 4, "holds a secret inline and is readable or writable by group/other (mode 0644)") {
		t.Errorf("warnings = %v", cfg.Warnings)
	}
	cfg, err = Load(filepath.Join(dir, "private/closed.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings for a 0600 file: %v", cfg.Warnings)
	}
}
