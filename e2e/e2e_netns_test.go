//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Addresses of the topology (doc.go has the picture). Only 198.18.0.0/15, 192.0.2.0/24,
// 198.51.100.0/24 and 2001:db8::/32.
const (
	outerA4, outerB4 = "198.18.0.1", "198.18.0.2"
	outerA6, outerB6 = "2001:db8:ffff::1", "2001:db8:ffff::2"
	hostA4, hostB4   = "192.0.2.1", "198.51.100.1"
	netA4, netB4     = "192.0.2.0/24", "198.51.100.0/24"
	hostA6, hostB6   = "2001:db8:a::1", "2001:db8:b::1"
	netA6, netB6     = "2001:db8:a::/48", "2001:db8:b::/48"
)

// cmdTimeout bounds every foreground command a test runs.
const cmdTimeout = 30 * time.Second

// randomID returns n random bytes in hex: unique namespace names and fresh keys.
func randomID(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// netns is a network namespace created by newNetns, deleted when its test ends.
type netns string

// newNetns creates the namespace "oke-<id>-<role>" with lo up.
func newNetns(t *testing.T, id, role string) netns {
	t.Helper()
	name := "oke-" + id + "-" + role
	mustRun(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		// Every process started in it has been stopped by now (cleanups run last-in,
		// first-out, and processes are started after the namespace).
		if out, err := run("ip", "netns", "delete", name); err != nil {
			t.Errorf("ip netns delete %s: %v\n%s", name, err, out)
		}
	})
	n := netns(name)
	n.mustRun(t, "ip", "link", "set", "lo", "up")
	// Addresses added to the TUN must be usable at once, not "tentative" for a second.
	n.mustRun(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	return n
}

// args prefixes a command with `ip netns exec NAME`.
func (n netns) args(prog string, args ...string) []string {
	return append([]string{"ip", "netns", "exec", string(n), prog}, args...)
}

// run runs a command inside the namespace and returns its combined output.
func (n netns) run(prog string, args ...string) (string, error) {
	a := n.args(prog, args...)
	return run(a[0], a[1:]...)
}

// mustRun is run, failing the test on error.
func (n netns) mustRun(t *testing.T, prog string, args ...string) string {
	t.Helper()
	a := n.args(prog, args...)
	return mustRun(t, a[0], a[1:]...)
}

// run runs a command with cmdTimeout and returns its combined output.
func run(prog string, args ...string) (string, error) {
	return runTimeout(cmdTimeout, prog, args...)
}

func runTimeout(timeout time.Duration, prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (timed out after %s)", err, timeout)
	}
	return string(out), err
}

func mustRun(t *testing.T, prog string, args ...string) string {
	t.Helper()
	out, err := run(prog, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
	return out
}

// exitCode returns the exit status in err (0 for nil, -1 when the command did not run).
func exitCode(err error) int {
	var ee *exec.ExitError
	if err == nil {
		return 0
	}
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a background process a test started; it is stopped when the test ends.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{}
	err  error // Wait's result, valid once done is closed
}

// startProc starts a background process (stdout and stderr into p.out). It dies with the
// test binary (SIGKILL as parent-death signal) and is stopped with SIGTERM, then SIGKILL,
// when the test ends.
func startProc(t *testing.T, name string, argv ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s (%s): %v", name, strings.Join(argv, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(5 * time.Second) })
	return p
}

// logged reports whether the process's output contains s, waiting up to 3 s for it: the
// output reaches us through a pipe that a goroutine copies, so an answer on the control
// socket can overtake a line the daemon logged just before it.
func (p *proc) logged(s string) bool {
	return waitFor(3*time.Second, func() bool { return strings.Contains(p.out.String(), s) })
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the process to end on its own.
func (p *proc) wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// signal sends sig to the process (by its pid, which `ip netns exec` and setpriv keep:
// both exec the next program).
func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs. It reports whether SIGTERM was
// enough.
func (p *proc) stop(grace time.Duration) bool {
	if p.exited() {
		return true
	}
	p.signal(syscall.SIGTERM)
	if p.wait(grace) {
		return true
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return false
}

// pair is the two-site topology: namespaces A and B joined by veth0 on 198.18.0.0/24 (and
// 2001:db8:ffff::/64 when outer6 is set).
type pair struct {
	id   string
	a, b netns
}

// newPair creates the namespaces and the veth pair. mtu 0 leaves the veth at 1500.
func newPair(t *testing.T, outer6 bool, mtu int) *pair {
	t.Helper()
	p := &pair{id: randomID(t, 3)}
	p.a = newNetns(t, p.id, "a")
	p.b = newNetns(t, p.id, "b")
	link := []string{"-n", string(p.a), "link", "add", "veth0"}
	if mtu > 0 {
		link = append(link, "mtu", fmt.Sprint(mtu))
	}
	link = append(link, "type", "veth", "peer", "name", "veth0", "netns", string(p.b))
	mustRun(t, "ip", link...)
	for _, s := range []struct {
		ns     netns
		v4, v6 string
	}{{p.a, outerA4, outerA6}, {p.b, outerB4, outerB6}} {
		mustRun(t, "ip", "-n", string(s.ns), "addr", "add", s.v4+"/24", "dev", "veth0")
		if outer6 {
			mustRun(t, "ip", "-n", string(s.ns), "addr", "add", s.v6+"/64", "dev", "veth0", "nodad")
		}
		mustRun(t, "ip", "-n", string(s.ns), "link", "set", "veth0", "up")
	}
	return p
}
