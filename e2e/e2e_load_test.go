//go:build linux

package e2e

// Many peers (issue 13): the load generator (e2e/loadgen, oakley's own IKE engine and data
// plane in one process, one outer address per peer) brings up LOAD_PEERS (default 100;
// `make loadtest N=1000`) tunnels with a PSK, IKEv1 (Main Mode + Quick Mode) and
// IKEv2 (IKE_SA_INIT + IKE_AUTH; LOAD_VERSIONS picks, default both), against one
// `oakley up` responder, sends one echo through every tunnel, then drops them all.
//
//	[gen] veth0 198.18.0.1/24 + 198.19.0.1 ... (one /32 per peer) ---- veth0 198.18.0.2/24 [resp]
//	 peers' inner addresses 2001:db8:a::1 ...                          oakley, TUN 2001:db8:b::1
//
// Two responder layouts: "any", the issue's, one connection with remote_addr = "%any" and
// remote_id = "%any" serving every peer; "per-peer", one [[connection]] per peer with its
// address, identity and inner address. Figures: tunnels per second, the responder's live
// heap (after a forced GC, through OAKLEY_PPROF) and RSS per tunnel (IKE SA + child pair),
// every tunnel carrying an echo, and the heap and goroutines returning after the drop.
// LOAD_LAYOUTS (default "any,per-peer") picks the layouts; LOAD_HEAP_PROFILES=DIR keeps
// the responder's heap profiles (before, with the tunnels, after the drop) for
// `go tool pprof -diff_base`.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	loadResponder4 = "198.18.0.2"
	loadGen4       = "198.18.0.1"
	loadFirstPeer  = "198.19.0.1"
	loadPprof      = "127.0.0.1:6060"
)

// loadResponderTOML is the responder's configuration for n peers in a layout.
func loadResponderTOML(layout string, version, n int, psk, sock string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[daemon]\ncontrol_socket = %q\nlog_level = \"warn\"\n\n[device]\naddresses = [\"2001:db8:b::1/128\"]\n", sock)
	conn := func(name, addr, id, remoteTS string) {
		fmt.Fprintf(&b, `
[[connection]]
name = %q
keying = "ike"
version = %d
local_addr = %q
remote_addr = %q
local_id = "responder.load.example"
remote_id = %q
psk = %q
proposals = ["aes128-sha256-ecp256"]
dpd_delay = "0s"
start_action = "none"
  [[connection.child]]
  name = "net"
  local_ts = ["2001:db8:b::/48"]
  remote_ts = [%q]
  esp_proposals = ["aes128gcm16"]
`, name, version, loadResponder4, addr, id, psk, remoteTS)
	}
	if layout == "any" {
		conn("rw", "%any", "%any", "2001:db8:a::/48")
		return b.String()
	}
	outer, inner := netip.MustParseAddr(loadFirstPeer), netip.MustParseAddr("2001:db8:a::1")
	for i := range n {
		for b := outer.As4(); b[3] == 0 || b[3] == 255; b = outer.As4() {
			outer = outer.Next()
		}
		conn(fmt.Sprintf("peer-%d", i), outer.String(), fmt.Sprintf("peer-%d.load.example", i), inner.String()+"/128")
		outer, inner = outer.Next(), inner.Next()
	}
	return b.String()
}

// memSample is the responder's memory at one moment.
type memSample struct {
	heap, rss  float64 // bytes: live heap after a forced GC, resident set
	goroutines int
	ikeSAs     int
	pairs      int
}

var heapAllocRE = regexp.MustCompile(`(?m)^# HeapAlloc = (\d+)`)

// sampleResponder forces a GC in the responder (pprof's heap?gc=1) and reads its live heap,
// RSS, goroutines and SAs.
func sampleResponder(t *testing.T, o *oakley) memSample {
	t.Helper()
	// Twice, the second figure counting: each request collects first, and what sync.Pools
	// hold (batch buffers) survives one collection in their victim caches, which made the
	// live heap swing by about 0.5 MiB between samples of an idle daemon.
	argv := helperArgv(t, o.ns, "http-get", "http://"+loadPprof+"/debug/pprof/heap?gc=1&debug=1")
	var out string
	var err error
	for range 2 {
		out, err = runTimeout(60*time.Second, argv[0], argv[1:]...)
	}
	m := heapAllocRE.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("reading the responder's heap profile: %v\n%s", err, tail(out, 500))
	}
	var s memSample
	s.heap, _ = strconv.ParseFloat(m[1], 64)
	if dir := os.Getenv("LOAD_HEAP_PROFILES"); dir != "" {
		// Keep the binary heap profile for `go tool pprof -diff_base`.
		argv := helperArgv(t, o.ns, "http-get", "http://"+loadPprof+"/debug/pprof/heap")
		if prof, err := runTimeout(60*time.Second, argv[0], argv[1:]...); err == nil {
			name := filepath.Join(dir, fmt.Sprintf("heap-%s-%d.pb.gz", o.name, time.Now().UnixNano()))
			if err := os.WriteFile(name, []byte(prof), 0o644); err == nil {
				t.Logf("heap profile %s", name)
			}
		}
	}
	rss, err := procRSS(o.p.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	s.rss = rss * 1024
	rt, _, err := statusJSON[runtimeStatus](o)
	if err != nil {
		t.Fatal(err)
	}
	s.goroutines = rt.Runtime.Goroutines
	st := o.mustIKEStatus(t)
	s.ikeSAs, s.pairs = st.established(), len(st.allSAs())/2
	return s
}

// loadGen is the running generator: its stdin takes commands, its stdout gives phases.
type loadGen struct {
	cmd    *exec.Cmd
	stdin  interface{ Write([]byte) (int, error) }
	phases chan map[string]any
	stderr lockedBuffer
}

func (g *loadGen) await(t *testing.T, phase string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case v, ok := <-g.phases:
			if !ok {
				t.Fatalf("loadgen exited before the %s phase: %s", phase, tail(g.stderr.String(), 3000))
			}
			if v["phase"] == "error" {
				t.Fatalf("loadgen: %v", v["error"])
			}
			if v["phase"] == phase {
				return v
			}
		case <-deadline:
			t.Fatalf("loadgen: no %s phase within %s: %s", phase, timeout, tail(g.stderr.String(), 3000))
		}
	}
}

func num(v map[string]any, k string) float64 { f, _ := v[k].(float64); return f }

// loadTest runs the generator against both responder layouts.
func loadTest(t *testing.T) {
	layouts := os.Getenv("LOAD_LAYOUTS")
	if layouts == "" {
		layouts = "any,per-peer"
	}
	versions := os.Getenv("LOAD_VERSIONS")
	if versions == "" {
		versions = "1,2"
	}
	for _, v := range strings.Split(versions, ",") {
		version, err := strconv.Atoi(v)
		if err != nil || version != 1 && version != 2 {
			t.Fatalf("LOAD_VERSIONS: unknown version %q (1, 2)", v)
		}
		for _, layout := range strings.Split(layouts, ",") {
			if layout != "any" && layout != "per-peer" {
				t.Fatalf("LOAD_LAYOUTS: unknown layout %q (any, per-peer)", layout)
			}
			t.Run(fmt.Sprintf("v%d-%s", version, layout), func(t *testing.T) {
				skipKnownFailure(t)
				runLoad(t, layout, version)
			})
		}
	}
}

// loadNet makes the generator's and the responder's namespaces joined by a veth, with the
// n peers' outer addresses in the generator's (loadFirstPeer on), and a temporary directory.
func loadNet(t *testing.T, n int) (g, r netns, dir string) {
	id := randomID(t, 3)
	g, r = newNetns(t, id, "gen"), newNetns(t, id, "resp")
	mustRun(t, "ip", "-n", string(g), "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", string(r))
	for _, c := range []struct {
		ns   netns
		addr string
	}{{g, loadGen4}, {r, loadResponder4}} {
		mustRun(t, "ip", "-n", string(c.ns), "addr", "add", c.addr+"/24", "dev", "veth0")
		mustRun(t, "ip", "-n", string(c.ns), "link", "set", "veth0", "up")
	}
	r.mustRun(t, "ip", "route", "add", "198.19.0.0/16", "via", loadGen4)
	var batch strings.Builder
	outer := netip.MustParseAddr(loadFirstPeer)
	for range n {
		for b := outer.As4(); b[3] == 0 || b[3] == 255; b = outer.As4() {
			outer = outer.Next()
		}
		fmt.Fprintf(&batch, "addr add %s/32 dev veth0\n", outer)
		outer = outer.Next()
	}
	dir = t.TempDir()
	batchFile := filepath.Join(dir, "addrs")
	if err := os.WriteFile(batchFile, []byte(batch.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "ip", "-n", string(g), "-batch", batchFile)
	return g, r, dir
}

// startLoadGen runs the generator gen in namespace g with args; it is stopped at cleanup.
func startLoadGen(t *testing.T, g netns, gen string, args ...string) *loadGen {
	lg := &loadGen{phases: make(chan map[string]any, 8)}
	lg.cmd = exec.Command("ip", append([]string{"netns", "exec", string(g), gen}, args...)...)
	lg.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	lg.cmd.Stderr = &lg.stderr
	stdin, err := lg.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	lg.stdin = stdin
	stdout, err := lg.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := lg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { lg.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			lg.cmd.Process.Kill()
			<-done
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var v map[string]any
			if json.Unmarshal(sc.Bytes(), &v) == nil {
				lg.phases <- v
			}
		}
		close(lg.phases)
	}()
	return lg
}

func runLoad(t *testing.T, layout string, version int) {
	n := envInt(t, "LOAD_PEERS", 100)
	timeout := envDuration(t, "LOAD_TIMEOUT", 15*time.Minute)
	gen := buildTool(t, "oakley/e2e/loadgen")
	g, r, dir := loadNet(t, n)
	psk := newPSK(t)
	pskFile := filepath.Join(dir, "psk")
	if err := os.WriteFile(pskFile, []byte(psk), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "resp.sock")
	o := &oakley{name: "responder", ns: r, cfg: filepath.Join(dir, "resp.toml"), spec: siteSpec{Socket: sock}}
	if err := os.WriteFile(o.cfg, []byte(loadResponderTOML(layout, version, n, psk, sock)), 0o600); err != nil {
		t.Fatal(err)
	}
	o.p = startProc(t, "oakley-responder", r.args("env", "OAKLEY_PPROF="+loadPprof, oakleyBin, "up", "-c", o.cfg)...)
	t.Cleanup(func() {
		if t.Failed() {
			o.dumpTail(t)
		}
	})
	if !waitFor(30*time.Second, func() bool { _, err := o.status(); return err == nil }) {
		t.Fatalf("the responder did not start:\n%s", tail(o.p.out.String(), 3000))
	}
	time.Sleep(time.Second)
	base := sampleResponder(t, o)

	lg := startLoadGen(t, g, gen, "-n", strconv.Itoa(n), "-responder", loadResponder4,
		"-local", loadFirstPeer, "-psk-file", pskFile, "-remote-id", "responder.load.example",
		"-concurrency", strconv.Itoa(envInt(t, "LOAD_CONCURRENCY", 32)), "-version", strconv.Itoa(version))
	stdin := lg.stdin
	upPh := lg.await(t, "up", timeout)
	pingPh := lg.await(t, "ping", 2*time.Minute)
	peak := sampleResponder(t, o)
	stdin.Write([]byte("drop\n"))
	lg.await(t, "dropped", 5*time.Minute)
	waitFor(60*time.Second, func() bool {
		s, err := o.ikeStatus()
		return err == nil && s.established() == 0 && len(s.allSAs()) == 0
	})
	time.Sleep(2 * time.Second) // retired SAs are wiped once no batch can hold them
	after := sampleResponder(t, o)
	stdin.Write([]byte("exit\n"))

	up := int(num(upPh, "ok"))
	perTunnel := func(a, b float64) float64 { return (b - a) / float64(max(peak.ikeSAs, 1)) / 1024 }
	figure(t, "load", kv{"version", version}, kv{"layout", layout}, kv{"peers", n}, kv{"up", up},
		kv{"secs", num(upPh, "secs")}, kv{"tunnels_per_s", num(upPh, "per_sec")},
		kv{"median_ms", num(upPh, "median_ms")}, kv{"p90_ms", num(upPh, "p90_ms")}, kv{"retransmits", num(upPh, "retransmits")},
		kv{"pings_ok", int(num(pingPh, "ok"))}, kv{"responder_ike_sas", peak.ikeSAs}, kv{"responder_child_pairs", peak.pairs},
		kv{"heap_kib_per_tunnel", perTunnel(base.heap, peak.heap)}, kv{"rss_kib_per_tunnel", perTunnel(base.rss, peak.rss)},
		kv{"heap_mib", fmt.Sprintf("%.1f/%.1f/%.1f", base.heap/(1<<20), peak.heap/(1<<20), after.heap/(1<<20))},
		kv{"rss_mib", fmt.Sprintf("%.1f/%.1f/%.1f", base.rss/(1<<20), peak.rss/(1<<20), after.rss/(1<<20))},
		kv{"goroutines", fmt.Sprintf("%d/%d/%d", base.goroutines, peak.goroutines, after.goroutines)})
	if up != n {
		t.Errorf("%d of %d peers came up: %v", up, n, upPh["failures"])
	}
	if peak.ikeSAs != n || peak.pairs != n {
		t.Errorf("the responder holds %d IKE SAs and %d child SA pairs for %d peers", peak.ikeSAs, peak.pairs, n)
	}
	if ok := int(num(pingPh, "ok")); ok != n {
		t.Errorf("%d of %d tunnels carried an echo (missing e.g. %v, %v stray packets)", ok, n, pingPh["missing"], pingPh["stray"])
	}
	if after.ikeSAs != 0 || after.pairs != 0 {
		t.Errorf("after the drop the responder still holds %d IKE SAs and %d child pairs", after.ikeSAs, after.pairs)
	}
	if grown := peak.heap - base.heap; after.heap-base.heap > max(grown/10, 1<<20) {
		t.Errorf("the responder's live heap did not return: %.1f MiB before, %.1f with the tunnels, %.1f after the drop",
			base.heap/(1<<20), peak.heap/(1<<20), after.heap/(1<<20))
	}
	if after.goroutines > base.goroutines+2 {
		t.Errorf("the responder had %d goroutines before and %d after the drop", base.goroutines, after.goroutines)
	}
}
