//go:build linux

package e2e

import (
	"io"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestNetstackUnprivileged: site A runs oakley as the user nobody, without any capability,
// on the userspace network stack (device kind = "netstack") with IKE/NAT-T on high ports;
// site B is a root TUN oakley that reaches A's NAT-T port through remote_natt_port. Traffic
// crosses in both directions through A's SOCKS5 proxy, a port forward into the tunnel and
// an exposed listener inside the tunnel.
func TestNetstackUnprivileged(t *testing.T) {
	needNetns(t)
	needTools(t, "setpriv")
	t.Parallel()
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("skipping: no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	// nobody's own directory, reachable through the test's temporary directory.
	td := t.TempDir()
	for _, d := range []string{td, filepath.Dir(td)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(td, "nobody")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "oakley")
	copyFile(t, oakleyBin, bin, 0o755)

	p := newPair(t, false, 0)
	sa, sb := tunnelSpec{Proposal: "aes256gcm16"}.sites(t)
	const nsAddr = "192.0.2.200"
	sa.DevKind = "netstack"
	sa.Addresses = []string{nsAddr + "/32"}
	sa.IKEPort, sa.NATTPort = 10500, 14500
	sa.Extra = `
[netstack]
socks5 = "127.0.0.1:11080"

[[netstack.forward]]
proto = "tcp"
listen = "127.0.0.1:18081"
to = "198.51.100.1:8080"

[[netstack.expose]]
proto = "tcp"
listen = "192.0.2.200:8080"
to = "127.0.0.1:18080"
`
	sb.RemoteNATTPort = 14500
	a := startOakley(t, p.a, "a", sa, launch{dir: dir, bin: bin,
		prefix: []string{"setpriv", "--reuid=" + nobody.Uid, "--regid=" + nobody.Gid, "--clear-groups", "--pdeathsig=KILL"}})
	b := startOakley(t, p.b, "b", sb, launch{})
	assertUnprivileged(t, a.p.cmd.Process.Pid, nobody.Uid)

	tokenA, tokenB := "site A "+randomID(t, 8), "site B "+randomID(t, 8)
	serveHTTP(t, p.b, hostB4+":8080", tokenB)    // on B's TUN address
	serveHTTP(t, p.a, "127.0.0.1:18080", tokenA) // a local service of A, exposed into the tunnel
	t.Run("forward", func(t *testing.T) {
		httpGet(t, p.a, "http://127.0.0.1:18081/", "", tokenB)
	})
	t.Run("socks5", func(t *testing.T) {
		httpGet(t, p.a, "http://"+hostB4+":8080/", "socks5://127.0.0.1:11080", tokenB)
	})
	t.Run("expose", func(t *testing.T) {
		httpGet(t, p.b, "http://"+nsAddr+":8080/", "", tokenA)
	})
	t.Run("ping", func(t *testing.T) {
		mustPing(t, p.b, hostB4, nsAddr, 2)
	})
	checkSAsCarried(t, a, "ESP")
	checkSAsCarried(t, b, "ESP")
	if s := a.mustStatus(t); s.Device.Kind != "netstack" {
		t.Errorf("A's device is %q, want netstack", s.Device.Kind)
	}
}

var (
	uidLine    = regexp.MustCompile(`(?m)^Uid:\s+(\d+)\s+(\d+)`)
	capEffLine = regexp.MustCompile(`(?m)^CapEff:\s+([0-9a-f]+)`)
)

// assertUnprivileged checks that process pid runs as uid with no effective capability.
func assertUnprivileged(t *testing.T, pid int, uid string) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	u, c := uidLine.FindSubmatch(b), capEffLine.FindSubmatch(b)
	if u == nil || c == nil {
		t.Fatalf("/proc/%d/status has no Uid or CapEff line", pid)
	}
	if string(u[1]) != uid || string(u[2]) != uid {
		t.Errorf("oakley runs with real/effective uid %s/%s, want %s", u[1], u[2], uid)
	}
	if caps, _ := strconv.ParseUint(string(c[1]), 16, 64); caps != 0 {
		t.Errorf("oakley has effective capabilities %s, want none", c[1])
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// asNobody prepares dir (with the files already in it) for a daemon run as the user nobody:
// the directory and its files become nobody's, its parents traversable, the binary copied
// in, and ns lets unprivileged users bind IKE's ports. It returns the binary and the
// command prefix that drops to nobody with no capability.
func asNobody(t *testing.T, ns netns, dir string) (bin string, prefix []string) {
	t.Helper()
	needTools(t, "setpriv")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("skipping: no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	for _, d := range []string{filepath.Dir(dir), filepath.Dir(filepath.Dir(dir))} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	bin = filepath.Join(dir, "oakley")
	copyFile(t, oakleyBin, bin, 0o755)
	if err := filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(path, uid, gid)
	}); err != nil {
		t.Fatal(err)
	}
	ns.mustRun(t, "sysctl", "-qw", "net.ipv4.ip_unprivileged_port_start=0")
	return bin, []string{"setpriv", "--reuid=" + nobody.Uid, "--regid=" + nobody.Gid, "--clear-groups", "--pdeathsig=KILL"}
}
