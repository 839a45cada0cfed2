//go:build linux

package e2e

// The chaos tests' topology (issue 13): two sites joined through a middle namespace whose
// forwarding runs through the impairment relay (e2e/impair), which drops, duplicates,
// reorders and delays datagrams by rate and counts what it did.
//
//	[left] veth0 198.18.1.1/24 -- veth-l 198.18.1.254 [mid] 198.18.0.254 veth-r -- veth0 198.18.0.2/24 [right]
//	        default via .254          ip rule iif veth-l/veth-r → table 100: default dev imp0 (impair)
//
// Every packet entering mid from either veth is routed into the TUN device imp0; impair
// reads it, decides its fate and writes the survivors back into imp0, from where the main
// table forwards them to the other side. No NAT: both sites see each other's own address.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"oakley/e2e/lab"
)

// Addresses of the relay topology: left is on its own /24 behind the middle namespace.
const (
	relayLeft4    = "198.18.1.1"
	relayMidL4    = "198.18.1.254"
	relayMidR4    = "198.18.0.254"
	relayLeftNet  = "198.18.1.0/24"
	relayRightNet = "198.18.0.0/24"
)

// tools holds the helper programs built once per test binary (removed by TestMain).
var tools struct {
	mu    sync.Mutex
	dir   string
	built map[string]string
}

// buildTool builds a main package of this module (e.g. "oakley/e2e/impair") once and returns
// the binary's path; the test is skipped when the go tool is missing.
func buildTool(t *testing.T, pkg string) string {
	t.Helper()
	tools.mu.Lock()
	defer tools.mu.Unlock()
	if p, ok := tools.built[pkg]; ok {
		return p
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipping: the go tool is not in PATH to build %s", pkg)
	}
	if tools.dir == "" {
		if tools.dir, err = os.MkdirTemp("", "oke-tools-"); err != nil {
			t.Fatal(err)
		}
		tools.built = map[string]string{}
	}
	bin := filepath.Join(tools.dir, filepath.Base(pkg))
	cmd := exec.Command(goTool, "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	tools.built[pkg] = bin
	return bin
}

// cleanupTools removes the built helper programs.
func cleanupTools() {
	if tools.dir != "" {
		os.RemoveAll(tools.dir)
	}
}

// relay is a running impair in the middle namespace.
type relay struct {
	p    *proc
	sock string
	seed uint64
}

// relayRule is one impairment rule (e2e/impair's Rule).
type relayRule struct {
	Dir     string  `json:"dir,omitempty"`   // "ab" (left → right), "ba", "" = both
	Class   string  `json:"class,omitempty"` // "ike", "esp", "other", "" = all
	Loss    float64 `json:"loss,omitempty"`
	Dup     float64 `json:"dup,omitempty"`
	Reorder float64 `json:"reorder,omitempty"`
	Depth   int     `json:"depth,omitempty"`
	Hold    string  `json:"hold,omitempty"`
	Delay   string  `json:"delay,omitempty"`
	Jitter  string  `json:"jitter,omitempty"`
}

// relayCounter is what the relay did to one direction and class.
type relayCounter struct {
	In, Out, Dropped, Duplicated, Reordered, Delayed uint64
}

type relayReply struct {
	OK       bool                    `json:"ok"`
	Error    string                  `json:"error"`
	Counters map[string]relayCounter `json:"counters"`
	Waiting  int                     `json:"waiting"`
	ESP      []struct {
		Dir string `json:"d"`
		SPI uint32 `json:"spi"`
		Seq uint32 `json:"seq"`
	} `json:"esp"`
	Unlogged uint64 `json:"unlogged"`
}

// call sends one control request to the relay.
func (r *relay) call(req map[string]any) (*relayReply, error) {
	c, err := net.DialTimeout("unix", r.sock, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	var rep relayReply
	if err := json.NewDecoder(c).Decode(&rep); err != nil {
		return nil, err
	}
	if !rep.OK {
		return &rep, fmt.Errorf("impair: %s", rep.Error)
	}
	return &rep, nil
}

func (r *relay) mustCall(t *testing.T, req map[string]any) *relayReply {
	t.Helper()
	rep, err := r.call(req)
	if err != nil {
		t.Fatalf("relay %v: %v", req["cmd"], err)
	}
	return rep
}

// set replaces the relay's rules (none: pass everything).
func (r *relay) set(t *testing.T, rules ...relayRule) {
	t.Helper()
	if rules == nil {
		rules = []relayRule{}
	}
	r.mustCall(t, map[string]any{"cmd": "set", "rules": rules})
}

// stats returns the counters by "dir/class" and how many datagrams wait.
func (r *relay) stats(t *testing.T) (map[string]relayCounter, int) {
	t.Helper()
	rep := r.mustCall(t, map[string]any{"cmd": "stats"})
	return rep.Counters, rep.Waiting
}

// total sums the counters of a class over both directions ("" = every class).
func total(c map[string]relayCounter, class string) relayCounter {
	var s relayCounter
	for k, v := range c {
		if class != "" && !strings.HasSuffix(k, "/"+class) {
			continue
		}
		s.In += v.In
		s.Out += v.Out
		s.Dropped += v.Dropped
		s.Duplicated += v.Duplicated
		s.Reordered += v.Reordered
		s.Delayed += v.Delayed
	}
	return s
}

// quiet flushes held datagrams and waits until nothing waits in the relay.
func (r *relay) quiet(t *testing.T) {
	t.Helper()
	r.mustCall(t, map[string]any{"cmd": "flush"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, w := r.stats(t); w == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay still holds datagrams 10 s after a flush")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var rttRE = regexp.MustCompile(`time=([0-9.]+) ms`)

// relayTopo is the chaos topology: an ioTopo whose sites talk through the relay.
type relayTopo struct {
	*ioTopo
	mid   netns
	relay *relay
}

// newRelayTopo builds the topology and starts the relay with no rules (it passes
// everything). seed 0 picks one at random; it is logged so a failure can be replayed.
func newRelayTopo(t *testing.T, seed uint64) *relayTopo {
	t.Helper()
	bin := buildTool(t, "oakley/e2e/impair")
	id := randomID(t, 3)
	l, m, r := newNetns(t, id, "l"), newNetns(t, id, "mid"), newNetns(t, id, "r")
	mustRun(t, "ip", "-n", string(l), "link", "add", "veth0", "type", "veth", "peer", "name", "veth-l", "netns", string(m))
	mustRun(t, "ip", "-n", string(m), "link", "add", "veth-r", "type", "veth", "peer", "name", "veth0", "netns", string(r))
	for _, ns := range []netns{l, m, r} {
		ns.mustRun(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	}
	for _, c := range []struct {
		ns        netns
		dev, cidr string
	}{{l, "veth0", relayLeft4 + "/24"}, {m, "veth-l", relayMidL4 + "/24"}, {m, "veth-r", relayMidR4 + "/24"}, {r, "veth0", outerB4 + "/24"}} {
		mustRun(t, "ip", "-n", string(c.ns), "addr", "add", c.cidr, "dev", c.dev)
		mustRun(t, "ip", "-n", string(c.ns), "link", "set", c.dev, "up")
	}
	l.mustRun(t, "ip", "route", "add", "default", "via", relayMidL4)
	r.mustRun(t, "ip", "route", "add", relayLeftNet, "via", relayMidR4)
	m.mustRun(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	if seed == 0 {
		seed, _ = strconv.ParseUint(randomID(t, 7), 16, 64)
	}
	sock := filepath.Join(t.TempDir(), "impair.sock")
	rl := &relay{sock: sock, seed: seed}
	rl.p = startProc(t, "impair", m.args(bin, "-dev", "imp0", "-a", relayLeftNet, "-b", relayRightNet,
		"-ctl", sock, "-seed", fmt.Sprint(seed))...)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(rl.p.out.String(), "ready") {
		if rl.p.exited() || time.Now().After(deadline) {
			t.Fatalf("impair did not start: %s", rl.p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	m.mustRun(t, "ip", "link", "set", "imp0", "up")
	m.mustRun(t, "ip", "route", "add", "default", "dev", "imp0", "table", "100")
	m.mustRun(t, "ip", "rule", "add", "iif", "veth-l", "lookup", "100", "pref", "100")
	m.mustRun(t, "ip", "rule", "add", "iif", "veth-r", "lookup", "100", "pref", "101")
	t.Cleanup(func() {
		if t.Failed() {
			if rep, err := rl.call(map[string]any{"cmd": "stats"}); err == nil {
				t.Logf("relay (seed %d) counters: %+v, waiting %d", seed, rep.Counters, rep.Waiting)
			}
			t.Logf("relay log:\n%s", tail(rl.p.out.String(), 3000))
		}
	})
	return &relayTopo{
		ioTopo: &ioTopo{
			left:  &ioSide{name: "left", ns: l, outer: relayLeft4, seen: relayLeft4, host: hostA4, net: netA4},
			right: &ioSide{name: "right", ns: r, outer: outerB4, seen: outerB4, host: hostB4, net: netB4},
		},
		mid: m, relay: rl,
	}
}

// chaosRelay checks the relay itself between the two namespaces: everything crosses
// without rules; with 100% loss on one direction nothing does (the negative control), and
// the counters say what happened.
func chaosRelay(t *testing.T) {
	tp := newRelayTopo(t, 1)
	mustPing(t, tp.left.ns, tp.left.outer, tp.right.outer, 5)
	c, _ := tp.relay.stats(t)
	if o := c["ab/other"]; o.In < 5 || o.Out != o.In {
		t.Errorf("the relay did not see the echo requests pass: %+v", c)
	}
	tp.relay.set(t, relayRule{Dir: "ab", Loss: 1})
	if out, got, _ := ping(tp.left.ns, tp.left.outer, tp.right.outer, 3); got != 0 {
		t.Errorf("%d echoes crossed a relay dropping everything:\n%s", got, out)
	}
	c, _ = tp.relay.stats(t)
	if c["ab/other"].Dropped < 3 {
		t.Errorf("the relay counted %d dropped, want >= 3: %+v", c["ab/other"].Dropped, c)
	}
	tp.relay.set(t, relayRule{Delay: "100ms"})
	out, got, err := ping(tp.left.ns, tp.left.outer, tp.right.outer, 3)
	var rtts []float64
	for _, m := range rttRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		rtts = append(rtts, v)
	}
	if err != nil || got != 3 || lab.Median(rtts) < 190 {
		t.Errorf("with 100 ms each way: rtts %v (%v); want 3 replies after >= 200 ms:\n%s", rtts, err, out)
	}
}
