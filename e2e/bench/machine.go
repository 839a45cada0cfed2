//go:build linux

package main

// Where the whole machine's time goes per GB (-perf): a system-wide perf record (every CPU,
// kernel and user, 499 samples per second per CPU, call chains) for 5 s in the middle of
// the first 1-stream run, each sample put in one category by its process and frames, and
// the categories' CPU seconds divided by the GB iperf3 moved in that run. The tunnel
// processes' own CPU (CPU s/GB in the table) leaves out what their packets cost the kernel
// elsewhere (softirqs, wake-ups, the applications' TCP) and the idle time; this shows all of
// it, so two paths' rows add up to the difference in what the machine spends per GB, and a
// single stream on a machine whose cores carry both tunnel ends, both kernels' TCP and
// iperf3 moves about (busy CPUs) / (busy CPU s per GB).

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"oakley/e2e/lab"
)

const (
	perfFreq   = 499 // samples per second per CPU
	perfWindow = 5 * time.Second
)

// Categories, in print order. Samples of the tunnel processes are split by their leaf frame
// (kernel frames by what called them); the rest by process.
var machineCats = []string{
	"tunnel: cipher",           // AES, GHASH, SHA, ChaCha20/Poly1305 (oakley/crypto, crypto/*, x/crypto, libcrypto)
	"tunnel: ESP/protocol",     // oakley/esp (but its UDP sockets), wireguard-go's device
	"tunnel: TUN/UDP batching", // GSO splitting, GRO coalescing, checksums, the batched sockets' own code
	"tunnel: Go runtime, libc", // scheduler, channels, memmove, system call stubs
	"tunnel: kernel copies",    // copy to and from user buffers
	"tunnel: kernel scheduler", // sleeping and waking (schedule, futex, epoll waits, wake-ups)
	"tunnel: kernel network",   // the rest of the kernel: UDP, TUN, routing, softirqs on our calls
	"tunnel: other",
	"iperf3 (TCP, both ends)",
	"other processes",
	"idle",
}

// machineProfile is one path's -perf result.
type machineProfile struct {
	Gbps      float64            `json:"tcp1_gbps"` // the run the window was taken from
	Samples   int                `json:"samples"`
	SecPerGB  map[string]float64 `json:"cpu_seconds_per_gb"`  // by category
	BusyPerGB float64            `json:"busy_seconds_per_gb"` // all but idle
}

// perfRecorder runs one perf record; started from the first 1-stream run.
type perfRecorder struct {
	file string
	done chan error
}

// newPerf prepares a recording for path (nil without -perf or perf); start begins it.
func newPerf(path string) *perfRecorder {
	if *perfDir == "" {
		return nil
	}
	if time.Duration(*secs)*time.Second < perfWindow+3*time.Second {
		fmt.Printf("   -perf needs -time %d or more; skipped\n", int((perfWindow+3*time.Second)/time.Second))
		return nil
	}
	if _, err := exec.LookPath("perf"); err != nil {
		fmt.Println("   -perf needs perf (Debian: linux-perf); skipped")
		return nil
	}
	if err := os.MkdirAll(*perfDir, 0o755); err != nil {
		fmt.Println("   perf:", err)
		return nil
	}
	return &perfRecorder{file: filepath.Join(*perfDir, fileBase(path)+".perf.data"), done: make(chan error, 1)}
}

// start records, from 2 s into the run (past slow start, as the Go profiles) for perfWindow;
// called once, as the first 1-stream run begins.
func (p *perfRecorder) start() {
	time.Sleep(2 * time.Second)
	out, err := exec.Command("perf", "record", "-a", "-g", "-F", strconv.Itoa(perfFreq), "-o", p.file,
		"--", "sleep", strconv.Itoa(int(perfWindow/time.Second))).CombinedOutput()
	if err != nil {
		err = fmt.Errorf("perf record: %v: %s", err, firstLine(string(out)))
	}
	p.done <- err
}

// finish waits for the recording and folds it into categories per GB at gbps.
func (p *perfRecorder) finish(procs []*lab.Proc, gbps float64) *machineProfile {
	if err := <-p.done; err != nil {
		fmt.Println("   perf:", err)
		return nil
	}
	out, err := exec.Command("perf", "script", "-i", p.file, "-F", "comm,pid,ip,sym").Output()
	if err != nil {
		fmt.Println("   perf script:", err)
		return nil
	}
	tunnel := map[int]bool{}
	for _, pr := range procs {
		tunnel[pr.Pid()] = true
	}
	counts, n := foldPerf(out, tunnel)
	if n == 0 || gbps <= 0 {
		return nil
	}
	gb := gbps / 8 * perfWindow.Seconds()
	mp := &machineProfile{Gbps: gbps, Samples: n, SecPerGB: map[string]float64{}}
	for c, k := range counts {
		v := float64(k) / perfFreq / gb
		mp.SecPerGB[c] = v
		if c != "idle" {
			mp.BusyPerGB += v
		}
	}
	var b strings.Builder
	for _, c := range machineCats {
		if v := mp.SecPerGB[c]; v > 0 {
			fmt.Fprintf(&b, "; %s %.3f", c, v)
		}
	}
	fmt.Printf("   machine CPU s/GB (perf, tcp1 run 1 at %.2f Gbit/s): busy %.3f%s\n", gbps, mp.BusyPerGB, b.String())
	return mp
}

// foldPerf reads perf script output (a "comm pid" line, then one "addr sym" line per frame,
// leaf first, then a blank line) and counts samples by category.
func foldPerf(out []byte, tunnel map[int]bool) (map[string]int, int) {
	counts := map[string]int{}
	n := 0
	var head string
	var frames []string
	flush := func() {
		if head == "" {
			return
		}
		n++
		counts[categorize(head, frames, tunnel)]++
		head, frames = "", frames[:0]
	}
	s := bufio.NewScanner(bytes.NewReader(out))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		l := s.Text()
		switch {
		case strings.TrimSpace(l) == "":
			flush()
		case l[0] != ' ' && l[0] != '\t':
			flush()
			head = l
		default:
			frames = append(frames, strings.TrimSpace(l))
		}
	}
	flush()
	return counts, n
}

// categorize puts one sample in a category. head is "comm pid" (comm may hold spaces);
// frames are "addr symbol", leaf first.
func categorize(head string, frames []string, tunnel map[int]bool) string {
	f := strings.Fields(head)
	pid := -1
	if len(f) > 0 {
		pid, _ = strconv.Atoi(f[len(f)-1])
	}
	switch {
	case pid == 0:
		return "idle"
	case tunnel[pid]:
	case len(f) > 0 && f[0] == "iperf3":
		return "iperf3 (TCP, both ends)"
	default:
		return "other processes"
	}
	if len(frames) == 0 {
		return "tunnel: other"
	}
	addr, sym, _ := strings.Cut(frames[0], " ")
	if strings.HasPrefix(addr, "ffffffff") {
		return kernelCategory(sym, frames)
	}
	return userCategory(sym)
}

func userCategory(sym string) string {
	has := func(ps ...string) bool {
		for _, p := range ps {
			if strings.Contains(sym, p) {
				return true
			}
		}
		return false
	}
	switch {
	case has("oakley/crypto.", "golang.org/x/crypto/") || strings.HasPrefix(sym, "crypto/"):
		return "tunnel: cipher"
	case has("oakley/tun.", "wireguard/tun.", "wireguard/conn.", "oakley/esp.(*udpSock)", "oakley/esp.(*UDPBind)"):
		return "tunnel: TUN/UDP batching"
	case has("oakley/esp.", "wireguard/device."):
		return "tunnel: ESP/protocol"
	case !strings.ContainsAny(sym, "/.") && has("aes", "AES", "gcm", "GCM", "sha", "SHA", "chacha", "poly1305", "ghash"):
		return "tunnel: cipher" // C libraries (strongSwan's libcrypto)
	case !strings.ContainsAny(sym, "/.") && has("esp_", "ipsec_", "child_sa"):
		return "tunnel: ESP/protocol"
	case strings.HasPrefix(sym, "runtime.") || strings.HasPrefix(sym, "internal/") ||
		strings.HasPrefix(sym, "syscall.") || strings.HasPrefix(sym, "sync.") || strings.HasPrefix(sym, "__") ||
		has("memcpy", "memmove", "pthread", "malloc", "free", "syscall", "vdso"):
		return "tunnel: Go runtime, libc"
	}
	return "tunnel: other"
}

// kernelCategory: copies by leaf; scheduling when the chain goes through the scheduler or a
// wake-up (samples deferred while interrupts were off land on the irq-enable, so the chain,
// not the leaf, says whose they are); the rest is the network stack and system calls.
func kernelCategory(leaf string, frames []string) string {
	if strings.Contains(leaf, "copy_") && (strings.Contains(leaf, "_iter") || strings.Contains(leaf, "user")) ||
		strings.HasPrefix(leaf, "memcpy") || strings.HasPrefix(leaf, "rep_movs") {
		return "tunnel: kernel copies"
	}
	for _, fr := range frames {
		_, sym, _ := strings.Cut(fr, " ")
		if sym == "__schedule" || sym == "schedule" || strings.HasPrefix(sym, "finish_task_switch") ||
			sym == "try_to_wake_up" || strings.HasPrefix(sym, "futex_") || sym == "do_nanosleep" ||
			sym == "do_epoll_wait" || sym == "ep_poll" || strings.HasPrefix(sym, "schedule_") {
			return "tunnel: kernel scheduler"
		}
	}
	return "tunnel: kernel network"
}

// printMachine prints the -perf categories of every path side by side, per GB, with the
// difference to the relay.
func printMachine(rep *report) {
	var rs []*result
	var relay *result
	for _, r := range rep.Results {
		if r.Machine != nil {
			rs = append(rs, r)
			if r.Path == "relay" {
				relay = r
			}
		}
	}
	if len(rs) == 0 {
		return
	}
	fmt.Printf("\nwhere the machine's time goes (-perf: all CPUs, 5 s of the first 1-stream run; CPU s per GB moved)\n")
	fmt.Printf("%-28s", "")
	for _, r := range rs {
		fmt.Printf(" %12s", shortPath(r.Path))
	}
	if relay != nil {
		fmt.Printf("   (minus relay)")
	}
	fmt.Println()
	row := func(name string, get func(*result) float64) {
		fmt.Printf("%-28s", name)
		for _, r := range rs {
			fmt.Printf(" %12.3f", get(r))
		}
		if relay != nil {
			for _, r := range rs {
				if r != relay {
					fmt.Printf(" %+8.3f", get(r)-get(relay))
				}
			}
		}
		fmt.Println()
	}
	for _, c := range machineCats {
		row(strings.TrimPrefix(c, "tunnel: "), func(r *result) float64 { return r.Machine.SecPerGB[c] })
	}
	row("busy (all but idle)", func(r *result) float64 { return r.Machine.BusyPerGB })
	row("Gbit/s in the window", func(r *result) float64 { return r.Machine.Gbps })
}

func shortPath(p string) string {
	p = strings.NewReplacer("oakley ", "oak ", "strongswan ", "sw ", "wireguard-go", "wg-go", "aes128gcm16", "gcm128",
		"aes256gcm16", "gcm256", "aes128-sha256", "cbc-sha256").Replace(p)
	if len(p) > 12 {
		p = p[:12]
	}
	return p
}
