//go:build linux

package e2e

// IKEv2 fragmentation (RFC 7383) against strongSwan (issue 10): IKE_AUTH with an RSA-4096
// chain (end entity and intermediate, about 3.5 KB each way) through a router namespace
// that drops every IP fragment it would forward. With fragmentation = "yes" both sides
// announce IKEV2_FRAGMENTATION_SUPPORTED and send their IKE_AUTH messages as SKF
// fragments, in both roles; with fragmentation = "no" on oakley's side neither fragments,
// the IKE_AUTH request is lost as IP fragments and nothing comes up.
//
//	[left] veth0 198.18.1.1/24 -- .254 [router] 198.18.0.254 -- veth0 198.18.0.2/24 [right]
//	        the router: iptables -t raw -A PREROUTING -f -j DROP (no conntrack there, so the
//	        rule sees the fragments before any reassembly)

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Addresses of the router topology (left's side of the router; right keeps outerB4).
const (
	rtLeft4    = "198.18.1.1"
	rtInside4  = "198.18.1.254"
	rtOutside4 = "198.18.0.254"
)

// newRouterTopo is the NAT topology's shape with a plain router in the middle (no NAT):
// each site routes the other's outer network through it.
func newRouterTopo(t *testing.T) *ioTopo {
	t.Helper()
	needTools(t, "iptables")
	id := randomID(t, 3)
	l, r, rt := newNetns(t, id, "l"), newNetns(t, id, "r"), newNetns(t, id, "rt")
	mustRun(t, "ip", "-n", string(l), "link", "add", "veth0", "type", "veth", "peer", "name", "veth-l", "netns", string(rt))
	mustRun(t, "ip", "-n", string(rt), "link", "add", "veth-r", "type", "veth", "peer", "name", "veth0", "netns", string(r))
	for _, c := range []struct {
		ns        netns
		dev, cidr string
	}{{l, "veth0", rtLeft4 + "/24"}, {rt, "veth-l", rtInside4 + "/24"}, {rt, "veth-r", rtOutside4 + "/24"}, {r, "veth0", outerB4 + "/24"}} {
		mustRun(t, "ip", "-n", string(c.ns), "addr", "add", c.cidr, "dev", c.dev)
		mustRun(t, "ip", "-n", string(c.ns), "link", "set", c.dev, "up")
	}
	for _, ns := range []netns{l, rt, r} {
		ns.mustRun(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	}
	l.mustRun(t, "ip", "route", "add", "198.18.0.0/24", "via", rtInside4)
	r.mustRun(t, "ip", "route", "add", "198.18.1.0/24", "via", rtOutside4)
	rt.mustRun(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	return &ioTopo{
		left:  &ioSide{name: "left", ns: l, outer: rtLeft4, seen: rtLeft4, host: hostA4, net: netA4},
		right: &ioSide{name: "right", ns: r, outer: outerB4, seen: outerB4, host: hostB4, net: netB4},
		nat:   rt,
	}
}

func TestInteropV2Fragmentation(t *testing.T) {
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
		tp := newRouterTopo(t)
		tp.nat.mustRun(t, "iptables", "-t", "raw", "-A", "PREROUTING", "-f", "-j", "DROP")
		f := newCertFixture(t, tp, certSwanCase{kind: "rsa4096", retransmitQuickly: !c.ok})
		f.site.Version, f.conf.Version = 2, 2
		f.site.Fragmentation = c.fragmentation
		sp := startCertPair(t, tp, f)
		// dropped is the number of IP fragments the router dropped.
		dropped := func() int {
			out, _ := tp.nat.run("iptables", "-t", "raw", "-L", "PREROUTING", "-v", "-n", "-x")
			for _, l := range strings.Split(out, "\n") {
				if f := strings.Fields(l); len(f) > 2 && f[2] == "DROP" {
					n, _ := strconv.Atoi(f[0])
					return n
				}
			}
			t.Fatalf("no DROP rule on the router:\n%s", out)
			return 0
		}
		if !c.ok {
			out, err := sp.o.ctl("initiate", sp.site.connName()+"/net")
			if err == nil {
				t.Fatalf("IKE_AUTH came up without fragmentation through a router dropping IP fragments:\n%s", out)
			}
			t.Logf("without fragmentation: `oakley initiate` failed: %s", strings.TrimSpace(out))
			slog := sp.sw.Log()
			if strings.Contains(slog, "IKE_AUTH request 1") || strings.Contains(slog, "reassembled fragmented IKE message") {
				t.Errorf("charon received the IKE_AUTH request although neither side fragmented")
			}
			if init := grepLines(slog, "parsed IKE_SA_INIT request"); init == "" || strings.Contains(init, "FRAG_SUP") {
				t.Errorf("oakley's IKE_SA_INIT with fragmentation = \"no\" (want no N(FRAG_SUP)): %q", init)
			}
			if n := dropped(); n == 0 {
				t.Errorf("the router dropped no IP fragment: the negative control does not test the path")
			} else {
				t.Logf("the router dropped %d IP fragments", n)
			}
			checkNoSA(t, sp, true)
			return
		}
		toPing, _ := sp.establish(t, c.oakleyInitiates)
		pingBoth(t, tp, 2)
		checkPeerCert(t, sp.o, f.eeR)
		if n := dropped(); n != 0 {
			t.Errorf("the router dropped %d IP fragments: a message went whole although too large", n)
		}
		st := sp.o.mustIKEStatus(t)
		if st.IKECounters["fragments_out"] < 2 || st.IKECounters["fragments_reassembled"] == 0 || st.IKECounters["fragments_dropped"] != 0 {
			t.Errorf("oakley's fragment counters: out %d, reassembled %d, dropped %d; want both directions fragmented, none dropped",
				st.IKECounters["fragments_out"], st.IKECounters["fragments_reassembled"], st.IKECounters["fragments_dropped"])
		}
		slog := sp.sw.Log()
		for _, w := range []string{"splitting IKE message", "reassembled fragmented IKE message"} {
			if !strings.Contains(slog, w) {
				t.Errorf("charon's log lacks %q", w)
			}
		}
		if init := grepLines(slog, "parsed IKE_SA_INIT (request|response)"); !strings.Contains(init, "FRAG_SUP") {
			t.Errorf("oakley's IKE_SA_INIT lacks N(FRAG_SUP): %q", init)
		}
		t.Logf("charon: %s", grepLines(slog, "splitting IKE message|reassembled fragmented"))
		recordResult(t, "IKEv2 IKE_SA_INIT + IKE_AUTH with an RSA-4096 chain through a router dropping IP fragments (%s, fragmentation = yes): %s to the first ping; oakley sent %d SKF fragments, reassembled %d messages",
			map[bool]string{true: "oakley initiator", false: "oakley responder"}[c.oakleyInitiates], toPing.Round(time.Millisecond), st.IKECounters["fragments_out"], st.IKECounters["fragments_reassembled"])
	})
}
