//go:build linux

package e2e

// ike-scan --ikev2 against oakley's IKEv2 responder: its legacy default offer is refused with
// a well-formed NO_PROPOSAL_CHOSEN; with the legacy algorithms allowed its offer gets the
// IKE_SA_INIT answer, whose SA ike-scan decodes.

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestInteropV2IKEScan(t *testing.T) {
	needNetns(t)
	needTools(t, "ike-scan")
	t.Parallel()
	tp := newTopo(t, false)
	s := siteFor(tp, tp.right, newPSK(t))
	s.Version, s.RemoteAddr, s.LogLevel = 2, "%any", "info"
	s.Proposals = []string{"aes256-sha256-modp2048"}
	o := startIKE(t, tp.right, "responder", s)

	out := ikeScan(t, tp.left.ns, "--sport=0", "--ikev2", outerB4)
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(outerB4) + `\tNotify message 14 \(NO_PROPOSAL_CHOSEN\)`).MatchString(out) {
		t.Errorf("ike-scan --ikev2 (legacy offer) did not get NO_PROPOSAL_CHOSEN:\n%s", out)
	}
	t.Logf("ike-scan --ikev2: %s", firstLine(out, outerB4))
	if st := o.mustIKEStatus(t); st.IKECounters["no_proposal"] == 0 {
		t.Errorf("oakley did not count the refused proposal")
	}
	// ike-scan 1.9.5 takes no custom IKEv2 proposal; with its legacy algorithms allowed,
	// its offer gets the IKE_SA_INIT answer, which it decodes.
	o.p.signal(syscall.SIGTERM)
	o.p.wait(10 * time.Second)
	s.Insecure = true
	s.Proposals = []string{"3des-sha1-modp1024", "aes128-sha1-modp1024", "3des-md5-modp1024", "aes256-sha1-modp1024"}
	o = startIKE(t, tp.right, "responder-legacy", s)
	out = ikeScan(t, tp.left.ns, "--sport=0", "--ikev2", outerB4)
	if !strings.Contains(out, "IKEv2 SA_INIT Handshake returned") {
		t.Errorf("ike-scan --ikev2 got no handshake from a responder that accepts its offer:\n%s", out)
	}
	t.Logf("ike-scan --ikev2 (legacy algorithms allowed): %s", firstLine(out, outerB4))
}
