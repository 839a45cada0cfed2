//go:build linux

package main

// One path's measurements: TCP with 1, 4 and 16 streams, UDP packet rates, CPU, ping.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"oakley/e2e/lab"
)

// pathSpec sets one tunnel up in a fresh pair of namespaces and says where to measure.
type pathSpec struct {
	name     string
	setup    func(l *lab.Lab, left, right string) ([]*lab.Proc, error)
	src, dst string // iperf3 client bind address and server address
}

func measureAll(rep *report) error {
	var err error
	if *oakBin == "" {
		if *oakBin, err = build("./cmd/oakley", "oakley"); err != nil {
			return err
		}
	}
	if *wgBin == "" {
		if *wgBin, err = build("golang.zx2c4.com/wireguard", "wireguard-go"); err != nil {
			return err
		}
	}
	if *relayBin == "" {
		if *relayBin, err = build("./e2e/bench/relay", "relay"); err != nil {
			return err
		}
	}
	specs := []pathSpec{
		{name: "veth", setup: func(*lab.Lab, string, string) ([]*lab.Proc, error) { return nil, nil }, src: "198.18.0.1", dst: "198.18.0.2"},
		{name: "relay", setup: relaySetup(""), src: innerA, dst: innerB},
		{name: "relay aes128gcm16", setup: relaySetup("aes128gcm16"), src: innerA, dst: innerB},
		{name: "wireguard-go", setup: setupWireGuard, src: innerA, dst: innerB},
	}
	// Each oakley path, then (with -baseline) the same path with the baseline binary right
	// after it, so a change's before and after are measured side by side in one run.
	for _, o := range []struct {
		proposal        string
		encLen, authLen int
	}{{"aes128gcm16", 20, 0}, {"aes256gcm16", 36, 0}, {"aes128-sha256", 16, 32}} {
		specs = append(specs, pathSpec{name: "oakley " + o.proposal, setup: oakleySetup(oakBin, o.proposal, o.encLen, o.authLen), src: innerA, dst: innerB})
		if *baseBin != "" {
			specs = append(specs, pathSpec{name: "baseline " + o.proposal, setup: oakleySetup(baseBin, o.proposal, o.encLen, o.authLen), src: innerA, dst: innerB})
		}
	}
	if lab.HaveCharon() == nil {
		specs = append(specs,
			pathSpec{name: "strongswan aes128gcm16", setup: charonSetup("aes128gcm16"), src: innerA, dst: innerB},
			pathSpec{name: "strongswan aes128-sha256", setup: charonSetup("aes128-sha256"), src: innerA, dst: innerB})
	} else {
		fmt.Println("bench: strongSwan not installed; its paths are skipped")
	}
	for _, s := range specs {
		if !wanted(s.name) {
			continue
		}
		fmt.Printf("== %s\n", s.name)
		r := measure(s)
		if r.Error != "" {
			fmt.Printf("   error: %s\n", r.Error)
		}
		rep.Results = append(rep.Results, r)
	}
	ratios(rep)
	return nil
}

const (
	innerA = "192.0.2.1"
	innerB = "198.51.100.1"
)

func measure(s pathSpec) *result {
	r := &result{Path: s.name}
	l, err := lab.New("okb")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer l.Close()
	left, err := l.NS("l")
	if err == nil {
		var right string
		if right, err = l.NS("r"); err == nil {
			err = topology(l, left, right)
			if err == nil {
				err = run(l, s, left, right, r)
			}
		}
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

func topology(l *lab.Lab, left, right string) error {
	if err := l.Veth(left, right, "veth0"); err != nil {
		return err
	}
	if err := l.Addr(left, "veth0", "198.18.0.1/24"); err != nil {
		return err
	}
	return l.Addr(right, "veth0", "198.18.0.2/24")
}

// oakleys are the daemons of the path being measured (nil for the other implementations).
var oakleys []*lab.Oakley

type oakStatus struct {
	Counters map[string]uint64 `json:"counters"`
	Runtime  struct {
		Mallocs uint64 `json:"mallocs"`
	} `json:"runtime"`
	Connections []struct {
		Children []struct {
			SAs []struct {
				Dir    string            `json:"dir"`
				Errors map[string]uint64 `json:"errors"`
			} `json:"sas"`
		} `json:"children"`
	} `json:"connections"`
}

// oakleyTotals sums mallocs and packets (device and network, both directions) of the daemons.
func oakleyTotals() (mallocs, packets float64) {
	for _, o := range oakleys {
		var st oakStatus
		if o.Status(&st) != nil {
			return 0, 0
		}
		mallocs += float64(st.Runtime.Mallocs)
		packets += float64(st.Counters["device_rx_packets"] + st.Counters["net_rx_packets"])
	}
	return mallocs, packets
}

// tcpRuns runs iperf3 with streams parallel streams runs times; it returns the throughput
// and retransmissions of each run.
func tcpRuns(l *lab.Lab, s pathSpec, left, right string, streams int, onFirst func()) (gbps, retr []float64, bytes float64, err error) {
	const port = 5201
	for i := range *runs {
		srv, err := l.Iperf3Server(right, s.dst, port)
		if err != nil {
			return nil, nil, 0, err
		}
		if i == 0 && onFirst != nil {
			go onFirst()
		}
		res, err := l.Iperf3TCP(left, s.src, s.dst, port, *secs, streams)
		_ = srv.Stop()
		if err != nil {
			return nil, nil, 0, err
		}
		bytes += res.Bytes
		gbps = append(gbps, res.Gbps)
		retr = append(retr, float64(res.Retransmits))
		fmt.Printf("   tcp %2d stream%s %6.2f Gbit/s (retransmits %d)\n", streams, plural(streams), res.Gbps, res.Retransmits)
	}
	return gbps, retr, bytes, nil
}

func plural(n int) string {
	if n == 1 {
		return " "
	}
	return "s"
}

func run(l *lab.Lab, s pathSpec, left, right string, r *result) error {
	oakleys = nil
	procs, err := s.setup(l, left, right)
	if err != nil {
		return err
	}
	// The tunnel is up when a ping crosses it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, err := l.Ping(left, s.src, s.dst, 1, 200*time.Millisecond); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no ping through %s: %s", s.name, procLogs(procs))
		}
	}
	cpu := func() time.Duration {
		var t time.Duration
		for _, p := range procs {
			t += p.CPU()
		}
		return t
	}
	var onFirst func()
	pr := newPerf(s.name)
	if pr != nil {
		onFirst = pr.start
	}
	if *profile != "" && len(oakleys) > 0 {
		prev := onFirst
		onFirst = func() {
			if prev != nil {
				prev()
			}
			saveProfiles(l, s.name, left, right)
		}
	}
	var sc *syscallCounter
	if *syscalls {
		if sc, err = startSyscallCounter(procs); err != nil {
			return err
		}
	}
	m0, p0 := oakleyTotals()
	c0, t0 := cpu(), time.Now()
	var bytes float64
	r.TCP1Runs, r.Retr1Runs, bytes, err = tcpRuns(l, s, left, right, 1, onFirst)
	if sc != nil {
		counts := sc.stop()
		if err == nil {
			r.SyscallsPerGB = syscallsPerGB(counts, bytes)
		}
	}
	if err != nil {
		return err
	}
	if pr != nil && len(r.TCP1Runs) > 0 { // the first run started the recording
		r.Machine = pr.finish(procs, r.TCP1Runs[0])
	}
	cpuTotal, elapsed := cpu()-c0, time.Since(t0).Seconds()
	if m1, p1 := oakleyTotals(); p1 > p0 {
		r.AllocsPerPkt = (m1 - m0) / (p1 - p0) // status calls themselves allocate a few hundred objects
		fmt.Printf("   Go heap allocations under load: %.0f for %.0f packets (%.4f per packet)\n", m1-m0, p1-p0, r.AllocsPerPkt)
	}
	if bytes > 0 && len(procs) > 0 {
		r.CPUSecPerGB = cpuTotal.Seconds() / (bytes / 1e9)
		r.TunnelCPU = cpuTotal.Seconds() / elapsed * 100
	}
	r.Drops = map[string]uint64{}
	for _, n := range []int{4, 16} {
		d0 := dropSnapshot(l, left, right)
		g, rt, _, err := tcpRuns(l, s, left, right, n, nil)
		if err != nil {
			return err
		}
		for k, v := range dropDiff(d0, dropSnapshot(l, left, right)) {
			r.Drops[fmt.Sprintf("tcp%d %s", n, k)] = v
		}
		if n == 4 {
			r.TCP4Runs, r.Retr4Runs = g, rt
		} else {
			r.TCP16Runs, r.Retr16Runs = g, rt
		}
	}
	r.TCP1Gbps, r.TCP4Gbps, r.TCP16Gbps = lab.Median(r.TCP1Runs), lab.Median(r.TCP4Runs), lab.Median(r.TCP16Runs)
	r.Retr1, r.Retr4, r.Retr16 = lab.Median(r.Retr1Runs), lab.Median(r.Retr4Runs), lab.Median(r.Retr16Runs)
	const port = 5201
	for _, size := range []int{64, 1400} {
		var pps []float64
		for range *runs {
			srv, err := l.Iperf3Server(right, s.dst, port)
			if err != nil {
				return err
			}
			res, err := l.Iperf3UDP(left, s.src, s.dst, port, max(*secs/2, 2), size)
			_ = srv.Stop()
			if err != nil {
				return err
			}
			pps = append(pps, res.PPS)
		}
		if size == 64 {
			r.UDP64PPS = lab.Median(pps)
		} else {
			r.UDP1400PPS = lab.Median(pps)
		}
		fmt.Printf("   udp %4d B    %8.0f packets/s delivered\n", size, lab.Median(pps))
	}
	idle, _, err := l.Ping(left, s.src, s.dst, 30, 50*time.Millisecond)
	if err != nil {
		return err
	}
	r.PingIdleMs = lab.Median(idle)
	srv, err := l.Iperf3Server(right, s.dst, port)
	if err != nil {
		return err
	}
	loadDone := make(chan error, 1)
	go func() {
		_, err := l.Iperf3TCP(left, s.src, s.dst, port, *secs, 1)
		loadDone <- err
	}()
	time.Sleep(time.Second)
	loaded, _, perr := l.Ping(left, s.src, s.dst, max(*secs*10-30, 20), 50*time.Millisecond)
	<-loadDone
	_ = srv.Stop()
	if perr == nil {
		r.PingLoadMs = lab.Median(loaded)
	}
	fmt.Printf("   ping p50 idle %.3f ms, under load %.3f ms; tunnel CPU %.0f%% of a core, %.2f CPU s/GB\n", r.PingIdleMs, r.PingLoadMs, r.TunnelCPU, r.CPUSecPerGB)
	return nil
}

// saveProfiles fetches a 5 s CPU profile from each oakley daemon's OAKLEY_PPROF listener
// (inside its namespace) into the -profile directory.
func saveProfiles(l *lab.Lab, path, left, right string) {
	time.Sleep(2 * time.Second) // past slow start
	if err := os.MkdirAll(*profile, 0o755); err != nil {
		fmt.Println("   profile:", err)
		return
	}
	base := fileBase(path)
	done := make(chan struct{}, 2)
	for _, side := range []struct{ ns, name string }{{left, "left"}, {right, "right"}} {
		go func() {
			defer func() { done <- struct{}{} }()
			out := filepath.Join(*profile, base+"-"+side.name+".pprof")
			if _, err := l.Exec(side.ns, "curl", "-s", "-o", out, "http://"+pprofAddr+"/debug/pprof/profile?seconds=5"); err != nil {
				fmt.Println("   profile:", err)
				return
			}
			if s := stageShares(out, 5); s != "" {
				fmt.Printf("   pipeline stages, %s (share of one core): %s\n", side.name, s)
			}
		}()
	}
	<-done
	<-done
}

// fileBase turns a path's name into a file name's stem ("oakley aes128gcm16" →
// "oakley-aes128gcm16").
func fileBase(path string) string { return strings.NewReplacer(" ", "-", "/", "-").Replace(path) }

// stageShares reads a CPU profile's "stage" labels (esp's pipeline goroutines) and returns
// each stage's share of one core over secs seconds: a stage near 100% is the one its
// direction waits for.
func stageShares(file string, secs float64) string {
	out, err := exec.Command("go", "tool", "pprof", "-tags", "-tagfocus", "stage=.", file).Output()
	if err != nil {
		return ""
	}
	return parseStageTags(string(out), secs)
}

// parseStageTags reads `go tool pprof -tags` output.
func parseStageTags(out string, secs float64) string {
	var parts []string
	for _, l := range strings.Split(out, "\n") {
		// "        2.74s (78.51%): out-reader"
		l = strings.TrimSpace(l)
		val, name, ok := strings.Cut(l, "): ")
		if !ok || strings.Contains(l, "Total") {
			continue
		}
		d, err := time.ParseDuration(strings.Fields(val)[0])
		if err != nil {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%%", name, d.Seconds()/secs*100))
	}
	return strings.Join(parts, ", ")
}

// pprofAddr is where oakley serves its profiler inside each namespace (-profile only).
const pprofAddr = "127.0.0.1:6060"

func procLogs(ps []*lab.Proc) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "\n--- %s\n%s", p.Name, p.Output())
	}
	return b.String()
}
