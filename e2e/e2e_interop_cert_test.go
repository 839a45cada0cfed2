//go:build linux

package e2e

// Certificates against strongSwan (issue 9): Main Mode with RSA-2048, RSA-3072, ECDSA P-256
// and P-384 certificates under intermediate CAs, both roles; Aggressive Mode with a
// certificate (oakley initiating); the certificate oakley sends chosen by strongSwan's
// CERTREQ; DN identities with a wildcard remote_id; and the refusals (expired, untrusted CA,
// revoked by a CRL, an identity not in the certificate, a signature that does not verify),
// each a clear error on both sides and no SA. oakley is the left site, charon the right.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// certSwanCase is one negotiation with certificates.
type certSwanCase struct {
	name            string
	kind            string // key type of every certificate
	oakleyInitiates bool
	aggressive      bool
	adjust          func(t *testing.T, f *certFixture)
	// For a success: patterns charon's log must (want) and must not (notWant) match.
	want, notWant []string
	// skipAgree: do not compare `swanctl --list-sas --raw` (its reader splits values at
	// spaces, and a DN identity has them); the logs and traffic are still checked.
	skipAgree bool
	// capture: tshark records the exchange on charon's side and must dissect it (AM2 carries
	// CERT and SIG in the clear) without a malformed packet.
	capture bool
	// For a refusal: the patterns of both logs.
	fail               bool
	oakleyLog, swanLog string
	oakleyRefuses      bool // oakley is the side that refuses (else charon)
	retransmitQuickly  bool // oakley's peer may stay silent: do not wait for the default schedule
}

// certFixture is one case's PKI, certificates and both configurations, editable by adjust.
type certFixture struct {
	pki      *e2ePKI
	eeL, eeR *e2eCert // oakley's and charon's end entities
	dir      string   // oakley's certificate directory
	site     ikeSite
	conf     swanConf
}

var (
	pkiMu    sync.Mutex
	pkiCache = map[string]*e2ePKI{}
)

// sharedPKI returns one PKI per key kind and tag for the whole test binary.
func sharedPKI(t *testing.T, kind, tag string) *e2ePKI {
	pkiMu.Lock()
	defer pkiMu.Unlock()
	if p := pkiCache[kind+tag]; p != nil {
		return p
	}
	p := newE2EPKI(t, kind, tag)
	pkiCache[kind+tag] = p
	return p
}

// proposalFor is an IKE proposal whose hash suits the key (ECDSA-384 with SHA-384).
func proposalFor(kind string) string {
	switch kind {
	case "p256":
		return "aes128-sha256-ecp256"
	case "p384":
		return "aes256-sha384-ecp384"
	}
	return "aes256-sha256-modp2048"
}

// newCertFixture makes the certificates and configurations of a case.
func newCertFixture(t *testing.T, tp *ioTopo, c certSwanCase) *certFixture {
	f := &certFixture{pki: sharedPKI(t, c.kind, "")}
	f.eeL = f.pki.endEntity(t, "left", leftID, "ee-left", certOpts{})
	f.eeR = f.pki.endEntity(t, "right", rightID, "ee-right", certOpts{})
	f.site = siteFor(tp, tp.left, "")
	f.conf = swanFor(tp, tp.right, "")
	ike := proposalFor(c.kind)
	f.site.Aggressive, f.site.Proposals = c.aggressive, []string{ike}
	f.conf.Aggressive, f.conf.Proposals = c.aggressive, ike
	f.site.Children[0].ESP = []string{"aes128gcm16"}
	f.conf.Children[0].ESP = "aes128gcm16"
	if c.retransmitQuickly {
		f.site.Extra = "retransmit_timeout = \"1s\"\nretransmit_base = 1.5\nretransmit_tries = 3"
	}
	f.dir = f.pki.oakleyCerts(t, &f.site, f.eeL)
	f.pki.swanCerts(t, &f.conf, f.eeR)
	if c.adjust != nil {
		c.adjust(t, f)
	}
	return f
}

func startCertPair(t *testing.T, tp *ioTopo, f *certFixture) *swanPair {
	t.Helper()
	sp := &swanPair{tp: tp, site: f.site, conf: f.conf}
	sp.sw = startSwan(t, tp.right, "charon", f.conf)
	sp.o = startIKE(t, tp.left, "oakley", f.site)
	return sp
}

// dnOf is the subject of an end entity as oakley and strongSwan write DNs.
func dnOf(id string) string { return "C=CH, O=oakley e2e, CN=" + id }

var certSwanCases = []certSwanCase{
	{name: "main-rsa2048-oakley-initiator", kind: "rsa2048", oakleyInitiates: true,
		want: []string{`received end entity cert "` + dnOf(leftID), `received issuer cert "C=CH, O=oakley e2e, CN=oakley e2e intermediate left`, `authentication of 'left.example' with RSA_EMSA_PKCS1_NULL successful`}},
	{name: "main-rsa2048-oakley-responder", kind: "rsa2048",
		want: []string{`received issuer cert "C=CH, O=oakley e2e, CN=oakley e2e intermediate left`, `authentication of 'left.example' with RSA_EMSA_PKCS1_NULL successful`}},
	{name: "main-rsa3072-oakley-initiator", kind: "rsa3072", oakleyInitiates: true},
	{name: "main-rsa3072-oakley-responder", kind: "rsa3072"},
	{name: "main-ecdsa256-oakley-initiator", kind: "p256", oakleyInitiates: true, want: []string{`authentication of 'left.example' with ECDSA_WITH_NULL successful`}},
	{name: "main-ecdsa256-oakley-responder", kind: "p256", want: []string{`authentication of 'left.example' with ECDSA_WITH_NULL successful`}},
	{name: "main-ecdsa384-oakley-initiator", kind: "p384", oakleyInitiates: true},
	{name: "main-ecdsa384-oakley-responder", kind: "p384"},
	{name: "aggressive-rsa2048-oakley-initiator", kind: "rsa2048", oakleyInitiates: true, aggressive: true, capture: true,
		want: []string{`authentication of 'left.example' with RSA_EMSA_PKCS1_NULL successful`}},
	// strongSwan trusts oakley's intermediate: its CERTREQ names it, so oakley sends only its
	// end entity (pki.Credentials.ChainFor).
	{name: "certreq-chooses-chain", kind: "p256", oakleyInitiates: true,
		adjust: func(t *testing.T, f *certFixture) {
			f.conf.Files["x509ca/inter-left.pem"] = f.pki.left.certPEM()
		},
		want:    []string{`sending cert request for "C=CH, O=oakley e2e, CN=oakley e2e intermediate left`, `received end entity cert "` + dnOf(leftID)},
		notWant: []string{`received issuer cert "C=CH, O=oakley e2e, CN=oakley e2e intermediate left`}},
	// DN identities, remote_id with "*" for one RDN value (strongSwan matches the same).
	{name: "dn-identities", kind: "p256", oakleyInitiates: true,
		adjust: func(t *testing.T, f *certFixture) {
			f.site.LocalID, f.site.RemoteID = dnOf(leftID), "C=CH, O=oakley e2e, CN=*"
			f.conf.LocalID, f.conf.RemoteID = dnOf(rightID), "C=CH, O=oakley e2e, CN=*"
		},
		want: []string{`authentication of 'C=CH, O=oakley e2e, CN=left.example' with ECDSA_WITH_NULL successful`}, skipAgree: true},

	// Refusals. Each side's view: the refusing side names the reason, the other hears it.
	{name: "expired-oakley-cert", kind: "p256", oakleyInitiates: true, fail: true,
		adjust: func(t *testing.T, f *certFixture) {
			past := time.Now().AddDate(-2, 0, 0)
			f.eeL = f.pki.endEntity(t, "left", leftID, "ee-left", certOpts{notBefore: past, notAfter: past.AddDate(1, 0, 0)})
			f.site.Cert = writeFile(t, f.dir, "left.pem", append(f.eeL.certPEM(), f.pki.left.certPEM()...))
		},
		swanLog: `certificate .*expired|not valid|no trusted .* public key found`, oakleyLog: `peer sent AUTHENTICATION-FAILED`},
	{name: "expired-swan-cert", kind: "p256", oakleyInitiates: true, fail: true, oakleyRefuses: true,
		adjust: func(t *testing.T, f *certFixture) {
			past := time.Now().AddDate(-2, 0, 0)
			f.eeR = f.pki.endEntity(t, "right", rightID, "ee-right", certOpts{notBefore: past, notAfter: past.AddDate(1, 0, 0)})
			f.conf.Files["x509/right.pem"] = f.eeR.certPEM()
		},
		oakleyLog: `authentication failed.*expired on`, swanLog: `received (AUTHENTICATION_FAILED error notify|DELETE for IKE_SA)`},
	{name: "untrusted-ca-oakley-refuses", kind: "p256", fail: true, oakleyRefuses: true,
		adjust: func(t *testing.T, f *certFixture) {
			f.site.CACerts = []string{writeFile(t, f.dir, "other-ca.pem", sharedPKI(t, "p256", "other").root.certPEM())}
		},
		oakleyLog: `authentication failed.*neither a trust anchor`, swanLog: `received AUTHENTICATION_FAILED error notify`},
	{name: "untrusted-ca-swan-refuses", kind: "p256", oakleyInitiates: true, fail: true,
		adjust: func(t *testing.T, f *certFixture) {
			f.conf.Files["x509ca/root.pem"] = sharedPKI(t, "p256", "other").root.certPEM()
		},
		swanLog: `no issuer certificate found|no trusted .* public key found|issuer .* not trusted`, oakleyLog: `peer sent AUTHENTICATION-FAILED`},
	{name: "revoked-oakley-refuses", kind: "p256", oakleyInitiates: true, fail: true, oakleyRefuses: true,
		adjust: func(t *testing.T, f *certFixture) {
			f.site.CRLs = []string{writeFile(t, f.dir, "right.crl", f.pki.crl(t, "right", f.eeR))}
		},
		oakleyLog: `authentication failed.*revoked`, swanLog: `received (AUTHENTICATION_FAILED error notify|DELETE for IKE_SA)`},
	{name: "revoked-swan-refuses", kind: "p256", fail: true,
		adjust: func(t *testing.T, f *certFixture) {
			f.conf.Files["x509crl/left.crl"] = f.pki.crl(t, "left", f.eeL)
		},
		swanLog: `certificate was revoked`, oakleyLog: `peer deleted the ISAKMP SA right after Phase 1: it refused our certificate`},
	// (The other way round cannot be staged: charon refuses to send an identity its own
	// certificate lacks, "no private key found for ..."; the in-memory engine tests cover
	// oakley refusing one.)
	{name: "id-not-in-cert-swan-refuses", kind: "p256", oakleyInitiates: true, fail: true,
		adjust: func(t *testing.T, f *certFixture) {
			f.site.LocalID, f.conf.RemoteID = "stranger.example", "%any"
		},
		swanLog: `no trusted .* public key found for 'stranger\.example'|stranger\.example`, oakleyLog: `peer sent AUTHENTICATION-FAILED`},
	// A certificate with the peer's identity but another key, pinned: the peer's signature
	// cannot verify with it.
	{name: "bad-signature-oakley-refuses", kind: "p256", oakleyInitiates: true, fail: true, oakleyRefuses: true,
		adjust: func(t *testing.T, f *certFixture) {
			impostor := f.pki.endEntity(t, "right", rightID, "impostor", certOpts{})
			f.site.CACerts, f.site.RemoteCert = nil, writeFile(t, f.dir, "pinned.pem", impostor.certPEM())
			f.conf.Extra = "    send_cert = never\n"
		},
		oakleyLog: `authentication failed.*signature does not verify`, swanLog: `received (AUTHENTICATION_FAILED error notify|DELETE for IKE_SA)`},
	{name: "bad-signature-swan-refuses", kind: "p256", fail: true,
		adjust: func(t *testing.T, f *certFixture) {
			impostor := f.pki.endEntity(t, "left", leftID, "impostor", certOpts{})
			f.conf.Files["x509/pinned.pem"] = impostor.certPEM()
			f.conf.RemoteCerts = "pinned.pem"
			f.site.SendCert = "never"
		},
		swanLog: `signature validation failed`, oakleyLog: `peer deleted the ISAKMP SA right after Phase 1: it refused our certificate`},
}

func TestInteropCertificates(t *testing.T) {
	needInterop(t)
	t.Parallel()
	names := make([]string, len(certSwanCases))
	for i, c := range certSwanCases {
		names[i] = c.name
	}
	parallelRuns(t, 3, names, func(t *testing.T, i int) {
		c := certSwanCases[i]
		tp := newTopo(t, false)
		f := newCertFixture(t, tp, c)
		var pcap string
		var capture *proc
		if c.capture && haveTool("tshark") {
			pcap = filepath.Join(t.TempDir(), "ike.pcap")
			capture = startProc(t, "tshark", tp.right.ns.args("tshark", "-i", "veth0", "-n", "-l", "-P", "-f", "udp port 500 or udp port 4500", "-w", pcap)...)
			waitCapturing(t, capture)
		}
		sp := startCertPair(t, tp, f)
		if c.fail {
			certRefusal(t, sp, c)
			return
		}
		toPing, _ := sp.establish(t, c.oakleyInitiates)
		pingBoth(t, tp, 2)
		if !c.skipAgree {
			sp.checkAgree(t, swanCase{aggressive: c.aggressive, ike: proposalFor(c.kind), esp: "aes128gcm16"}, c.oakleyInitiates)
		}
		checkPeerCert(t, sp.o, f.eeR)
		slog := sp.sw.Log()
		for _, w := range c.want {
			if !strings.Contains(slog, w) {
				t.Errorf("charon's log lacks %q", w)
			}
		}
		for _, w := range c.notWant {
			if strings.Contains(slog, w) {
				t.Errorf("charon's log has %q", w)
			}
		}
		// The private key never reaches oakley's log or status.
		keyDER := strings.Join(strings.Split(strings.TrimSpace(string(f.eeL.keyPEM(t))), "\n")[1:3], "")
		text, _ := sp.o.statusText()
		assertNoSecrets(t, "oakley's log and status", sp.o.p.out.String()+text, []string{keyDER, privateHex(f.eeL.key)})
		if capture != nil {
			time.Sleep(200 * time.Millisecond)
			capture.signal(syscall.SIGINT)
			capture.wait(10 * time.Second)
			checkTsharkCerts(t, pcap)
		}
		recordResult(t, "%s + Quick Mode with %s certificates against strongSwan (%s): %s to the first ping",
			map[bool]string{false: "Main Mode", true: "Aggressive Mode"}[c.aggressive], c.kind,
			map[bool]string{true: "oakley initiator", false: "oakley responder"}[c.oakleyInitiates], toPing.Round(time.Millisecond))
	})
}

// checkPeerCert checks that `oakley status` names the peer's certificate: subject, issuer and
// SHA-256 fingerprint.
func checkPeerCert(t *testing.T, o *oakley, peer *e2eCert) {
	t.Helper()
	st := o.mustIKEStatus(t)
	var pc *struct {
		Subject     string `json:"subject"`
		Issuer      string `json:"issuer"`
		Fingerprint string `json:"sha256"`
	}
	for _, c := range st.Connections {
		for _, sa := range c.IKESAs {
			if sa.State == "established" && sa.PeerCert != nil {
				pc = sa.PeerCert
			}
		}
	}
	sum := sha256.Sum256(peer.cert.Raw)
	fp := strings.ToUpper(strings.Join(strings.Split(fmt.Sprintf("% x", sum[:]), " "), ":"))
	if pc == nil || !strings.Contains(pc.Subject, "CN="+peer.cert.Subject.CommonName) || !strings.Contains(pc.Issuer, "intermediate") || pc.Fingerprint != fp {
		t.Errorf("oakley status: peer certificate %+v, want subject %s, fingerprint %s:\n%s", pc, peer.cert.Subject, fp, st.raw)
	}
	text, err := o.statusText()
	if err != nil || !strings.Contains(text, "peer certificate") || !strings.Contains(text, fp) {
		t.Errorf("`oakley status` text does not show the peer certificate (%v):\n%s", err, text)
	}
}

// certRefusal initiates a case that must fail and checks both logs and that no SA is left.
func certRefusal(t *testing.T, sp *swanPair, c certSwanCase) {
	t.Helper()
	var out string
	var err error
	if c.oakleyInitiates {
		out, err = sp.o.ctl("initiate", sp.site.connName()+"/net")
	} else {
		out, err = sp.sw.Swanctl("--initiate", "--child", "net", "--timeout", "10")
	}
	if err == nil {
		t.Fatalf("the negotiation succeeded although it must not:\n%s", out)
	}
	for _, side := range []struct {
		name, pattern string
		log           func() string
	}{{"oakley", c.oakleyLog, func() string { return sp.o.p.out.String() }}, {"charon", c.swanLog, sp.sw.Log}} {
		re := regexp.MustCompile(side.pattern)
		var log string
		if !waitFor(15*time.Second, func() bool { log = side.log(); return re.MatchString(log) }) {
			t.Errorf("%s's log has no line matching %q", side.name, side.pattern)
		} else {
			t.Logf("%s: %s", side.name, matchingLine(log, side.pattern))
		}
	}
	checkNoSA(t, sp, false)
	pingNone(t, sp.tp.left, sp.tp.right, 1)
}

// checkTsharkCerts dissects a capture of an exchange with certificates in the clear
// (Aggressive Mode): no malformed packet, and the CERT and SIG payloads are recognised.
func checkTsharkCerts(t *testing.T, pcap string) {
	t.Helper()
	count := func(filter string) int {
		out, _ := run("tshark", "-r", pcap, "-n", "-Y", filter)
		n := 0
		for _, l := range strings.Split(out, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Running as user") {
				n++
			}
		}
		return n
	}
	if n := count("_ws.malformed || _ws.expert.severity >= error"); n != 0 {
		all, _ := run("tshark", "-r", pcap, "-n", "-V")
		t.Errorf("tshark reports %d malformed packets:\n%s", n, tail(all, 8000))
	}
	certs, sigs := count("isakmp.cert.encoding == 4"), count("isakmp.typepayload == 9")
	if certs == 0 || sigs == 0 {
		t.Errorf("tshark found %d datagrams with X.509 CERT payloads and %d with SIG payloads, want both", certs, sigs)
	}
	t.Logf("tshark dissected the exchange without a malformed packet (%d with CERT, %d with SIG in the clear)", certs, sigs)
}

// privateHex is the private scalar of a key in hex (what a careless log line would print).
func privateHex(k crypto.Signer) string {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return hex.EncodeToString(k.D.Bytes())
	case *ecdsa.PrivateKey:
		b, _ := k.Bytes()
		return hex.EncodeToString(b)
	}
	return ""
}
