//go:build linux

package e2e

// More IKEv2 against strongSwan (issue 10): child and IKE SA rekeys by either side during a
// 20/s ping that must not lose one echo, two children in one IKE SA, liveness checks and the
// restart after charon dies, INVALID_KE_PAYLOAD retries both ways, the cookie under a
// half-open flood while charon connects, and the bad cases (wrong PSK, no proposal in
// common, unacceptable traffic selectors, untrusted certificate), each a clear error on both
// sides.

import (
	"crypto/ecdh"
	"crypto/rand"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	ocrypto "oakley/crypto"
	"oakley/ike/ikev2/wire"
)

// v2RekeyCase is one rekey against charon.
type v2RekeyCase struct {
	name            string
	oakleyInitiates bool
	by              string // "oakley" or "charon"
	ike             bool   // the IKE SA instead of the child
	esp             string
}

var v2RekeyCases = []v2RekeyCase{
	{name: "child-by-oakley", oakleyInitiates: true, by: "oakley", esp: "aes128gcm16"},
	{name: "child-by-charon-pfs", oakleyInitiates: false, by: "charon", esp: "aes256-sha256-modp2048"},
	{name: "child-by-oakley-responder-pfs", oakleyInitiates: false, by: "oakley", esp: "aes128gcm16-ecp256"},
	{name: "ike-by-oakley", oakleyInitiates: true, by: "oakley", ike: true, esp: "aes128gcm16"},
	{name: "ike-by-charon", oakleyInitiates: true, by: "charon", ike: true, esp: "aes128gcm16"},
}

// TestInteropV2Rekey rekeys during a ping every 50 ms: no echo may be lost, the SPIs change,
// and afterwards each side holds one IKE SA and one pair.
func TestInteropV2Rekey(t *testing.T) {
	needInterop(t)
	t.Parallel()
	names := make([]string, len(v2RekeyCases))
	for i, c := range v2RekeyCases {
		names[i] = c.name
	}
	parallelRuns(t, 3, names, func(t *testing.T, i int) {
		rc := v2RekeyCases[i]
		tp := newTopo(t, false)
		sp := startV2Pair(t, tp, v2Case{ike: "aes128gcm16-prfsha256-ecp256", esp: rc.esp}, rc.oakleyInitiates, nil)
		sp.establish(t, rc.oakleyInitiates)
		pingBoth(t, tp, 2)
		before := sp.o.mustIKEStatus(t)
		oldSPIs, oldIKE := spiSet(before.allSAs()), before.Connections[0].IKESAs[0].Cookies
		var cmdOut string
		var cmdErr error
		sent, got, out := pingDuring(t, tp.left, tp.right.host, 50*time.Millisecond, 8*time.Second, 2*time.Second, func() {
			switch {
			case rc.by == "oakley" && rc.ike:
				cmdOut, cmdErr = sp.o.ctl("rekey", sp.site.connName())
			case rc.by == "oakley":
				cmdOut, cmdErr = sp.o.ctl("rekey", sp.site.connName()+"/net")
			case rc.ike:
				cmdOut, cmdErr = sp.sw.Swanctl("--rekey", "--ike", sp.conf.connName())
			default:
				cmdOut, cmdErr = sp.sw.Swanctl("--rekey", "--child", "net")
			}
		})
		if cmdErr != nil {
			t.Fatalf("rekey by %s: %v\n%s", rc.by, cmdErr, cmdOut)
		}
		t.Logf("ping every 50 ms during the rekey: %d sent, %d received", sent, got)
		if got != sent {
			t.Errorf("%d of %d echoes lost during the rekey:\n%s", sent-got, sent, tail(out, 2000))
		}
		s := waitIKE(t, sp.o, "one IKE SA and one pair after the rekey", 15*time.Second, func(s *ikeStatus) bool {
			return len(s.Connections[0].IKESAs) == 1 && len(s.allSAs()) == 2
		})
		ike := s.Connections[0].IKESAs[0]
		if rc.ike {
			if ike.Cookies == oldIKE {
				t.Errorf("the IKE SA keeps its SPIs %s after the rekey", oldIKE)
			}
			if n := s.IKECounters["ike_rekeys"]; n == 0 {
				t.Errorf("oakley counted no IKE rekey")
			}
		} else {
			for _, sa := range s.allSAs() {
				if oldSPIs[sa.spi()] {
					t.Errorf("SPI %s survived the child rekey", sa.spi())
				}
			}
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			sas := sp.sw.listSAs(t)
			if len(sas) == 1 && len(sas[0].Children) == 1 && strings.EqualFold(sas[0].Fields["initiator-spi"]+":"+sas[0].Fields["responder-spi"], ike.Cookies) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("charon after the rekey: %+v; oakley's IKE SA %s", sas, ike.Cookies)
			}
			time.Sleep(200 * time.Millisecond)
		}
		pingBoth(t, tp, 2)
	})
}

// TestInteropV2TwoChildren: two children in one IKE SA, the second over IPv6 selectors,
// traffic on both, by either side.
func TestInteropV2TwoChildren(t *testing.T) {
	needInterop(t)
	t.Parallel()
	parallelRuns(t, 2, []string{"oakley-initiator", "oakley-responder"}, func(t *testing.T, i int) {
		ini := i == 0
		tp := newTopo(t, false)
		tp.right.ns.mustRun(t, "ip", "addr", "replace", hostB6+"/128", "dev", "lo")
		sp := startV2Pair(t, tp, v2Case{ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16"}, ini, func(s *ikeSite, w *swanConf) {
			s.Addresses = append(s.Addresses, hostA6+"/128")
			s.Children = append(s.Children, ikeChild{Name: "v6", LocalTS: []string{netA6}, RemoteTS: []string{netB6}, ESP: []string{"aes256gcm16"}})
			w.Children = append(w.Children, swanChild{Name: "v6", LocalTS: netB6, RemoteTS: netA6, ESP: "aes256gcm16"})
		})
		if ini {
			sp.o.mustCtl(t, "initiate", sp.site.connName())
		} else {
			sp.sw.swanctl(t, "--initiate", "--child", "net", "--timeout", "30")
			sp.sw.swanctl(t, "--initiate", "--child", "v6", "--timeout", "30")
		}
		waitIKE(t, sp.o, "two children", 15*time.Second, func(s *ikeStatus) bool { return s.established() == 1 && len(s.allSAs()) == 4 })
		pingBoth(t, tp, 2)
		mustPing(t, tp.left.ns, hostA6, hostB6, 2)
		mustPing(t, tp.right.ns, hostB6, hostA6, 2)
		sas := sp.sw.listSAs(t)
		if len(sas) != 1 || len(sas[0].Children) != 2 {
			t.Errorf("charon lists %+v, want one IKE SA with two children", sas)
		}
	})
}

// TestInteropV2DPD: oakley's liveness checks (empty INFORMATIONAL) are answered; charon's
// are answered; when charon is killed, dpd_action = restart brings the tunnel back with a new
// charon; `oakley terminate` deletes charon's SAs.
func TestInteropV2DPD(t *testing.T) {
	needInterop(t)
	t.Parallel()
	cases := []struct {
		name string
		run  func(t *testing.T, sp *swanPair)
	}{
		{"oakley-liveness-answered", func(t *testing.T, sp *swanPair) {
			idleFor(7 * time.Second)
			s := sp.o.mustIKEStatus(t)
			in := len(regexp.MustCompile(`parsed INFORMATIONAL request \d+ \[ \]`).FindAllString(sp.sw.Log(), -1))
			if s.IKECounters["dpd_requests_out"] < 2 || s.IKECounters["dpd_timeouts"] != 0 || uint64(in) < s.IKECounters["dpd_requests_out"]-1 {
				t.Errorf("oakley sent %d liveness checks (%d timeouts), charon parsed %d", s.IKECounters["dpd_requests_out"], s.IKECounters["dpd_timeouts"], in)
			}
			if s.established() != 1 {
				t.Errorf("oakley after DPD:\n%s", s.raw)
			}
			pingBoth(t, sp.tp, 2)
		}},
		{"charon-liveness-answered", func(t *testing.T, sp *swanPair) {
			idleFor(7 * time.Second)
			answered := len(regexp.MustCompile(`parsed INFORMATIONAL response \d+ \[ \]`).FindAllString(sp.sw.Log(), -1))
			if answered < 2 || regexp.MustCompile(`giving up after|retransmit \d+ of request`).MatchString(sp.sw.Log()) {
				t.Errorf("charon (dpd_delay = 2s) got %d answers to its liveness checks:\n%s", answered, grepLines(sp.sw.Log(), "INFORMATIONAL|retransmit"))
			}
			pingBoth(t, sp.tp, 2)
		}},
		{"restart-after-charon-killed", oakleyDPDRestart},
		{"oakley-terminate", oakleyTerminate},
	}
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	parallelRuns(t, 4, names, func(t *testing.T, i int) {
		tp := newTopo(t, false)
		sp := startV2Pair(t, tp, v2Case{ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16"}, true, func(s *ikeSite, w *swanConf) {
			switch cases[i].name {
			case "oakley-liveness-answered":
				s.DPDDelay, s.DPDTimeout, s.DPDAction = "2s", "10s", "clear"
			case "charon-liveness-answered":
				w.DPDDelay = "2s"
			case "restart-after-charon-killed":
				s.DPDDelay, s.DPDTimeout, s.DPDAction = "2s", "6s", "restart"
			}
		})
		sp.establish(t, true)
		pingBoth(t, tp, 2)
		cases[i].run(t, sp)
	})
}

// TestInteropV2InvalidKE: the responder wants another DH group (INVALID_KE_PAYLOAD) and the
// initiator retries with it, in both roles.
func TestInteropV2InvalidKE(t *testing.T) {
	needInterop(t)
	t.Parallel()
	parallelRuns(t, 2, []string{"oakley-initiator", "oakley-responder"}, func(t *testing.T, i int) {
		ini := i == 0
		tp := newTopo(t, false)
		sp := startV2Pair(t, tp, v2Case{ike: "aes128gcm16-prfsha256-ecp256-modp2048", esp: "aes128gcm16"}, ini, func(s *ikeSite, w *swanConf) {
			if ini {
				w.Proposals = "aes128gcm16-prfsha256-modp2048"
			} else {
				s.Proposals = []string{"aes128gcm16-prfsha256-modp2048"}
			}
		})
		sp.establish(t, ini)
		pingBoth(t, tp, 2)
		s := sp.o.mustIKEStatus(t)
		if s.IKECounters["invalid_ke"] == 0 || !strings.HasSuffix(s.Connections[0].IKESAs[0].Algorithms, "modp2048") {
			t.Errorf("oakley: invalid_ke %d, algorithms %s", s.IKECounters["invalid_ke"], s.Connections[0].IKESAs[0].Algorithms)
		}
		want := `received INVALID_KE_PAYLOAD|peer didn't accept DH group`
		if ini {
			want = `DH group ECP_256 unacceptable, requesting MODP_2048`
		}
		if !regexp.MustCompile(want).MatchString(sp.sw.Log()) {
			t.Errorf("charon's log has no %q", want)
		}
	})
}

// v2InitRequest is an IKE_SA_INIT request oakley accepts: aes128gcm16-prfsha256-ecp256,
// a valid ECP-256 public value, a nonce.
func v2InitRequest(t *testing.T) []byte {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	var ts []wire.Transform
	for _, kw := range []string{"aes128gcm16", "prfsha256", "ecp256"} {
		ts = append(ts, wire.TransformFor(ocrypto.Lookup(kw)))
	}
	m, err := wire.EncodeMessage(wire.Header{SPIi: wire.SPI{1}, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagInitiator}, []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{{Number: 1, Protocol: wire.ProtoIKE, Transforms: ts}}},
		&wire.KeyExchange{Group: 19, Data: k.PublicKey().Bytes()[1:]},
		&wire.Nonce{Data: nonce},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

// TestInteropV2Cookie: IKE_SA_INIT requests from 40 more addresses of charon's site make oakley demand
// cookies (RFC 7296 §2.6); charon, connecting meanwhile, returns the COOKIE and gets its
// tunnel; no answer to the flood is larger than three times its request.
func TestInteropV2Cookie(t *testing.T) {
	needInterop(t)
	t.Parallel()
	tp := newTopo(t, false)
	sp := startV2Pair(t, tp, v2Case{ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16"}, false, func(s *ikeSite, _ *swanConf) {
		s.RemoteAddr = "%any" // the flood's sources are candidates too
	})
	var spoofed []string
	for i := 100; i < 140; i++ {
		a := "198.18.0." + strconv.Itoa(i)
		tp.right.ns.mustRun(t, "ip", "addr", "add", a+"/24", "dev", "veth0")
		spoofed = append(spoofed, a)
	}
	req := v2InitRequest(t)
	st := &floodStats{sent: map[string]int{}, recv: map[string]int{}, request: len(req)}
	floodTo(t, tp.right.ns, tp.left.outer, req, spoofed, 1, 2, st) // from charon's side to oakley
	s := sp.o.mustIKEStatus(t)
	t.Logf("80 IKE_SA_INIT requests (%d bytes) from 40 addresses: %d answers, the largest %d bytes; counters %s",
		len(req), st.replies, st.maxReply, pick(s.IKECounters, "half_open", "cookies_sent", "amplification_drops"))
	if s.IKECounters["cookies_sent"] == 0 || s.IKECounters["half_open"] < 32 {
		t.Errorf("oakley sent %d cookies with %d SAs half-open; want cookies once 32 are", s.IKECounters["cookies_sent"], s.IKECounters["half_open"])
	}
	if st.maxReply > 3*len(req) {
		t.Errorf("an answer of %d bytes to a %d-byte request", st.maxReply, len(req))
	}
	sp.establish(t, false)
	pingBoth(t, tp, 2)
	if !strings.Contains(sp.sw.Log(), "received COOKIE") && !regexp.MustCompile(`IKE_SA_INIT response 0 \[ N\(COOKIE\) \]`).MatchString(sp.sw.Log()) {
		t.Errorf("charon did not get a COOKIE:\n%s", grepLines(sp.sw.Log(), "COOKIE|IKE_SA_INIT"))
	}
	s = sp.o.mustIKEStatus(t)
	if s.IKECounters["cookies_sent"] <= 80-32 {
		t.Errorf("cookies_sent %d: charon's first request was not answered with a COOKIE", s.IKECounters["cookies_sent"])
	}
}

// v2BadCases are badCase runs with IKEv2 on both sides.
var v2BadCases = func() []badCase {
	v2 := func(f func(s *ikeSite, w *swanConf)) func(s *ikeSite, w *swanConf) {
		return func(s *ikeSite, w *swanConf) {
			s.Version, w.Version = 2, 2
			s.Proposals, w.Proposals = []string{"aes128gcm16-prfsha256-ecp256"}, "aes128gcm16-prfsha256-ecp256"
			f(s, w)
		}
	}
	var out []badCase
	for _, ini := range []bool{true, false} {
		role := map[bool]string{true: "-oakley-initiator", false: "-oakley-responder"}[ini]
		psk := badCase{name: "v2-psk-mismatch" + role, oakleyInitiates: ini, adjust: v2(func(s *ikeSite, _ *swanConf) { s.PSK += "x" }), counter: "auth_failures"}
		noProp := badCase{name: "v2-no-proposal" + role, oakleyInitiates: ini, adjust: v2(func(_ *ikeSite, w *swanConf) { w.Proposals = "aes256-sha512-modp3072" }), counter: "no_proposal"}
		ts := badCase{name: "v2-ts-unacceptable" + role, oakleyInitiates: ini, phase2: true, adjust: v2(func(_ *ikeSite, w *swanConf) { w.Children[0].LocalTS = "203.0.113.0/24" })}
		cert := badCase{name: "v2-untrusted-certificate" + role, oakleyInitiates: ini, adjust: func(s *ikeSite, w *swanConf) {}, counter: "auth_failures"}
		if ini {
			psk.oakleyLog, psk.swanLog = `peer sent AUTHENTICATION_FAILED`, `MAC mismatched|tried \d+ shared key`
			noProp.oakleyLog, noProp.swanLog = `peer sent NO_PROPOSAL_CHOSEN`, `no acceptable proposal found|received proposals`
			ts.oakleyLog, ts.swanLog = `peer sent TS_UNACCEPTABLE`, `traffic selectors .* unacceptable`
			// charon takes an AUTHENTICATION_FAILED in an INFORMATIONAL as the end of the SA.
			cert.oakleyLog, cert.swanLog = `neither a trust anchor`, `INFORMATIONAL request \d+ \[ N\(AUTH_FAILED\) \]`
		} else {
			psk.oakleyLog, psk.swanLog = `pre-shared keys differ\?`, `received AUTHENTICATION_FAILED notify error`
			noProp.oakleyLog, noProp.swanLog = `no proposal chosen`, `received NO_PROPOSAL_CHOSEN notify error`
			ts.oakleyLog, ts.swanLog = `no child accepts`, `received TS_UNACCEPTABLE notify`
			ts.counter = "invalid_id"
			cert.oakleyLog, cert.swanLog = `neither a trust anchor`, `received AUTHENTICATION_FAILED notify error`
		}
		cert.adjust = func(s *ikeSite, w *swanConf) {
			s.Version, w.Version = 2, 2
		}
		out = append(out, psk, noProp, ts, cert)
	}
	return out
}()

// TestInteropV2BadConfig runs every v2BadCase; the certificate cases get two PKIs, so
// oakley does not trust charon's certificate.
func TestInteropV2BadConfig(t *testing.T) {
	needInterop(t)
	t.Parallel()
	names := make([]string, len(v2BadCases))
	for i, c := range v2BadCases {
		names[i] = c.name
	}
	parallelRuns(t, 4, names, func(t *testing.T, i int) {
		bc := v2BadCases[i]
		if strings.Contains(bc.name, "certificate") {
			inner := bc.adjust
			bc.adjust = func(s *ikeSite, w *swanConf) {
				inner(s, w)
				useCerts(t, s, w, "ecdsa")
				other := newTestPKI(t, "ecdsa")
				s.Files["ca.pem"] = other.caPEM // oakley trusts another CA; charon trusts oakley's
			}
		}
		runBadCase(t, bc)
	})
}
