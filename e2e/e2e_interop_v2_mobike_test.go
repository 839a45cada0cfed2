//go:build linux

package e2e

// MOBIKE (RFC 4555) against strongSwan (issue 10): the client's address moves to a second
// address of its veth (the first one is removed; promote_secondaries keeps the second and
// its route) while the oakley side pings the other site every 50 ms. With MOBIKE on both
// sides the client sends UPDATE_SA_ADDRESSES from its new address, both peers move the IKE
// SA and rebind the child SA (same SPIs, no rekey) and the ping goes on after a short gap
// (the lost echoes are counted). oakley as the client (it notices the loss of its address
// within a second) and charon as the client (kernel-netlink's address events), oakley
// responding. Negative controls, oakley with mobike = false (charon keeps mobike = yes):
// after the move no echo crosses any more (oakley as client: until DPD or a restart,
// neither of which runs here; charon as client: it re-authenticates from its new address,
// which oakley's connection, remote_addr being charon's old one, refuses).

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// moveAddress adds addr/24 to a site's veth0 and removes its first address, keeping the
// connected route (promote_secondaries).
func moveAddress(t *testing.T, s *ioSide, addr string) {
	t.Helper()
	s.ns.mustRun(t, "sysctl", "-qw", "net.ipv4.conf.all.promote_secondaries=1", "net.ipv4.conf.veth0.promote_secondaries=1")
	s.ns.mustRun(t, "ip", "addr", "add", addr+"/24", "dev", "veth0")
	s.ns.mustRun(t, "ip", "addr", "del", s.outer+"/24", "dev", "veth0")
}

var echoSeq = regexp.MustCompile(`icmp_seq=(\d+)`)

// lastEchoSeq is the highest icmp_seq ping printed a reply for (0 if none).
func lastEchoSeq(out string) int {
	last := 0
	for _, m := range echoSeq.FindAllStringSubmatch(out, -1) {
		if n, _ := strconv.Atoi(m[1]); n > last {
			last = n
		}
	}
	return last
}

// childSPIs is the SPIs of oakley's installed child SAs, sorted by direction.
func childSPIs(st *ikeStatus) string {
	var in, out []string
	for _, sa := range st.allSAs() {
		if sa.Dir == "in" {
			in = append(in, sa.SPI)
		} else {
			out = append(out, sa.SPI)
		}
	}
	return fmt.Sprintf("in %v out %v", in, out)
}

func TestInteropV2MOBIKE(t *testing.T) {
	needInterop(t)
	t.Parallel()
	const newAddr = "198.18.0.3"
	cases := []struct {
		name         string
		oakleyClient bool // oakley initiates and moves; else charon does
		mobike       bool // oakley's mobike (charon's is yes)
	}{
		{"oakley-client", true, true},
		{"charon-client", false, true},
		{"oakley-client-mobike-off", true, false},
		{"charon-client-mobike-off", false, false},
	}
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	parallelRuns(t, 2, names, func(t *testing.T, i int) {
		c := cases[i]
		tp := newTopo(t, false)
		psk := newPSK(t)
		site, conf := siteFor(tp, tp.left, psk), swanFor(tp, tp.right, psk)
		site.Version, conf.Version = 2, 2
		site.Proposals, conf.Proposals = []string{"aes128gcm16-prfsha256-ecp256"}, "aes128gcm16-prfsha256-ecp256"
		site.MOBIKE = c.mobike
		conf.Extra = "    mobike = yes\n"
		conf.LocalAddrs = "%any"
		if c.oakleyClient {
			conf.RemoteAddrs = "%any"
		}
		sp := &swanPair{tp: tp, site: site, conf: conf}
		sp.sw = startSwan(t, tp.right, "charon", conf)
		sp.o = startIKE(t, tp.left, "oakley", site)
		sp.establish(t, c.oakleyClient)
		pingBoth(t, tp, 2)
		before := sp.o.mustIKEStatus(t)
		spis := childSPIs(before)

		mover := tp.left
		if !c.oakleyClient {
			mover = tp.right
		}
		// The ping runs from oakley's site; the address moves 2 s into it.
		const interval, span = 50 * time.Millisecond, 8 * time.Second
		type result struct {
			sent, got int
			out       string
		}
		done := make(chan result, 1)
		go func() {
			s, g, o := continuousPing(tp.left, tp.right.host, interval, span)
			done <- result{s, g, o}
		}()
		time.Sleep(2 * time.Second)
		moveAddress(t, mover, newAddr)
		t.Logf("%s moved from %s to %s", mover.name, mover.outer, newAddr)
		r := <-done
		lost := r.sent - r.got
		slog := sp.sw.Log()

		if !c.mobike {
			// Nothing follows: every echo from the move on is lost.
			if last := lastEchoSeq(r.out); last > r.sent/2 {
				t.Errorf("with mobike = false echo %d of %d was answered, after the move (%d lost)", last, r.sent, lost)
			}
			pingNone(t, tp.left, tp.right, 3)
			// charon announces MOBIKE (mobike = yes) but must not see it from oakley; as the
			// client it then re-authenticates from its new address, which oakley's
			// connection (remote_addr = its old one) does not accept.
			if strings.Contains(slog, "UPD_SA_ADDR") || strings.Contains(slog, "peer supports MOBIKE") {
				t.Errorf("MOBIKE was used with mobike = false:\n%s", grepLines(slog, "UPD_SA_ADDR|peer supports MOBIKE"))
			}
			if n := sp.o.mustIKEStatus(t).IKECounters["mobike_moves"]; n != 0 {
				t.Errorf("oakley's mobike_moves = %d with mobike = false", n)
			}
			t.Logf("mobike = false: %d of %d echoes lost (the ping stopped at the move)", lost, r.sent)
			return
		}
		// The ping goes on after the move: the last echoes are answered.
		if last := lastEchoSeq(r.out); last < r.sent-1 {
			t.Errorf("the ping stopped at echo %d of %d (%d lost):\n%s", last, r.sent, lost, tail(r.out, 1500))
		}
		pingBoth(t, tp, 3)
		after := sp.o.mustIKEStatus(t)
		// oakley rebinds its child SAs in place. charon with kernel-libipsec cannot change an
		// installed SA's addresses (update_sa is not supported there) and falls back to
		// rekeying the child right after the address update, on its own initiative: the SPIs
		// may change only that way.
		charonRekeyed := regexp.MustCompile(`endpoint changed from [^\n]*\n(.*\n)*.*queueing CHILD_REKEY task`).MatchString(slog)
		if got := childSPIs(after); got != spis && !charonRekeyed {
			t.Errorf("the child SAs changed across the move without charon's libipsec rekey: before %s, after %s", spis, got)
		} else if got != spis {
			t.Logf("charon (kernel-libipsec) rekeyed the child after the address update: %s -> %s", spis, got)
		}
		if n := after.IKECounters["mobike_moves"]; n != 1 {
			t.Errorf("oakley's mobike_moves = %d, want 1", n)
		}
		if n := after.IKECounters["ike_rekeys"]; n != 0 {
			t.Errorf("%d IKE rekeys: the move should need none", n)
		}
		if grepLines(sp.o.p.out.String(), `initiating CHILD_SA.*"rekey": true`) != "" {
			t.Errorf("oakley renegotiated a child SA across the move")
		}
		for _, sa := range after.allSAs() {
			if sa.Dir == "out" && !strings.HasPrefix(sa.Peer, map[bool]string{true: tp.right.outer, false: newAddr}[c.oakleyClient]) {
				t.Errorf("oakley's outbound SA %s goes to %s after the move", sa.SPI, sa.Peer)
			}
		}
		sas := sp.sw.listSAs(t)
		if len(sas) != 1 {
			t.Fatalf("charon lists %d IKE SAs, want 1", len(sas))
		}
		host := sas[0].Fields["remote-host"]
		if !c.oakleyClient {
			host = sas[0].Fields["local-host"]
		}
		if host != newAddr {
			t.Errorf("charon's IKE SA uses %s for the client, want %s", host, newAddr)
		}
		ikeUpd := grepLines(slog, "UPDATE_SA_ADDRESSES|UPD_SA_ADDR")
		if ikeUpd == "" {
			t.Errorf("charon's log shows no UPDATE_SA_ADDRESSES exchange")
		}
		t.Logf("charon: %s", ikeUpd)
		recordResult(t, "IKEv2 MOBIKE against strongSwan (%s moves %s -> %s): %d of %d echoes at 20/s lost across the move, IKE SA kept",
			map[bool]string{true: "oakley client", false: "strongSwan client"}[c.oakleyClient], mover.outer, newAddr, lost, r.sent)
	})
}
