package ikev1

// Two engines with certificates in memory: Main Mode and Aggressive Mode with RSA and ECDSA
// (P-256/384/521) signatures under an intermediate CA, CERTREQ-driven sending, send_cert,
// pinning, DN identities with wildcards, the peer's certificate in status; and every
// refusal (expired, untrusted, revoked, identity not in the certificate, a signature that
// does not verify, an RSA peer against an ECDSA one) ends in a clear error on both sides
// and no SA.

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/isakmp"
	"oakley/ike/pki"
)

// certPair builds a pair authenticating with certificates of one key kind; adjust may edit
// the connections (after the certificates are set).
func certPair(t *testing.T, kind string, aggressive bool, adjust func(p *testPKI, a, b *core.Connection)) (*lnet, *node, *node, *testPKI) {
	t.Helper()
	p := newTestPKI(t, kind)
	n, a, b := newPair(t, pairOpts{aggressive: aggressive, tweak: func(a, b *core.Connection) {
		useCerts(t, p, kind, a, b)
		if aggressive {
			a.InsecureAlgorithms, b.InsecureAlgorithms = false, false // certificates need no opt-in
		}
		if adjust != nil {
			adjust(p, a, b)
		}
	}})
	return n, a, b, p
}

func TestCertificateSignatures(t *testing.T) {
	for _, kind := range []string{"rsa2048", "p256", "p384", "p521"} {
		for _, aggressive := range []bool{false, true} {
			name := kind + map[bool]string{false: "-main", true: "-aggressive"}[aggressive]
			t.Run(name, func(t *testing.T) {
				n, a, b, _ := certPair(t, kind, aggressive, nil)
				establish(t, n, a, b)
				sa, sb := currentSA(a.c, "ab"), currentSA(b.c, "ba")
				want := map[string]isakmp.AuthMethod{"rsa2048": isakmp.AuthRSASig, "p256": isakmp.AuthECDSASHA256P256,
					"p384": isakmp.AuthECDSASHA384P384, "p521": isakmp.AuthECDSASHA512P521}[kind]
				if sa.tr.auth != want || sb.tr.auth != want {
					t.Fatalf("negotiated %s/%s, want %s", sa.tr.auth, sb.tr.auth, want)
				}
				for _, x := range []struct {
					sa   *ikeSA
					peer string
				}{{sa, "b.test"}, {sb, "a.test"}} {
					st := x.sa.Status()
					if st.PeerCert == nil || !strings.Contains(st.PeerCert.Subject, "CN="+x.peer) ||
						!strings.Contains(st.PeerCert.Issuer, "intermediate") || len(st.PeerCert.Fingerprint) != 95 {
						t.Fatalf("status peer certificate %+v", st.PeerCert)
					}
				}
				if a.ctr.Get(core.CtrAuthFailures)+b.ctr.Get(core.CtrAuthFailures) != 0 {
					t.Fatal("auth failures on a clean run")
				}
			})
		}
	}
}

// TestCertificateRequests: each side sends a CERTREQ naming its root; the other answers with
// its end entity and the intermediate (not the root). With send_cert = "never" and the
// peer's certificate pinned, no CERT travels; with "always" it travels without CERTREQ.
func TestCertificateRequests(t *testing.T) {
	var certreqs int
	count := func(n *lnet) {
		n.filter = func(from, to *node, m []byte) []byte {
			if msg, err := isakmp.DecodeMessage(m); err == nil && !msg.Header.Flags.Has(isakmp.FlagEncryption) {
				for _, p := range msg.Payloads {
					if _, ok := p.(*isakmp.CertificateRequest); ok {
						certreqs++
					}
				}
			}
			return m
		}
	}
	t.Run("ifasked", func(t *testing.T) {
		certreqs = 0
		n, a, b, p := certPair(t, "p256", false, nil)
		count(n)
		establish(t, n, a, b)
		if certreqs != 1 { // MM4 in the clear; MM5's is encrypted
			t.Fatalf("%d plaintext CERTREQs, want 1 (MM4)", certreqs)
		}
		for _, nd := range []*node{a, b} {
			sa := currentSA(nd.c, nd.conns[0].Name)
			if !sa.cert.req.Seen() || !sa.cert.req.Names(p.root.cert) {
				t.Fatalf("%s: the peer's CERTREQ did not name the root: %v", nd.name, &sa.cert.req)
			}
			if got := len(sa.cert.peer.Path); got != 3 {
				t.Fatalf("%s: verified path of %d certificates, want end entity, intermediate, root", nd.name, got)
			}
		}
		mustLog(t, a, "sending our certificate", "intermediates:1")
	})
	t.Run("never-with-pinning", func(t *testing.T) {
		n, a, b, _ := certPair(t, "p256", false, func(p *testPKI, a, b *core.Connection) {
			a.SendCert, b.SendCert = pki.SendCertNever, pki.SendCertNever
			a.Trust = pinnedTrust(t, b.Creds.Leaf())
			b.Trust = pinnedTrust(t, a.Creds.Leaf())
		})
		establish(t, n, a, b)
		if logged(a, "sending our certificate") || logged(b, "sending our certificate") {
			t.Fatal("a certificate was sent with send_cert = never")
		}
		if st := currentSA(a.c, "ab").Status(); st.PeerCert == nil || !strings.Contains(st.PeerCert.Subject, "b.test") {
			t.Fatalf("pinned peer certificate not in status: %+v", st.PeerCert)
		}
	})
	t.Run("never-without-pinning-fails", func(t *testing.T) {
		n, a, b, _ := certPair(t, "p256", false, func(p *testPKI, a, b *core.Connection) {
			a.SendCert = pki.SendCertNever
		})
		a.c.Start(n.now)
		n.runFor(45 * time.Second)
		noSA(t, a)
		noSA(t, b)
		mustLog(t, b, "authentication failed", "the peer sent no certificate")
		mustLog(t, a, "authentication failed", "peer sent AUTHENTICATION-FAILED")
	})
}

// TestCertificateIdentities: DN identities with a wildcard remote_id, and a responder with
// two connections told apart by the initiator's DN.
func TestCertificateIdentities(t *testing.T) {
	n, a, b, _ := certPair(t, "p384", false, func(p *testPKI, a, b *core.Connection) {
		a.LocalID = core.DNIdentity(a.Creds.Leaf().RawSubject)
		b.LocalID = core.DNIdentity(b.Creds.Leaf().RawSubject)
		pat, err := pki.ParseID("C=CH, O=oakley test, CN=*")
		if err != nil {
			t.Fatal(err)
		}
		a.RemoteID, b.RemoteID = pat, pat
	})
	establish(t, n, a, b)
	if got := idOfPayload(currentSA(b.c, "ba").peerID); !strings.Contains(got, "CN=a.test") {
		t.Fatalf("responder sees %q", got)
	}
}

// certFailure runs a pair that must fail and checks both logs.
func certFailure(t *testing.T, n *lnet, a, b *node, aWants, bWants []string) {
	t.Helper()
	a.c.Start(n.now)
	b.c.Start(n.now)
	n.runFor(45 * time.Second)
	noSA(t, a)
	noSA(t, b)
	mustLog(t, a, aWants...)
	mustLog(t, b, bWants...)
	if a.ctr.Get(core.CtrIKEFailed)+b.ctr.Get(core.CtrIKEFailed) == 0 || a.ctr.Get(core.CtrAuthFailures)+b.ctr.Get(core.CtrAuthFailures)+b.ctr.Get(core.CtrNoProposal)+b.ctr.Get(core.CtrInvalidID) == 0 {
		t.Fatal("failure not counted")
	}
}

func TestCertificateRefusals(t *testing.T) {
	past := epoch.AddDate(-2, 0, 0)
	cases := []struct {
		name   string
		adjust func(t *testing.T, p *testPKI, a, b *core.Connection)
		aWants []string // the initiator's log
		bWants []string // the responder's
	}{
		{name: "initiator-expired", adjust: func(t *testing.T, p *testPKI, a, b *core.Connection) {
			ee := p.endEntity(t, certSpec{cn: "a.test", dns: []string{"a.test"}, keyKind: "p256#a", notBefore: past, notAfter: past.AddDate(1, 0, 0)})
			a.Creds = p.creds(t, ee)
		}, aWants: []string{"peer sent AUTHENTICATION-FAILED"}, bWants: []string{"authentication failed", "CN=a.test", "expired on"}},
		{name: "responder-expired", adjust: func(t *testing.T, p *testPKI, a, b *core.Connection) {
			ee := p.endEntity(t, certSpec{cn: "b.test", dns: []string{"b.test"}, keyKind: "p256#b", notBefore: past, notAfter: past.AddDate(1, 0, 0)})
			b.Creds = p.creds(t, ee)
		}, aWants: []string{"authentication failed", "CN=b.test", "expired on"}, bWants: []string{"peer refused the ISAKMP SA"}},
		{name: "untrusted-ca", adjust: func(t *testing.T, p *testPKI, a, b *core.Connection) {
			other := newTestPKI(t, "p256#other")
			b.Trust = other.trust(t, nil)
		}, aWants: []string{"peer sent AUTHENTICATION-FAILED"}, bWants: []string{"authentication failed", "neither a trust anchor"}},
		{name: "revoked", adjust: func(t *testing.T, p *testPKI, a, b *core.Connection) {
			b.Trust = p.trust(t, nil, p.crl(t, a.Creds.Leaf()))
		}, aWants: []string{"peer sent AUTHENTICATION-FAILED"}, bWants: []string{"authentication failed", "revoked"}},
		{name: "id-not-in-certificate", adjust: func(t *testing.T, p *testPKI, a, b *core.Connection) {
			a.LocalID = core.FQDNIdentity("c.test")
			b.RemoteID = core.AnyIdentity
		}, aWants: []string{"peer sent AUTHENTICATION-FAILED"}, bWants: []string{"authentication failed", "c.test", "is not in the peer's certificate"}},
		{name: "unexpected-id", adjust: func(t *testing.T, p *testPKI, a, b *core.Connection) {
			b.RemoteID = core.FQDNIdentity("someone.test")
		}, aWants: []string{"INVALID-ID-INFORMATION"}, bWants: []string{"a.test", "someone.test"}},
		{name: "signature-does-not-verify", adjust: func(t *testing.T, p *testPKI, a, b *core.Connection) {
			// b pins a certificate for a.test with another key: a's signature cannot verify.
			impostor := p.endEntity(t, certSpec{cn: "a.test", dns: []string{"a.test"}, keyKind: "p256#impostor"})
			b.Trust = pinnedTrust(t, impostor.cert)
			a.SendCert = pki.SendCertNever
		}, aWants: []string{"peer sent AUTHENTICATION-FAILED"}, bWants: []string{"authentication failed", "signature does not verify"}},
		{name: "rsa-against-ecdsa", adjust: func(t *testing.T, p *testPKI, a, b *core.Connection) {
			rsaPKI := newTestPKI(t, "rsa2048")
			ee := rsaPKI.endEntity(t, certSpec{cn: "b.test", dns: []string{"b.test"}, keyKind: "rsa2048#b"})
			b.Creds = rsaPKI.creds(t, ee)
		}, aWants: []string{"NO-PROPOSAL-CHOSEN", "an RSA peer and an ECDSA peer cannot meet"}, bWants: []string{"an RSA peer and an ECDSA peer", "cannot meet"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, a, b, _ := certPair(t, "p256", false, func(p *testPKI, a, b *core.Connection) { tc.adjust(t, p, a, b) })
			certFailure(t, n, a, b, tc.aWants, tc.bWants)
		})
	}
}

var _ = x509.ParseCertificate
