//go:build linux

package ike

// The scenario checks of TestStrongSwanInterop: rekeys under continuous ping (ours and
// strongSwan's), re-authentication, DPD both ways, Deletes both ways, ike-scan probes.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"oakley/ike/core"

	"golang.org/x/sys/unix"
)

// checkRekeyUnderPing: we rekey the child while pinging every 50 ms; nothing may be lost.
func checkRekeyUnderPing(t *testing.T, s *interopSession) {
	rekeyUnderPing(t, s, "the rekey", func() error { return s.engine.Rekey("c", "net") },
		core.RekeyGrace+2*time.Second) // the old SA is deleted after the grace
	t.Logf("strongSwan after the rekey:\n%s", s.swanSAs())
	if n := len(s.ourChildren()); n != 1 {
		t.Fatalf("%d child SAs after the rekey, want 1", n)
	}
}

// checkPeerRekeyUnderPing: strongSwan rekeys (swanctl --rekey) while we ping.
func checkPeerRekeyUnderPing(t *testing.T, s *interopSession) {
	rekeyUnderPing(t, s, "the peer's rekey", func() error {
		if out, err := s.swanctl("--rekey", "--child", "net"); err != nil {
			return fmt.Errorf("swanctl --rekey: %v\n%s", err, out)
		}
		return nil
	}, 2*time.Second)
}

// rekeyUnderPing pings every 50 ms, triggers a child rekey, waits for the outbound SA to
// switch and then for settle, and fails if the SA did not switch or any ping was lost.
func rekeyUnderPing(t *testing.T, s *interopSession, what string, trigger func() error, settle time.Duration) {
	t.Helper()
	s.pingAll(1)
	before := s.policy.Binding().SA.SPI()
	stop := make(chan struct{})
	var lost, sent atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			sent.Add(1)
			if !s.ping(2 * time.Second) {
				lost.Add(1)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(500 * time.Millisecond)
	if err := trigger(); err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && s.policy.Binding().SA.SPI() == before {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(settle)
	close(stop)
	wg.Wait()
	if s.policy.Binding().SA.SPI() == before {
		t.Fatalf("outbound SA not switched after %s", what)
	}
	if lost.Load() != 0 {
		t.Fatalf("%d of %d pings lost during %s", lost.Load(), sent.Load(), what)
	}
	t.Logf("%s under ping: %d pings, none lost", what, sent.Load())
}

// checkReauth: we re-authenticate the ISAKMP SA; the child survives and traffic flows.
func checkReauth(t *testing.T, s *interopSession) {
	st := s.engine.Status()
	oldCookie := st[0].IKESAs[0].InitiatorCookie
	if err := s.engine.Rekey("c", ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st = s.engine.Status()
		if len(st[0].IKESAs) == 1 && st[0].IKESAs[0].InitiatorCookie != oldCookie && st[0].IKESAs[0].State == "established" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(st[0].IKESAs) != 1 || st[0].IKESAs[0].InitiatorCookie == oldCookie {
		t.Fatalf("re-authentication did not replace the ISAKMP SA: %+v", st[0].IKESAs)
	}
	s.pingAll(3)
	// A rekey on the new ISAKMP SA proves the children moved over.
	before := s.policy.Binding().SA.SPI()
	if err := s.engine.Rekey("c", "net"); err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(deadline.Add(10*time.Second)) && s.policy.Binding().SA.SPI() == before {
		time.Sleep(50 * time.Millisecond)
	}
	s.pingAll(3)
	out := s.swanSAs()
	if strings.Count(out, "ESTABLISHED") != 1 {
		t.Fatalf("strongSwan should have one ISAKMP SA after re-authentication:\n%s", out)
	}
}

// checkPeerDPD: strongSwan (dpd_delay = 1s) sends R-U-THERE while idle; we answer.
func checkPeerDPD(t *testing.T, s *interopSession) {
	time.Sleep(4 * time.Second)
	if n := s.counter(core.CtrDPDRequestsIn); n == 0 {
		t.Fatal("no R-U-THERE received from strongSwan")
	}
	if !strings.Contains(s.swanSAs(), "ESTABLISHED") {
		t.Fatal("strongSwan dropped the SA")
	}
	s.pingAll(2)
}

// checkOurDPD: we probe an idle strongSwan; then it dies (SIGSTOP) and dpd_action clears.
func checkOurDPD(t *testing.T, s *interopSession) {
	time.Sleep(3500 * time.Millisecond)
	if s.counter(core.CtrDPDRequestsOut) == 0 {
		t.Fatal("no R-U-THERE sent while idle")
	}
	if s.counter(core.CtrDPDTimeouts) != 0 {
		t.Fatal("DPD timed out against a live peer")
	}
	pid, _ := os.ReadFile(filepath.Join(s.state, "pid"))
	var p int
	fmt.Sscan(string(pid), &p)
	if p <= 0 {
		t.Fatal("no charon pid")
	}
	unix.Kill(p, unix.SIGSTOP)
	defer unix.Kill(p, unix.SIGCONT)
	deadline := time.Now().Add(12 * time.Second)
	for time.Now().Before(deadline) && s.counter(core.CtrDPDTimeouts) == 0 {
		time.Sleep(100 * time.Millisecond)
	}
	if s.counter(core.CtrDPDTimeouts) == 0 {
		t.Fatal("DPD did not notice the stopped peer")
	}
	if len(s.ourChildren()) != 0 || s.policy.Binding() != nil {
		t.Fatal("SAs left after dpd_action = clear")
	}
}

// checkPeerDelete: strongSwan terminates; its Deletes remove our SAs.
func checkPeerDelete(t *testing.T, s *interopSession) {
	if out, err := s.swanctl("--terminate", "--ike", "c", "--timeout", "10"); err != nil {
		t.Fatalf("swanctl --terminate: %v\n%s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (len(s.ourChildren()) > 0 || s.policy.Binding() != nil) {
		time.Sleep(50 * time.Millisecond)
	}
	if len(s.ourChildren()) > 0 || s.policy.Binding() != nil {
		t.Fatal("child SA still installed after strongSwan's Delete")
	}
	if s.counter(core.CtrDeletesIn) < 2 {
		t.Fatalf("deletes_in = %d, want the child's and the ISAKMP SA's", s.counter(core.CtrDeletesIn))
	}
	st := s.engine.Status()
	if len(st[0].IKESAs) != 0 {
		t.Fatalf("ISAKMP SA still there: %+v", st[0].IKESAs)
	}
}

// checkWeTerminate: our Terminate sends Deletes; strongSwan removes its SAs.
func checkWeTerminate(t *testing.T, s *interopSession) {
	if err := s.engine.Terminate("c"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		out = s.swanSAs()
		if !strings.Contains(out, "ESTABLISHED") && !strings.Contains(out, "INSTALLED") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("strongSwan still has SAs after our Deletes:\n%s", out)
}

// checkIKEScan probes our responder with ike-scan (from the strongSwan namespace, on a
// random source port) in Main Mode and, when the case allows it, Aggressive Mode; each
// probe must get a well-formed handshake back.
func checkIKEScan(t *testing.T, s *interopSession) {
	if _, err := exec.LookPath("ike-scan"); err != nil {
		t.Skip("ike-scan not installed")
	}
	probes := [][]string{{"--trans=7/256,4,1,14"}}
	if s.tc.aggressive {
		probes = append(probes, []string{"--aggressive", "--id=right.test", "--idtype=2", "--dhgroup=14", "--trans=7/256,4,1,14"})
	}
	for _, p := range probes {
		args := append([]string{"netns", "exec", interopNSPfx + "-right", "ike-scan", "--sport=0", "--retry=2"}, p...)
		args = append(args, s.ourIP.String())
		out, err := exec.Command("ip", args...).CombinedOutput()
		text := string(out)
		t.Logf("ike-scan %s:\n%s", strings.Join(p, " "), text)
		if err != nil || !strings.Contains(text, "1 returned handshake") {
			t.Fatalf("ike-scan %v: %v\n%s", p, err, text)
		}
		want := "Main Mode Handshake returned"
		if len(p) > 1 {
			want = "Aggressive Mode Handshake returned"
		}
		if !strings.Contains(text, want) || !strings.Contains(text, "Enc=AES") || !strings.Contains(text, "Group=14:modp2048") {
			t.Fatalf("ike-scan did not parse our answer:\n%s", text)
		}
	}
	// A probe with an offer we refuse gets NO-PROPOSAL-CHOSEN.
	out, _ := exec.Command("ip", "netns", "exec", interopNSPfx+"-right", "ike-scan", "--sport=0", "--retry=2", "--trans=5,1,1,2", s.ourIP.String()).CombinedOutput()
	if !strings.Contains(string(out), "NO-PROPOSAL-CHOSEN") {
		t.Fatalf("refused offer: %s", out)
	}
	if s.counter(core.CtrNoProposal) == 0 {
		t.Fatal("no_proposal not counted")
	}
}

// checkPSKCrack: an independent check of our Aggressive Mode HASH_R. ike-scan saves the
// exchange (--pskcrack) and psk-crack, given a dictionary holding the PSK, must find it by
// recomputing RFC 2409's SKEYID and HASH_R (SHA-1 only: psk-crack knows MD5 and SHA-1).
func checkPSKCrack(t *testing.T, s *interopSession) {
	if _, err := exec.LookPath("psk-crack"); err != nil {
		t.Skip("psk-crack not installed")
	}
	dir := t.TempDir()
	params, dict := filepath.Join(dir, "params"), filepath.Join(dir, "dict")
	if err := os.WriteFile(dict, []byte("wrong-guess\n"+interopPSK+"\nanother\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "exec", interopNSPfx+"-right", "ike-scan", "--sport=0", "--retry=2", "--aggressive",
		"--id=right.test", "--idtype=2", "--dhgroup=14", "--trans=7/256,2,1,14", "--pskcrack="+params, s.ourIP.String()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Aggressive Mode Handshake returned") {
		t.Fatalf("ike-scan: %v\n%s", err, out)
	}
	out, err = exec.Command("psk-crack", "-d", dict, params).CombinedOutput()
	t.Logf("psk-crack:\n%s", out)
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("key \"%s\" matches", interopPSK)) {
		t.Fatalf("psk-crack did not find the PSK from our HASH_R: %v", err)
	}
}
