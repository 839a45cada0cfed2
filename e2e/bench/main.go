//go:build linux

// Command bench is oakley's benchmark harness (`make bench`). On one machine and in one run it
// measures, between two network namespaces joined by a veth pair:
//
//   - iperf3 TCP throughput and retransmissions with 1, 4 and 16 streams: the bare veth; the
//     relay (relay/: oakley's own TUN and batched UDP code moving packets with no crypto and
//     no ESP, the ceiling of this design), the same relay sealing inline with AES-128-GCM;
//     oakley with AES-128-GCM, AES-256-GCM and AES-128-CBC+HMAC-SHA256; wireguard-go (built
//     from the Go module pinned in go.mod); strongSwan's charon with kernel-libipsec
//     (AES-128-GCM and AES-128-CBC+HMAC-SHA256);
//   - UDP packets per second with 64- and 1400-byte payloads;
//   - CPU seconds the tunnel processes spend per GB carried;
//   - ping RTT at idle and under a full iperf3 load;
//   - the packets each queue dropped on the way (oakley's counters, the kernel's UDP, TUN and
//     veth counters in both namespaces);
//
// and prints one table with every figure also as a ratio to the relay, to wireguard-go and to
// the bare veth, written as JSON too. It then runs the esp package's in-memory benchmarks (no
// root needed, sas.go): per-packet cost and memory with 1, 100 and 10,000 installed child SA
// pairs (-sas; traffic spread over 100 of them), the pipelines at -cpu 1,2, and the two-engine
// pipeline benchmark, so the pipeline can be profiled without namespaces.
//
// Medians of -runs runs are reported; the machine is shared, so compare ratios measured in
// the same run, never absolute figures across runs. Needs root, iperf3 and ping; strongSwan
// and the in-memory benchmark are skipped with a message when unavailable.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"oakley/e2e/lab"
)

type result struct {
	Path         string            `json:"path"`
	TCP1Gbps     float64           `json:"tcp_1stream_gbps"`
	TCP4Gbps     float64           `json:"tcp_4stream_gbps"`
	TCP16Gbps    float64           `json:"tcp_16stream_gbps"`
	TCP1Runs     []float64         `json:"tcp_1stream_runs"`
	TCP4Runs     []float64         `json:"tcp_4stream_runs"`
	TCP16Runs    []float64         `json:"tcp_16stream_runs"`
	Retr1        float64           `json:"tcp_1stream_retransmits"` // medians of the runs
	Retr4        float64           `json:"tcp_4stream_retransmits"`
	Retr16       float64           `json:"tcp_16stream_retransmits"`
	Retr1Runs    []float64         `json:"tcp_1stream_retransmit_runs"`
	Retr4Runs    []float64         `json:"tcp_4stream_retransmit_runs"`
	Retr16Runs   []float64         `json:"tcp_16stream_retransmit_runs"`
	UDP64PPS     float64           `json:"udp_64_pps"`
	UDP1400PPS   float64           `json:"udp_1400_pps"`
	CPUSecPerGB  float64           `json:"cpu_seconds_per_gb"`
	TunnelCPU    float64           `json:"tunnel_cpu_percent"`          // of one core, during the 1-stream runs
	AllocsPerPkt float64           `json:"allocs_per_packet,omitempty"` // oakley: Go heap allocations per packet under load
	PingIdleMs   float64           `json:"ping_idle_p50_ms"`
	PingLoadMs   float64           `json:"ping_load_p50_ms"`
	Drops        map[string]uint64 `json:"drops,omitempty"` // every queue's drops over the TCP runs, by name
	// SyscallsPerGB: -syscalls, both ends' system calls (by name; "sys_enter" is all of them)
	// and context switches per GB over the 1-stream runs.
	SyscallsPerGB map[string]float64 `json:"syscalls_per_gb,omitempty"`
	Machine       *machineProfile    `json:"machine_per_gb,omitempty"` // -perf: the whole machine's CPU per GB by category
	Ratios        map[string]float64 `json:"ratios"`
	Error         string             `json:"error,omitempty"`
}

type report struct {
	Date     string           `json:"date"`
	Commit   string           `json:"commit"`
	Host     string           `json:"host"`
	CPUs     int              `json:"cpus"`
	Seconds  int              `json:"seconds_per_run"`
	Runs     int              `json:"runs"`
	MTU      int              `json:"tunnel_mtu"`
	Results  []*result        `json:"results"`
	SAs      []*saResult      `json:"sa_count,omitempty"`
	Scaling  []*scalingResult `json:"core_scaling,omitempty"`
	InMemory string           `json:"in_memory_benchmark,omitempty"`
}

var (
	secs     = flag.Int("time", 10, "seconds per iperf3 run")
	runs     = flag.Int("runs", 3, "runs per measurement (medians are reported)")
	jsonOut  = flag.String("json", "bench-results.json", "where to write the JSON report")
	only     = flag.String("only", "", "comma-separated path names to run (default: all; \"none\" for none)")
	oakBin   = flag.String("oakley", "", "oakley binary (default: build it)")
	wgBin    = flag.String("wireguard", "", "wireguard-go binary (default: build it from the module in go.mod)")
	relayBin = flag.String("relay", "", "relay binary (default: build it from ./e2e/bench/relay)")
	baseBin  = flag.String("baseline", "", "a second oakley binary (e.g. built before a change): each oakley path is measured again with it, as \"baseline <proposal>\", right after")
	skipMem  = flag.Bool("skip-inmemory", false, "skip the in-memory two-engine benchmark")
	tunnelMT = flag.Int("mtu", 1420, "tunnel MTU for every tunnel (wireguard-go's default)")
	workers  = flag.Int("workers", 0, "oakley's daemon.workers (0 = automatic)")
	syscalls = flag.Bool("syscalls", false, "count the tunnel processes' system calls and context switches per GB over the 1-stream runs (perf stat)")
	profile  = flag.String("profile", "", "directory: save 5 s CPU profiles (OAKLEY_PPROF) of both oakley daemons during the first 1-stream run")
	perfDir  = flag.String("perf", "", "directory: record every CPU (perf record -a) for 5 s of each path's first 1-stream run and print where the machine's time goes per GB")
	saCounts = flag.String("sas", "1,100,10000", "installed child SA counts for the in-memory SA-count benchmark (empty = skip)")
)

func main() {
	flag.Parse()
	rep := &report{Date: time.Now().UTC().Format(time.RFC3339), Commit: gitCommit(), CPUs: runtime.NumCPU(),
		Seconds: *secs, Runs: *runs, MTU: *tunnelMT}
	rep.Host, _ = os.Hostname()
	if !lab.Root() {
		fmt.Println("bench: namespace measurements need root; running only the in-memory benchmark")
	} else if err := lab.Have("iperf3", "ping", "ip"); err != nil {
		fmt.Println("bench: skipping namespace measurements:", err)
	} else {
		if err := measureAll(rep); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if *saCounts != "" {
		if err := measureSAs(rep); err != nil {
			fmt.Fprintln(os.Stderr, "bench: SA-count benchmark:", err)
		}
	}
	if !*skipMem {
		rep.InMemory = inMemory()
		if err := measureScaling(rep); err != nil {
			fmt.Fprintln(os.Stderr, "bench: core-scaling benchmark:", err)
		}
	}
	printTable(rep)
	if b, err := json.MarshalIndent(rep, "", "  "); err == nil {
		if err := os.WriteFile(*jsonOut, b, 0o644); err == nil {
			fmt.Printf("\nJSON: %s\n", *jsonOut)
		}
	}
}

func gitCommit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func build(pkg, name string) (string, error) {
	out := filepath.Join(os.TempDir(), "oakley-bench-"+name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v: %s", pkg, err, b)
	}
	return out, nil
}

func wanted(name string) bool {
	if *only == "" {
		return true
	}
	for _, o := range strings.Split(*only, ",") {
		if strings.TrimSpace(o) == name {
			return true
		}
	}
	return false
}

func ratios(rep *report) {
	var wg, veth, relay *result
	for _, r := range rep.Results {
		switch r.Path {
		case "wireguard-go":
			wg = r
		case "veth":
			veth = r
		case "relay":
			relay = r
		}
	}
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	for _, r := range rep.Results {
		r.Ratios = map[string]float64{}
		if relay != nil {
			r.Ratios["tcp1_vs_relay"] = div(r.TCP1Gbps, relay.TCP1Gbps)
			r.Ratios["tcp4_vs_relay"] = div(r.TCP4Gbps, relay.TCP4Gbps)
			r.Ratios["tcp16_vs_relay"] = div(r.TCP16Gbps, relay.TCP16Gbps)
			r.Ratios["udp64_vs_relay"] = div(r.UDP64PPS, relay.UDP64PPS)
			r.Ratios["udp1400_vs_relay"] = div(r.UDP1400PPS, relay.UDP1400PPS)
			r.Ratios["cpu_per_gb_vs_relay"] = div(r.CPUSecPerGB, relay.CPUSecPerGB)
		}
		if wg != nil {
			r.Ratios["tcp1_vs_wireguard"] = div(r.TCP1Gbps, wg.TCP1Gbps)
			r.Ratios["tcp4_vs_wireguard"] = div(r.TCP4Gbps, wg.TCP4Gbps)
			r.Ratios["tcp16_vs_wireguard"] = div(r.TCP16Gbps, wg.TCP16Gbps)
			r.Ratios["udp64_vs_wireguard"] = div(r.UDP64PPS, wg.UDP64PPS)
			r.Ratios["udp1400_vs_wireguard"] = div(r.UDP1400PPS, wg.UDP1400PPS)
			r.Ratios["cpu_per_gb_vs_wireguard"] = div(r.CPUSecPerGB, wg.CPUSecPerGB)
			r.Ratios["ping_load_vs_wireguard"] = div(r.PingLoadMs, wg.PingLoadMs)
		}
		if veth != nil {
			r.Ratios["tcp1_vs_veth"] = div(r.TCP1Gbps, veth.TCP1Gbps)
			r.Ratios["tcp4_vs_veth"] = div(r.TCP4Gbps, veth.TCP4Gbps)
		}
	}
}

func printTable(rep *report) {
	fmt.Printf("\noakley benchmark %s, commit %s, %d CPUs, %d x %d s per figure (medians), tunnel MTU %d\n",
		rep.Date, rep.Commit, rep.CPUs, rep.Runs, rep.Seconds, rep.MTU)
	row := "%-26s %7s %7s %7s %7s %7s %7s %8s %8s %8s %7s %7s %7s %7s %7s %7s\n"
	fmt.Printf(row, "path", "tcp1", "tcp4", "tcp16", "rtx1", "rtx4", "rtx16", "udp64", "udp1400",
		"CPU", "ping", "ping", "tcp1/", "tcp4/", "tcp1/", "tcp4/")
	fmt.Printf(row, "", "Gbit/s", "Gbit/s", "Gbit/s", "", "", "", "kpps", "kpps", "s/GB", "idle ms", "load ms",
		"relay", "relay", "wg", "wg")
	for _, r := range rep.Results {
		if r.Error != "" {
			fmt.Printf("%-26s error: %s\n", r.Path, firstLine(r.Error))
			continue
		}
		fmt.Printf("%-26s %7.2f %7.2f %7.2f %7.0f %7.0f %7.0f %8.1f %8.1f %8.2f %7.3f %7.3f %7.2f %7.2f %7.2f %7.2f\n",
			r.Path, r.TCP1Gbps, r.TCP4Gbps, r.TCP16Gbps, r.Retr1, r.Retr4, r.Retr16,
			r.UDP64PPS/1e3, r.UDP1400PPS/1e3, r.CPUSecPerGB, r.PingIdleMs, r.PingLoadMs,
			r.Ratios["tcp1_vs_relay"], r.Ratios["tcp4_vs_relay"], r.Ratios["tcp1_vs_wireguard"], r.Ratios["tcp4_vs_wireguard"])
	}
	printDrops(rep)
	printMachine(rep)
	printSAs(rep)
	if rep.InMemory != "" {
		fmt.Printf("\nin-memory two-engine benchmark (no namespaces):\n%s\n", rep.InMemory)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// inMemory runs the esp package's two-engine pipeline benchmark.
func inMemory() string {
	cmd := exec.Command("go", "test", "./esp", "-run", "^$", "-bench", "BenchmarkPipeline", "-benchmem", "-benchtime", "2s")
	out, err := cmd.CombinedOutput()
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Benchmark") {
			lines = append(lines, l)
		}
	}
	if err != nil || len(lines) == 0 {
		return "in-memory benchmark failed: " + firstLine(string(out))
	}
	return strings.Join(lines, "\n")
}
