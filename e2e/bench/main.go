//go:build linux

// Command bench is oakley's benchmark harness (`make bench`). On one machine and in one run it
// measures, between two network namespaces joined by a veth pair:
//
//   - iperf3 TCP throughput, 1 and 4 streams: the bare veth; oakley with AES-128-GCM,
//     AES-256-GCM and AES-128-CBC+HMAC-SHA256; wireguard-go (built from the Go module pinned
//     in go.mod); strongSwan's charon with kernel-libipsec (AES-128-GCM and
//     AES-128-CBC+HMAC-SHA256);
//   - UDP packets per second with 64- and 1400-byte payloads;
//   - CPU seconds the tunnel processes spend per GB carried;
//   - ping RTT at idle and under a full iperf3 load;
//
// and prints one table with every figure also as a ratio to wireguard-go and to the bare veth,
// written as JSON too. It then runs the in-memory two-engine benchmark (no root needed), so the
// pipeline can be profiled without namespaces.
//
// Medians of -runs runs are reported; the machine is shared, so compare ratios measured in
// the same run, never absolute figures across runs. Needs root, iperf3 and ping; strongSwan
// and the in-memory benchmark are skipped with a message when unavailable.
package main

import (
	"crypto/rand"
	"encoding/hex"
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
	Path         string             `json:"path"`
	TCP1Gbps     float64            `json:"tcp_1stream_gbps"`
	TCP4Gbps     float64            `json:"tcp_4stream_gbps"`
	TCP1Runs     []float64          `json:"tcp_1stream_runs"`
	TCP4Runs     []float64          `json:"tcp_4stream_runs"`
	UDP64PPS     float64            `json:"udp_64_pps"`
	UDP1400PPS   float64            `json:"udp_1400_pps"`
	CPUSecPerGB  float64            `json:"cpu_seconds_per_gb"`
	TunnelCPU    float64            `json:"tunnel_cpu_percent"`          // of one core, during the 1-stream runs
	AllocsPerPkt float64            `json:"allocs_per_packet,omitempty"` // oakley: Go heap allocations per packet under load
	PingIdleMs   float64            `json:"ping_idle_p50_ms"`
	PingLoadMs   float64            `json:"ping_load_p50_ms"`
	Ratios       map[string]float64 `json:"ratios"`
	Error        string             `json:"error,omitempty"`
}

type report struct {
	Date     string    `json:"date"`
	Commit   string    `json:"commit"`
	Host     string    `json:"host"`
	CPUs     int       `json:"cpus"`
	Seconds  int       `json:"seconds_per_run"`
	Runs     int       `json:"runs"`
	MTU      int       `json:"tunnel_mtu"`
	Results  []*result `json:"results"`
	InMemory string    `json:"in_memory_benchmark,omitempty"`
}

var (
	secs     = flag.Int("time", 10, "seconds per iperf3 run")
	runs     = flag.Int("runs", 3, "runs per measurement (medians are reported)")
	jsonOut  = flag.String("json", "bench-results.json", "where to write the JSON report")
	only     = flag.String("only", "", "comma-separated path names to run (default: all)")
	oakBin   = flag.String("oakley", "", "oakley binary (default: build it)")
	wgBin    = flag.String("wireguard", "", "wireguard-go binary (default: build it from the module in go.mod)")
	skipMem  = flag.Bool("skip-inmemory", false, "skip the in-memory two-engine benchmark")
	tunnelMT = flag.Int("mtu", 1420, "tunnel MTU for every tunnel (wireguard-go's default)")
	workers  = flag.Int("workers", 0, "oakley's daemon.workers (0 = GOMAXPROCS)")
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
	if !*skipMem {
		rep.InMemory = inMemory()
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
	specs := []pathSpec{
		{name: "veth", setup: func(*lab.Lab, string, string) ([]*lab.Proc, error) { return nil, nil }, src: "198.18.0.1", dst: "198.18.0.2"},
		{name: "wireguard-go", setup: setupWireGuard, src: innerA, dst: innerB},
		{name: "oakley aes128gcm16", setup: oakleySetup("aes128gcm16", 20, 0), src: innerA, dst: innerB},
		{name: "oakley aes256gcm16", setup: oakleySetup("aes256gcm16", 36, 0), src: innerA, dst: innerB},
		{name: "oakley aes128-sha256", setup: oakleySetup("aes128-sha256", 16, 32), src: innerA, dst: innerB},
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
	port := 5201
	var cpuTotal time.Duration
	var bytes float64
	var elapsed float64
	m0, p0 := oakleyTotals()
	for range *runs {
		srv, err := l.Iperf3Server(right, s.dst, port)
		if err != nil {
			return err
		}
		c0, t0 := cpu(), time.Now()
		res, err := l.Iperf3TCP(left, s.src, s.dst, port, *secs, 1)
		cpuTotal += cpu() - c0
		elapsed += time.Since(t0).Seconds()
		_ = srv.Stop()
		if err != nil {
			return err
		}
		bytes += res.Bytes
		r.TCP1Runs = append(r.TCP1Runs, res.Gbps)
		fmt.Printf("   tcp 1 stream  %6.2f Gbit/s (retransmits %d)\n", res.Gbps, res.Retransmits)
	}
	if m1, p1 := oakleyTotals(); p1 > p0 {
		r.AllocsPerPkt = (m1 - m0) / (p1 - p0) // status calls themselves allocate a few hundred objects
		fmt.Printf("   Go heap allocations under load: %.0f for %.0f packets (%.4f per packet)\n", m1-m0, p1-p0, r.AllocsPerPkt)
	}
	if bytes > 0 && len(procs) > 0 {
		r.CPUSecPerGB = cpuTotal.Seconds() / (bytes / 1e9)
		r.TunnelCPU = cpuTotal.Seconds() / elapsed * 100
	}
	for range *runs {
		srv, err := l.Iperf3Server(right, s.dst, port)
		if err != nil {
			return err
		}
		res, err := l.Iperf3TCP(left, s.src, s.dst, port, *secs, 4)
		_ = srv.Stop()
		if err != nil {
			return err
		}
		r.TCP4Runs = append(r.TCP4Runs, res.Gbps)
		fmt.Printf("   tcp 4 streams %6.2f Gbit/s\n", res.Gbps)
	}
	r.TCP1Gbps, r.TCP4Gbps = lab.Median(r.TCP1Runs), lab.Median(r.TCP4Runs)
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

func procLogs(ps []*lab.Proc) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "\n--- %s\n%s", p.Name, p.Output())
	}
	return b.String()
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

const oakleyBenchConfig = `[daemon]
control_socket = "%%SOCKET%%"
log_level = "warn"
workers = %d

[device]
name = "oak0"
mtu = %d
addresses = ["%s/32"]

[[connection]]
name = "bench"
keying = "manual"
local_addr = "%s"
remote_addr = "%s"

  [[connection.child]]
  name = "net"
  local_ts = ["%s/32"]
  remote_ts = ["%s/32"]
  esp_proposals = ["%s"]
  in_spi = "%s"
  out_spi = "%s"
  in_key = "%s"
  out_key = "%s"
%s`

func oakleySetup(proposal string, encLen, authLen int) func(*lab.Lab, string, string) ([]*lab.Proc, error) {
	return func(l *lab.Lab, left, right string) ([]*lab.Proc, error) {
		kAB, kBA := randHex(encLen), randHex(encLen)
		aAB, aBA := randHex(authLen), randHex(authLen)
		auth := func(in, out string) string {
			if authLen == 0 {
				return ""
			}
			return fmt.Sprintf("  in_auth_key = \"%s\"\n  out_auth_key = \"%s\"\n", in, out)
		}
		a := fmt.Sprintf(oakleyBenchConfig, *workers, *tunnelMT, innerA, "198.18.0.1", "198.18.0.2", innerA, innerB, proposal,
			"0x00001001", "0x00002002", kBA, kAB, auth(aBA, aAB))
		b := fmt.Sprintf(oakleyBenchConfig, *workers, *tunnelMT, innerB, "198.18.0.2", "198.18.0.1", innerB, innerA, proposal,
			"0x00002002", "0x00001001", kAB, kBA, auth(aAB, aBA))
		pa, err := l.StartOakley(left, *oakBin, "oakley-left", a)
		if err != nil {
			return nil, err
		}
		pb, err := l.StartOakley(right, *oakBin, "oakley-right", b)
		if err != nil {
			return nil, err
		}
		oakleys = []*lab.Oakley{pa, pb}
		return []*lab.Proc{pa.Proc, pb.Proc}, nil
	}
}

func setupWireGuard(l *lab.Lab, left, right string) ([]*lab.Proc, error) {
	ka, err := lab.NewWireGuardKey()
	if err != nil {
		return nil, err
	}
	kb, err := lab.NewWireGuardKey()
	if err != nil {
		return nil, err
	}
	dev := "wg" + l.Prefix[len(l.Prefix)-4:]
	pa, err := l.StartWireGuard(left, lab.WireGuard{Bin: *wgBin, Dev: dev + "l", Key: ka, ListenPort: 51820,
		PeerPublic: kb.Public, PeerEndpoint: "198.18.0.2:51820", Address: innerA + "/32",
		AllowedIPs: []string{innerB + "/32"}, MTU: *tunnelMT})
	if err != nil {
		return nil, err
	}
	pb, err := l.StartWireGuard(right, lab.WireGuard{Bin: *wgBin, Dev: dev + "r", Key: kb, ListenPort: 51820,
		PeerPublic: ka.Public, PeerEndpoint: "198.18.0.1:51820", Address: innerB + "/32",
		AllowedIPs: []string{innerA + "/32"}, MTU: *tunnelMT})
	if err != nil {
		return nil, err
	}
	return []*lab.Proc{pa, pb}, nil
}

const charonBenchConfig = `connections {
	bench {
		version = 1
		proposals = aes256-sha256-modp2048
		remote_addrs = %s
		local {
			auth = psk
			id = %s
		}
		remote {
			auth = psk
			id = %s
		}
		children {
			net {
				local_ts = %s/32
				remote_ts = %s/32
				esp_proposals = %s
				start_action = none
			}
		}
	}
}
secrets {
	ike-bench {
		id-1 = left.bench.example
		id-2 = right.bench.example
		secret = "%s"
	}
}
`

func charonSetup(esp string) func(*lab.Lab, string, string) ([]*lab.Proc, error) {
	return func(l *lab.Lab, left, right string) ([]*lab.Proc, error) {
		psk := randHex(24)
		for _, x := range []struct{ ns, inner string }{{left, innerA}, {right, innerB}} {
			if err := l.Addr(x.ns, "lo", x.inner+"/32"); err != nil {
				return nil, err
			}
		}
		cl, err := l.StartCharon(left, "charon-left", fmt.Sprintf(charonBenchConfig, "198.18.0.2", "left.bench.example", "right.bench.example", innerA, innerB, esp, psk), nil, "")
		if err != nil {
			return nil, err
		}
		cr, err := l.StartCharon(right, "charon-right", fmt.Sprintf(charonBenchConfig, "%any", "right.bench.example", "left.bench.example", innerB, innerA, esp, psk), nil, "")
		if err != nil {
			return nil, err
		}
		if out, err := cl.Swanctl("--initiate", "--child", "net", "--timeout", "20"); err != nil {
			return nil, fmt.Errorf("swanctl --initiate: %v: %s", err, out)
		}
		// libipsec's TUN keeps its hard-coded MTU of 1400: raising it to the others' 1420
		// makes full-sized TCP segments vanish inside libipsec (measured: 0 Gbit/s).
		return []*lab.Proc{cl.Proc, cr.Proc}, nil
	}
}

func ratios(rep *report) {
	var wg, veth *result
	for _, r := range rep.Results {
		switch r.Path {
		case "wireguard-go":
			wg = r
		case "veth":
			veth = r
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
		if wg != nil {
			r.Ratios["tcp1_vs_wireguard"] = div(r.TCP1Gbps, wg.TCP1Gbps)
			r.Ratios["tcp4_vs_wireguard"] = div(r.TCP4Gbps, wg.TCP4Gbps)
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
	fmt.Printf("%-26s %9s %9s %10s %10s %9s %9s %9s %9s %9s %9s\n", "path", "tcp1", "tcp4", "udp64", "udp1400",
		"CPU s/GB", "ping idle", "ping load", "tcp1/wg", "tcp4/wg", "tcp1/veth")
	fmt.Printf("%-26s %9s %9s %10s %10s %9s %9s %9s %9s %9s %9s\n", "", "Gbit/s", "Gbit/s", "kpps", "kpps", "", "ms", "ms", "", "", "")
	for _, r := range rep.Results {
		if r.Error != "" {
			fmt.Printf("%-26s error: %s\n", r.Path, firstLine(r.Error))
			continue
		}
		fmt.Printf("%-26s %9.2f %9.2f %10.1f %10.1f %9.2f %9.3f %9.3f %9.2f %9.2f %9.3f\n", r.Path, r.TCP1Gbps, r.TCP4Gbps,
			r.UDP64PPS/1e3, r.UDP1400PPS/1e3, r.CPUSecPerGB, r.PingIdleMs, r.PingLoadMs,
			r.Ratios["tcp1_vs_wireguard"], r.Ratios["tcp4_vs_wireguard"], r.Ratios["tcp1_vs_veth"])
	}
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
