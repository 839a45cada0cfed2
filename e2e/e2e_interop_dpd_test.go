//go:build linux

package e2e

// strongSwan's Dead Peer Detection and Delete against oakley (issue 4 §4, case 3): charon's
// R-U-THERE (dpd_delay = 2s) is answered, oakley's is answered by charon; `swanctl
// --terminate` (child or IKE SA) makes oakley remove the SAs, and `oakley terminate` makes
// charon delete its own, with oakley as initiator and as responder.

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	swanDPDOut = regexp.MustCompile(`generating INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD\) \]`)
	swanDPDAck = regexp.MustCompile(`parsed INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD_ACK\) \]`)
	swanDPDIn  = regexp.MustCompile(`parsed INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD\) \]`)
)

// dpdCase is one DPD or Delete scenario.
type dpdCase struct {
	name            string
	oakleyInitiates bool
	run             func(t *testing.T, sp *swanPair)
}

var dpdCases = []dpdCase{
	{name: "charon-dpd-answered-by-oakley", oakleyInitiates: true, run: charonDPD},
	{name: "oakley-dpd-answered-by-charon", oakleyInitiates: false, run: oakleyDPD},
	{name: "oakley-dpd-restart-after-charon-killed", oakleyInitiates: true, run: oakleyDPDRestart},
	{name: "charon-terminate-child-oakley-initiator", oakleyInitiates: true, run: charonTerminateChild},
	{name: "charon-terminate-child-oakley-responder", oakleyInitiates: false, run: charonTerminateChild},
	{name: "charon-terminate-ike-oakley-initiator", oakleyInitiates: true, run: charonTerminateIKE},
	{name: "charon-terminate-ike-oakley-responder", oakleyInitiates: false, run: charonTerminateIKE},
	{name: "oakley-terminate-oakley-initiator", oakleyInitiates: true, run: oakleyTerminate},
	{name: "oakley-terminate-oakley-responder", oakleyInitiates: false, run: oakleyTerminate},
}

// TestInteropStrongSwanDPD runs every dpdCase.
func TestInteropStrongSwanDPD(t *testing.T) {
	needInterop(t)
	t.Parallel()
	names := make([]string, len(dpdCases))
	for i, c := range dpdCases {
		names[i] = c.name
	}
	parallelRuns(t, 4, names, func(t *testing.T, i int) {
		dc := dpdCases[i]
		tp := newTopo(t, false)
		c := swanCase{ike: "aes256-sha256-modp2048", esp: "aes128gcm16"}
		sp := startSwanPair(t, tp, c, dc.oakleyInitiates, func(s *ikeSite, w *swanConf) {
			switch dc.name {
			case "charon-dpd-answered-by-oakley":
				w.DPDDelay = "2s" // oakley's own DPD stays off
			case "oakley-dpd-answered-by-charon":
				s.DPDDelay, s.DPDTimeout, s.DPDAction = "2s", "10s", "clear"
			case "oakley-dpd-restart-after-charon-killed":
				s.DPDDelay, s.DPDTimeout, s.DPDAction = "2s", "6s", "restart"
			}
		})
		sp.establish(t, dc.oakleyInitiates)
		pingBoth(t, tp, 2)
		dc.run(t, sp)
	})
}

// idleFor waits d without traffic through the tunnel: DPD only asks an idle peer.
func idleFor(d time.Duration) { time.Sleep(d) }

func charonDPD(t *testing.T, sp *swanPair) {
	idleFor(7 * time.Second)
	log := sp.sw.Log()
	asked, acked := len(swanDPDOut.FindAllString(log, -1)), len(swanDPDAck.FindAllString(log, -1))
	if asked < 2 || acked < asked-1 {
		t.Errorf("charon (dpd_delay = 2s) sent %d R-U-THERE and parsed %d R-U-THERE-ACK in 7 s idle; want >= 2 answered", asked, acked)
	}
	if m := regexp.MustCompile(`DPD check timed out|DPD timeout`).FindString(log); m != "" {
		t.Errorf("charon logged %q", m)
	}
	s := sp.o.mustIKEStatus(t)
	if n := s.IKECounters["dpd_requests_in"]; n < uint64(asked)-1 || n == 0 {
		t.Errorf("oakley counted %d R-U-THERE received, charon sent %d", n, asked)
	}
	if s.established() != 1 {
		t.Errorf("oakley has %d established IKE SAs after DPD, want 1", s.established())
	}
	if sas := sp.sw.listSAs(t); len(sas) != 1 || sas[0].Fields["state"] != "ESTABLISHED" {
		t.Errorf("charon's IKE SA after DPD: %+v", sas)
	}
	pingBoth(t, sp.tp, 2)
	t.Logf("charon sent %d R-U-THERE, got %d ACKs; oakley counted %d requests", asked, acked, s.IKECounters["dpd_requests_in"])
}

func oakleyDPD(t *testing.T, sp *swanPair) {
	idleFor(7 * time.Second)
	s := sp.o.mustIKEStatus(t)
	out, timeouts := s.IKECounters["dpd_requests_out"], s.IKECounters["dpd_timeouts"]
	in := len(swanDPDIn.FindAllString(sp.sw.Log(), -1))
	if out < 2 || timeouts != 0 || uint64(in) < out-1 {
		t.Errorf("oakley (dpd_delay = 2s) sent %d R-U-THERE, %d DPD timeouts; charon parsed %d; want >= 2 sent and answered, no timeout", out, timeouts, in)
	}
	if s.established() != 1 || len(s.allSAs()) != 2 {
		t.Errorf("oakley after DPD: %d established IKE SAs, %d child SAs; want 1 and 2:\n%s", s.established(), len(s.allSAs()), s.raw)
	}
	pingBoth(t, sp.tp, 2)
	t.Logf("oakley sent %d R-U-THERE, charon parsed %d", out, in)
}

// oakleyDPDRestart: charon dies without a word (SIGKILL); oakley's DPD (2 s / 6 s,
// dpd_action = restart) declares it dead, removes the SAs and keeps initiating; a new charon
// with the same configuration gets the tunnel back without any command.
func oakleyDPDRestart(t *testing.T, sp *swanPair) {
	if err := syscall.Kill(sp.sw.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	s := waitIKE(t, sp.o, "a DPD timeout", 20*time.Second, func(s *ikeStatus) bool { return s.IKECounters["dpd_timeouts"] > 0 })
	t.Logf("oakley declared charon dead %s after it was killed", time.Since(killed).Round(100*time.Millisecond))
	if s.established() != 0 {
		// The dead peer's ISAKMP SA must not be reported as established any more.
		t.Errorf("oakley still shows an established IKE SA after the DPD timeout:\n%s", s.raw)
	}
	sw2 := startSwan(t, sp.tp.right, "charon2", sp.conf)
	back := time.Now()
	waitIKE(t, sp.o, "the connection restarted", 40*time.Second, func(s *ikeStatus) bool {
		return s.established() == 1 && len(s.allSAs()) == 2 && s.IKECounters["ike_established"] >= 2
	})
	t.Logf("the tunnel was back %s after charon restarted", time.Since(back).Round(100*time.Millisecond))
	pingBoth(t, sp.tp, 2)
	if sas := sw2.listSAs(t); len(sas) != 1 || len(sas[0].Children) != 1 {
		t.Errorf("the new charon lists %+v, want one IKE SA with one child", sas)
	}
}

// waitGone waits until oakley has no child SA left (and, if noIKE, no IKE SA either).
func waitGone(t *testing.T, o *oakley, noIKE bool) *ikeStatus {
	t.Helper()
	return waitIKE(t, o, "SAs removed", 10*time.Second, func(s *ikeStatus) bool {
		if len(s.allSAs()) != 0 {
			return false
		}
		return !noIKE || s.established() == 0
	})
}

func charonTerminateChild(t *testing.T, sp *swanPair) {
	sp.sw.swanctl(t, "--terminate", "--child", "net", "--timeout", "10")
	s := waitGone(t, sp.o, false)
	if s.established() != 1 {
		t.Errorf("the ISAKMP SA went away with the child:\n%s", s.raw)
	}
	if s.IKECounters["deletes_in"] == 0 {
		t.Errorf("oakley counted no Delete received")
	}
	pingNone(t, sp.tp.left, sp.tp.right, 2)
	// It stays down: oakley does not bring the child back on its own.
	time.Sleep(2 * time.Second)
	if s := sp.o.mustIKEStatus(t); len(s.allSAs()) != 0 {
		t.Errorf("child SAs are back 2 s after charon deleted them:\n%s", s.raw)
	}
	sp.sw.swanctl(t, "--terminate", "--ike", sp.conf.connName(), "--timeout", "10")
	waitGone(t, sp.o, true)
	if sas := sp.sw.listSAs(t); len(sas) != 0 {
		t.Errorf("charon still lists SAs after terminating: %+v", sas)
	}
}

func charonTerminateIKE(t *testing.T, sp *swanPair) {
	sp.sw.swanctl(t, "--terminate", "--ike", sp.conf.connName(), "--timeout", "10")
	s := waitGone(t, sp.o, true)
	if s.IKECounters["deletes_in"] == 0 {
		t.Errorf("oakley counted no Delete received")
	}
	pingNone(t, sp.tp.left, sp.tp.right, 2)
	time.Sleep(2 * time.Second)
	if s := sp.o.mustIKEStatus(t); len(s.allSAs()) != 0 || s.established() != 0 {
		t.Errorf("SAs are back 2 s after charon deleted them:\n%s", s.raw)
	}
}

func oakleyTerminate(t *testing.T, sp *swanPair) {
	sp.o.mustCtl(t, "terminate", sp.site.connName())
	waitGone(t, sp.o, true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		sas := sp.sw.listSAs(t)
		if len(sas) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("charon still lists SAs 10 s after `oakley terminate`: %+v", sas)
		}
		time.Sleep(100 * time.Millisecond)
	}
	log := sp.sw.Log()
	if !strings.Contains(log, "received DELETE for IKE_SA") {
		t.Errorf("charon did not log %q", "received DELETE for IKE_SA")
	}
	// The child's Delete goes out just before the ISAKMP SA's. charon handles the two in
	// parallel threads: when the ISAKMP SA's Delete checks the SA out first, the child's is
	// dropped unlogged (the child goes with the IKE SA anyway). oakley's count below says
	// both were sent.
	if !strings.Contains(log, "received DELETE for ESP CHILD_SA") {
		t.Logf("charon did not log the child's Delete (it handled the ISAKMP SA's Delete first)")
	}
	if s := sp.o.mustIKEStatus(t); s.IKECounters["deletes_out"] < 2 {
		t.Errorf("oakley counted %d Deletes sent, want 2 (child and ISAKMP SA)", s.IKECounters["deletes_out"])
	}
	pingNone(t, sp.tp.left, sp.tp.right, 2)
}
