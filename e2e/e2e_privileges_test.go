//go:build linux

package e2e

// Least privilege (issue 12 §4): the site-to-site IKE tunnel with site A's oakley either
// started by setpriv as the user nobody with only CAP_NET_ADMIN and CAP_NET_BIND_SERVICE
// (what systemd's AmbientCapabilities gives a service), or started as root with
// [daemon] user = "nobody", which it drops to once the device and sockets are open. Either
// way traffic crosses, `oakley reload` works, every thread of the process runs as nobody
// with no capability beyond those two, and SIGTERM still removes the device, its routes and
// the control socket.

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The capabilities a service oakley keeps: CAP_NET_ADMIN (12) and CAP_NET_BIND_SERVICE (10).
const allowedCaps = 1<<12 | 1<<10

var capLine = regexp.MustCompile(`(?m)^(Cap(?:Inh|Prm|Eff|Bnd|Amb)):\s+([0-9a-f]+)$`)

// privilegeProblems inspects every thread of process pid (/proc/PID/task/*/status) and
// describes each way it is more privileged than uid with allowedCaps.
func privilegeProblems(t *testing.T, pid int, uid string) []string {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads of process %d: %v", pid, err)
	}
	var problems []string
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the thread has exited
		}
		task := filepath.Base(filepath.Dir(path))
		if m := regexp.MustCompile(`(?m)^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`).FindSubmatch(b); m == nil {
			problems = append(problems, fmt.Sprintf("thread %s: no Uid line", task))
		} else {
			for i, what := range []string{"real", "effective", "saved", "filesystem"} {
				if string(m[i+1]) != uid {
					problems = append(problems, fmt.Sprintf("thread %s: %s uid %s, want %s", task, what, m[i+1], uid))
				}
			}
		}
		caps := capLine.FindAllSubmatch(b, -1)
		if len(caps) != 5 {
			problems = append(problems, fmt.Sprintf("thread %s: %d capability lines, want 5", task, len(caps)))
		}
		for _, c := range caps {
			v, _ := strconv.ParseUint(string(c[2]), 16, 64)
			if extra := v &^ allowedCaps; extra != 0 {
				problems = append(problems, fmt.Sprintf("thread %s: %s %s holds capabilities beyond CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (%#x)", task, c[1], c[2], extra))
			}
			if string(c[1]) == "CapEff" && v&(1<<12) == 0 {
				problems = append(problems, fmt.Sprintf("thread %s: CapEff %s lacks CAP_NET_ADMIN", task, c[2]))
			}
		}
	}
	if len(tasks) < 2 {
		problems = append(problems, fmt.Sprintf("only %d thread inspected; a Go daemon has several", len(tasks)))
	}
	return problems
}

// nobodyDir returns a directory owned by nobody, reachable by nobody, with a copy of the
// oakley binary nobody may run.
func nobodyDir(t *testing.T, uid, gid int) (dir, bin string) {
	t.Helper()
	td := t.TempDir()
	for _, d := range []string{td, filepath.Dir(td)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join(td, "nobody")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "oakley")
	copyFile(t, oakleyBin, bin, 0o755)
	return dir, bin
}

func TestLeastPrivilege(t *testing.T) {
	needNetns(t)
	needTools(t, "setpriv")
	t.Parallel()
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("skipping: no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	for _, mode := range []string{"setpriv-ambient-caps", "config-user"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir, bin := nobodyDir(t, uid, gid)
			p := newPair(t, false, 0)
			sa, sb := tunnelSpec{Keying: "ike"}.sites(t)
			l := launch{dir: dir}
			if mode == "config-user" {
				sa.User = "nobody"
			} else {
				l.bin = bin
				l.prefix = []string{"setpriv", "--reuid=" + nobody.Uid, "--regid=" + nobody.Gid, "--init-groups",
					"--inh-caps=+net_admin,+net_bind_service", "--ambient-caps=+net_admin,+net_bind_service",
					"--bounding-set=-all,+net_admin,+net_bind_service", "--pdeathsig=KILL"}
			}
			b := startOakley(t, p.b, "b", sb, launch{})
			a := startOakley(t, p.a, "a", sa, l)
			waitSAs(t, a)
			waitSAs(t, b)
			mustPing(t, p.a, hostA4, hostB4, 3)
			mustPing(t, p.b, hostB4, hostA4, 3)
			checkSAsCarried(t, a, "ESP")
			if mode == "config-user" && !a.p.logged("privileges dropped") {
				t.Error(`no "privileges dropped" in A's log`)
			}

			for _, pr := range privilegeProblems(t, a.p.cmd.Process.Pid, nobody.Uid) {
				t.Error(pr)
			}
			// The inspection can fail: the root oakley of site B does not pass it.
			if len(privilegeProblems(t, b.p.cmd.Process.Pid, nobody.Uid)) == 0 {
				t.Error("the inspection finds nothing wrong with a root process")
			}

			// reload still works: the file is read as nobody, routes are CAP_NET_ADMIN's.
			if err := chownLike(a.cfg, dir); err != nil {
				t.Fatal(err)
			}
			out, err := runTimeout(30*time.Second, oakleyBin, "reload", "-s", a.spec.Socket)
			if err != nil || !strings.Contains(out, "1 unchanged (site-b)") {
				t.Errorf("oakley reload as nobody: %v\n%s", err, out)
			}
			mustPing(t, p.a, hostA4, hostB4, 2)

			// SIGTERM: the device, its routes and the control socket go, without root.
			a.p.signal(syscall.SIGTERM)
			if !a.p.wait(10 * time.Second) {
				t.Fatalf("oakley did not exit within 10 s of SIGTERM:\n%s", tail(a.p.out.String(), 4000))
			}
			if code := exitCode(a.p.err); code != 0 {
				t.Errorf("exit status %d after SIGTERM:\n%s", code, tail(a.p.out.String(), 4000))
			}
			if out, err := p.a.run("ip", "link", "show", "oakley0"); err == nil {
				t.Errorf("oakley0 still exists after SIGTERM:\n%s", out)
			}
			if routes := p.a.mustRun(t, "ip", "route", "show"); strings.Contains(routes, netB4) {
				t.Errorf("route to %s left behind:\n%s", netB4, routes)
			}
			if _, err := os.Stat(a.spec.Socket); err == nil {
				t.Errorf("control socket %s left behind", a.spec.Socket)
			}
		})
	}
}
