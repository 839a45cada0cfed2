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
//	IPv6:  2001:db8:1::1/64 -- ::fe [router] 2001:db8:ffff::fe -- 2001:db8:ffff::2/64, with
//	        ip6tables -t raw -A PREROUTING -m frag -j DROP

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Addresses of the router topology (left's side of the router; right keeps outerB4 /
// outerB6).
const (
	rtLeft4    = "198.18.1.1"
	rtInside4  = "198.18.1.254"
	rtOutside4 = "198.18.0.254"
	rtLeft6    = "2001:db8:1::1"
	rtInside6  = "2001:db8:1::fe"
	rtOutside6 = "2001:db8:ffff::fe"
)

// newRouterTopo is the NAT topology's shape with a plain router in the middle (no NAT):
// each site routes the other's outer network through it; v6: the outer addresses are IPv6.
func newRouterTopo(t *testing.T, v6 bool) *ioTopo {
	t.Helper()
	needTools(t, "iptables")
	id := randomID(t, 3)
	l, r, rt := newNetns(t, id, "l"), newNetns(t, id, "r"), newNetns(t, id, "rt")
	mustRun(t, "ip", "-n", string(l), "link", "add", "veth0", "type", "veth", "peer", "name", "veth-l", "netns", string(rt))
	mustRun(t, "ip", "-n", string(rt), "link", "add", "veth-r", "type", "veth", "peer", "name", "veth0", "netns", string(r))
	left, inside, outside, right, plen := rtLeft4, rtInside4, rtOutside4, outerB4, "/24"
	if v6 {
		left, inside, outside, right, plen = rtLeft6, rtInside6, rtOutside6, outerB6, "/64"
	}
	for _, c := range []struct {
		ns        netns
		dev, addr string
	}{{l, "veth0", left}, {rt, "veth-l", inside}, {rt, "veth-r", outside}, {r, "veth0", right}} {
		args := []string{"-n", string(c.ns), "addr", "add", c.addr + plen, "dev", c.dev}
		if v6 {
			args = append(args, "nodad")
		}
		mustRun(t, "ip", args...)
		mustRun(t, "ip", "-n", string(c.ns), "link", "set", c.dev, "up")
	}
	for _, ns := range []netns{l, rt, r} {
		ns.mustRun(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	}
	if v6 {
		l.mustRun(t, "ip", "-6", "route", "add", "2001:db8:ffff::/64", "via", inside)
		r.mustRun(t, "ip", "-6", "route", "add", "2001:db8:1::/64", "via", outside)
		rt.mustRun(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	} else {
		l.mustRun(t, "ip", "route", "add", "198.18.0.0/24", "via", inside)
		r.mustRun(t, "ip", "route", "add", "198.18.1.0/24", "via", outside)
		rt.mustRun(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	return &ioTopo{
		left:  &ioSide{name: "left", ns: l, outer: left, seen: left, host: hostA4, net: netA4},
		right: &ioSide{name: "right", ns: r, outer: right, seen: right, host: hostB4, net: netB4},
		nat:   rt,
	}
}

// dropForwardedFragments makes the router drop every IP fragment (IPv4 -f, IPv6 -m frag)
// before any reassembly (raw table, no conntrack in that namespace).
func dropForwardedFragments(t *testing.T, tp *ioTopo, v6 bool) (table string) {
	t.Helper()
	if v6 {
		needTools(t, "ip6tables")
		tp.nat.mustRun(t, "ip6tables", "-t", "raw", "-A", "PREROUTING", "-m", "frag", "-j", "DROP")
		return "ip6tables"
	}
	tp.nat.mustRun(t, "iptables", "-t", "raw", "-A", "PREROUTING", "-f", "-j", "DROP")
	return "iptables"
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
		v6              bool
	}{
		{"yes-oakley-initiator", true, "yes", true, false},
		{"yes-oakley-responder", false, "yes", true, false},
		{"no-oakley-initiator", true, "no", false, false},
		{"yes-oakley-initiator-ipv6", true, "yes", true, true},
		{"no-oakley-initiator-ipv6", true, "no", false, true},
	}
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	parallelRuns(t, 2, names, func(t *testing.T, i int) {
		c := cases[i]
		tp := newRouterTopo(t, c.v6)
		ipt := dropForwardedFragments(t, tp, c.v6)
		f := newCertFixture(t, tp, certSwanCase{kind: "rsa4096", retransmitQuickly: !c.ok})
		f.site.Version, f.conf.Version = 2, 2
		f.site.Fragmentation = c.fragmentation
		sp := startCertPair(t, tp, f)
		// dropped is the number of IP fragments the router dropped.
		dropped := func() int {
			out, _ := tp.nat.run(ipt, "-t", "raw", "-L", "PREROUTING", "-v", "-n", "-x")
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
		recordResult(t, "IKEv2 IKE_SA_INIT + IKE_AUTH with an RSA-4096 chain through a router dropping IP fragments (%s, %s, fragmentation = yes): %s to the first ping; oakley sent %d SKF fragments, reassembled %d messages",
			map[bool]string{true: "oakley initiator", false: "oakley responder"}[c.oakleyInitiates], map[bool]string{true: "IPv6", false: "IPv4"}[c.v6], toPing.Round(time.Millisecond), st.IKECounters["fragments_out"], st.IKECounters["fragments_reassembled"])
	})
}
