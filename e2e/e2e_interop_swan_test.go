//go:build linux

package e2e

// Interop with strongSwan (issue 4 §4, case 1): Main Mode and Aggressive Mode with a PSK,
// Quick Mode with and without PFS, several IKE and ESP proposals, oakley as initiator and as
// responder. Traffic crosses both ways; swanctl and `oakley status` must agree on the
// algorithms and SPIs and both count packets. The time from `oakley initiate` (or
// `swanctl --initiate`, or `oakley up`) to the first ping reply is logged.

import (
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"
)

// swanCase is one negotiation against charon; both sides are configured with the same
// single IKE and ESP proposal, so the result is known.
type swanCase struct {
	name       string
	aggressive bool
	ike, esp   string
	insecure   bool // oakley needs insecure_algorithms (MODP1024)
}

var swanCases = []swanCase{
	{name: "main-aes256-sha256-modp2048-esp-aes256-sha256", ike: "aes256-sha256-modp2048", esp: "aes256-sha256"},
	{name: "main-aes128-sha1-modp1024-esp-aes128gcm16", ike: "aes128-sha1-modp1024", esp: "aes128gcm16", insecure: true},
	{name: "main-aes128-sha256-ecp256-esp-aes128gcm16-pfs-ecp256", ike: "aes128-sha256-ecp256", esp: "aes128gcm16-ecp256"},
	{name: "main-aes256-sha256-modp2048-esp-aes256-sha256-pfs-modp2048", ike: "aes256-sha256-modp2048", esp: "aes256-sha256-modp2048"},
	{name: "aggressive-aes256-sha256-modp2048-esp-aes128gcm16", aggressive: true, ike: "aes256-sha256-modp2048", esp: "aes128gcm16"},
	{name: "aggressive-aes128-sha256-ecp256-esp-aes256-sha256-pfs-modp2048", aggressive: true, ike: "aes128-sha256-ecp256", esp: "aes256-sha256-modp2048"},
}

// swanPair is oakley on the left site and charon on the right, configured for one case.
type swanPair struct {
	tp   *ioTopo
	o    *oakley
	sw   *swan
	site ikeSite
	conf swanConf
}

// startSwanPair starts charon (right) and oakley (left) for c; adjust may change either
// configuration before they start.
func startSwanPair(t *testing.T, tp *ioTopo, c swanCase, oakleyInitiates bool, adjust func(*ikeSite, *swanConf)) *swanPair {
	t.Helper()
	psk := newPSK(t)
	site := siteFor(tp, tp.left, psk)
	site.Aggressive, site.Proposals, site.Insecure = c.aggressive, []string{c.ike}, c.insecure
	site.Children[0].ESP = []string{c.esp}
	if c.aggressive && !oakleyInitiates {
		site.Insecure = true // an Aggressive Mode PSK responder is behind the opt-in
	}
	conf := swanFor(tp, tp.right, psk)
	conf.Aggressive, conf.Proposals = c.aggressive, c.ike
	conf.Children[0].ESP = c.esp
	if adjust != nil {
		adjust(&site, &conf)
	}
	sp := &swanPair{tp: tp, site: site, conf: conf}
	sp.sw = startSwan(t, tp.right, "charon", conf)
	sp.o = startIKE(t, tp.left, "oakley", site)
	return sp
}

// establish brings the child up from the chosen side and returns the time from the
// command to the first ping reply (pings from oakley's site every 10 ms).
func (sp *swanPair) establish(t *testing.T, oakleyInitiates bool) (toPing, command time.Duration) {
	t.Helper()
	pg := startPinger(t, sp.tp.left, sp.tp.right.host, 30)
	t0 := time.Now()
	if oakleyInitiates {
		sp.o.mustCtl(t, "initiate", sp.site.connName()+"/net")
	} else {
		sp.sw.swanctl(t, "--initiate", "--child", "net", "--timeout", "30")
	}
	command = time.Since(t0)
	first := pg.first(t, 20*time.Second)
	waitChildUp(t, sp.o, 10*time.Second)
	return first.Sub(t0), command
}

// checkAgree compares charon's and oakley's view of the SAs: one established IKE SA with
// the case's algorithms and mode, one installed child whose SPIs mirror each other, with
// the ESP algorithms (and PFS group) and packets counted in both directions on both sides.
func (sp *swanPair) checkAgree(t *testing.T, c swanCase, oakleyInitiates bool) {
	t.Helper()
	sas := sp.sw.listSAs(t)
	if len(sas) != 1 {
		t.Fatalf("charon lists %d IKE SAs, want 1: %+v", len(sas), sas)
	}
	ss := sas[0]
	f := ss.Fields
	if f["state"] != "ESTABLISHED" || f["version"] != "1" {
		t.Errorf("charon's IKE SA: state %s version %s, want ESTABLISHED, 1", f["state"], f["version"])
	}
	if want := map[bool]string{true: "no", false: "yes"}[oakleyInitiates]; f["initiator"] != want && !(want == "no" && f["initiator"] == "") {
		t.Errorf("charon's IKE SA: initiator=%q, want %q", f["initiator"], want)
	}
	enc, integ, dh := swanNames(f)
	if got := dashJoin(enc, integ, dh); got != c.ike {
		t.Errorf("charon negotiated IKE %s, want %s", got, c.ike)
	}
	st := sp.o.mustIKEStatus(t)
	if len(st.Connections) == 0 || len(st.Connections[0].IKESAs) == 0 {
		t.Fatalf("oakley status shows no IKE SA:\n%s", st.raw)
	}
	conn := st.Connections[0]
	var ike = conn.IKESAs[0]
	for _, s := range conn.IKESAs {
		if s.State == "established" {
			ike = s
		}
	}
	if ike.State != "established" || ike.Algorithms != c.ike || ike.Initiator != oakleyInitiates {
		t.Errorf("oakley's IKE SA: state %q algorithms %q initiator %v; want established, %s, %v", ike.State, ike.Algorithms, ike.Initiator, c.ike, oakleyInitiates)
	}
	wantMode := "Main Mode"
	if c.aggressive {
		wantMode = "Aggressive Mode"
	}
	if ike.Mode != wantMode {
		t.Errorf("oakley's IKE SA mode %q, want %q", ike.Mode, wantMode)
	}
	// charon's cookies are its "initiator-spi" and "responder-spi".
	if ck := f["initiator-spi"] + ":" + f["responder-spi"]; !strings.EqualFold(ike.Cookies, ck) {
		t.Errorf("IKE SA cookies: oakley %s, charon %s", ike.Cookies, ck)
	}

	if len(ss.Children) != 1 {
		t.Fatalf("charon lists %d child SAs, want 1: %v", len(ss.Children), ss.Children)
	}
	ch := ss.Children[0]
	cenc, cinteg, cdh := swanNames(ch)
	if got := dashJoin(cenc, cinteg, cdh); got != c.esp {
		t.Errorf("charon negotiated ESP %s, want %s", got, c.esp)
	}
	if ch["state"] != "INSTALLED" || ch["protocol"] != "ESP" || ch["encap"] != "yes" || ch["mode"] != "TUNNEL" {
		t.Errorf("charon's child SA: state %s protocol %s encap %s mode %s; want INSTALLED ESP yes TUNNEL", ch["state"], ch["protocol"], ch["encap"], ch["mode"])
	}
	for _, k := range []string{"packets-in", "packets-out", "bytes-in", "bytes-out"} {
		if ch[k] == "" || ch[k] == "0" {
			t.Errorf("charon's child SA: %s = %q, want > 0", k, ch[k])
		}
	}
	if len(conn.Children) != 1 {
		t.Fatalf("oakley status shows %d children, want 1:\n%s", len(conn.Children), st.raw)
	}
	och := conn.Children[0]
	espAlgs, pfs := c.esp, ""
	if cdh != "" {
		espAlgs, pfs = strings.TrimSuffix(c.esp, "-"+cdh), cdh
	}
	if och.PFS != pfs {
		t.Errorf("oakley's child: PFS %q, want %q", och.PFS, pfs)
	}
	if len(och.SAs) != 2 {
		t.Fatalf("oakley's child has %d SAs, want 2:\n%s", len(och.SAs), st.raw)
	}
	for _, sa := range och.SAs {
		if sa.Algorithms != espAlgs || sa.Protocol != "ESP" {
			t.Errorf("oakley's %s SA %s: %s %s, want ESP %s", sa.Dir, sa.SPI, sa.Protocol, sa.Algorithms, espAlgs)
		}
		if sa.Packets == 0 || sa.Bytes == 0 || len(sa.Errors) > 0 {
			t.Errorf("oakley's %s SA %s: %d packets, %d bytes, errors %v; want traffic and no errors", sa.Dir, sa.SPI, sa.Packets, sa.Bytes, sa.Errors)
		}
		// Our inbound SPI is charon's outbound one and the other way round.
		want := ch["spi-out"]
		if sa.Dir == "out" {
			want = ch["spi-in"]
			if sa.Encap != "udp" || sa.Peer != sp.tp.right.outer+":4500" {
				t.Errorf("oakley's outbound SA: encap %q to %q, want udp to %s:4500", sa.Encap, sa.Peer, sp.tp.right.outer)
			}
		}
		if sa.spi() != strings.ToLower(want) {
			t.Errorf("oakley's %s SA has SPI %s, charon's matching SA %s", sa.Dir, sa.spi(), want)
		}
	}
}

// grepLines returns the lines of s that match the pattern.
func grepLines(s, pattern string) string {
	re := regexp.MustCompile(pattern)
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestInteropStrongSwan runs every swanCase with oakley initiating and with charon
// initiating, plus the time from `oakley up` to the first ping with Main Mode.
func TestInteropStrongSwan(t *testing.T) {
	needInterop(t)
	t.Parallel()
	for _, role := range []string{"oakley-initiator", "oakley-responder"} {
		t.Run(role, func(t *testing.T) {
			oakleyInitiates := role == "oakley-initiator"
			names := make([]string, len(swanCases))
			for i, c := range swanCases {
				names[i] = c.name
			}
			parallelRuns(t, 3, names, func(t *testing.T, i int) {
				c := swanCases[i]
				tp := newTopo(t, false)
				sp := startSwanPair(t, tp, c, oakleyInitiates, nil)
				toPing, cmd := sp.establish(t, oakleyInitiates)
				how := "swanctl --initiate"
				if oakleyInitiates {
					how = "oakley initiate"
				}
				recordResult(t, "%s + Quick Mode against strongSwan (%s, IKE %s, ESP %s): %s from `%s` to the first ping reply (the command returned after %s)",
					map[bool]string{false: "Main Mode", true: "Aggressive Mode"}[c.aggressive], role, c.ike, c.esp, toPing.Round(time.Millisecond), how, cmd.Round(time.Millisecond))
				if toPing > 500*time.Millisecond {
					// A lost or refused message was retransmitted (after 1 s): say which.
					st := sp.o.mustIKEStatus(t)
					t.Logf("slow establishment: oakley counted %d retransmits, %d duplicates; its log says:\n%s\ncharon's:\n%s", st.IKECounters["retransmits"], st.IKECounters["duplicates"],
						grepLines(sp.o.p.out.String(), `retransmit|dropping|rejected|failed`), grepLines(sp.sw.Log(), `ignoring|retransmit|failed|invalid|error`))
				}
				pingBoth(t, tp, 3)
				sp.checkAgree(t, c, oakleyInitiates)
				text, _ := sp.o.statusText()
				secrets := []string{sp.site.PSK, hex.EncodeToString([]byte(sp.site.PSK))}
				assertNoSecrets(t, "oakley status", text, secrets)
				assertNoSecrets(t, "oakley's log (log_level = debug)", sp.o.p.out.String(), secrets)
			})
		})
	}
	t.Run("oakley-up-to-first-ping", func(t *testing.T) {
		// start_action = "start": from `oakley up` to the first echo reply, Main Mode +
		// Quick Mode (aes256-sha256-modp2048, aes128gcm16).
		c := swanCase{ike: "aes256-sha256-modp2048", esp: "aes128gcm16"}
		tp := newTopo(t, false)
		psk := newPSK(t)
		conf := swanFor(tp, tp.right, psk)
		conf.Proposals, conf.Children[0].ESP = c.ike, c.esp
		startSwan(t, tp.right, "charon", conf)
		site := siteFor(tp, tp.left, psk)
		site.Proposals, site.Children[0].ESP, site.StartAction = []string{c.ike}, []string{c.esp}, "start"
		t0 := time.Now()
		o := startIKE(t, tp.left, "oakley", site)
		// The TUN exists once the control socket answers; ping from then on.
		pg := startPinger(t, tp.left, tp.right.host, 30)
		first := pg.first(t, 20*time.Second)
		recordResult(t, "Main Mode + Quick Mode against strongSwan (oakley-initiator, start_action = start): %s from `oakley up` to the first ping reply",
			first.Sub(t0).Round(time.Millisecond))
		waitChildUp(t, o, 10*time.Second)
		pingBoth(t, tp, 2)
	})
}
