//go:build linux

package e2e

// `oakley import` (config/swanimport) against strongSwan: the swanctl.conf (or ipsec.conf +
// ipsec.secrets) strongSwan would use on the left site is converted by the real binary, as
// `oakley import FILE > site.toml` does, and the result must interoperate with the charon
// that runs the usual right-site configuration: Main Mode PSK with CBC and GCM ESP, Quick
// Mode with PFS, Aggressive Mode. TestImportCLI checks the command itself (no root needed).
//
// The test fills in only what strongSwan's files cannot say: the daemon's control socket
// and log level (strongSwan has no such thing in swanctl.conf) and the site's address inside
// the tunnel ([device] addresses: charon keeps it on a LAN interface, oakley puts it on its
// TUN). It inserts those lines under the [daemon] and [device] headers the importer writes,
// and changes nothing else.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// importRun runs `oakley import args...` with stdout redirected into a file, as a shell's
// "> out" does, and returns stderr and the exit status.
func importRun(t *testing.T, out string, args ...string) (stderr string, code int) {
	t.Helper()
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var eb strings.Builder
	cmd := exec.Command(oakleyBin, append([]string{"import"}, args...)...)
	cmd.Stdout, cmd.Stderr = f, &eb
	err = cmd.Run()
	return eb.String(), exitCode(err)
}

// patchImported adds the test's daemon and device settings under the importer's headers.
func patchImported(t *testing.T, toml, sock, address string) string {
	t.Helper()
	for _, h := range []string{"\n[daemon]\n", "\n[device]\n"} {
		if strings.Count(toml, h) != 1 {
			t.Fatalf("imported TOML has %d %q headers, want 1:\n%s", strings.Count(toml, h), strings.TrimSpace(h), toml)
		}
	}
	toml = strings.Replace(toml, "\n[daemon]\n", fmt.Sprintf("\n[daemon]\ncontrol_socket = %s\nlog_level = \"debug\"\n", strconv.Quote(sock)), 1)
	return strings.Replace(toml, "\n[device]\n", fmt.Sprintf("\n[device]\naddresses = [%s]\n", strconv.Quote(address+"/32")), 1)
}

// startImported runs `oakley up` on an imported (and patched) configuration in side's
// namespace, like startIKE does for a generated one.
func startImported(t *testing.T, side *ioSide, name, cfg, sock, conn, psk string) *oakley {
	t.Helper()
	o := &oakley{name: name, ns: side.ns, cfg: cfg,
		spec: siteSpec{Socket: sock, ConnName: conn, Keying: "ike", PSK: psk, Children: make([]childSpec, 1)}}
	o.p = startProc(t, "oakley-"+name, side.ns.args(oakleyBin, "up", "-c", cfg)...)
	t.Cleanup(func() {
		if o.p.exited() {
			return
		}
		o.p.signal(syscall.SIGTERM)
		if !o.p.wait(10 * time.Second) {
			t.Errorf("oakley %s did not exit within 10 s of SIGTERM", name)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			o.dumpTail(t)
			if b, err := os.ReadFile(cfg); err == nil {
				t.Logf("imported configuration %s:\n%s", cfg, b)
			}
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if o.p.exited() {
			t.Fatalf("oakley %s (configuration %s) exited during start-up (%v):\n%s", name, cfg, o.p.err, o.p.out.String())
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

// importCase names the swanCases the import must carry and how the left site is written.
type importCase struct {
	swan      string // a swanCases name
	ipsec     bool   // write the left site as ipsec.conf + ipsec.secrets instead of swanctl.conf
	libreswan bool   // with ipsec: in libreswan's spelling (ikev2=no, phase2alg=, "sha2_256;modp2048")
	nat       bool   // through the NAT topology (the converted encap = "auto" must pick UDP)
}

var importCases = []importCase{
	{swan: "main-aes256-sha256-modp2048-esp-aes256-sha256"},
	{swan: "main-aes128-sha1-modp1024-esp-aes128gcm16"},
	{swan: "main-aes256-sha256-modp2048-esp-aes256-sha256-pfs-modp2048"},
	{swan: "main-aes128-sha256-ecp256-esp-aes128gcm16-pfs-ecp256"},
	{swan: "aggressive-aes256-sha256-modp2048-esp-aes128gcm16"},
	{swan: "main-aes256-sha256-modp2048-esp-aes256-sha256", ipsec: true},
	{swan: "aggressive-aes128-sha256-ecp256-esp-aes256-sha256-pfs-modp2048", ipsec: true},
	{swan: "main-aes256-sha256-modp2048-esp-aes256-sha256-pfs-modp2048", ipsec: true, libreswan: true},
	{swan: "main-aes256-sha256-modp2048-esp-aes256-sha256", nat: true},
}

// leftIpsecConf writes the left site's ipsec.conf and ipsec.secrets for a case: the stroke
// equivalent of swanFor(tp, tp.left, psk). The conn is named "net" so that its child (which
// takes the conn's name) is "net" as in the swanctl.conf cases.
func leftIpsecConf(tp *ioTopo, c swanCase, psk string, libreswan bool) (conf, secrets string) {
	secrets = fmt.Sprintf("# PSK between the two sites\n%s %s : PSK %q\n", leftID, rightID, psk)
	if libreswan {
		// libreswan writes the DH group after ';' and SHA-2 as sha2_256; its proposals are
		// exact without strongSwan's '!'.
		lib := func(p string) string {
			p = strings.ReplaceAll(p, "sha256", "sha2_256")
			if i := strings.LastIndex(p, "-modp"); i >= 0 {
				p = p[:i] + ";" + p[i+1:]
			}
			return p
		}
		conf = fmt.Sprintf(`# the left site (initiator) of the interop tests, libreswan's spelling
config setup
	protostack=netkey

conn net
	ikev2=no
	authby=secret
	left=%s
	leftid=@%s
	leftsubnet=%s
	right=%s
	rightid=@%s
	rightsubnet=%s
	ike=%s
	phase2alg=%s
	salifetime=1h
	ikelifetime=3h
	rekeymargin=9m
	auto=add
`, tp.left.outer, leftID, tp.left.net, tp.right.seen, rightID, tp.right.net, lib(c.ike), lib(c.esp))
		return conf, fmt.Sprintf("@%s @%s : PSK %q\n", leftID, rightID, psk)
	}
	aggressive := "no"
	if c.aggressive {
		aggressive = "yes"
	}
	conf = fmt.Sprintf(`# the left site (initiator) of the interop tests, stroke format
config setup
	uniqueids=no

conn %%default
	keyexchange=ikev1
	authby=secret
	ikelifetime=3h
	lifetime=1h
	margintime=9m

conn net
	aggressive=%s
	left=%s
	leftid=%s
	leftsubnet=%s
	right=%s
	rightid=%s
	rightsubnet=%s
	ike=%s!
	esp=%s!
	auto=add
`, aggressive, tp.left.outer, leftID, tp.left.net, tp.right.seen, rightID, tp.right.net, c.ike, c.esp)
	return conf, secrets
}

// TestImportInterop converts the left site's strongSwan configuration with `oakley import`,
// runs oakley on the result against charon on the right, and checks that the SAs come up
// with the case's algorithms and that pings cross both ways.
func TestImportInterop(t *testing.T) {
	needInterop(t)
	t.Parallel()
	names := make([]string, len(importCases))
	for i, ic := range importCases {
		names[i] = ic.swan
		if ic.ipsec {
			names[i] = "ipsec.conf-" + ic.swan
		}
		if ic.libreswan {
			names[i] = "libreswan-" + names[i]
		}
		if ic.nat {
			names[i] = "nat-" + names[i]
		}
	}
	parallelRuns(t, 3, names, func(t *testing.T, i int) {
		ic := importCases[i]
		var c swanCase
		for _, sc := range swanCases {
			if sc.name == ic.swan {
				c = sc
			}
		}
		if c.name == "" {
			t.Fatalf("no swanCase %q", ic.swan)
		}
		tp := newTopo(t, ic.nat)
		psk := newPSK(t)
		right := swanFor(tp, tp.right, psk)
		right.Aggressive, right.Proposals, right.Children[0].ESP = c.aggressive, c.ike, c.esp
		sw := startSwan(t, tp.right, "charon", right)

		dir := t.TempDir()
		src := filepath.Join(dir, "strongswan")
		site := filepath.Join(dir, "site")
		for _, d := range []string{src, site} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		var input, conn string
		if ic.ipsec {
			conf, secrets := leftIpsecConf(tp, c, psk, ic.libreswan)
			input, conn = filepath.Join(src, "ipsec.conf"), "net"
			writeTextFile(t, input, conf)
			writeTextFile(t, filepath.Join(src, "ipsec.secrets"), secrets)
		} else {
			left := swanFor(tp, tp.left, psk)
			left.Aggressive, left.Proposals, left.Children[0].ESP = c.aggressive, c.ike, c.esp
			input, conn = filepath.Join(src, "swanctl.conf"), left.connName()
			writeTextFile(t, input, left.render())
		}
		cfg := filepath.Join(site, "site.toml")
		stderr, code := importRun(t, cfg, input)
		if code != 0 {
			t.Fatalf("oakley import %s: exit status %d:\n%s", input, code, stderr)
		}
		out, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		secrets := []string{psk}
		assertNoSecrets(t, "the imported TOML", string(out), secrets)
		assertNoSecrets(t, "oakley import's stderr", stderr, secrets)
		pskFile := filepath.Join(site, conn+".psk")
		checkSecretFile(t, pskFile, psk)
		if !strings.Contains(string(out), fmt.Sprintf("psk_file = %q", conn+".psk")) {
			t.Errorf("the imported TOML does not name %s.psk beside it:\n%s", conn, out)
		}
		if c.insecure != strings.Contains(string(out), "insecure_algorithms = true") {
			t.Errorf("insecure_algorithms in the imported TOML: %v, want %v (the case uses %s)", !c.insecure, c.insecure, c.ike)
		}
		t.Logf("oakley import's warnings:\n%s", stderr)

		sock := filepath.Join(site, "oakley.sock")
		patched := patchImported(t, string(out), sock, tp.left.host)
		if err := os.WriteFile(cfg, []byte(patched), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := runTimeout(30*time.Second, oakleyBin, "check", "-c", cfg); err != nil {
			t.Fatalf("oakley check on the imported configuration: %v\n%s\n%s", err, out, patched)
		}
		o := startImported(t, tp.left, "oakley", cfg, sock, conn, psk)
		sp := &swanPair{tp: tp, o: o, sw: sw, site: ikeSite{Conn: conn}, conf: right}
		toPing, _ := sp.establish(t, true)
		recordResult(t, "imported %s (IKE %s, ESP %s, %s): %s from `oakley initiate` to the first ping reply",
			filepath.Base(input), c.ike, c.esp, map[bool]string{false: "Main Mode", true: "Aggressive Mode"}[c.aggressive], toPing.Round(time.Millisecond))
		pingBoth(t, tp, 3)
		sp.checkAgree(t, c, true)
		assertNoSecrets(t, "oakley's log", o.p.out.String(), secrets)
	})
}

// TestImportInteropWrongPSK is the negative control of TestImportInterop: the same import
// and start-up, but the left site's strongSwan configuration holds another PSK than the
// right's, so the converted configuration must not establish and no echo may cross.
func TestImportInteropWrongPSK(t *testing.T) {
	needInterop(t)
	t.Parallel()
	c := swanCases[0]
	tp := newTopo(t, false)
	right := swanFor(tp, tp.right, newPSK(t))
	right.Proposals, right.Children[0].ESP = c.ike, c.esp
	startSwan(t, tp.right, "charon", right)
	dir := t.TempDir()
	left := swanFor(tp, tp.left, newPSK(t))
	left.Proposals, left.Children[0].ESP = c.ike, c.esp
	input := filepath.Join(dir, "swanctl.conf")
	writeTextFile(t, input, left.render())
	cfg := filepath.Join(dir, "site.toml")
	if stderr, code := importRun(t, cfg, input); code != 0 {
		t.Fatalf("oakley import: exit status %d:\n%s", code, stderr)
	}
	out, _ := os.ReadFile(cfg)
	sock := filepath.Join(dir, "oakley.sock")
	writeTextFile(t, cfg, patchImported(t, string(out), sock, tp.left.host))
	o := startImported(t, tp.left, "oakley", cfg, sock, left.connName(), left.PSK)
	if msg, err := o.ctl("initiate", left.connName()+"/net"); err == nil {
		t.Errorf("oakley initiate succeeded with the wrong PSK:\n%s", msg)
	}
	if st := o.mustIKEStatus(t); st.established() != 0 {
		t.Errorf("an IKE SA is established with the wrong PSK:\n%s", st.raw)
	}
	pingNone(t, tp.left, tp.right, 2)
}

func writeTextFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkSecretFile asserts that a secret file holds want (plus a newline) with mode 0600.
func checkSecretFile(t *testing.T, path, want string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("secret file: %v", err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", path, m)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want+"\n" {
		t.Errorf("%s does not hold the secret of the strongSwan configuration", path)
	}
}

var warningLine = regexp.MustCompile(`^\S+:\d+: warning: \S`)

// TestImportCLI checks `oakley import` as a command: exit statuses, where the secrets go
// (files with mode 0600, never stdout or stderr), the warning format, and that the output
// passes `oakley check` once the site's tunnel address is added.
func TestImportCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	psk := newPSK(t)
	pw := "pw-" + randomID(t, 12)
	conf := fmt.Sprintf(`connections {
  site-b {
    version = 1
    remote_addrs = 198.18.0.2
    proposals = aes256-sha256-modp2048
    dscp = 101000        # no oakley equivalent: a warning
    local { auth = psk
      id = a.example }
    remote { auth = psk
      id = b.example }
    children { net { local_ts = 192.0.2.0/24
        remote_ts = 198.51.100.0/24 } }
  }
}
secrets {
  ike-b { id-a = a.example
    id-b = b.example
    secret = %q }
}
`, psk)
	in := filepath.Join(dir, "swanctl.conf")
	writeTextFile(t, in, conf)
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(outDir, "site.toml")
	stderr, code := importRun(t, out, in)
	if code != 0 {
		t.Fatalf("exit status %d, want 0:\n%s", code, stderr)
	}
	toml, _ := os.ReadFile(out)
	secrets := []string{psk, pw}
	assertNoSecrets(t, "stdout", string(toml), secrets)
	assertNoSecrets(t, "stderr", stderr, secrets)
	checkSecretFile(t, filepath.Join(outDir, "site-b.psk"), psk)
	sawDSCP := false
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "oakley import: wrote ") {
			continue
		}
		if !warningLine.MatchString(l) {
			t.Errorf("stderr line %q is not FILE:LINE: warning: ...", l)
		}
		sawDSCP = sawDSCP || strings.HasPrefix(l, in+":6: warning: dscp")
	}
	if !sawDSCP {
		t.Errorf("no warning for dscp at %s:6:\n%s", in, stderr)
	}
	// The output passes the loader once the tunnel address is added.
	patched := patchImported(t, string(toml), filepath.Join(dir, "oakley.sock"), hostA4)
	writeTextFile(t, out, patched)
	if o, err := runTimeout(30*time.Second, oakleyBin, "check", "-c", out); err != nil {
		t.Errorf("oakley check on the imported configuration: %v\n%s", err, o)
	}

	// --secrets-dir: the TOML names the files relative to its own directory.
	sdir := filepath.Join(dir, "secrets")
	stderr, code = importRun(t, filepath.Join(outDir, "two.toml"), "--secrets-dir", sdir, in)
	two, _ := os.ReadFile(filepath.Join(outDir, "two.toml"))
	if code != 0 || !strings.Contains(string(two), `psk_file = "../secrets/site-b.psk"`) {
		t.Errorf("--secrets-dir: exit %d, want 0 and psk_file = \"../secrets/site-b.psk\":\n%s\n%s", code, two, stderr)
	}
	checkSecretFile(t, filepath.Join(sdir, "site-b.psk"), psk)
	// A secret file with other content is not replaced without --force.
	writeTextFile(t, filepath.Join(sdir, "site-b.psk"), "something else\n")
	if stderr, code = importRun(t, filepath.Join(outDir, "three.toml"), "--secrets-dir", sdir, in); code != 1 || !strings.Contains(stderr, "--force") {
		t.Errorf("differing secret file: exit %d, want 1 and a hint at --force:\n%s", code, stderr)
	}
	if stderr, code = importRun(t, filepath.Join(outDir, "three.toml"), "--force", "--secrets-dir", sdir, in); code != 0 {
		t.Errorf("--force: exit %d, want 0:\n%s", code, stderr)
	}
	checkSecretFile(t, filepath.Join(sdir, "site-b.psk"), psk)

	// XAUTH users of a gateway: one password file each, named in [[user]].
	users := filepath.Join(dir, "users.conf")
	writeTextFile(t, users, fmt.Sprintf("secrets {\n  xauth-carol {\n    id = carol\n    secret = %q\n  }\n}\n", pw))
	stderr, code = importRun(t, filepath.Join(outDir, "users.toml"), "--format", "swanctl", users)
	ut, _ := os.ReadFile(filepath.Join(outDir, "users.toml"))
	if code != 0 || !strings.Contains(string(ut), `password_file = "carol.pass"`) {
		t.Errorf("users: exit %d, want 0 and a [[user]] with password_file = \"carol.pass\":\n%s\n%s", code, ut, stderr)
	}
	assertNoSecrets(t, "stdout (users)", string(ut), secrets)
	assertNoSecrets(t, "stderr (users)", stderr, secrets)
	checkSecretFile(t, filepath.Join(outDir, "carol.pass"), pw)

	for _, bad := range []struct {
		name, text string
		code       int
		want       string
	}{
		{"syntax", "connections {\n  a {\n    version = 1\n", 1, ":2: error: section \"a\" is not closed"},
		{"empty", "# nothing\n", 1, "error: nothing could be converted"},
		{"missing", "", 1, "cannot read"},
	} {
		p := filepath.Join(dir, bad.name+".conf")
		if bad.name != "missing" {
			writeTextFile(t, p, bad.text)
		}
		stderr, code := importRun(t, filepath.Join(dir, bad.name+".toml"), "--format", "swanctl", p)
		if code != bad.code || !strings.Contains(stderr, bad.want) {
			t.Errorf("%s input: exit %d and %q, want %d and %q", bad.name, code, stderr, bad.code, bad.want)
		}
	}
	if _, code := importRun(t, filepath.Join(dir, "usage.toml")); code != 2 {
		t.Errorf("import without a file: exit %d, want 2", code)
	}
	if _, code := importRun(t, filepath.Join(dir, "usage.toml"), "--local", "up", in); code != 2 {
		t.Errorf("import --local up: exit %d, want 2", code)
	}
}
