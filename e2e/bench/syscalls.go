//go:build linux

package main

// System calls and context switches per GB of the tunnel processes (-syscalls): perf stat
// counts the syscall tracepoints of each tunnel process in the kernel (no per-event
// buffering, so the cost to the measured process is a counter increment per call) over the
// 1-stream runs, and the harness divides by the bytes iperf3 moved. It answers how many
// calls each path makes per GB and so, with about 730,000 packets per GB at MTU 1420, how
// many packets each call carries.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"oakley/e2e/lab"
)

var syscallEvents = []string{"raw_syscalls:sys_enter", "context-switches",
	"syscalls:sys_enter_sendmmsg", "syscalls:sys_enter_sendmsg", "syscalls:sys_enter_recvmmsg",
	"syscalls:sys_enter_recvmsg", "syscalls:sys_enter_read", "syscalls:sys_enter_readv",
	"syscalls:sys_enter_write", "syscalls:sys_enter_writev", "syscalls:sys_enter_futex",
	"syscalls:sys_enter_epoll_pwait", "syscalls:sys_enter_nanosleep", "syscalls:sys_enter_sched_yield",
	"syscalls:sys_enter_tgkill", "syscalls:sys_enter_getpid"}

// syscallCounter is one perf stat per tunnel process.
type syscallCounter struct {
	cmds  []*exec.Cmd
	files []string
}

func startSyscallCounter(procs []*lab.Proc) (*syscallCounter, error) {
	if _, err := exec.LookPath("perf"); err != nil {
		return nil, fmt.Errorf("-syscalls needs perf (Debian: linux-perf)")
	}
	sc := &syscallCounter{}
	for i, p := range procs {
		out := filepath.Join(os.TempDir(), fmt.Sprintf("oakley-bench-perf-%d-%d.csv", os.Getpid(), i))
		cmd := exec.Command("perf", "stat", "-x", ",", "-o", out, "-e", strings.Join(syscallEvents, ","),
			"-p", strconv.Itoa(p.Pid()))
		if err := cmd.Start(); err != nil {
			sc.stop()
			return nil, err
		}
		sc.cmds, sc.files = append(sc.cmds, cmd), append(sc.files, out)
	}
	time.Sleep(200 * time.Millisecond) // perf attaches
	return sc, nil
}

// stop ends the counting and returns the counts summed over the processes, by event name
// without its "syscalls:sys_enter_" prefix.
func (sc *syscallCounter) stop() map[string]float64 {
	for _, c := range sc.cmds {
		_ = c.Process.Signal(syscall.SIGINT)
		_ = c.Wait()
	}
	m := map[string]float64{}
	for _, f := range sc.files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		s := bufio.NewScanner(fh)
		for s.Scan() {
			// value,unit,event,...
			fs := strings.Split(s.Text(), ",")
			if len(fs) < 3 || strings.HasPrefix(fs[0], "#") {
				continue
			}
			v, err := strconv.ParseFloat(fs[0], 64)
			if err != nil {
				continue
			}
			name := strings.TrimPrefix(strings.TrimPrefix(fs[2], "syscalls:sys_enter_"), "raw_syscalls:")
			m[name] += v
		}
		fh.Close()
		os.Remove(f)
	}
	return m
}

// syscallsPerGB divides counts by the bytes moved and prints them, largest first.
func syscallsPerGB(counts map[string]float64, bytes float64) map[string]float64 {
	out := map[string]float64{}
	if bytes <= 0 {
		return out
	}
	var names []string
	for k, v := range counts {
		if v > 0 {
			out[k] = v / (bytes / 1e9)
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool { return out[names[i]] > out[names[j]] })
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, " %s %.0f", k, out[k])
	}
	fmt.Printf("   per GB, both ends (tcp1):%s\n", b.String())
	return out
}
