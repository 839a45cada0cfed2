//go:build linux

package e2e

// NAT traversal (issue 4 §4, case 4): a namespace doing MASQUERADE sits between the sites
// (left 198.18.1.1 is seen as 198.18.0.254 on the right, which has no route back). oakley
// NATed initiating to charon, charon NATed initiating to oakley, and oakley to oakley with
// encap = "auto": NAT-T is detected, IKE floats to 4500, ESP goes in UDP, and the NATed side
// sends keepalives (RFC 3948 §2.3: one 0xFF byte, a 29-byte IPv4 packet). Counting rules in
// the NAT's FORWARD chain see what crosses.

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// natRules are counting rules (no target) in the NAT namespace's FORWARD chain.
var natRules = []struct{ name, spec string }{
	{"keepalive-l", "-i veth-l -p udp --dport 4500 -m length --length 29"},
	{"keepalive-r", "-i veth-r -p udp --sport 4500 -m length --length 29"},
	{"udp4500-l", "-i veth-l -p udp --dport 4500 -m length --length 30:65535"},
	{"udp4500-r", "-i veth-r -p udp --sport 4500 -m length --length 30:65535"},
	{"udp500", "-p udp --dport 500"},
	{"esp", "-p esp"},
}

func addNATCounters(t *testing.T, tp *ioTopo) {
	t.Helper()
	for _, r := range natRules {
		args := append([]string{"-A", "FORWARD"}, strings.Fields(r.spec)...)
		args = append(args, "-m", "comment", "--comment", r.name)
		tp.nat.mustRun(t, "iptables", args...)
	}
}

// natLocalLogged matches oakley's "ISAKMP SA established" line when it found itself behind
// a NAT.
var natLocalLogged = regexp.MustCompile(`ISAKMP SA established.*"nat_local": true`)

// natLocal and natRemote read the NAT facts of `oakley status` (a comma-separated list such
// as "local behind NAT, UDP encapsulation forced"; older wordings too).
func natLocal(nat string) bool {
	return strings.Contains(nat, "local behind NAT") || strings.Contains(nat, "we are behind NAT") || strings.Contains(nat, "both sides")
}

func natRemote(nat string) bool {
	return strings.Contains(nat, "peer behind NAT") || strings.Contains(nat, "both sides")
}

var iptablesLine = regexp.MustCompile(`^\s*(\d+)\s+(\d+)\s.*/\* (\S+) \*/`)

// natCounters returns the packet count of every counting rule.
func natCounters(t *testing.T, tp *ioTopo) map[string]uint64 {
	t.Helper()
	out := tp.nat.mustRun(t, "iptables", "-nvxL", "FORWARD")
	m := map[string]uint64{}
	for _, l := range strings.Split(out, "\n") {
		if g := iptablesLine.FindStringSubmatch(l); g != nil {
			m[g[3]], _ = strconv.ParseUint(g[1], 10, 64)
		}
	}
	return m
}

// waitFor polls cond every 250 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestInteropNAT runs the three NAT scenarios side by side (each waits for a keepalive,
// sent every 20 s).
func TestInteropNAT(t *testing.T) {
	needNetns(t)
	needTools(t, "iptables")
	t.Parallel()
	cases := []struct {
		name  string
		swan  bool // charon takes part (else oakley to oakley)
		run   func(t *testing.T, tp *ioTopo)
		needs func(t *testing.T)
	}{
		{name: "oakley-natted-initiator-to-charon", run: func(t *testing.T, tp *ioTopo) { natOakleyToCharon(t, tp, 1) }, needs: needCharon},
		{name: "charon-natted-initiator-to-oakley", run: func(t *testing.T, tp *ioTopo) { natCharonToOakley(t, tp, 1) }, needs: needCharon},
		{name: "ikev2-oakley-natted-initiator-to-charon", run: func(t *testing.T, tp *ioTopo) { natOakleyToCharon(t, tp, 2) }, needs: needCharon},
		{name: "ikev2-charon-natted-initiator-to-oakley", run: func(t *testing.T, tp *ioTopo) { natCharonToOakley(t, tp, 2) }, needs: needCharon},
		{name: "oakley-natted-to-oakley-encap-auto", run: natOakleyToOakley},
	}
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	parallelRuns(t, 3, names, func(t *testing.T, i int) {
		if cases[i].needs != nil {
			cases[i].needs(t)
		}
		tp := newTopo(t, true)
		addNATCounters(t, tp)
		cases[i].run(t, tp)
	})
}

// checkNATWire: after the traffic, IKE and ESP crossed the NAT in UDP on 4500 (no raw ESP),
// and keepalives from the NATed left side were seen within 25 s.
func checkNATWire(t *testing.T, tp *ioTopo) map[string]uint64 {
	t.Helper()
	var c map[string]uint64
	if !waitFor(25*time.Second, func() bool { c = natCounters(t, tp); return c["keepalive-l"] > 0 }) {
		t.Errorf("no NAT keepalive from the NATed side crossed the NAT within 25 s: %v", c)
	}
	if c["udp4500-l"] == 0 || c["udp4500-r"] == 0 {
		t.Errorf("no UDP-encapsulated traffic on port 4500 through the NAT in both directions: %v", c)
	}
	if c["esp"] != 0 {
		t.Errorf("%d raw ESP packets crossed the NAT; with NAT everything must be UDP-encapsulated", c["esp"])
	}
	if c["udp500"] == 0 || c["udp500"] > 4 {
		t.Errorf("%d packets to UDP 500 crossed the NAT; want the first Main Mode messages only (then IKE floats to 4500)", c["udp500"])
	}
	t.Logf("through the NAT: %v", c)
	return c
}

// natOakleyToCharon: oakley behind the NAT initiates IKE version to charon.
func natOakleyToCharon(t *testing.T, tp *ioTopo, version int) {
	psk := newPSK(t)
	conf := swanFor(tp, tp.right, psk)
	conf.Version = version
	sw := startSwan(t, tp.right, "charon", conf)
	site := siteFor(tp, tp.left, psk)
	site.Version = version
	o := startIKE(t, tp.left, "oakley", site)
	o.mustCtl(t, "initiate", site.connName()+"/net")
	waitChildUp(t, o, 10*time.Second)
	pingBoth(t, tp, 3)

	s := o.mustIKEStatus(t)
	ike := s.Connections[0].IKESAs[0]
	// With encap = "udp" (the default) status says "UDP encapsulation forced" whatever NAT
	// detection found; the log line of the established SA has the detection result.
	if !natLocal(ike.NAT) && !natLocalLogged.MatchString(o.p.out.String()) {
		t.Errorf("oakley (behind the NAT) reports NAT %q and does not log nat_local = true, want that it is behind NAT", ike.NAT)
	}
	if ike.Peer != outerB4+":4500" {
		t.Errorf("oakley's IKE SA peer %s, want %s:4500 (floated)", ike.Peer, outerB4)
	}
	for _, sa := range s.allSAs() {
		if sa.Dir == "out" && (sa.Encap != "udp" || sa.Peer != outerB4+":4500") {
			t.Errorf("oakley's outbound SA: encap %s to %s, want udp to %s:4500", sa.Encap, sa.Peer, outerB4)
		}
	}
	sas := sw.listSAs(t)
	if len(sas) != 1 {
		t.Fatalf("charon lists %d IKE SAs: %+v", len(sas), sas)
	}
	f := sas[0].Fields
	if f["remote-host"] != natOutside4 || f["nat-remote"] != "yes" || f["local-port"] != "4500" {
		t.Errorf("charon's IKE SA: remote %s[%s] nat-remote=%s local-port %s; want %s, nat-remote=yes, 4500",
			f["remote-host"], f["remote-port"], f["nat-remote"], f["local-port"], natOutside4)
	}
	if !strings.Contains(sw.Log(), "remote host is behind NAT") {
		t.Errorf("charon did not log \"remote host is behind NAT\"")
	}
	checkNATWire(t, tp)
	if n := o.mustIKEStatus(t).IKECounters["keepalives"]; n == 0 {
		t.Errorf("oakley (behind the NAT) counted no keepalive sent")
	}
	pingBoth(t, tp, 2)
}

// natCharonToOakley: charon behind the NAT initiates IKE version to oakley.
func natCharonToOakley(t *testing.T, tp *ioTopo, version int) {
	psk := newPSK(t)
	conf := swanFor(tp, tp.left, psk)
	conf.Version = version
	sw := startSwan(t, tp.left, "charon", conf)
	site := siteFor(tp, tp.right, psk)
	site.Version = version
	site.RemoteAddr = "%any" // the initiator arrives from the NAT's address
	o := startIKE(t, tp.right, "oakley", site)
	sw.swanctl(t, "--initiate", "--child", "net", "--timeout", "30")
	waitChildUp(t, o, 10*time.Second)
	pingBoth(t, tp, 3)

	s := o.mustIKEStatus(t)
	ike := s.Connections[0].IKESAs[0]
	if !strings.HasPrefix(ike.Peer, natOutside4+":") || strings.HasSuffix(ike.Peer, ":500") {
		t.Errorf("oakley's IKE SA peer %s, want the NAT's %s on its NAT-T mapping", ike.Peer, natOutside4)
	}
	for _, sa := range s.allSAs() {
		if sa.Dir == "out" && (sa.Encap != "udp" || sa.Peer != ike.Peer) {
			t.Errorf("oakley's outbound SA: encap %s to %s, want udp to %s", sa.Encap, sa.Peer, ike.Peer)
		}
	}
	sas := sw.listSAs(t)
	if len(sas) != 1 || sas[0].Fields["nat-local"] != "yes" {
		t.Errorf("charon (behind the NAT) does not report nat-local=yes: %+v", sas)
	}
	if !strings.Contains(sw.Log(), "local host is behind NAT, sending keep alives") {
		t.Errorf("charon did not log \"local host is behind NAT, sending keep alives\"")
	}
	checkNATWire(t, tp)
	if !waitFor(5*time.Second, func() bool { return o.mustIKEStatus(t).Counters["nat_keepalives_rx"] > 0 }) {
		t.Errorf("oakley counted no NAT keepalive received (nat_keepalives_rx)")
	}
	pingBoth(t, tp, 2)
}

func natOakleyToOakley(t *testing.T, tp *ioTopo) {
	psk := newPSK(t)
	l, r := siteFor(tp, tp.left, psk), siteFor(tp, tp.right, psk)
	l.Encap, r.Encap = "auto", "auto"
	r.RemoteAddr = "%any"
	rb := startIKE(t, tp.right, "right", r)
	lb := startIKE(t, tp.left, "left", l)
	lb.mustCtl(t, "initiate", l.connName()+"/net")
	waitChildUp(t, lb, 10*time.Second)
	waitChildUp(t, rb, 10*time.Second)
	pingBoth(t, tp, 3)
	for _, o := range []*oakley{lb, rb} {
		s := o.mustIKEStatus(t)
		nat := s.Connections[0].IKESAs[0].NAT
		// encap = auto: the real NAT only, on the left (the NATed initiator).
		if natLocal(nat) != (o == lb) || natRemote(nat) != (o == rb) || strings.Contains(nat, "forced") {
			t.Errorf("oakley %s reports NAT %q; want only the %s behind NAT (encap = auto, a real NAT)", o.name, nat,
				map[bool]string{true: "local side", false: "peer"}[o == lb])
		}
		for _, sa := range s.allSAs() {
			if sa.Dir == "out" && sa.Encap != "udp" {
				t.Errorf("oakley %s: outbound SA %s encap %q, want udp behind a NAT", o.name, sa.SPI, sa.Encap)
			}
		}
	}
	checkNATWire(t, tp)
	if n := lb.mustIKEStatus(t).IKECounters["keepalives"]; n == 0 {
		t.Errorf("oakley left (behind the NAT) counted no keepalive sent")
	}
	if n := rb.mustIKEStatus(t).Counters["nat_keepalives_rx"]; n == 0 {
		t.Errorf("oakley right counted no keepalive received")
	}
	if n := rb.mustIKEStatus(t).IKECounters["keepalives"]; n != 0 {
		t.Errorf("oakley right (not behind a NAT) sent %d keepalives, want none", n)
	}
	pingBoth(t, tp, 2)
}
