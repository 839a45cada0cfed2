//go:build linux

package e2e

// oakley against oakley (issue 4 §4, case 5), compactly: one table of Phase 1 / Phase 2
// combinations (Main and Aggressive Mode, PFS on and off, the IKE and ESP algorithms, tunnel
// and transport mode, AH and raw ESP with encap = "raw", encap = "auto" without NAT) run one
// after the other on one pair of namespaces, then the lifecycle cases side by side: rekey
// under ping from either end, re-authentication, DPD with dpd_action = restart across a
// killed and restarted peer, terminate.

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfCase is one negotiation between two oakleys: left initiates, right responds.
type selfCase struct {
	name       string
	version    int // 0 = 1
	aggressive bool
	ike        string
	esp, ah    string // exactly one
	mode       string // "" = tunnel
	encap      string // "" = udp
	insecure   bool
	wantEncap  string // "" = udp, or encap when set
	highPorts  bool   // both on unprivileged ports (ike_port/natt_port, remote_port/remote_natt_port)
}

var selfCases = []selfCase{
	{name: "main-aes256-sha256-modp2048-aes128gcm16", ike: "aes256-sha256-modp2048", esp: "aes128gcm16"},
	{name: "main-aes128-sha1-modp1024-aes256-sha256", ike: "aes128-sha1-modp1024", esp: "aes256-sha256", insecure: true},
	{name: "main-aes128-sha256-ecp256-aes128gcm16-pfs-ecp256", ike: "aes128-sha256-ecp256", esp: "aes128gcm16-ecp256"},
	{name: "main-aes256-sha384-ecp384-aes256gcm16-pfs-modp3072", ike: "aes256-sha384-ecp384", esp: "aes256gcm16-modp3072"},
	{name: "main-aes256-sha512-ecp521-aes128-sha1", ike: "aes256-sha512-ecp521", esp: "aes128-sha1"},
	{name: "main-aes128-sha256-curve25519-chacha20poly1305-pfs-curve25519", ike: "aes128-sha256-curve25519", esp: "chacha20poly1305-curve25519"},
	{name: "main-3des-sha1-modp2048-3des-sha1", ike: "3des-sha1-modp2048", esp: "3des-sha1"},
	{name: "main-aes192-sha256-modp3072-aes256-sha512", ike: "aes192-sha256-modp3072", esp: "aes256-sha512"},
	{name: "aggressive-aes256-sha256-modp2048-aes128gcm16", aggressive: true, ike: "aes256-sha256-modp2048", esp: "aes128gcm16"},
	{name: "aggressive-aes128-sha256-ecp256-aes256-sha256-pfs-modp2048", aggressive: true, ike: "aes128-sha256-ecp256", esp: "aes256-sha256-modp2048"},
	{name: "transport-udp-aes128gcm16", ike: "aes256-sha256-modp2048", esp: "aes128gcm16", mode: "transport"},
	{name: "transport-raw-aes256-sha256", ike: "aes256-sha256-modp2048", esp: "aes256-sha256", mode: "transport", encap: "raw", wantEncap: "raw"},
	{name: "tunnel-raw-aes256gcm16", ike: "aes256-sha256-modp2048", esp: "aes256gcm16", encap: "raw", wantEncap: "raw"},
	{name: "auto-without-nat-aes128gcm16", ike: "aes256-sha256-modp2048", esp: "aes128gcm16", encap: "auto", wantEncap: "raw"},
	{name: "ah-sha256-tunnel-raw", ike: "aes256-sha256-modp2048", ah: "sha256", encap: "raw", wantEncap: "raw"},
	{name: "ah-sha1-transport-raw", ike: "aes256-sha256-modp2048", ah: "sha1", mode: "transport", encap: "raw", wantEncap: "raw"},
	{name: "ah-sha512-pfs-ecp256-tunnel-raw", ike: "aes128-sha256-ecp256", ah: "sha512-ecp256", encap: "raw", wantEncap: "raw"},
	{name: "high-ports-aes256gcm16", ike: "aes256-sha256-ecp256", esp: "aes256gcm16", highPorts: true},
	// IKEv2 (the first child comes with IKE_AUTH, so without PFS whatever its proposal says).
	{name: "v2-aes128gcm16-prfsha256-ecp256-aes128gcm16", version: 2, ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16"},
	{name: "v2-aes256-sha512-ecp521-aes256-sha512-pfs-modp3072", version: 2, ike: "aes256-sha512-ecp521", esp: "aes256-sha512-modp3072"},
	{name: "v2-transport-udp-aes128gcm16", version: 2, ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16", mode: "transport"},
	{name: "v2-transport-raw-aes256-sha256", version: 2, ike: "aes128gcm16-prfsha256-ecp256", esp: "aes256-sha256", mode: "transport", encap: "raw", wantEncap: "raw"},
	{name: "v2-tunnel-raw-chacha20poly1305", version: 2, ike: "chacha20poly1305-prfsha256-curve25519", esp: "chacha20poly1305", encap: "raw", wantEncap: "raw"},
	{name: "v2-auto-without-nat-aes128gcm16", version: 2, ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16", encap: "auto", wantEncap: "raw"},
	{name: "v2-ah-sha256-tunnel-raw", version: 2, ike: "aes128gcm16-prfsha256-ecp256", ah: "sha256", encap: "raw", wantEncap: "raw"},
	{name: "v2-high-ports-aes256gcm16", version: 2, ike: "aes256-sha256-ecp256", esp: "aes256gcm16", highPorts: true},
}

// selfSites returns the two configurations of c (left initiates on `oakley initiate`).
func selfSites(tp *ioTopo, c selfCase, psk string) (l, r ikeSite) {
	l, r = siteFor(tp, tp.left, psk), siteFor(tp, tp.right, psk)
	for _, s := range []*ikeSite{&l, &r} {
		s.Version = c.version
		s.Aggressive, s.Proposals, s.Encap = c.aggressive, []string{c.ike}, c.encap
		s.Insecure = c.insecure || (c.aggressive && s == &r)
		ch := &s.Children[0]
		ch.Mode = c.mode
		if c.mode == "transport" {
			ch.LocalTS, ch.RemoteTS = nil, nil // the outer addresses
			s.Addresses = nil
		}
		if c.ah != "" {
			ch.AH = []string{c.ah}
		} else {
			ch.ESP = []string{c.esp}
		}
	}
	if c.highPorts {
		l.IKEPort, l.NATTPort, r.IKEPort, r.NATTPort = 10500, 14500, 20500, 24500
		l.RemotePort, l.RemoteNATTPort, r.RemotePort, r.RemoteNATTPort = 20500, 24500, 10500, 14500
	}
	return l, r
}

// checkSelf asserts what both oakleys report after traffic crossed.
func checkSelf(t *testing.T, c selfCase, l, r *oakley) {
	t.Helper()
	prop, proto := c.esp, "ESP"
	if c.ah != "" {
		prop, proto = c.ah, "AH"
	}
	// The PFS group is the last part when it is a DH group.
	algs, pfs := prop, ""
	if i := strings.LastIndex(prop, "-"); i > 0 && isDHGroup(prop[i+1:]) {
		algs, pfs = prop[:i], prop[i+1:]
	}
	wantEncap := c.wantEncap
	if wantEncap == "" {
		wantEncap = "udp"
	}
	mode, ikeAlgs := map[bool]string{true: "Aggressive Mode", false: "Main Mode"}[c.aggressive], c.ike
	if c.version == 2 {
		mode, ikeAlgs, pfs = "IKEv2", v2Algorithms(t, c.ike), "" // IKE_AUTH carries no KE (RFC 7296 §1.2)
	}
	for _, o := range []*oakley{l, r} {
		s := o.mustIKEStatus(t)
		if len(s.Connections) != 1 || len(s.Connections[0].IKESAs) != 1 {
			t.Errorf("oakley %s: want one connection with one IKE SA:\n%s", o.name, s.raw)
			continue
		}
		ike := s.Connections[0].IKESAs[0]
		if ike.State != "established" || ike.Algorithms != ikeAlgs || ike.Mode != mode || ike.Initiator != (o == l) {
			t.Errorf("oakley %s: IKE SA %s %s %s initiator=%v; want established %s %s initiator=%v", o.name, ike.State, ike.Algorithms, ike.Mode, ike.Initiator, ikeAlgs, mode, o == l)
		}
		ch := s.Connections[0].Children[0]
		if ch.PFS != pfs || ch.Mode != map[bool]string{true: "transport", false: "tunnel"}[c.mode == "transport"] {
			t.Errorf("oakley %s: child mode %q PFS %q, want %q PFS %q", o.name, ch.Mode, ch.PFS, c.mode, pfs)
		}
		if len(ch.SAs) != 2 {
			t.Errorf("oakley %s: %d SAs, want 2:\n%s", o.name, len(ch.SAs), s.raw)
		}
		for _, sa := range ch.SAs {
			if sa.Protocol != proto || sa.Algorithms != algs || sa.Packets == 0 || len(sa.Errors) > 0 {
				t.Errorf("oakley %s: %s SA %s: %s %s, %d packets, errors %v; want %s %s with traffic", o.name, sa.Dir, sa.SPI, sa.Protocol, sa.Algorithms, sa.Packets, sa.Errors, proto, algs)
			}
			if sa.Dir == "out" && sa.Encap != wantEncap {
				t.Errorf("oakley %s: outbound SA encap %q, want %q", o.name, sa.Encap, wantEncap)
			}
			if sa.Dir == "out" && c.highPorts && !strings.HasSuffix(sa.Peer, map[*oakley]string{l: ":24500", r: ":14500"}[o]) {
				t.Errorf("oakley %s: outbound SA goes to %s, want the peer's natt_port", o.name, sa.Peer)
			}
		}
	}
	// The two ends agree on the SPIs: each one's inbound is the other's outbound.
	ls, rs := spiSet(l.mustIKEStatus(t).allSAs()), spiSet(r.mustIKEStatus(t).allSAs())
	for spi := range ls {
		if !rs[spi] {
			t.Errorf("SPI %s of the left end is unknown to the right end (%v)", spi, keys(rs))
		}
	}
}

func isDHGroup(s string) bool {
	return strings.HasPrefix(s, "modp") || strings.HasPrefix(s, "ecp") || s == "curve25519" || s == "x25519"
}

// TestInteropOakley runs the selfCases on one pair of namespaces, one after the other.
func TestInteropOakley(t *testing.T) {
	needNetns(t)
	t.Parallel()
	tp := newTopo(t, false)
	for _, c := range selfCases {
		t.Run(c.name, func(t *testing.T) {
			psk := newPSK(t)
			ls, rs := selfSites(tp, c, psk)
			r := startIKE(t, tp.right, "right", rs)
			l := startIKE(t, tp.left, "left", ls)
			l.mustCtl(t, "initiate", ls.connName()+"/net")
			waitChildUp(t, l, 10*time.Second)
			waitChildUp(t, r, 10*time.Second)
			if c.mode == "transport" {
				mustPing(t, tp.left.ns, tp.left.outer, tp.right.outer, 3)
				mustPing(t, tp.right.ns, tp.right.outer, tp.left.outer, 3)
			} else {
				pingBoth(t, tp, 3)
			}
			checkSelf(t, c, l, r)
		})
	}
}

// selfLifecycle is one lifecycle scenario between two oakleys.
type selfLifecycle struct {
	name string
	run  func(t *testing.T, tp *ioTopo, ls, rs ikeSite, l, r *oakley)
	conf func(l, r *ikeSite)
}

var selfLifecycles = []selfLifecycle{
	{name: "rekey-child-by-initiator-under-ping", run: func(t *testing.T, tp *ioTopo, ls, _ ikeSite, l, r *oakley) {
		selfRekey(t, tp, l, r, l, ls.connName()+"/net")
	}},
	{name: "rekey-child-by-responder-under-ping", conf: func(l, r *ikeSite) {
		l.Children[0].ESP, r.Children[0].ESP = []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256-modp2048"}
	}, run: func(t *testing.T, tp *ioTopo, _, rs ikeSite, l, r *oakley) {
		selfRekey(t, tp, l, r, r, rs.connName()+"/net")
	}},
	{name: "reauth-by-initiator-under-ping", run: func(t *testing.T, tp *ioTopo, ls, _ ikeSite, l, r *oakley) {
		selfRekey(t, tp, l, r, l, ls.connName())
	}},
	{name: "dpd-restart-after-peer-killed", conf: func(l, r *ikeSite) {
		l.DPDDelay, l.DPDTimeout, l.DPDAction = "2s", "6s", "restart"
	}, run: selfDPDRestart},
	{name: "terminate-by-initiator", run: func(t *testing.T, tp *ioTopo, ls, _ ikeSite, l, r *oakley) {
		selfTerminate(t, tp, l, r, l, ls.connName())
	}},
	{name: "terminate-by-responder", run: func(t *testing.T, tp *ioTopo, _, rs ikeSite, l, r *oakley) {
		selfTerminate(t, tp, l, r, r, rs.connName())
	}},
}

// TestInteropOakleyLifecycle runs the selfLifecycles side by side.
func TestInteropOakleyLifecycle(t *testing.T) {
	needNetns(t)
	t.Parallel()
	names := make([]string, len(selfLifecycles))
	for i, c := range selfLifecycles {
		names[i] = c.name
	}
	parallelRuns(t, 3, names, func(t *testing.T, i int) {
		lc := selfLifecycles[i]
		tp := newTopo(t, false)
		ls, rs := selfSites(tp, selfCase{ike: "aes256-sha256-modp2048", esp: "aes128gcm16"}, newPSK(t))
		if lc.conf != nil {
			lc.conf(&ls, &rs)
		}
		r := startIKE(t, tp.right, "right", rs)
		l := startIKE(t, tp.left, "left", ls)
		l.mustCtl(t, "initiate", ls.connName()+"/net")
		waitChildUp(t, l, 10*time.Second)
		waitChildUp(t, r, 10*time.Second)
		pingBoth(t, tp, 2)
		lc.run(t, tp, ls, rs, l, r)
	})
}

// selfRekey rekeys (arg CONN/CHILD) or re-authenticates (arg CONN) from by while pinging
// every 80 ms for 8 s: no echo may be lost; a child rekey changes the SPIs on both ends.
func selfRekey(t *testing.T, tp *ioTopo, l, r, by *oakley, arg string) {
	t.Helper()
	old := spiSet(l.mustIKEStatus(t).allSAs())
	oldIKE := l.mustIKEStatus(t).Connections[0].IKESAs[0].Cookies
	var out string
	var err error
	sent, got, pout := pingDuring(t, tp.left, tp.right.host, 80*time.Millisecond, 8*time.Second, 2*time.Second, func() {
		out, err = by.ctl("rekey", arg)
	})
	if err != nil {
		t.Fatalf("oakley %s rekey %s: %v\n%s", by.name, arg, err, out)
	}
	t.Logf("ping every 80 ms during `oakley rekey %s` on %s: %d sent, %d received", arg, by.name, sent, got)
	if got != sent {
		t.Errorf("%d of %d echoes lost during the rekey:\n%s", sent-got, sent, tail(pout, 3000))
	}
	child := strings.Contains(arg, "/")
	for _, o := range []*oakley{l, r} {
		waitIKE(t, o, "the rekeyed SAs alone", 15*time.Second, func(s *ikeStatus) bool {
			if !child {
				return len(s.Connections[0].IKESAs) == 1 && s.Connections[0].IKESAs[0].Cookies != oldIKE && s.established() == 1
			}
			sas := s.allSAs()
			if len(sas) != 2 {
				return false
			}
			for spi := range spiSet(sas) {
				if old[spi] {
					return false
				}
			}
			return true
		})
	}
	pingBoth(t, tp, 2)
	ls, rs := spiSet(l.mustIKEStatus(t).allSAs()), spiSet(r.mustIKEStatus(t).allSAs())
	for spi := range ls {
		if !rs[spi] {
			t.Errorf("after the rekey the ends disagree on the SPIs: left %v, right %v", keys(ls), keys(rs))
			break
		}
	}
}

// selfDPDRestart: the responder dies without a word (SIGKILL); the initiator's DPD
// (2 s / 6 s, dpd_action = restart) declares it dead and keeps trying; once the responder
// is back, the tunnel comes back by itself.
func selfDPDRestart(t *testing.T, tp *ioTopo, _, rs ikeSite, l, r *oakley) {
	r.p.signal(syscall.SIGKILL)
	if !r.p.wait(5 * time.Second) {
		t.Fatal("oakley right did not die on SIGKILL")
	}
	killed := time.Now()
	waitIKE(t, l, "a DPD timeout", 20*time.Second, func(s *ikeStatus) bool { return s.IKECounters["dpd_timeouts"] > 0 })
	t.Logf("left declared the peer dead %s after it was killed", time.Since(killed).Round(100*time.Millisecond))
	r2 := startIKE(t, tp.right, "right2", rs)
	back := time.Now()
	waitIKE(t, l, "the connection restarted", 40*time.Second, func(s *ikeStatus) bool {
		return s.established() == 1 && len(s.allSAs()) == 2 && s.IKECounters["ike_established"] >= 2
	})
	waitChildUp(t, r2, 10*time.Second)
	t.Logf("the tunnel was back %s after the responder restarted", time.Since(back).Round(100*time.Millisecond))
	pingBoth(t, tp, 2)
}

// selfTerminate: `oakley terminate` on one end removes the SAs on both.
func selfTerminate(t *testing.T, tp *ioTopo, l, r, by *oakley, conn string) {
	by.mustCtl(t, "terminate", conn)
	for _, o := range []*oakley{l, r} {
		waitGone(t, o, true)
	}
	pingNone(t, tp.left, tp.right, 2)
	other := map[*oakley]*oakley{l: r, r: l}[by]
	if n := other.mustIKEStatus(t).IKECounters["deletes_in"]; n < 2 {
		t.Errorf("oakley %s counted %d Deletes received, want 2 (child and ISAKMP SA)", other.name, n)
	}
}
