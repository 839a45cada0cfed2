//go:build linux

package e2e

// ESP's anti-replay window under reordering and duplication (issue 13, RFC 4303 §3.4.3):
// two oakleys with replay_window = 64 on the receiving end; the relay reorders or
// duplicates the ESP datagrams from left to right while left pings right every 2 ms, and
// logs the (SPI, sequence number) of every ESP datagram in the order it delivered them. The
// test replays that order through a reference window of its own (RFC 4303 §3.4.3, written
// here from the RFC, not from esp/) and demands that oakley's inbound SA counted exactly the
// packets the reference accepts and exactly as many "replay" errors as it rejects: late
// packets within the window accepted, beyond it dropped, every duplicate dropped. Each case
// must also exercise what it claims (reordered packets accepted, or packets rejected).

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// chaosESPCase is one impairment of the ESP datagrams from left to right.
type chaosESPCase struct {
	name    string
	version int
	encap   string // "" = udp (ESP-in-UDP), "raw" (IP protocol 50)
	rule    relayRule
	window  int
	// What the reference must see, so the case tests what it says.
	wantLateAccepted, wantRejected bool
}

var chaosESPCases = []chaosESPCase{
	{name: "reorder-within-window", version: 1, rule: relayRule{Reorder: 0.10, Depth: 20, Hold: "2s"}, window: 64, wantLateAccepted: true},
	{name: "reorder-beyond-window", version: 1, rule: relayRule{Reorder: 0.05, Depth: 100, Hold: "5s"}, window: 64, wantRejected: true},
	{name: "duplicate", version: 1, rule: relayRule{Dup: 0.10}, window: 64, wantRejected: true},
	{name: "reorder-duplicate-loss", version: 1, rule: relayRule{Loss: 0.05, Dup: 0.05, Reorder: 0.10, Depth: 50, Hold: "5s"}, window: 64, wantLateAccepted: true, wantRejected: true},
	{name: "raw-reorder-beyond-window-duplicate", version: 1, encap: "raw", rule: relayRule{Dup: 0.05, Reorder: 0.05, Depth: 100, Hold: "5s"}, window: 64, wantRejected: true},
}

// replayRef is a reference anti-replay window (RFC 4303 §3.4.3): a packet is accepted if
// its sequence number is above the highest accepted one, or within the window below it and
// not yet received; the window then slides. Every number up to start was received (in
// order) before the reference began.
type replayRef struct {
	size       int
	top, start uint32
	seen       map[uint32]bool
}

func newReplayRef(size int, top uint32) *replayRef {
	return &replayRef{size: size, top: top, start: top, seen: map[uint32]bool{}}
}

// accept reports whether seq passes, recording it.
func (r *replayRef) accept(seq uint32) bool {
	switch {
	case seq == 0: // sequence numbers start at 1 (RFC 4303 §3.3.3)
		return false
	case seq > r.top:
		r.top = seq
	case r.top-seq >= uint32(r.size): // left of the window
		return false
	case seq <= r.start || r.seen[seq]: // received already
		return false
	}
	r.seen[seq] = true
	return true
}

// TestReplayRef checks the reference window against the RFC's cases.
func TestReplayRef(t *testing.T) {
	r := newReplayRef(4, 10)
	for _, c := range []struct {
		seq  uint32
		want bool
	}{{11, true}, {11, false}, {13, true}, {12, true}, {10, false}, {9, false}, {14, true}, {17, true}, {13, false}, {14, false}, {15, true}, {16, true}, {12, false}, {0, false}} {
		if got := r.accept(c.seq); got != c.want {
			t.Errorf("window 4: seq %d accepted=%v, want %v", c.seq, got, c.want)
		}
	}
}

// chaosESP runs every chaosESPCase.
func chaosESP(t *testing.T) {
	names := make([]string, len(chaosESPCases))
	for i, c := range chaosESPCases {
		names[i] = fmt.Sprintf("v%d-%s", c.version, c.name)
	}
	parallelRuns(t, 3, names, func(t *testing.T, i int) { runESPCase(t, &chaosESPCases[i]) })
}

func runESPCase(t *testing.T, c *chaosESPCase) {
	tp := newRelayTopo(t, 0)
	psk := newPSK(t)
	ls, rs := siteFor(tp.ioTopo, tp.left, psk), siteFor(tp.ioTopo, tp.right, psk)
	for _, s := range []*ikeSite{&ls, &rs} {
		s.Version, s.Encap, s.LogLevel = c.version, c.encap, "info"
		s.Children[0].ReplayWindow = c.window
	}
	r := startIKE(t, tp.right, "right", rs)
	l := startIKE(t, tp.left, "left", ls)
	l.mustCtl(t, "initiate", ls.connName()+"/net")
	waitChildUp(t, l, 10*time.Second)
	waitChildUp(t, r, 10*time.Second)
	pingBoth(t, tp.ioTopo, 2)

	before := inboundSA(t, r)
	tp.relay.mustCall(t, map[string]any{"cmd": "reset"})
	tp.relay.mustCall(t, map[string]any{"cmd": "esplog", "on": true})
	rule := c.rule
	rule.Dir, rule.Class = "ab", "esp"
	tp.relay.set(t, rule)

	// The relay impairs the first three quarters of the pings; the rest pass untouched and
	// push the datagrams still held back out (by depth) while ping still waits for them, so
	// every echo is accounted for.
	const count = 2000
	type pingResult struct {
		out string
		got int
	}
	done := make(chan pingResult, 1)
	go func() {
		out, got, _ := runPing(tp.left, tp.right.host, count, "0.002")
		done <- pingResult{out, got}
	}()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		cnt, _ := tp.relay.stats(t)
		if cnt["ab/esp"].In >= count*3/4 || time.Now().After(deadline) {
			break
		}
	}
	tp.relay.set(t)
	pr := <-done
	out, got := pr.out, pr.got
	tp.relay.quiet(t)
	time.Sleep(300 * time.Millisecond) // the last datagrams reach oakley
	tp.relay.mustCall(t, map[string]any{"cmd": "esplog", "on": false})
	rep := tp.relay.mustCall(t, map[string]any{"cmd": "esp"})
	cnt, _ := tp.relay.stats(t)
	after := inboundSA(t, r)
	if after.SPI != before.SPI {
		t.Fatalf("the inbound SA changed during the test (%s → %s)", before.SPI, after.SPI)
	}
	if rep.Unlogged != 0 {
		t.Fatalf("the relay's ESP log overflowed (%d unlogged)", rep.Unlogged)
	}

	// Replay the delivered order through the reference window.
	var spi uint32
	fmt.Sscanf(strings.TrimPrefix(after.SPI, "0x"), "%x", &spi)
	ref := newReplayRef(c.window, uint32(before.Seq))
	var accepted, rejected, late, rejectedUnique uint64
	everAccepted := map[uint32]bool{}
	delivered := map[uint32]bool{}
	var maxSeen uint32
	for _, e := range rep.ESP {
		if e.Dir != "ab" || e.SPI != spi {
			continue
		}
		delivered[e.Seq] = true
		if ref.accept(e.Seq) {
			accepted++
			everAccepted[e.Seq] = true
			if e.Seq < maxSeen {
				late++
			}
		} else {
			rejected++
		}
		maxSeen = max(maxSeen, e.Seq)
	}
	for s := range delivered {
		if !everAccepted[s] {
			rejectedUnique++
		}
	}
	gotPackets := after.Packets - before.Packets
	gotReplay := after.Errors["replay"] - before.Errors["replay"]
	rc := cnt["ab/esp"]
	figure(t, "chaos-esp", kv{"version", c.version}, kv{"case", c.name}, kv{"encap", or(c.encap, "udp")}, kv{"window", c.window},
		kv{"impairment", describeRules([]relayRule{c.rule})}, kv{"delivered", accepted + rejected},
		kv{"relay_reordered", rc.Reordered}, kv{"relay_duplicated", rc.Duplicated}, kv{"relay_dropped", rc.Dropped},
		kv{"ref_accepted", accepted}, kv{"ref_late_accepted", late}, kv{"ref_rejected", rejected},
		kv{"oakley_accepted", gotPackets}, kv{"oakley_replay", gotReplay}, kv{"pings", fmt.Sprintf("%d/%d", got, count)})
	if accepted+rejected != rc.Out {
		t.Errorf("the relay delivered %d ESP datagrams left → right but logged %d on SPI %s", rc.Out, accepted+rejected, after.SPI)
	}
	if gotPackets != accepted || gotReplay != rejected {
		t.Errorf("oakley's inbound SA %s counted %d accepted and %d replayed; RFC 4303 §3.4.3 with a %d-packet window says %d accepted (%d of them late) and %d rejected",
			after.SPI, gotPackets, gotReplay, c.window, accepted, late, rejected)
	}
	for k, v := range after.Errors {
		if k != "replay" && v != before.Errors[k] {
			t.Errorf("oakley's inbound SA counted %d %q errors; only replays are expected", v-before.Errors[k], k)
		}
	}
	if c.wantLateAccepted && late == 0 {
		t.Errorf("no packet arrived late within the window: the case does not test what it says (relay %+v)", rc)
	}
	if c.wantRejected && rejected == 0 {
		t.Errorf("no packet was rejected: the case does not test what it says (relay %+v)", rc)
	}
	if !c.wantRejected && rejected != 0 {
		t.Errorf("%d packets rejected although every reordering stays within the window", rejected)
	}
	// Every echo whose request was never accepted is lost (a duplicate is not an extra
	// reply: its copy is dropped); with packets lost by the relay on top.
	if lost := uint64(count - got); lost != rejectedUnique+rc.Dropped {
		t.Errorf("%d echoes lost; the window rejected %d requests outright and the relay dropped %d:\n%s", lost, rejectedUnique, rc.Dropped, tail(out, 1500))
	}
	t.Logf("seed %d: %d ESP datagrams delivered on SPI %s: reference window %d accepted (%d late), %d rejected; oakley %d accepted, %d replay; relay %+v; ping %d/%d",
		tp.relay.seed, accepted+rejected, after.SPI, accepted, late, rejected, gotPackets, gotReplay, rc, got, count)
}

// inboundSA returns the only inbound SA of o.
func inboundSA(t *testing.T, o *oakley) ioSA {
	t.Helper()
	var in []ioSA
	for _, sa := range o.mustIKEStatus(t).allSAs() {
		if sa.Dir == "in" {
			in = append(in, sa)
		}
	}
	if len(in) != 1 {
		t.Fatalf("oakley %s has %d inbound SAs, want 1", o.name, len(in))
	}
	return in[0]
}

// runPing pings count times at interval (seconds, as ping spells it) and returns the
// output and the replies received.
func runPing(from *ioSide, dst string, count int, interval string) (string, int, error) {
	out, err := runTimeout(time.Duration(count)*20*time.Millisecond+30*time.Second, "ip", "netns", "exec", string(from.ns),
		"ping", "-n", "-q", "-c", fmt.Sprint(count), "-i", interval, "-W", "2", "-I", from.host, dst)
	got := 0
	if m := pingSummary.FindStringSubmatch(out); m != nil {
		fmt.Sscan(m[2], &got)
	}
	return out, got, err
}
