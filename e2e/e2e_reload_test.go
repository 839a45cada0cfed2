//go:build linux

package e2e

// `oakley reload` and SIGHUP (issue 12 §2), oakley against oakley over IKEv1: site A
// initiates three connections to site B, each between its own pair of outer addresses and
// inner /27s. A's file is then edited (one connection's child rekey_time changed, one
// connection added, one removed) and reloaded while a ping runs through the untouched one:
// that ping loses nothing and its SPIs stay; B receives Deletes for the removed one; the
// edited one is negotiated anew; the new one comes up; the routes follow. A broken file is
// refused with file:line and changes nothing; SIGHUP reloads too, and SIGTERM afterwards
// still exits cleanly without leaving the control socket.

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reloadConnSpec is one connection of the reload topology: outer addresses A.n/B.n and inner
// 192.0.2.32k/27 ↔ 198.51.100.32k/27 with host .32k+1 on each side.
type reloadConnSpec struct {
	name   string
	outerA string
	outerB string
	k      int
}

var reloadConns = []reloadConnSpec{
	{"keep", outerA4, outerB4, 0},
	{"edit", "198.18.0.11", "198.18.0.12", 1},
	{"drop", "198.18.0.21", "198.18.0.22", 2},
	{"new", "198.18.0.31", "198.18.0.32", 3},
}

func (c reloadConnSpec) netA() string  { return fmt.Sprintf("192.0.2.%d/27", 32*c.k) }
func (c reloadConnSpec) netB() string  { return fmt.Sprintf("198.51.100.%d/27", 32*c.k) }
func (c reloadConnSpec) hostA() string { return fmt.Sprintf("192.0.2.%d", 32*c.k+1) }
func (c reloadConnSpec) hostB() string { return fmt.Sprintf("198.51.100.%d", 32*c.k+1) }

// toml renders the connection for site A (aSide) or B, with the child's rekey_time.
func (c reloadConnSpec) toml(aSide bool, psk, rekey string) string {
	local, remote, lnet, rnet, start := c.outerA, c.outerB, c.netA(), c.netB(), "start"
	if !aSide {
		local, remote, lnet, rnet, start = c.outerB, c.outerA, c.netB(), c.netA(), "none"
	}
	return fmt.Sprintf(`
[[connection]]
name = %q
keying = "ike"
version = 1
local_addr = %q
remote_addr = %q
psk = %q
start_action = %q
dpd_delay = "0s"
  [[connection.child]]
  name = "net"
  local_ts = [%q]
  remote_ts = [%q]
  esp_proposals = ["aes128gcm16"]
  rekey_time = %q
`, c.name, local, remote, psk, start, lnet, rnet, rekey)
}

// reloadSite renders a site's whole configuration: the first connection through siteSpec,
// the others as Extra, with every host address on the TUN from the start.
func reloadSite(aSide bool, sock, psk string, extra string, conns ...reloadConnSpec) siteSpec {
	s := siteSpec{LogLevel: "info", Socket: sock, Keying: "ike"}
	for _, c := range reloadConns {
		if aSide {
			s.Addresses = append(s.Addresses, c.hostA()+"/32")
		} else {
			s.Addresses = append(s.Addresses, c.hostB()+"/32")
		}
	}
	for _, c := range conns {
		s.Extra += c.toml(aSide, psk, "1h")
	}
	s.Extra += extra
	// siteSpec renders one connection after Extra: a last one without children, never
	// started, so the file has exactly the connections above plus "idle".
	s.ConnName, s.PSK, s.StartAction = "idle", psk, "none"
	s.LocalAddr, s.RemoteAddr = "198.18.0.41", "198.18.0.42"
	if !aSide {
		s.LocalAddr, s.RemoteAddr = s.RemoteAddr, s.LocalAddr
	}
	return s
}

// connSPIs returns the SPIs of every SA of connection name in o's status.
func connSPIs(t *testing.T, o *oakley, name string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, c := range o.mustIKEStatus(t).Connections {
		if c.Name != name {
			continue
		}
		for _, ch := range c.Children {
			for _, sa := range ch.SAs {
				out[sa.spi()] = true
			}
		}
	}
	return out
}

// waitConnUp waits until o has an SA pair for connection name (or none, when up is false).
func waitConnUp(t *testing.T, o *oakley, name string, up bool, timeout time.Duration) {
	t.Helper()
	waitIKE(t, o, fmt.Sprintf("connection %s up=%v", name, up), timeout, func(s *ikeStatus) bool {
		for _, c := range s.Connections {
			if c.Name == name {
				n := 0
				for _, ch := range c.Children {
					n += len(ch.SAs)
				}
				return (n >= 2) == up
			}
		}
		return !up
	})
}

func TestReload(t *testing.T) {
	needNetns(t)
	t.Parallel()
	p := newPair(t, false, 0)
	for _, c := range reloadConns[1:] {
		mustRun(t, "ip", "-n", string(p.a), "addr", "add", c.outerA+"/24", "dev", "veth0")
		mustRun(t, "ip", "-n", string(p.b), "addr", "add", c.outerB+"/24", "dev", "veth0")
	}
	for _, ns := range []netns{p.a, p.b} {
		ns.mustRun(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	}
	psk := newPSK(t)
	keep, edit, drop, added := reloadConns[0], reloadConns[1], reloadConns[2], reloadConns[3]
	// B knows all four from the start (it only responds); A starts with keep, edit, drop.
	b := startOakley(t, p.b, "b", reloadSite(false, "", psk, "", keep, edit, drop, added), launch{})
	a := startOakley(t, p.a, "a", reloadSite(true, "", psk, "", keep, edit, drop), launch{})
	for _, c := range []reloadConnSpec{keep, edit, drop} {
		waitConnUp(t, a, c.name, true, 20*time.Second)
		waitConnUp(t, b, c.name, true, 20*time.Second)
		mustPing(t, p.a, c.hostA(), c.hostB(), 2)
	}
	keepSPIs, editSPIs := connSPIs(t, a, keep.name), connSPIs(t, a, edit.name)
	deletesBefore := b.mustIKEStatus(t).IKECounters["deletes_in"]

	// The edit: edit's child rekey_time, new added, drop removed.
	next := reloadSite(true, a.spec.Socket, psk, keep.toml(true, psk, "1h")+edit.toml(true, psk, "50m")+added.toml(true, psk, "1h"))
	if err := os.WriteFile(a.cfg, []byte(next.toml()), 0o600); err != nil {
		t.Fatal(err)
	}
	keepSide := &ioSide{name: "left", ns: p.a, host: keep.hostA()}
	var out string
	var err error
	sent, got, pout := pingDuring(t, keepSide, keep.hostB(), 50*time.Millisecond, 5*time.Second, time.Second, func() {
		out, err = runTimeout(30*time.Second, oakleyBin, "reload", "-s", a.spec.Socket)
	})
	if err != nil {
		t.Fatalf("oakley reload: %v\n%s", err, out)
	}
	t.Logf("oakley reload:\n%s", out)
	for _, want := range []string{"1 added (new)", "1 removed (drop)", "1 changed (edit)", "2 unchanged (idle, keep)",
		"routes added: " + added.netB(), "routes removed: " + drop.netB()} {
		if !strings.Contains(out, want) {
			t.Errorf("oakley reload output lacks %q", want)
		}
	}
	t.Logf("ping every 50 ms through the untouched connection during the reload: %d sent, %d received", sent, got)
	if got != sent {
		t.Errorf("%d of %d echoes through the untouched connection lost during the reload:\n%s", sent-got, sent, tail(pout, 2000))
	}
	if now := connSPIs(t, a, keep.name); fmt.Sprint(keys(now)) != fmt.Sprint(keys(keepSPIs)) {
		t.Errorf("the untouched connection's SPIs changed: %v -> %v", keys(keepSPIs), keys(now))
	}
	// drop: B got Deletes and has no SA left for it; no route, no traffic.
	waitConnUp(t, b, drop.name, false, 10*time.Second)
	if n := b.mustIKEStatus(t).IKECounters["deletes_in"]; n < deletesBefore+2 {
		t.Errorf("B counted %d Deletes received (before the reload %d); want the removed connection's child and ISAKMP SA at least", n, deletesBefore)
	}
	if out, got, _ := ping(p.a, drop.hostA(), drop.hostB(), 2); got != 0 {
		t.Errorf("echoes crossed through the removed connection:\n%s", out)
	}
	if routes := p.a.mustRun(t, "ip", "route", "show"); strings.Contains(routes, drop.netB()) || !strings.Contains(routes, added.netB()+" dev oakley0") {
		t.Errorf("A's routes after the reload (want %s gone, %s through oakley0):\n%s", drop.netB(), added.netB(), routes)
	}
	// edit: negotiated anew (new SPIs), carries traffic; new: up and carries traffic.
	waitConnUp(t, a, edit.name, true, 20*time.Second)
	for spi := range connSPIs(t, a, edit.name) {
		if editSPIs[spi] {
			t.Errorf("the edited connection still uses SPI %s of before the reload", spi)
		}
	}
	waitConnUp(t, a, added.name, true, 20*time.Second)
	for _, c := range []reloadConnSpec{keep, edit, added} {
		mustPing(t, p.a, c.hostA(), c.hostB(), 2)
	}

	// A broken file is refused with file:line and changes nothing.
	before := connSPIs(t, a, keep.name)
	broken := strings.Replace(next.toml(), `rekey_time = "1h"`, `rekey_time = "soon"`, 1) + "\n[device2]\n"
	if err := os.WriteFile(a.cfg, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runTimeout(30*time.Second, oakleyBin, "reload", "-s", a.spec.Socket)
	if exitCode(err) != 1 {
		t.Errorf("oakley reload of a broken file: exit status %d, want 1\n%s", exitCode(err), out)
	}
	lines := regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(a.cfg)+`:\d+: `).FindAllString(out, -1)
	if len(lines) < 2 || !strings.Contains(out, "nothing changed") {
		t.Errorf("oakley reload of a broken file printed %d file:line errors, want 2 and \"nothing changed\":\n%s", len(lines), out)
	}
	assertNoSecrets(t, "the refused reload's output", out, []string{psk})
	if now := connSPIs(t, a, keep.name); fmt.Sprint(keys(now)) != fmt.Sprint(keys(before)) {
		t.Errorf("a refused reload changed SPIs: %v -> %v", keys(before), keys(now))
	}
	mustPing(t, p.a, added.hostA(), added.hostB(), 1)

	// SIGHUP reloads (here: new removed again), with a log line saying so.
	last := reloadSite(true, a.spec.Socket, psk, keep.toml(true, psk, "1h")+edit.toml(true, psk, "50m"))
	if err := os.WriteFile(a.cfg, []byte(last.toml()), 0o600); err != nil {
		t.Fatal(err)
	}
	a.p.signal(syscall.SIGHUP)
	waitConnUp(t, a, added.name, false, 10*time.Second)
	if log := a.p.out.String(); !regexp.MustCompile(`reload: done\s+\{"trigger": "SIGHUP".*"removed": \["new"\]`).MatchString(log) {
		t.Errorf("no reload log line for SIGHUP:\n%s", tail(log, 3000))
	}
	if a.p.exited() {
		t.Fatal("SIGHUP ended oakley")
	}
	mustPing(t, p.a, keep.hostA(), keep.hostB(), 1)

	// SIGTERM after all that: clean exit, no control socket left.
	a.p.signal(syscall.SIGTERM)
	if !a.p.wait(10*time.Second) || exitCode(a.p.err) != 0 {
		t.Fatalf("oakley did not exit cleanly after SIGTERM (%v):\n%s", a.p.err, tail(a.p.out.String(), 3000))
	}
	if _, err := os.Stat(a.spec.Socket); err == nil {
		t.Errorf("control socket %s left behind", a.spec.Socket)
	}
}
