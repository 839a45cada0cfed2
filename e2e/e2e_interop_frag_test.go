//go:build linux

package e2e

// IKEv1 fragmentation against strongSwan (issue 9): Main Mode with a 4096-bit RSA chain
// (root, intermediate, end entity) between sites that drop IP fragments
// (`iptables -t raw -A PREROUTING -f -j DROP` in both namespaces, which have no conntrack, so
// the rule sees fragments before any reassembly): with fragmentation = "yes" both sides send
// their certificate messages in IKE fragments and the tunnel comes up, in both roles; with
// fragmentation = "no" on oakley's side (no FRAGMENTATION vendor ID, so neither side
// fragments) messages 5 and 6 are lost as IP fragments and nothing comes up. tshark records
// the successful exchange and must dissect it without a malformed packet.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// prewarmKeys generates keys of a kind in parallel (RSA-4096 takes seconds each).
func prewarmKeys(t *testing.T, kind string, names ...string) {
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Add(1)
		go func() { defer wg.Done(); e2eKey(t, kind, n) }()
	}
	wg.Wait()
}

// dropIPFragments makes a site's namespace drop every IP fragment it receives.
func dropIPFragments(t *testing.T, s *ioSide) {
	t.Helper()
	needTools(t, "iptables")
	s.ns.mustRun(t, "iptables", "-t", "raw", "-A", "PREROUTING", "-f", "-j", "DROP")
}

func TestInteropFragmentation(t *testing.T) {
	needInterop(t)
	t.Parallel()
	prewarmKeys(t, "rsa4096", "root", "inter-left", "inter-right", "ee-left", "ee-right")
	cases := []struct {
		name            string
		oakleyInitiates bool
		fragmentation   string
		ok              bool
	}{
		{"yes-oakley-initiator", true, "yes", true},
		{"yes-oakley-responder", false, "yes", true},
		{"no-oakley-initiator", true, "no", false},
	}
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	parallelRuns(t, 3, names, func(t *testing.T, i int) {
		c := cases[i]
		tp := newTopo(t, false)
		dropIPFragments(t, tp.left)
		dropIPFragments(t, tp.right)
		f := newCertFixture(t, tp, certSwanCase{kind: "rsa4096", retransmitQuickly: !c.ok})
		f.site.Fragmentation = c.fragmentation
		var pcap string
		var capture *proc
		if c.ok && c.oakleyInitiates && haveTool("tshark") {
			pcap = filepath.Join(t.TempDir(), "ike.pcap")
			capture = startProc(t, "tshark", tp.right.ns.args("tshark", "-i", "veth0", "-n", "-l", "-P", "-f", "udp port 500 or udp port 4500", "-w", pcap)...)
			waitCapturing(t, capture)
		}
		sp := startCertPair(t, tp, f)
		if !c.ok {
			out, err := sp.o.ctl("initiate", sp.site.connName()+"/net")
			if err == nil {
				t.Fatalf("Main Mode came up without fragmentation through a path that drops IP fragments:\n%s", out)
			}
			t.Logf("without fragmentation: `oakley initiate` failed: %s", strings.TrimSpace(out))
			if !sp.o.p.logged("no answer to message 5") {
				t.Errorf("oakley's log does not say message 5 went unanswered")
			}
			if strings.Contains(sp.sw.Log(), "parsed ID_PROT request 0 [ ID CERT") || strings.Contains(sp.sw.Log(), "reassembled fragmented IKE message") {
				t.Errorf("charon received message 5 although neither side fragmented")
			}
			checkNoSA(t, sp, false)
			return
		}
		toPing, _ := sp.establish(t, c.oakleyInitiates)
		pingBoth(t, tp, 2)
		checkPeerCert(t, sp.o, f.eeR)
		st := sp.o.mustIKEStatus(t)
		if st.IKECounters["fragments_out"] == 0 || st.IKECounters["fragments_reassembled"] == 0 || st.IKECounters["fragments_dropped"] != 0 {
			t.Errorf("oakley's fragment counters: out %d, reassembled %d, dropped %d; want both directions fragmented, none dropped",
				st.IKECounters["fragments_out"], st.IKECounters["fragments_reassembled"], st.IKECounters["fragments_dropped"])
		}
		slog := sp.sw.Log()
		for _, w := range []string{"splitting IKE message", "reassembled fragmented IKE message"} {
			if !strings.Contains(slog, w) {
				t.Errorf("charon's log lacks %q", w)
			}
		}
		recordResult(t, "Main Mode + Quick Mode with an RSA-4096 chain through a path dropping IP fragments (%s, fragmentation = yes): %s to the first ping; oakley sent %d fragments, reassembled %d messages",
			map[bool]string{true: "oakley initiator", false: "oakley responder"}[c.oakleyInitiates], toPing.Round(time.Millisecond), st.IKECounters["fragments_out"], st.IKECounters["fragments_reassembled"])
		if capture != nil {
			time.Sleep(200 * time.Millisecond)
			capture.signal(syscall.SIGINT)
			capture.wait(10 * time.Second)
			checkTsharkIKE(t, pcap)
		}
	})
}

func haveTool(name string) bool { _, err := exec.LookPath(name); return err == nil }

// checkTsharkIKE dissects a capture of IKE and fails on any malformed packet; it also wants
// IKE fragments (tshark reassembles them) and a certificate request in it.
func checkTsharkIKE(t *testing.T, pcap string) {
	t.Helper()
	tshark := func(args ...string) []string {
		out, err := run("tshark", append([]string{"-r", pcap, "-n"}, args...)...)
		if err != nil {
			t.Fatalf("tshark %v: %v\n%s", args, err, out)
		}
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Running as user") {
				lines = append(lines, l)
			}
		}
		return lines
	}
	all := tshark()
	if bad := tshark("-Y", "_ws.malformed || _ws.expert.severity >= error || isakmp.fragment.overlap"); len(bad) > 0 {
		t.Errorf("tshark reports malformed packets:\n%s\nthe whole capture:\n%s", strings.Join(bad, "\n"), strings.Join(all, "\n"))
	}
	frags := tshark("-Y", "isakmp.frag.seq")
	reassembled := tshark("-Y", "isakmp.fragments")
	certreq := tshark("-Y", "isakmp.certreq.type == 4")
	if len(frags) < 4 || len(reassembled) < 2 || len(certreq) == 0 {
		t.Errorf("tshark shows %d datagrams with IKE fragments, %d reassembled messages, %d with a CERTREQ; want fragments both ways and a CERTREQ:\n%s",
			len(frags), len(reassembled), len(certreq), strings.Join(all, "\n"))
	}
	t.Logf("tshark dissected %d datagrams without a malformed one: %d IKE fragments, %d messages reassembled", len(all), len(frags), len(reassembled))

	// The negative control: the same filter flags an ISAKMP message whose SA payload claims
	// more bytes than the message has.
	msg := append(bytes.Repeat([]byte{0x11}, 8), make([]byte, 8)...)
	msg = append(msg, 1, 0x10, 2, 0, 0, 0, 0, 0, 0, 0, 0, 28+24)
	msg = append(msg, 0, 0, 0, 200)
	msg = append(msg, make([]byte, 20)...)
	dir := t.TempDir()
	hexdump := "0000 " + strings.TrimSpace(fmt.Sprintf("% x", msg)) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "bad.txt"), []byte(hexdump), 0o644); err != nil {
		t.Fatal(err)
	}
	badPcap := filepath.Join(dir, "bad.pcap")
	if out, err := run("text2pcap", "-q", "-4", "198.18.0.1,198.18.0.2", "-u", "500,500", filepath.Join(dir, "bad.txt"), badPcap); err != nil {
		t.Logf("negative control skipped: text2pcap: %v %s", err, out)
		return
	}
	if out, _ := run("tshark", "-r", badPcap, "-n", "-Y", "_ws.malformed || _ws.expert.severity >= error"); !strings.Contains(out, "Malformed") {
		t.Errorf("negative control: tshark's filter does not flag a truncated ISAKMP message:\n%s", out)
	}
}
