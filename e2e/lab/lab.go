//go:build linux

// Package lab builds throw-away test networks out of Linux network namespaces and runs
// programs in them: oakley, strongSwan's charon, wireguard-go, iperf3, ping, tshark. The e2e
// tests and the benchmark harness share it.
//
// Everything a Lab creates (namespaces, processes, temporary files) is removed by Close, which
// is safe to call more than once. Only benchmark and documentation address ranges are used by
// its callers. A Lab is not safe for concurrent use, except Proc methods.
package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Lab owns namespaces, processes and a scratch directory.
type Lab struct {
	Prefix string // namespace name prefix, unique per lab
	Dir    string // scratch directory, removed by Close
	// CharonExtra are more charon plugins StartCharon loads when installed, e.g. "attr",
	// "xauth-generic", "unity" (remote access).
	CharonExtra []string
	// CharonRetransmitTries is StartCharon's retransmit_tries (0 = 3: handshakes stay short;
	// strongSwan's own default is 5).
	CharonRetransmitTries int
	nss                   []string
	procs                 []*Proc
	mu                    sync.Mutex
	closed                bool
}

// Root reports whether the process can create namespaces.
func Root() bool { return os.Geteuid() == 0 }

// Have reports whether every named program is on PATH.
func Have(progs ...string) error {
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("%s not installed", p)
		}
	}
	return nil
}

// New creates a lab whose namespaces are named prefix-XXXX-name.
func New(prefix string) (*Lab, error) {
	var r [2]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "oakley-lab-")
	if err != nil {
		return nil, err
	}
	return &Lab{Prefix: prefix + "-" + hex.EncodeToString(r[:]), Dir: dir}, nil
}

// NS creates a namespace with loopback up and reverse-path filtering off (decrypted packets
// arrive on a tunnel device), and returns its full name.
func (l *Lab) NS(name string) (string, error) {
	ns := l.Prefix + "-" + name
	if _, err := Run("ip", "netns", "add", ns); err != nil {
		return "", err
	}
	l.nss = append(l.nss, ns)
	for _, args := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"},
		{"sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"},
	} {
		if _, err := l.Exec(ns, args...); err != nil {
			return "", err
		}
	}
	return ns, nil
}

// Veth joins two namespaces with a veth pair named dev on both ends.
func (l *Lab) Veth(nsA, nsB, dev string) error {
	if _, err := Run("ip", "link", "add", dev, "netns", nsA, "type", "veth", "peer", "name", dev, "netns", nsB); err != nil {
		return err
	}
	for _, ns := range []string{nsA, nsB} {
		if _, err := l.Exec(ns, "ip", "link", "set", dev, "up"); err != nil {
			return err
		}
	}
	return nil
}

// Addr adds an address (CIDR) to a device in a namespace; IPv6 addresses skip DAD.
func (l *Lab) Addr(ns, dev, cidr string) error {
	args := []string{"ip", "addr", "add", cidr, "dev", dev}
	if strings.Contains(cidr, ":") {
		args = append(args, "nodad")
	}
	_, err := l.Exec(ns, args...)
	return err
}

// Exec runs a command in a namespace and returns its combined output.
func (l *Lab) Exec(ns string, args ...string) (string, error) {
	return Run(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// Run runs a command with a 2-minute limit and returns its combined output; the error names
// the command and carries its output.
func Run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Proc is a background process started by a Lab.
type Proc struct {
	Name string
	Log  string // path of its combined output
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs a command in a namespace in the background, its output going to a log file in
// the lab directory. env entries ("K=V") are added to the environment.
func (l *Lab) Start(ns, name string, env []string, args ...string) (*Proc, error) {
	log := filepath.Join(l.Dir, name+".log")
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	full := append([]string{"ip", "netns", "exec", ns}, args...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: log, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	l.procs = append(l.procs, p)
	return p, nil
}

// Pid is the process id (ip netns exec execs, so it is the program's own).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Exited returns the exit error once the process has ended.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// CPU returns the user+system CPU time the process has used so far (/proc/PID/stat).
func (p *Proc) CPU() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are fields 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / time.Duration(clockTicks)
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// Stop sends SIGTERM, waits up to 10 s, then SIGKILLs the process group.
func (p *Proc) Stop() error {
	if !p.Running() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
		return errors.New(p.Name + " did not stop on SIGTERM; killed")
	}
}

// Output returns the process's log so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// WaitLog waits until the process log contains s.
func (p *Proc) WaitLog(s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(p.Output(), s) {
			return nil
		}
		if !p.Running() {
			return fmt.Errorf("%s exited before logging %q: %s", p.Name, s, tail(p.Output(), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not log %q within %s: %s", p.Name, s, timeout, tail(p.Output(), 2000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Close stops every process and deletes every namespace and the scratch directory.
func (l *Lab) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	for i := len(l.procs) - 1; i >= 0; i-- {
		_ = l.procs[i].Stop()
	}
	for _, ns := range l.nss {
		// Kill anything still inside (a process that outlived its parent).
		if out, err := Run("ip", "netns", "pids", ns); err == nil {
			for _, f := range strings.Fields(out) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		_, _ = Run("ip", "netns", "del", ns)
	}
	if os.Getenv("LAB_KEEP") == "" {
		os.RemoveAll(l.Dir)
	}
}
