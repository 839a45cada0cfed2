//go:build linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// brokenConfig has six independent mistakes, on the lines listed in brokenLines. It holds
// keys, which no message may quote.
const brokenConfig = `[daemon]
log_levle = "debug"
log_format = "xml"
control_socket = %q

[device]
mtu = 100
addresses = ["192.0.2.1/32"]

[[connection]]
name = "site-b"
keying = "manual"
local_addr = "198.18.0.1"
remote_addr = "198.18.0.2"

  [[connection.child]]
  name = "net"
  local_ts = ["192.0.2.0/24"]
  remote_ts = ["198.51.100.0/33"]
  esp_proposals = ["aes128-sha256"]
  in_spi = "0x00000010"
  out_spi = "0x00002000"
  in_key = "%s"
  out_key = "0011"
  in_auth_key = "%s"
  out_auth_key = "%s"
`

// brokenLines are the lines of brokenConfig with an error: an unknown key (a typo), a bad
// enum value, an MTU out of range, a prefix longer than 32 bits, a reserved SPI, a key of
// the wrong length.
var brokenLines = []int{2, 3, 7, 19, 21, 24}

// writeBroken writes brokenConfig into dir and returns its path, its control socket and its
// keys.
func writeBroken(t *testing.T, dir string) (path, sock string, keys []string) {
	t.Helper()
	path, sock = filepath.Join(dir, "broken.toml"), filepath.Join(dir, "broken.sock")
	keys = []string{randomID(t, 16), randomID(t, 32), randomID(t, 32)}
	text := fmt.Sprintf(brokenConfig, sock, keys[0], keys[1], keys[2])
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, sock, keys
}

// checkErrorReport asserts that out lists exactly the errors of brokenConfig, one per line
// as "file:line: message", plus oakley's closing line.
func checkErrorReport(t *testing.T, out, path string, keys []string) {
	t.Helper()
	posRE := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:(\d+): \S`)
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if m := posRE.FindStringSubmatch(l); m != nil {
			got = append(got, m[1])
		}
	}
	var want []string
	for _, n := range brokenLines {
		want = append(want, fmt.Sprint(n))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("errors reported on lines %v, want %v; output:\n%s", got, want, out)
	}
	if !strings.Contains(out, fmt.Sprintf("%d error(s)", len(brokenLines))) {
		t.Errorf("no error count %d in the output:\n%s", len(brokenLines), out)
	}
	assertNoSecrets(t, "the error report", out, keys)
}

// assertNothingStarted checks that ns has no device but lo and no control socket exists.
func assertNothingStarted(t *testing.T, ns netns, sock string) {
	t.Helper()
	links := ns.mustRun(t, "ip", "-o", "link", "show")
	for _, l := range strings.Split(strings.TrimSpace(links), "\n") {
		if !strings.Contains(l, ": lo:") {
			t.Errorf("a device exists after a failed start: %s", l)
		}
	}
	if _, err := os.Stat(sock); err == nil {
		t.Errorf("control socket %s exists after a failed start", sock)
	}
}

// TestCheckBrokenConfig: `oakley check` prints every error of a broken configuration with
// file:line, exits 1 and starts nothing; `oakley up` with it exits 1 without a TUN.
func TestCheckBrokenConfig(t *testing.T) {
	needNetns(t)
	t.Parallel()
	ns := newNetns(t, randomID(t, 3), "cli")
	path, sock, keys := writeBroken(t, t.TempDir())
	for _, cmd := range []string{"check", "up"} {
		t.Run(cmd, func(t *testing.T) {
			out, err := ns.run(oakleyBin, cmd, "-c", path)
			if code := exitCode(err); code != 1 {
				t.Errorf("oakley %s with a broken configuration: exit status %d (%v), want 1; output:\n%s", cmd, code, err, out)
			}
			checkErrorReport(t, out, path, keys)
			assertNothingStarted(t, ns, sock)
		})
	}
	// And a good configuration passes check, also without starting anything.
	a, _ := tunnelSpec{}.sites(t)
	a.Socket = filepath.Join(t.TempDir(), "a.sock")
	good := filepath.Join(t.TempDir(), "good.toml")
	if err := os.WriteFile(good, []byte(a.toml()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := ns.run(oakleyBin, "check", "-c", good)
	if err != nil || !strings.Contains(out, "OK") {
		t.Errorf("oakley check on a good configuration: %v\n%s", err, out)
	}
	assertNothingStarted(t, ns, a.Socket)
}

// TestSIGTERM: SIGTERM shuts oakley down cleanly (exit status 0) and removes the TUN device,
// its addresses, the routes it installed and any policy-routing rule, and the control socket.
func TestSIGTERM(t *testing.T) {
	needNetns(t)
	t.Parallel()
	for _, mode := range []string{"tunnel", "transport"} {
		t.Run(mode, func(t *testing.T) {
			p := newPair(t, false, 0)
			rulesBefore := routingRules(t, p.a)
			ts := tunnelSpec{Families: "46", Mode: mode}
			if mode == "transport" {
				ts.Families = "4"
			}
			sa, sb := ts.sites(t)
			a := startOakley(t, p.a, "a", sa, launch{})
			startOakley(t, p.b, "b", sb, launch{})
			if mode == "tunnel" {
				// While it runs: the device with its addresses and a route per remote subnet.
				routes := p.a.mustRun(t, "ip", "-4", "route", "show") + p.a.mustRun(t, "ip", "-6", "route", "show")
				for _, want := range []string{netB4 + " dev oakley0", netB6 + " dev oakley0"} {
					if !strings.Contains(routes, want) {
						t.Errorf("no route %q while oakley runs:\n%s", want, routes)
					}
				}
				addrs := p.a.mustRun(t, "ip", "addr", "show", "dev", "oakley0")
				for _, want := range []string{hostA4 + "/32", hostA6 + "/128"} {
					if !strings.Contains(addrs, want) {
						t.Errorf("no address %s on oakley0:\n%s", want, addrs)
					}
				}
			}
			if r := routingRules(t, p.a); r != rulesBefore {
				t.Logf("policy-routing rules while oakley runs:\n%s", r)
			}
			a.p.signal(syscall.SIGTERM)
			if !a.p.wait(10 * time.Second) {
				t.Fatalf("oakley did not exit within 10 s of SIGTERM; log:\n%s", a.p.out.String())
			}
			if code := exitCode(a.p.err); code != 0 {
				t.Errorf("exit status %d after SIGTERM, want 0 (%v)", code, a.p.err)
			}
			if !a.p.logged("shutting down") {
				t.Errorf("no \"shutting down\" in the log")
			}
			if out, err := p.a.run("ip", "link", "show", "oakley0"); err == nil {
				t.Errorf("oakley0 still exists after SIGTERM:\n%s", out)
			}
			all := p.a.mustRun(t, "ip", "-4", "route", "show", "table", "all") + p.a.mustRun(t, "ip", "-6", "route", "show", "table", "all")
			for _, l := range strings.Split(all, "\n") {
				if strings.Contains(l, "oakley0") || strings.Contains(l, netB4) || strings.Contains(l, netB6) || strings.Contains(l, outerB4+" ") {
					t.Errorf("route left behind after SIGTERM: %s", l)
				}
			}
			if after := routingRules(t, p.a); after != rulesBefore {
				t.Errorf("policy-routing rules after SIGTERM differ from before start:\nbefore:\n%s\nafter:\n%s", rulesBefore, after)
			}
			if _, err := os.Stat(a.spec.Socket); err == nil {
				t.Errorf("control socket %s left behind", a.spec.Socket)
			}
		})
	}
}

// routingRules returns `ip rule` for both families.
func routingRules(t *testing.T, ns netns) string {
	t.Helper()
	return ns.mustRun(t, "ip", "-4", "rule", "show") + ns.mustRun(t, "ip", "-6", "rule", "show")
}

// TestCLI: version, and status without a daemon (one line on stderr, exit 1).
func TestCLI(t *testing.T) {
	t.Parallel()
	out, err := runTimeout(10*time.Second, oakleyBin, "version")
	if err != nil || !strings.HasPrefix(out, "oakley ") {
		t.Errorf("oakley version: %v %q", err, out)
	}
	sock := filepath.Join(t.TempDir(), "none.sock")
	out, err = runTimeout(10*time.Second, oakleyBin, "status", "-s", sock)
	if exitCode(err) != 1 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, sock) {
		t.Errorf("oakley status without a daemon: exit %d, want 1 and one line naming the socket:\n%s", exitCode(err), out)
	}
	out, err = runTimeout(10*time.Second, oakleyBin, "frobnicate")
	if exitCode(err) != 2 {
		t.Errorf("oakley frobnicate: exit %d, want 2 (usage)\n%s", exitCode(err), out)
	}
}
