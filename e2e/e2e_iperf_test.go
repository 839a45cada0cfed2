//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIperf measures one TCP stream through the tunnel and over the bare veth in the same
// run, for AES-128-GCM and AES-128-CBC+HMAC-SHA-256, and records both and their ratio. It
// is not parallel, so the machine is as quiet as the suite can make it.
func TestIperf(t *testing.T) {
	needNetns(t)
	needTools(t, "iperf3")
	secs := 3
	if s := os.Getenv("E2E_IPERF_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 60 {
			t.Fatalf("E2E_IPERF_SECONDS=%q: want 1..60", s)
		}
		secs = n
	}
	p := newPair(t, false, 0)
	for _, prop := range []string{"aes128gcm16", "aes128-sha256"} {
		t.Run(prop, func(t *testing.T) {
			a, b := startPair(t, p, tunnelSpec{Proposal: prop})
			cpuA, cpuB := cpuTime(t, a.p), cpuTime(t, b.p)
			start := time.Now()
			tunnel := iperf(t, p, hostA4, hostB4, secs)
			wall := time.Since(start)
			usedA, usedB := cpuTime(t, a.p)-cpuA, cpuTime(t, b.p)-cpuB
			checkSAsCarried(t, a, "ESP")
			checkSAsCarried(t, b, "ESP")
			bare := iperf(t, p, outerA4, outerB4, secs)
			if tunnel.received <= 0 || bare.received <= 0 {
				t.Fatalf("no throughput: tunnel %.0f bit/s, veth %.0f bit/s", tunnel.received, bare.received)
			}
			recordResult(t, "iperf3 TCP %d s, %s: tunnel %.0f Mbit/s, bare veth %.0f Mbit/s, ratio %.3f (tunnel retransmits %d; oakley CPU a %.0f%%, b %.0f%% of one core)",
				secs, prop, tunnel.received/1e6, bare.received/1e6, tunnel.received/bare.received, tunnel.retransmits,
				100*usedA.Seconds()/wall.Seconds(), 100*usedB.Seconds()/wall.Seconds())
		})
	}
}

type iperfResult struct {
	received    float64 // bits/s at the receiver
	retransmits int
}

// iperf runs one iperf3 TCP test from src (in A) to an iperf3 server on dst (in B).
func iperf(t *testing.T, p *pair, src, dst string, secs int) iperfResult {
	t.Helper()
	srv := startProc(t, "iperf3-server", p.b.args("iperf3", "-s", "-1", "-B", dst, "-p", "5201")...)
	var out string
	var err error
	client := p.a.args("iperf3", "-c", dst, "-B", src, "-p", "5201", "-t", strconv.Itoa(secs), "-J")
	for try := 0; ; try++ {
		// Until the server listens the client gets "Connection refused"; try again briefly.
		out, err = runTimeout(time.Duration(secs+30)*time.Second, client[0], client[1:]...)
		// (With -J, iperf3 reports this in the JSON and may exit 0.)
		if try == 50 || !strings.Contains(out, "Connection refused") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var r struct {
		Error string `json:"error"`
		End   struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if jerr := json.Unmarshal([]byte(out), &r); jerr != nil || err != nil || r.Error != "" {
		t.Fatalf("iperf3 %s -> %s: %v %v %s\n%s\nserver:\n%s", src, dst, err, jerr, r.Error, out, srv.out.String())
	}
	srv.wait(5 * time.Second)
	return iperfResult{received: r.End.SumReceived.BitsPerSecond, retransmits: r.End.SumSent.Retransmits}
}

// cpuTime returns the user+system CPU time a process has used so far (/proc/PID/stat).
func cpuTime(t *testing.T, p *proc) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name (field 2) may contain spaces; fields after ")" start at field 3.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		t.Fatalf("/proc/%d/stat: %q", p.cmd.Process.Pid, s)
	}
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}
