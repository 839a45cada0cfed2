package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Pieces for the remote-access, certificate and retransmission cases.
const (
	// pubkeyAuth replaces minimal's psk line: certificate authentication with its files.
	pubkeyAuth = "auth = \"pubkey\"\ncert = \"c.pem\"\nkey = \"private/k.pem\"\ncacerts = [\"ca.pem\"]"
	// rwPool defines a pool called rw.
	rwPool = "[[pool]]\nname = \"rw\"\naddrs = \"203.0.113.0/24\"\n"
	// alice is one [[user]].
	alice = "[[user]]\nname = \"alice\"\npassword_file = \"secrets/alice.pass\"\n"
)

// certFiles are the files pubkeyAuth and the password cases name.
var certFiles = map[string]string{"c.pem": "c", "ca.pem": "c", "private/k.pem": "k",
	"private/p.pass": "a password\n", "secrets/alice.pass": "alice's password\n", "ca.crl": "crl"}

// conn inserts lines into minimal before its psk line.
func conn(lines string) string { return strings.Replace(minimal, "psk =", lines+"\npsk =", 1) }

// connV1 is conn with version = 1 (the IKEv1-only features).
func connV1(lines string) string { return conn("version = 1\n" + lines) }

// connAuth replaces minimal's psk line with lines.
func connAuth(lines string) string { return strings.Replace(minimal, `psk = "@PSK@"`, lines, 1) }

// eapClient is an IKEv2 EAP-MSCHAPv2 client with everything it needs; cases drop or change
// one line.
const eapClient = "version = 2\n" + pubkeyAuth + "\neap = \"mschapv2\"\neap_id = \"carol\"\npassword_file = \"private/p.pass\""

// eapGateway is an IKEv2 EAP-MSCHAPv2 gateway (pools set).
const eapGateway = "version = 2\n" + pubkeyAuth + "\neap = \"mschapv2\"\npools = [\"rw\"]"

func TestRemoteAccessErrors(t *testing.T) {
	f := certFiles
	cases := []errorCase{
		// [daemon] retransmission
		{"retransmit_timeout small", "[daemon]\nretransmit_timeout = \"10ms\" #!\n", "retransmit_timeout = 10ms is out of range; want 100ms..10m0s", nil},
		{"retransmit_timeout int", "[daemon]\nretransmit_timeout = 4 #!\n", `retransmit_timeout must be a duration string like "4s"`, nil},
		{"retransmit_base small", "[daemon]\nretransmit_base = 0.5 #!\n", "retransmit_base = 0.5 is out of range; want a number ≥ 1.0", nil},
		{"retransmit_base nan", "[daemon]\nretransmit_base = nan #!\n", "retransmit_base = NaN is out of range", nil},
		{"retransmit_base inf", "[daemon]\nretransmit_base = inf #!\n", "retransmit_base = +Inf is out of range", nil},
		{"retransmit_base string", "[daemon]\nretransmit_base = \"1.8\" #!\n", "retransmit_base must be a number, not a string", nil},
		{"retransmit_tries 0", "[daemon]\nretransmit_tries = 0 #!\n", "retransmit_tries = 0 is out of range; want 1..20", nil},
		{"retransmit_tries 21", "[daemon]\nretransmit_tries = 21 #!\n", "retransmit_tries = 21 is out of range; want 1..20", nil},
		{"retransmit schedule too long", "[daemon]\nretransmit_tries = 20 #!\n", "gives up only after 13 days, more than 24h0m0s", nil},
		{"retransmit schedule base line", "[daemon]\nretransmit_timeout = \"10m\"\nretransmit_base = 3.0 #!\n", "more than 24h0m0s", nil},
		{"daemon user name", "[daemon]\nuser = \"a b\" #!\n", `user = "a b" is not a user name`, nil},
		// [[connection]] certificates
		{"crls missing", connAuth(pubkeyAuth + "\ncrls = [\n  \"ca.crl\",\n  \"nope.crl\", #!\n]"), "crls nope.crl does not exist", f},
		{"crls type", connAuth(pubkeyAuth + "\ncrls = \"ca.crl\" #!"), "crls must be an array of strings", f},
		{"send_cert", conn(`send_cert = "sometimes" #!`), `send_cert = "sometimes" is not valid; want "ifasked", "always" or "never"`, nil},
		{"fragmentation", conn(`fragmentation = "maybe" #!`), `fragmentation = "maybe" is not valid; want "yes", "accept", "force" or "no"`, nil},
		{"pke IKEv2", "[daemon]\ninsecure_algorithms = true\n" + connAuth("version = 2\nauth = \"pke\" #!\ncert = \"c.pem\"\nkey = \"private/k.pem\"\ncacerts = [\"ca.pem\"]"), `auth = "pke" is IKEv1 only`, f},
		{"aggressive IKEv2", conn("version = 2\naggressive = true #!"), "aggressive = true is IKEv1 only", nil},
		// vips and pools
		{"vips address", conn("vips = [\"0.0.0.0\", \"any\"] #!"), `vips: "any" is not an IP address`, nil},
		{"vips two IPv4", conn("vips = [\n  \"0.0.0.0\",\n  \"192.0.2.9\", #!\n]"), "vips: 192.0.2.9 is a second IPv4 address (the first is on line 5)", nil},
		{"vips two IPv6", conn("vips = [\"::\", \"::\"] #!"), "is a second IPv6 address", nil},
		{"vips type", conn("vips = \"0.0.0.0\" #!"), "vips must be an array of strings", nil},
		{"pools unknown", rwPool + conn("pools = [\"rx\"] #!"), `pools: no [[pool]] is named "rx"; did you mean "rw"?`, nil},
		{"pools twice", rwPool + conn("pools = [\"rw\", \"rw\"] #!"), `pools: "rw" is listed twice`, nil},
		{"vips and pools", rwPool + conn("vips = [\"0.0.0.0\"]\npools = [\"rw\"] #!"), "vips (a client asking for addresses) and pools (a gateway handing them out) exclude each other", nil},
		// xauth
		{"xauth value", conn(`xauth = "yes" #!`), `xauth = "yes" is not valid; want "", "client" or "server"`, nil},
		{"xauth IKEv2", conn("version = 2\nxauth = \"client\" #!\nxauth_id = \"a\"\npassword_file = \"private/p.pass\""), "xauth is IKEv1 only; IKEv2 authenticates users with eap", f},
		{"xauth client no id", strings.Replace(hdrMarked, "psk =", "xauth = \"client\"\npassword_file = \"private/p.pass\"\npsk =", 1), `connection "b": xauth = "client" needs xauth_id (the user name)`, f},
		{"xauth client empty id", strings.Replace(hdrMarked, "psk =", "xauth = \"client\"\nxauth_id = \"\"\npassword_file = \"private/p.pass\"\npsk =", 1), `xauth = "client" needs xauth_id`, f},
		{"xauth client no password", strings.Replace(hdrMarked, "psk =", "xauth = \"client\"\nxauth_id = \"a\"\npsk =", 1), `connection "b": xauth = "client" needs password_file`, nil},
		{"xauth_id control", conn("xauth = \"client\"\nxauth_id = \"a\\u0001b\" #!\npassword_file = \"private/p.pass\""), "xauth_id \"a\\x01b\" must be UTF-8 text without control characters", f},
		{"password_file mode", conn("xauth = \"client\"\nxauth_id = \"a\"\npassword_file = \"p.open\" #!"), "password_file p.open is readable by group/other (mode 0644); chmod 600 it", map[string]string{"p.open": "pw"}},
		{"password_file missing", conn("xauth = \"client\"\nxauth_id = \"a\"\npassword_file = \"private/none\" #!"), "password_file private/none does not exist", nil},
		{"password_file empty", conn("xauth = \"client\"\nxauth_id = \"a\"\npassword_file = \"private/e\" #!"), "password_file private/e is empty", map[string]string{"private/e": " \n"}},
		{"password_file long", conn("xauth = \"client\"\nxauth_id = \"a\"\npassword_file = \"private/l\" #!"), "holds more than 1024 bytes", map[string]string{"private/l": strings.Repeat("x", 1025)}},
		{"password_file lines", conn("xauth = \"client\"\nxauth_id = \"a\"\npassword_file = \"private/l\" #!"), "must hold one line of UTF-8 text", map[string]string{"private/l": "one\ntwo\n"}},
		{"password_file binary", conn("xauth = \"client\"\nxauth_id = \"a\"\npassword_file = \"private/l\" #!"), "must hold one line of UTF-8 text", map[string]string{"private/l": "\xff\xfe"}},
		{"xauth server no users", conn(`xauth = "server" #!`), `xauth = "server" needs at least one [[user]]`, nil},
		// eap
		{"eap value", conn(`eap = "md5" #!`), `eap = "md5" is not valid; want "", "mschapv2" or "tls"`, nil},
		{"eap IKEv1 line", connAuth("version = 1\n" + pubkeyAuth + "\neap = \"mschapv2\" #!\neap_id = \"c\"\npassword_file = \"private/p.pass\""), "eap needs IKEv2 (version = 2); IKEv1 authenticates users with xauth", f},
		{"eap needs pubkey", conn("version = 2\neap = \"mschapv2\" #!\neap_id = \"c\"\npassword_file = \"private/p.pass\"\ncacerts = [\"ca.pem\"]"), `eap needs auth = "pubkey": with EAP the gateway proves itself with its certificate (RFC 7296 §2.16); auth is "psk"`, f},
		{"eap client no id", strings.Replace(hdrMarked, `psk = "@PSK@"`, strings.Replace(eapClient, "eap_id = \"carol\"\n", "", 1), 1), `an EAP client (eap set, pools empty) needs eap_id`, f},
		{"eap client no password", strings.Replace(hdrMarked, `psk = "@PSK@"`, strings.Replace(eapClient, "\npassword_file = \"private/p.pass\"", "", 1), 1), `eap = "mschapv2" (as a client) needs password_file`, f},
		{"eap client no ca", strings.Replace(hdrMarked, `psk = "@PSK@"`, strings.Replace(eapClient, "cacerts = [\"ca.pem\"]", "", 1), 1), "an EAP client needs cacerts or remote_cert to verify the gateway's certificate", f},
		{"eap-tls client no cert", strings.Replace(hdrMarked, `psk = "@PSK@"`, "version = 2\nauth = \"pubkey\"\ncacerts = [\"ca.pem\"]\neap = \"tls\"\neap_id = \"c\"", 1), `eap = "tls" needs cert (this site's certificate)`, f},
		{"eap-tls client no key", strings.Replace(hdrMarked, `psk = "@PSK@"`, "version = 2\nauth = \"pubkey\"\ncacerts = [\"ca.pem\"]\ncert = \"c.pem\"\neap = \"tls\"\neap_id = \"c\"", 1), `eap = "tls" needs key`, f},
		{"eap gateway no cert", rwPool + alice + strings.Replace(hdrMarked, `psk = "@PSK@"`, strings.Replace(eapGateway, "cert = \"c.pem\"\n", "", 1), 1), `auth = "pubkey" needs cert`, f},
		{"eap gateway no users", rwPool + connAuth(strings.Replace(eapGateway, `eap = "mschapv2"`, `eap = "mschapv2" #!`, 1)), `eap = "mschapv2" on a gateway (pools set) needs at least one [[user]]`, f},
		{"eap-tls gateway no ca", rwPool + strings.Replace(hdrMarked, `psk = "@PSK@"`, strings.Replace(strings.Replace(eapGateway, "cacerts = [\"ca.pem\"]", "", 1), "mschapv2", "tls", 1), 1), `eap = "tls" on a gateway needs cacerts or remote_cert to verify the clients' certificates`, f},
		// lifetime floors
		{"ike rekey_time floor", conn(`rekey_time = "4s" #!`), "rekey_time = 4s is below the floor of 5s: a lifetime this short makes the peers rekey continuously (a rekey storm); use 0 for never", nil},
		{"child rekey_time floor", minimal + "  rekey_time = \"1s\" #!\n", "rekey_time = 1s is below the floor of 5s", nil},
		{"child rekey_time sub-second", minimal + "  rekey_time = \"4999ms\" #!\n", "rekey_time = 4.999s is below the floor of 5s", nil},
		{"life_bytes floor", minimal + "  life_bytes = 999999 #!\n", "life_bytes = 999999 is below the floor of 1000000 bytes (1MB): a lifetime this short makes the peers rekey continuously (a rekey storm); use 0 for unlimited", nil},
		{"life_bytes unit floor", minimal + "  life_bytes = \"100kB\" #!\n", "life_bytes = 100000 is below the floor", nil},
		{"life_bytes KiB floor", minimal + "  life_bytes = \"976KiB\" #!\n", "life_bytes = 999424 is below the floor", nil},
		{"life_packets floor", minimal + "  life_packets = 999 #!\n", "life_packets = 999 is below the floor of 1000 packets", nil},
		// [[pool]]
		{"pool no name", "[[pool]] #!\naddrs = \"203.0.113.0/24\"\n", "[[pool]] #1 has no name", nil},
		{"pool bad name", "[[pool]]\nname = \"a b\" #!\naddrs = \"203.0.113.0/24\"\n", `pool name "a b" is not valid`, nil},
		{"pool duplicate", rwPool + "[[pool]]\nname = \"rw\" #!\naddrs = \"198.51.100.0/24\"\n", `pool name "rw" is already used on line 2`, nil},
		{"pool no addrs", "[[pool]] #!\nname = \"rw\"\n", `pool "rw" needs addrs`, nil},
		{"pool addrs junk", "[[pool]]\nname = \"rw\"\naddrs = \"203.0.113.7\" #!\n", "is neither a CIDR", nil},
		{"pool addrs bad CIDR", "[[pool]]\nname = \"rw\"\naddrs = \"203.0.113.0/33\" #!\n", "is not an address with prefix length", nil},
		{"pool addrs host bits", "[[pool]]\nname = \"rw\"\naddrs = \"203.0.113.1/24\" #!\n", "203.0.113.1/24 has host bits set; write 203.0.113.0/24", nil},
		{"pool range reversed", "[[pool]]\nname = \"rw\"\naddrs = \"203.0.113.200-203.0.113.10\" #!\n", "is reversed: its first address 203.0.113.200 comes after its last 203.0.113.10", nil},
		{"pool range families", "[[pool]]\nname = \"rw\"\naddrs = \"203.0.113.1-2001:db8::1\" #!\n", "mixes IPv4 and IPv6", nil},
		{"pool range junk", "[[pool]]\nname = \"rw\"\naddrs = \"a-b\" #!\n", "is not a range of two IP addresses", nil},
		{"pool overlap", rwPool + "[[pool]]\nname = \"rw2\"\naddrs = \"203.0.113.250-203.0.114.5\" #!\n", `addrs 203.0.113.250-203.0.114.5 overlaps pool "rw" (line 3); pools must not overlap`, nil},
		{"pool overlap network address", rwPool + "[[pool]]\nname = \"rw2\"\naddrs = \"203.0.112.0-203.0.113.0\" #!\n", `overlaps pool "rw"`, nil},
		{"pool overlap v6", "[[pool]]\nname = \"a\"\naddrs = \"2001:db8::/64\"\n[[pool]]\nname = \"b\"\naddrs = \"2001:db8::/48\" #!\n", `overlaps pool "a"`, nil},
		{"pool dns", "[[pool]]\nname = \"rw\"\naddrs = \"203.0.113.0/24\"\ndns = [\"ns.example\"] #!\n", `dns: "ns.example" is not an IP address`, nil},
		{"pool split", "[[pool]]\nname = \"rw\"\naddrs = \"203.0.113.0/24\"\nsplit = [\"192.0.2.1/24\"] #!\n", "split: 192.0.2.1/24 has host bits set", nil},
		{"pool unknown key", "[[pool]]\nname = \"rw\"\nadrs = \"203.0.113.0/24\" #!\n", `unknown key "adrs" in pool "rw"; did you mean "addrs"?`, nil},
		{"pool type", "pool = 3 #!\n", "pool must be an array of tables [[pool]]", nil},
		// [[user]]
		{"user no name", "[[user]] #!\npassword_file = \"secrets/alice.pass\"\n", "[[user]] #1 has no name", f},
		{"user empty name", "[[user]]\nname = \"\" #!\npassword_file = \"secrets/alice.pass\"\n", "user name is empty", f},
		{"user duplicate", alice + "[[user]]\nname = \"alice\" #!\npassword_file = \"secrets/alice.pass\"\n", `user name "alice" is already used on line 2`, f},
		{"user pools unknown", rwPool + "[[user]]\nname = \"bob\"\npassword_file = \"secrets/alice.pass\"\npools = [\"rx\"] #!\n", `pools: no [[pool]] is named "rx"; did you mean "rw"?`, f},
		{"user pools twice", rwPool + "[[user]]\nname = \"bob\"\npassword_file = \"secrets/alice.pass\"\npools = [\"rw\", \"rw\"] #!\n", `pools: "rw" is listed twice`, f},
		{"user no password", "[[user]] #!\nname = \"bob\"\n", `user "bob" needs password_file`, nil},
		{"user password mode", "[[user]]\nname = \"bob\"\npassword_file = \"bob.open\" #!\n", "password_file bob.open is readable by group/other", map[string]string{"bob.open": "pw"}},
		{"user unknown key", alice + "password = \"x\" #!\n", `unknown key "password" in user "alice"`, f},
	}
	if runtime.GOOS == "linux" {
		cases = append(cases, errorCase{"daemon user unknown", "[daemon]\nuser = \"oakley-no-such-user-7f3a\" #!\n", `user = "oakley-no-such-user-7f3a": no such user on this system`, nil})
	}
	runErrorCases(t, cases)
}

// TestPoolsBeforeDefinition: a connection may name a pool defined later in the file.
func TestPoolsBeforeDefinition(t *testing.T) {
	src := expand(conn("pools = [\"rw\"]") + rwPool)
	cfg, _, err := parse("p.toml", []byte(src), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Connections[0]; len(c.Pools) != 1 || cfg.Pool(c.Pools[0]) == nil || c.EAPServer() {
		t.Errorf("pools = %v", c.Pools)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}

func TestRemoteAccessWarnings(t *testing.T) {
	cases := []struct{ name, src, frag string }{
		{"xauth_id unused", conn(`xauth_id = "a" #!`), `xauth_id is used only by xauth = "client"; it is ignored here`},
		{"eap_id unused", conn(`eap_id = "a" #!`), "eap_id is used only by an EAP client (eap set, pools empty); it is ignored here"},
		{"password_file unused", conn(`password_file = "private/p.pass" #!`), "password_file is used only by an XAUTH client or an EAP-MSCHAPv2 client"},
		{"password_file on xauth server", alice + connV1("xauth = \"server\"\npassword_file = \"private/p.pass\" #!"), "password_file is used only by"},
		{"eap_id on gateway", rwPool + alice + connAuth(eapGateway+"\neap_id = \"gw\" #!"), "eap_id is used only by an EAP client"},
		{"pool unused", "[[pool]] #!\nname = \"rw\"\naddrs = \"203.0.113.0/24\"\n" + minimal, `pool "rw" is not named in any connection's pools`},
		{"users unused", "[[user]] #!\nname = \"alice\"\npassword_file = \"secrets/alice.pass\"\n" + minimal, "no connection authenticates [[user]]s"},
		{"crls with psk", conn(`crls = ["ca.crl"] #!`), `crls is ignored with auth = "psk"`},
		{"send_cert with psk", conn(`send_cert = "always" #!`), `send_cert is ignored with auth = "psk"`},
		{"vips with manual", strings.Replace(manualGCM, "keying = \"manual\"", "keying = \"manual\"\nvips = [\"0.0.0.0\"] #!", 1), `vips is ignored with keying = "manual"`},
		{"fragmentation force IKEv2", conn("version = 2\nfragmentation = \"force\" #!"), `fragmentation = "force" applies to IKEv1`},
		{"xauth with manual", strings.Replace(manualGCM, "keying = \"manual\"", "keying = \"manual\"\nxauth = \"client\" #!", 1), `xauth is ignored with keying = "manual"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := expand(tc.src)
			files := map[string]string{"oakley.toml": src}
			for k, v := range certFiles {
				files[k] = v
			}
			dir := writeTree(t, files)
			cfg, err := load(filepath.Join(dir, "oakley.toml"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !hasWarning(cfg.Warnings, markedLine(t, src), tc.frag) {
				t.Fatalf("want warning at line %d: ...%s...; got %v", markedLine(t, src), tc.frag, cfg.Warnings)
			}
		})
	}
}

// TestRemoteAccessValid: each new key in a valid configuration arrives parsed.
func TestRemoteAccessValid(t *testing.T) {
	for _, tc := range []struct {
		name  string
		src   string
		check func(*Config) error
	}{
		{"xauth client over psk", connV1("xauth = \"client\"\nxauth_id = \"alice\"\npassword_file = \"private/p.pass\""), func(c *Config) error {
			if x := c.Connections[0]; x.XAuth != "client" || x.XAuthID != "alice" || string(x.Password) != "a password" || x.PSK == nil {
				return fmt.Errorf("%+v", x)
			}
			return nil
		}},
		{"xauth server with pools", rwPool + alice + connV1("xauth = \"server\"\npools = [\"rw\"]"), func(c *Config) error {
			if x := c.Connections[0]; x.XAuth != "server" || x.Pools[0] != "rw" || x.Password != nil || c.User("alice") == nil {
				return fmt.Errorf("%+v", x)
			}
			return nil
		}},
		{"eap-mschapv2 client", connAuth(eapClient), func(c *Config) error {
			if x := c.Connections[0]; !x.EAPClient() || x.EAPID != "carol" || string(x.Password) != "a password" || x.Cert == "" {
				return fmt.Errorf("%+v", x)
			}
			return nil
		}},
		{"eap-mschapv2 client without own cert", connAuth("version = 2\nauth = \"pubkey\"\nremote_cert = \"c.pem\"\neap = \"mschapv2\"\neap_id = \"c\"\npassword_file = \"private/p.pass\""), func(c *Config) error {
			if x := c.Connections[0]; x.Cert != "" || x.Key != "" || x.RemoteCert == "" {
				return fmt.Errorf("%+v", x)
			}
			return nil
		}},
		{"eap-tls client", connAuth("version = 2\n" + pubkeyAuth + "\neap = \"tls\"\neap_id = \"carol\""), func(c *Config) error {
			if x := c.Connections[0]; !x.EAPClient() || x.Password != nil || x.Key == "" {
				return fmt.Errorf("%+v", x)
			}
			return nil
		}},
		{"eap-mschapv2 gateway without cacerts", rwPool + alice + connAuth(strings.Replace(eapGateway, "cacerts = [\"ca.pem\"]", "", 1)), func(c *Config) error {
			if x := c.Connections[0]; !x.EAPServer() || x.EAPClient() || x.EAPID != "" || x.Password != nil {
				return fmt.Errorf("%+v", x)
			}
			return nil
		}},
		{"eap-tls gateway", rwPool + connAuth(strings.Replace(eapGateway, "mschapv2", "tls", 1)), func(c *Config) error {
			if x := c.Connections[0]; !x.EAPServer() || x.EAP != "tls" {
				return fmt.Errorf("%+v", x)
			}
			return nil
		}},
		{"vips IPv6 only", conn(`vips = ["::"]`), func(c *Config) error {
			if v := c.Connections[0].VIPs; len(v) != 1 || v[0] != netip.IPv6Unspecified() {
				return fmt.Errorf("%v", v)
			}
			return nil
		}},
		{"vips specific", conn(`vips = ["192.0.2.77", "2001:db8::77"]`), func(c *Config) error {
			if v := fmt.Sprint(c.Connections[0].VIPs); v != "[192.0.2.77 2001:db8::77]" {
				return fmt.Errorf("%v", v)
			}
			return nil
		}},
		{"crls and send_cert", connAuth(pubkeyAuth + "\ncrls = [\"ca.crl\"]\nsend_cert = \"never\"\nfragmentation = \"no\""), func(c *Config) error {
			if x := c.Connections[0]; len(x.CRLs) != 1 || filepath.Base(x.CRLs[0]) != "ca.crl" || x.SendCert != "never" || x.Fragmentation != "no" {
				return fmt.Errorf("%+v", x)
			}
			return nil
		}},
		{"floors exactly", conn("rekey_time = \"5s\"") + "  rekey_time = \"5s\"\n  life_bytes = \"1MB\"\n  life_packets = 1000\n", func(c *Config) error {
			x, ch := c.Connections[0], c.Connections[0].Children[0]
			if x.RekeyTime != MinRekeyTime || ch.RekeyTime != MinRekeyTime || ch.LifeBytes != MinLifeBytes || ch.LifePackets != MinLifePackets {
				return fmt.Errorf("%v %v %d %d", x.RekeyTime, ch.RekeyTime, ch.LifeBytes, ch.LifePackets)
			}
			return nil
		}},
		{"zero lifetimes", conn("rekey_time = \"0\"") + "  rekey_time = \"0\"\n  life_bytes = 0\n  life_packets = 0\n", func(c *Config) error {
			x, ch := c.Connections[0], c.Connections[0].Children[0]
			if x.RekeyTime != 0 || ch.RekeyTime != 0 || ch.LifeBytes != 0 || ch.LifePackets != 0 {
				return fmt.Errorf("%v %v %d %d", x.RekeyTime, ch.RekeyTime, ch.LifeBytes, ch.LifePackets)
			}
			return nil
		}},
		{"retransmit integer base", "[daemon]\nretransmit_timeout = \"500ms\"\nretransmit_base = 1\nretransmit_tries = 20\n" + minimal, func(c *Config) error {
			d := c.Daemon
			if d.RetransmitTimeout != 500*time.Millisecond || d.RetransmitBase != 1 || d.RetransmitTries != 20 || len(d.RetransmitSchedule()) != 21 {
				return fmt.Errorf("%+v", d)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"oakley.toml": expand(tc.src)}
			for k, v := range certFiles {
				files[k] = v
			}
			dir := writeTree(t, files)
			cfg, err := load(filepath.Join(dir, "oakley.toml"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.check(cfg); err != nil {
				t.Error(err)
			}
			for _, w := range cfg.Warnings {
				// alice without a server is fine here, and so is minimal's inline PSK.
				if !strings.Contains(w.Msg, "[[user]]s") && !strings.Contains(w.Msg, "holds a secret inline") {
					t.Errorf("warning: %s", w)
				}
			}
		})
	}
}

// TestRetransmitSchedule: the defaults give strongSwan's schedule, about 165 s in all.
func TestRetransmitSchedule(t *testing.T) {
	cfg, err := Parse("r.toml", []byte(expand(minimal)), "")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Daemon.RetransmitSchedule()
	var total time.Duration
	for _, d := range s {
		total += d
	}
	want := []time.Duration{4 * time.Second, 7200 * time.Millisecond, 12960 * time.Millisecond}
	if len(s) != DefaultRetransmitTries+1 || s[0] != want[0] || s[1] != want[1] || s[2] != want[2] {
		t.Errorf("schedule %v", s)
	}
	if total < 165*time.Second || total > 166*time.Second {
		t.Errorf("total %v, want about 165 s", total)
	}
	// Base 1: every wait the same.
	d := Daemon{RetransmitTimeout: time.Second, RetransmitBase: 1, RetransmitTries: 3}
	if got := fmt.Sprint(d.RetransmitSchedule()); got != "[1s 1s 1s 1s]" {
		t.Errorf("base 1: %s", got)
	}
	if got := (Daemon{RetransmitTries: -3}).RetransmitSchedule(); len(got) != 1 {
		t.Errorf("a hand-made Daemon with negative tries: %v", got)
	}
}

// TestRetransmitLimitMatchesSchedule: the load-time bound and RetransmitSchedule agree at the
// edge: the largest accepted schedule sums to at most MaxRetransmitTotal.
func TestRetransmitLimitMatchesSchedule(t *testing.T) {
	for _, base := range []string{"1.0", "1.5", "2.0", "3.0"} {
		for tries := 1; tries <= MaxRetransmitTries; tries++ {
			src := fmt.Sprintf("[daemon]\nretransmit_timeout = \"10m\"\nretransmit_base = %s\nretransmit_tries = %d\n", base, tries)
			cfg, err := Parse("r.toml", []byte(src), "")
			if err != nil {
				continue
			}
			var total time.Duration
			for _, d := range cfg.Daemon.RetransmitSchedule() {
				total += d
			}
			if total > MaxRetransmitTotal || total <= 0 {
				t.Errorf("base %s tries %d: accepted with total %v", base, tries, total)
			}
		}
	}
}

func TestCheckRunAsUser(t *testing.T) {
	missing := func(name string) (*user.User, error) { return nil, user.UnknownUserError(name) }
	broken := func(string) (*user.User, error) { return nil, errors.New("nsswitch exploded") }
	found := func(name string) (*user.User, error) {
		return &user.User{Username: name, Uid: "1001", Gid: "1002"}, nil
	}
	sid := func(name string) (*user.User, error) {
		return &user.User{Username: name, Uid: "S-1-5-21", Gid: "S-1-5-32"}, nil
	}
	for _, tc := range []struct {
		name, goos string
		lookup     func(string) (*user.User, error)
		uid, gid   int
		frag       string
		fatal      bool
	}{
		{"vpn", "linux", found, 1001, 1002, "", false},
		{"vpn", "linux", missing, -1, -1, `user = "vpn": no such user on this system`, true},
		{"vpn", "darwin", missing, -1, -1, "no such user on this system; the daemon changes user only on Linux", false},
		{"vpn", "linux", broken, -1, -1, "cannot be looked up: nsswitch exploded", true},
		{"vpn", "windows", sid, -1, -1, "has no numeric uid/gid", false},
		{"a:b", "darwin", found, -1, -1, "is not a user name", true},
	} {
		uid, gid, msg, fatal := checkRunAsUser(tc.name, tc.goos, tc.lookup)
		if uid != tc.uid || gid != tc.gid || fatal != tc.fatal || tc.frag == "" && msg != "" || !strings.Contains(msg, tc.frag) {
			t.Errorf("%s on %s: %d %d %q %v", tc.name, tc.goos, uid, gid, msg, fatal)
		}
	}
	// The real lookup: the user running the test exists.
	me, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	cfg, err := Parse("u.toml", []byte(fmt.Sprintf("[daemon]\nuser = %q\n", me.Username)), "")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cfg.Daemon.UID) != me.Uid || cfg.Daemon.User != me.Username {
		t.Errorf("daemon = %+v, me = %+v", cfg.Daemon, me)
	}
}

func TestParsePoolAddrs(t *testing.T) {
	for _, tc := range []struct{ in, prefix, first, last string }{
		{"203.0.113.0/24", "203.0.113.0/24", "203.0.113.1", "203.0.113.254"},
		{"203.0.113.0/30", "203.0.113.0/30", "203.0.113.1", "203.0.113.2"},
		{"203.0.113.0/31", "203.0.113.0/31", "203.0.113.0", "203.0.113.1"}, // RFC 3021
		{"203.0.113.9/32", "203.0.113.9/32", "203.0.113.9", "203.0.113.9"},
		{"2001:db8::/64", "2001:db8::/64", "2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff"},
		{"2001:db8::/127", "2001:db8::/127", "2001:db8::", "2001:db8::1"}, // RFC 6164
		{"203.0.113.10-203.0.113.200", "invalid Prefix", "203.0.113.10", "203.0.113.200"},
		{"203.0.113.10 - 203.0.113.10", "invalid Prefix", "203.0.113.10", "203.0.113.10"},
		{"2001:db8::10-2001:db8::ff", "invalid Prefix", "2001:db8::10", "2001:db8::ff"},
	} {
		p, first, last, err := parsePoolAddrs(tc.in)
		if err != nil || p.String() != tc.prefix || first.String() != tc.first || last.String() != tc.last {
			t.Errorf("%q = %v %v %v, %v", tc.in, p, first, last, err)
		}
	}
}

// featureExamples use each refusable feature once, marked "#!" on the line that asks for it.
// With nothing refused every example is a valid configuration.
var featureExamples = map[feature]string{
	featIKEv2:      conn("version = 2 #!"),
	featMOBIKE:     conn("version = 2\nmobike = true #!"),
	featEAP:        connAuth(strings.Replace(eapClient, `eap = "mschapv2"`, `eap = "mschapv2" #!`, 1)),
	featEAPTLS:     connAuth("version = 2\n" + pubkeyAuth + "\neap = \"tls\" #!\neap_id = \"carol\""),
	featPubkey:     connAuth("version = 1\n" + strings.Replace(pubkeyAuth, `auth = "pubkey"`, `auth = "pubkey" #!`, 1)),
	featPKE:        "[daemon]\ninsecure_algorithms = true\n" + connAuth("version = 1\n"+strings.Replace(strings.Replace(pubkeyAuth, `auth = "pubkey"`, `auth = "pke" #!`, 1), `cacerts = ["ca.pem"]`, `remote_cert = "c.pem"`, 1)),
	featXAUTH:      connV1("xauth = \"client\" #!\nxauth_id = \"alice\"\npassword_file = \"private/p.pass\""),
	featVIPsIKEv1:  connV1(`vips = ["0.0.0.0"] #!`),
	featVIPsIKEv2:  conn("version = 2\nvips = [\"0.0.0.0\"] #!"),
	featPoolsIKEv1: rwPool + connV1(`pools = ["rw"] #!`),
	featPoolsIKEv2: rwPool + conn("version = 2\npools = [\"rw\"] #!"),
}

// TestNotImplemented: each feature notImplemented lists is refused at the line that uses it,
// saying "not implemented yet", and each example is otherwise valid; a feature no longer
// listed is accepted. Deleting a feature's line in notImplemented needs no change here.
func TestNotImplemented(t *testing.T) {
	for f := range featureText {
		if featureExamples[f] == "" {
			t.Errorf("feature %d has no example in featureExamples", f)
		}
	}
	for f := range notImplemented {
		if featureText[f] == "" {
			t.Errorf("feature %d has no text", f)
		}
	}
	for f, src := range featureExamples {
		t.Run(strings.Fields(featureText[f])[0], func(t *testing.T) {
			src := expand(src)
			files := map[string]string{"oakley.toml": src}
			for k, v := range certFiles {
				files[k] = v
			}
			path := filepath.Join(writeTree(t, files), "oakley.toml")
			if _, err := load(path, nil); err != nil {
				t.Fatalf("with nothing refused the example is invalid:\n%v", err)
			}
			_, err := Load(path)
			if !notImplemented[f] {
				var es Errors
				if errors.As(err, &es) {
					for _, e := range es {
						if strings.Contains(e.Msg, featureText[f]) {
							t.Errorf("implemented, yet refused: %v", e)
						}
					}
				}
				return
			}
			es := asErrors(t, err)
			if !hasError(es, markedLine(t, src), featureText[f]) || !strings.Contains(featureText[f], "is not implemented yet") {
				t.Errorf("want %q at line %d; got\n%v", featureText[f], markedLine(t, src), err)
			}
			for _, e := range es {
				if !strings.Contains(e.Msg, "not implemented yet") {
					t.Errorf("an error other than a refusal: %v", e)
				}
			}
		})
	}
	// Manual keying ignores version, vips and pools: nothing to refuse there.
	src := strings.Replace(manualGCM, "keying = \"manual\"", "keying = \"manual\"\nversion = 2\nvips = [\"0.0.0.0\"]", 1)
	if _, err := Parse("m.toml", []byte(src), ""); err != nil {
		t.Errorf("manual keying: %v", err)
	}
}

// TestPasswordNeverInMessages: whatever is wrong with a password file, no error or warning
// quotes its content.
func TestPasswordNeverInMessages(t *testing.T) {
	const secret = "c0ffee5ecret"
	for _, content := range []string{secret + "\nsecond line", strings.Repeat(secret, 100), secret + "\x00", "\xff" + secret} {
		for _, src := range []string{
			conn("xauth = \"client\"\nxauth_id = \"a\"\npassword_file = \"private/p.pass\""),
			"[[user]]\nname = \"u\"\npassword_file = \"private/p.pass\"\n",
			conn("password_file = \"private/p.pass\""),
		} {
			dir := writeTree(t, map[string]string{"oakley.toml": expand(src), "private/p.pass": content})
			cfg, err := load(filepath.Join(dir, "oakley.toml"), nil)
			var all []string
			if err != nil {
				all = append(all, err.Error())
			} else {
				for _, w := range cfg.Warnings {
					all = append(all, w.String())
				}
			}
			if len(all) == 0 {
				t.Errorf("no message for %q in\n%s", content[:4], src)
			}
			for _, m := range all {
				if strings.Contains(m, "c0ffee") {
					t.Errorf("message reveals the password: %s", m)
				}
			}
		}
	}
}

// TestNetstackVIPsWithoutAddresses: a remote-access client on the netstack device needs no
// [device] addresses (the gateway assigns them); without vips it still does.
func TestNetstackVIPsWithoutAddresses(t *testing.T) {
	client := strings.Replace(conn(`vips = ["0.0.0.0"]`), `local_ts = ["192.0.2.0/24"]`, "", 1)
	src := "[device]\nkind = \"netstack\"\n\n[netstack]\nsocks5 = \"127.0.0.1:1080\"\n\n" + client
	cfg, err := Parse("rw.toml", []byte(expand(src)), "")
	if err != nil {
		t.Fatalf("a vips client without device addresses: %v", err)
	}
	if len(cfg.Device.Addresses) != 0 || len(cfg.Connections[0].VIPs) != 1 {
		t.Fatalf("device addresses %v, vips %v", cfg.Device.Addresses, cfg.Connections[0].VIPs)
	}
	src = "[device]\nkind = \"netstack\"\n\n" + minimal
	if _, err := Parse("site.toml", []byte(expand(src)), ""); err == nil || !strings.Contains(err.Error(), `needs addresses`) {
		t.Fatalf("a netstack site without vips or addresses: %v", err)
	}
}
