package ikev2

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"net/netip"
	"runtime"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/pki"
)

// revoke issues a CRL of ca that lists serial.
func revoke(t *testing.T, ca *testCA, serial *big.Int) *x509.RevocationList {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: epoch.Add(-time.Hour), NextUpdate: epoch.Add(24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: serial, RevocationTime: epoch.Add(-time.Minute)}}}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

// eapTLSSetup is eapSetup with EAP-TLS: the client "alice.test" has a certificate of the
// gateway's CA (clientCA, when given, issues it instead), the gateway verifies clients with
// that CA.
func eapTLSSetup(t *testing.T, clientCA *testCA) (*lnet, *node, *node, *core.Pool) {
	t.Helper()
	n, x, y, pool, _ := eapTLSSetupCA(t, clientCA, "ecdsa")
	return n, x, y, pool
}

// eapTLSSetupCA is eapTLSSetup with end entities' keys of kind that also returns the CA.
func eapTLSSetupCA(t *testing.T, clientCA *testCA, kind string) (*lnet, *node, *node, *core.Pool, *testCA) {
	t.Helper()
	ca := newTestCA(t, "oakley test CA")
	pool, err := core.NewPool("rw", netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.20"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw := &core.Connection{Version: 2, Name: "gw", LocalAddr: ipB,
		LocalID: core.FQDNIdentity("b.test"), RemoteID: core.AnyIdentity,
		Auth: "pubkey", EAP: "tls",
		RekeyTime: 4 * time.Hour, StartAction: "none", Encap: "auto", Pools: []string{"rw"},
		Children: []*core.Child{{
			Name: "net", LocalTS: []esp.Selector{sel("198.51.100.0/24")}, RemoteTS: []esp.Selector{sel("203.0.113.0/24")},
			ESPProposals: props(t, crypto.ProtoESP, "aes128gcm16"), RekeyTime: time.Hour,
		}},
	}
	gw.Creds, gw.Trust = ca.issue(t, "b.test", kind, 3), ca.trust(t)
	issuer := ca
	if clientCA != nil {
		issuer = clientCA
	}
	cl := rwClient(t, "rw", "laptop.test", ipA, ipB)
	cl.RemoteID = core.FQDNIdentity("b.test")
	cl.PSK, cl.Auth, cl.Trust = nil, "pubkey", ca.trust(t)
	cl.EAP, cl.EAPID, cl.Creds = "tls", "alice.test", issuer.issue(t, "alice.test", kind, 7)
	n := newLnet(t)
	x := n.addNodeWith("A", ipA, 1, func(*core.Config) {}, cl)
	y := n.addNodeWith("B", ipB, 2, func(c *core.Config) { c.Pools = []*core.Pool{pool} }, gw)
	return n, x, y, pool, ca
}

// TestEAPTLS: oakley client ↔ oakley gateway with EAP-TLS, TLS 1.3 (what two oakleys
// negotiate) and TLS 1.2 (strongSwan's default): both certificates verified inside TLS, the
// MSK agreed (the AUTHs after EAP verify), the virtual IP leased for the EAP identity, the
// child's keys match; with ECDSA and RSA certificates. Negative controls: TestEAPTLSRefusals.
func TestEAPTLS(t *testing.T) {
	for _, tc := range []struct {
		v    uint16
		kind string
	}{{tls.VersionTLS13, "ecdsa"}, {tls.VersionTLS12, "ecdsa"}, {tls.VersionTLS13, "rsa"}, {tls.VersionTLS12, "rsa"}} {
		v := tc.v
		t.Run(tls.VersionName(v)+"-"+tc.kind, func(t *testing.T) {
			old := eapTLSMaxVersion
			eapTLSMaxVersion = v
			defer func() { eapTLSMaxVersion = old }()
			n, x, y, pool, _ := eapTLSSetupCA(t, nil, tc.kind)
			cs, _ := x.core.Conn("rw")
			cs.BringUp(n.now, cs.Children)
			n.runUntil(func() bool { return childUp(x, "rw", "net") && childUp(y, "gw", "net") }, time.Minute)
			checkKeysMatch(t, unit(x, "rw", "net").Newest(), unit(y, "gw", "net").Newest())
			sx, sy := currentSA(x, "rw").Status(), currentSA(y, "gw").Status()
			if !strings.HasPrefix(sx.Auth, "EAP-TLS alice.test") || sx.PeerCert == nil || !strings.Contains(sx.PeerCert.Subject, "b.test") {
				t.Fatalf("client status: auth %q, peer cert %+v", sx.Auth, sx.PeerCert)
			}
			if !strings.Contains(sy.RemoteID, "(EAP alice.test)") || !strings.Contains(sy.Auth, "peer EAP-TLS alice.test") ||
				sy.PeerCert == nil || !strings.Contains(sy.PeerCert.Subject, "alice.test") {
				t.Fatalf("gateway status: remote id %q, auth %q, peer cert %+v", sy.RemoteID, sy.Auth, sy.PeerCert)
			}
			if len(sx.VirtualIPs) != 1 || pool.InUse() != 1 || !logged(y, "eap:alice.test") {
				t.Fatalf("virtual IPs: client %v, in use %d", sx.VirtualIPs, pool.InUse())
			}
			name := tls.VersionName(v)
			if !logged(x, name) || !logged(y, "client certificate verified") {
				dumpLogs(t, y, 20)
				t.Fatalf("not logged: %s / client certificate verified", name)
			}
			for _, nd := range []*node{x, y} {
				for _, c := range []string{core.CtrAuthFailures, core.CtrEAPTLSMalformed, core.CtrEAPTLSOverflows} {
					if nd.ctr.Get(c) != 0 {
						t.Fatalf("%s counted %s on success", nd.name, c)
					}
				}
			}
		})
	}
}

// TestEAPTLSRefusals: a client certificate of another CA is refused by the gateway (TLS
// alert, EAP-Failure, counted on both sides, no lease); a client that does not trust the
// gateway's CA refuses it (here the IKE AUTH already fails, as in EAP-MSCHAPv2); a client
// whose certificate does not carry its EAP identity is refused.
func TestEAPTLSRefusals(t *testing.T) {
	t.Run("untrusted-client-cert", func(t *testing.T) {
		n, x, y, pool := eapTLSSetup(t, newTestCA(t, "rogue CA"))
		cs, _ := x.core.Conn("rw")
		cs.BringUp(n.now, cs.Children)
		// Well before the half-open timeout: the client acknowledges the alert, the
		// gateway's EAP-Failure ends both sides.
		n.runFor(5 * time.Second)
		if childUp(x, "rw", "net") || len(y.p.SAs()) != 0 || pool.InUse() != 0 {
			t.Fatal("came up, or the gateway kept its half-made IKE SA")
		}
		if !logged(y, "peer TLS certificate not accepted") {
			dumpLogs(t, y, 20)
			t.Fatal("the gateway does not say why")
		}
		if e := connErr(x, "rw"); !strings.Contains(e, "EAP-TLS handshake failed: remote error: tls: bad certificate") {
			t.Fatalf("client's error %q", e)
		}
		if y.ctr.Get(core.CtrAuthFailures) != 1 || x.ctr.Get(core.CtrAuthFailures) != 1 {
			t.Fatalf("auth_failures gateway %d client %d", y.ctr.Get(core.CtrAuthFailures), x.ctr.Get(core.CtrAuthFailures))
		}
	})
	t.Run("revoked-client-cert", func(t *testing.T) {
		n, x, y, _, ca := eapTLSSetupCA(t, nil, "ecdsa")
		gw, _ := y.core.Conn("gw")
		cs, _ := x.core.Conn("rw")
		crl := revoke(t, ca, cs.Cfg.Creds.Leaf().SerialNumber)
		tr, err := pki.NewTrust([]*x509.Certificate{ca.cert}, nil, []*x509.RevocationList{crl})
		if err != nil {
			t.Fatal(err)
		}
		gw.Cfg.Trust = tr
		cs.BringUp(n.now, cs.Children)
		n.runFor(5 * time.Second)
		if childUp(x, "rw", "net") || len(y.p.SAs()) != 0 {
			t.Fatal("came up")
		}
		if !logged(y, "revoked") {
			dumpLogs(t, y, 20)
			t.Fatal("the gateway does not say the certificate is revoked")
		}
	})
	t.Run("identity-not-in-cert", func(t *testing.T) {
		n, x, y, _ := eapTLSSetup(t, nil)
		cs, _ := x.core.Conn("rw")
		cs.Cfg.EAPID = "mallory.test"
		cs.BringUp(n.now, cs.Children)
		n.runFor(30 * time.Second)
		if childUp(x, "rw", "net") || len(y.p.SAs()) != 0 {
			t.Fatal("came up")
		}
		if !logged(y, "mallory.test") || !logged(y, "matches no dNSName") {
			dumpLogs(t, y, 20)
			t.Fatal("the gateway does not say why")
		}
	})
	t.Run("wrong-ca-on-client", func(t *testing.T) {
		n, x, y, _ := eapTLSSetup(t, nil)
		cs, _ := x.core.Conn("rw")
		cs.Cfg.Trust = newTestCA(t, "another CA").trust(t)
		cs.BringUp(n.now, cs.Children)
		n.runFor(30 * time.Second)
		if childUp(x, "rw", "net") || len(y.p.SAs()) != 0 {
			t.Fatal("came up")
		}
		if e := connErr(x, "rw"); !strings.Contains(e, "peer certificate not accepted") {
			t.Fatalf("client's error %q", e)
		}
		if logged(y, "starting EAP-TLS") {
			t.Fatal("the client went on with an untrusted gateway")
		}
	})
	t.Run("wrong-ca-inside-tls", func(t *testing.T) {
		// The IKE certificate passes, the TLS one does not: the gateway's TLS certificate is
		// checked by itself (a gateway using another certificate inside TLS is refused).
		n, x, y, _ := eapTLSSetup(t, nil)
		gw, _ := y.core.Conn("gw")
		rogue := newTestCA(t, "rogue CA").issue(t, "b.test", "ecdsa", 9)
		n.afterStep = func() {
			if logged(y, "peer asks for EAP") {
				gw.Cfg.Creds = rogue
			}
		}
		cs, _ := x.core.Conn("rw")
		cs.BringUp(n.now, cs.Children)
		n.runFor(5 * time.Second)
		if childUp(x, "rw", "net") || len(y.p.SAs()) != 0 {
			t.Fatal("came up, or the gateway did not learn of the refusal")
		}
		if e := connErr(x, "rw"); !strings.Contains(e, "EAP-TLS handshake failed") || !strings.Contains(e, "peer TLS certificate not accepted") {
			dumpLogs(t, x, 20)
			t.Fatalf("client's error %q", e)
		}
		if !logged(y, "remote error: tls: bad certificate") {
			dumpLogs(t, y, 20)
			t.Fatal("the gateway did not get the client's alert")
		}
		if x.ctr.Get(core.CtrAuthFailures) != 1 || y.ctr.Get(core.CtrAuthFailures) != 1 {
			t.Fatalf("auth_failures client %d gateway %d", x.ctr.Get(core.CtrAuthFailures), y.ctr.Get(core.CtrAuthFailures))
		}
	})
}

// TestEAPTLSFragments: a message is cut at eapTLSFragment with L on the first and M on all
// but the last, and reassembles; a message over the bound is refused and counted, as is
// a length that lies. Each check fails without the code it checks (the negative controls are
// the well-formed cases).
func TestEAPTLSFragments(t *testing.T) {
	msg := bytes.Repeat([]byte("0123456789abcdef"), 200) // 3200 octets: 4 fragments
	f := eapTLSFrag{msg: msg}
	var r eapTLSReasm
	var got []byte
	frags := 0
	for f.pending() {
		d := f.next()
		frags++
		p, err := parseEAPTLS(d)
		if err != nil {
			t.Fatal(err)
		}
		if (frags == 1) != (p.flags&eapTLSFlagL != 0) || p.more() != f.pending() || len(p.data) > eapTLSFragment {
			t.Fatalf("fragment %d flags %#x, %d octets", frags, p.flags, len(p.data))
		}
		m, err := r.add(p)
		if err != nil {
			t.Fatal(err)
		}
		if f.pending() != (m == nil) {
			t.Fatalf("fragment %d: message %v, pending %v", frags, m != nil, f.pending())
		}
		got = m
	}
	if frags != 4 || !bytes.Equal(got, msg) {
		t.Fatalf("%d fragments, reassembled %d octets", frags, len(got))
	}

	// Over the bound: announced, or by fragments without L.
	big := make([]byte, 5)
	big[0] = eapTLSFlagL | eapTLSFlagM
	binary.BigEndian.PutUint32(big[1:], eapTLSMaxMessage+1)
	if _, err := parseEAPTLS(big); !errors.Is(err, errEAPTLSOverflow) {
		t.Fatalf("announced overflow: %v", err)
	}
	r = eapTLSReasm{}
	chunk := append([]byte{eapTLSFlagM}, make([]byte, 4000)...)
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		p, perr := parseEAPTLS(chunk)
		if perr != nil {
			t.Fatal(perr)
		}
		_, err = r.add(p)
	}
	if !errors.Is(err, errEAPTLSOverflow) || r.active {
		t.Fatalf("fragments over the bound: %v", err)
	}
	for name, d := range map[string][]byte{
		"empty":           {},
		"short L":         {eapTLSFlagL, 0, 0},
		"data over L":     {eapTLSFlagL, 0, 0, 0, 1, 'a', 'b'},
		"start with data": {eapTLSFlagS, 'a'},
		"empty M":         {eapTLSFlagM},
	} {
		if _, err := parseEAPTLS(d); !errors.Is(err, errEAPTLSMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A last fragment short of the announced length.
	r = eapTLSReasm{}
	p, _ := parseEAPTLS([]byte{eapTLSFlagL, 0, 0, 0, 9, 'a'})
	if _, err := r.add(p); !errors.Is(err, errEAPTLSMalformed) {
		t.Fatalf("short message: %v", err)
	}
}

// TestEAPTLSMalformedCounted: a client that keeps sending fragments past 64 KiB, or sends
// broken framing, is refused (EAP-Failure, AUTHENTICATION_FAILED, ike_failed) with the reason
// logged and counted in eap_tls_overflows or eap_tls_malformed; a well-formed run counts
// nothing (TestEAPTLS, the negative control).
func TestEAPTLSMalformedCounted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  []byte
		counter string
		log     string
	}{
		{"overflow", append([]byte{eapTLSFlagM}, make([]byte, 4000)...), core.CtrEAPTLSOverflows, "more than 65536 octets"},
		{"start-from-client", []byte{eapTLSFlagS}, core.CtrEAPTLSMalformed, "unexpected Start"},
		{"short-length", []byte{eapTLSFlagL, 0}, core.CtrEAPTLSMalformed, "L flag set but 1 octets"},
		{"no-flags", nil, core.CtrEAPTLSMalformed, "no Flags octet"},
		{"length-lies", []byte{eapTLSFlagL, 0, 0, 0, 9, 0x16}, core.CtrEAPTLSMalformed, "the TLS Message Length says 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, x, y, _ := eapTLSSetup(t, nil)
			eapTLSTestOverride = func([]byte) []byte { return tc.answer }
			defer func() { eapTLSTestOverride = nil }()
			cs, _ := x.core.Conn("rw")
			cs.BringUp(n.now, cs.Children)
			n.runFor(5 * time.Second)
			if childUp(x, "rw", "net") || len(y.p.SAs()) != 0 {
				t.Fatal("came up, or the gateway kept its SA")
			}
			other := core.CtrEAPTLSMalformed
			if tc.counter == other {
				other = core.CtrEAPTLSOverflows
			}
			if y.ctr.Get(tc.counter) != 1 || y.ctr.Get(other) != 0 || y.ctr.Get(core.CtrIKEFailed) != 1 || !logged(y, tc.log) {
				dumpLogs(t, y, 10)
				t.Fatalf("%s %d, %s %d, ike_failed %d", tc.counter, y.ctr.Get(tc.counter), other, y.ctr.Get(other), y.ctr.Get(core.CtrIKEFailed))
			}
		})
	}
}

// TestEAPTLSPrefixes: every proper prefix of a whole EAP-TLS message (L set, no M) is refused,
// by the decoder or by the reassembler (the message is shorter than its TLS Message Length),
// and the whole one passes (the negative control).
func TestEAPTLSPrefixes(t *testing.T) {
	whole := append([]byte{eapTLSFlagL, 0, 0, 0, 6}, "abcdef"...)
	for n := 0; n <= len(whole); n++ {
		var r eapTLSReasm
		p, err := parseEAPTLS(whole[:n])
		var msg []byte
		if err == nil {
			msg, err = r.add(p)
		}
		if n == len(whole) {
			if err != nil || string(msg) != "abcdef" {
				t.Fatalf("whole message: %q, %v", msg, err)
			}
		} else if err == nil {
			t.Fatalf("prefix of %d octets accepted: %q", n, msg)
		}
	}
}

// TestEAPTLSAbandoned: an EAP-TLS run that stops mid-handshake (the gateway's answers to the
// ClientHello are lost) leaves no TLS goroutine behind once both IKE SAs are gone (the
// client gives up retransmitting, the gateway's half-open SA expires). Negative control:
// while the SAs live, their goroutines are there.
func TestEAPTLSAbandoned(t *testing.T) {
	before := settledGoroutines()
	n, x, y, _ := eapTLSSetup(t, nil)
	lost := false
	n.filter = func(from, to *node, m []byte) []byte {
		if from == y && lost {
			return nil
		}
		return m
	}
	n.afterStep = func() {
		for _, s := range y.p.SAs() {
			if sa := s.(*ikeSA); sa.eap != nil && sa.eap.tls != nil && sa.eap.tls.engine.started {
				lost = true // the gateway's TLS server has the ClientHello and answered it
			}
		}
	}
	cs, _ := x.core.Conn("rw")
	cs.BringUp(n.now, cs.Children)
	n.runFor(3 * time.Second)
	if !lost || len(y.p.SAs()) != 1 || runtime.NumGoroutine() < before+2 {
		t.Fatalf("mid-handshake: lost %v, gateway SAs %d, goroutines %d (before %d)", lost, len(y.p.SAs()), runtime.NumGoroutine(), before)
	}
	n.runFor(5 * time.Minute)
	if len(y.p.SAs()) != 0 || len(x.p.SAs()) != 0 {
		t.Fatalf("SAs left: gateway %d, client %d", len(y.p.SAs()), len(x.p.SAs()))
	}
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(10 * time.Millisecond) // goroutines unrelated to EAP-TLS may still be ending
	}
	if g := runtime.NumGoroutine(); g > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines, %d before:\n%s", g, before, buf[:runtime.Stack(buf, true)])
	}
}

// settledGoroutines is the goroutine count once goroutines of earlier tests (EAP-TLS
// engines of SAs destroyed at their end) have finished: the lowest count seen while it
// keeps falling, once it has not fallen for 100 ms.
func settledGoroutines() int {
	low := runtime.NumGoroutine()
	for still := 0; still < 5; {
		time.Sleep(20 * time.Millisecond)
		if g := runtime.NumGoroutine(); g < low {
			low, still = g, 0
		} else {
			still++
		}
	}
	return low
}
