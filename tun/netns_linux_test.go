package tun

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	// envNetnsTest names the test a re-executed test binary must run inside the namespace.
	envNetnsTest = "OAKLEY_TUN_NETNS_TEST"
	// envHostNetns is the parent's network namespace (device:inode), which the child
	// checks it has left before touching anything.
	envHostNetns = "OAKLEY_TUN_HOST_NETNS"
)

// inNetns runs the calling test in a network namespace of its own: the first time through
// it creates the namespace, re-executes this test binary inside it with `ip netns exec`
// (so every thread of the child, and every socket and TUN it opens, lives there), reports
// the child's output and deletes the namespace; it then returns false and the caller
// returns. Inside the child it returns true and the test body runs.
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envNetnsTest) == t.Name() {
		if host := os.Getenv(envHostNetns); host == "" || host == netnsID(t) {
			t.Fatal("refusing to run: the child is still in the parent's network namespace")
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: creating a network namespace and a TUN device needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: the ip command (iproute2) is not installed")
	}
	name := fmt.Sprintf("oakley-tun-%d-%s", os.Getpid(), strings.ToLower(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	defer func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v\n%s", name, err, out)
		}
	}()
	args := []string{"netns", "exec", name, os.Args[0],
		"-test.run=^" + t.Name() + "$", "-test.v", "-test.count=1", "-test.timeout=2m"}
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), envNetnsTest+"="+t.Name(), envHostNetns+"="+netnsID(t))
	out, err := cmd.CombinedOutput()
	t.Logf("inside netns %s:\n%s", name, out)
	if err != nil {
		t.Fatalf("test inside netns %s failed: %v", name, err)
	}
	if strings.Contains(string(out), "--- SKIP: "+t.Name()) {
		t.Skip("skipped inside the namespace")
	}
	return false
}

// netnsID identifies this thread's network namespace by the device and inode of its nsfs
// file.
func netnsID(t *testing.T) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatalf("stat /proc/thread-self/ns/net: %v", err)
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// ipCmd runs an ip(8) command inside the test's namespace, failing the test on error.
func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
