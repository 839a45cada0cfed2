package ikev2

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/pki"
)

// testCA issues certificates for the in-memory tests.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var (
	rsaKeyOnce sync.Once
	rsaKeys    []*rsa.PrivateKey
)

// testKey returns a key of a kind ("rsa" keys come from a small pool: generating them is slow).
func testKey(t testing.TB, kind string, i int) crypto.Signer {
	switch kind {
	case "rsa":
		rsaKeyOnce.Do(func() {
			for j := 0; j < 3; j++ {
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					panic(err)
				}
				rsaKeys = append(rsaKeys, k)
			}
		})
		return rsaKeys[i%len(rsaKeys)]
	case "p384":
		k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		return k
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return k
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	k := testKey(t, "ecdsa", 0)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name, Organization: []string{"oakley test"}},
		NotBefore: epoch.Add(-24 * time.Hour), NotAfter: epoch.Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: k}
}

// issue makes credentials for a DNS name with a key of kind.
func (ca *testCA) issue(t testing.TB, dns, kind string, serial int64) *pki.Credentials {
	t.Helper()
	k := testKey(t, kind, int(serial))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: dns, Organization: []string{"oakley test"}},
		NotBefore: epoch.Add(-24 * time.Hour), NotAfter: epoch.Add(365 * 24 * time.Hour), DNSNames: []string{dns},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, k.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	cr, err := pki.NewCredentials([]*x509.Certificate{c}, k)
	if err != nil {
		t.Fatal(err)
	}
	return cr.WithCAs([]*x509.Certificate{ca.cert})
}

func (ca *testCA) trust(t testing.TB) *pki.Trust {
	tr, err := pki.NewTrust([]*x509.Certificate{ca.cert}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// certPair configures A and B for certificate authentication.
func certPair(t testing.TB, ca *testCA, kindA, kindB string) (a, b *core.Connection) {
	a, b = pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	a.Auth, b.Auth = "pubkey", "pubkey"
	a.PSK, b.PSK = nil, nil
	a.Creds, b.Creds = ca.issue(t, "a.test", kindA, 2), ca.issue(t, "b.test", kindB, 3)
	a.Trust, b.Trust = ca.trust(t), ca.trust(t)
	return a, b
}

func TestCertificates(t *testing.T) {
	ca := newTestCA(t, "oakley test CA")
	for _, tc := range []struct {
		name         string
		kindA, kindB string
		legacy       bool
		wantA, wantB string // our AUTH method as status shows it
	}{
		{"rsa", "rsa", "rsa", false, "Digital Signature (14) sha256WithRSAEncryption", "Digital Signature (14) sha256WithRSAEncryption"},
		{"ecdsa", "ecdsa", "ecdsa", false, "Digital Signature (14) ecdsa-with-SHA256", "Digital Signature (14) ecdsa-with-SHA256"},
		{"mixed", "rsa", "p384", false, "Digital Signature (14) sha256WithRSAEncryption", "Digital Signature (14) ecdsa-with-SHA384"},
		{"legacy-rsa", "rsa", "rsa", true, "RSA signature (1)", "RSA signature (1)"},
		{"legacy-ecdsa", "ecdsa", "p384", true, "ECDSA-256 (9)", "ECDSA-384 (10)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := certPair(t, ca, tc.kindA, tc.kindB)
			n, x, y := pair(t, a, b)
			x.p.hooks.noSigHash, y.p.hooks.noSigHash = tc.legacy, tc.legacy
			x.core.Start(n.now)
			n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
			sx, sy := currentSA(x, "ab").Status(), currentSA(y, "ba").Status()
			if !strings.HasPrefix(sx.Auth, tc.wantA) || !strings.HasPrefix(sy.Auth, tc.wantB) {
				t.Fatalf("auth A %q, B %q", sx.Auth, sy.Auth)
			}
			if sx.PeerCert == nil || !strings.Contains(sx.PeerCert.Subject, "b.test") || sy.PeerCert == nil || !strings.Contains(sy.PeerCert.Subject, "a.test") {
				t.Fatalf("peer certificates %+v / %+v", sx.PeerCert, sy.PeerCert)
			}
		})
	}
}

func TestCertificateRefusals(t *testing.T) {
	ca, other := newTestCA(t, "oakley test CA"), newTestCA(t, "another CA")
	for _, tc := range []struct {
		name   string
		adjust func(a, b *core.Connection)
		bLog   string
	}{
		{"untrusted", func(a, b *core.Connection) { b.Trust = other.trust(t) }, "neither a trust anchor"},
		{"id-not-in-certificate", func(a, b *core.Connection) {
			a.LocalID = core.FQDNIdentity("x.test")
			b.RemoteID = core.FQDNIdentity("x.test")
		}, "matches no dNSName"},
		{"psk-against-pubkey", func(a, b *core.Connection) { a.Auth, a.PSK = "psk", testPSK }, "we expect a certificate signature"},
		{"send-cert-never", func(a, b *core.Connection) { a.SendCert = pki.SendCertNever }, "sent no certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := certPair(t, ca, "ecdsa", "ecdsa")
			tc.adjust(a, b)
			n, x, y := pair(t, a, b)
			x.core.Start(n.now)
			n.runFor(20 * time.Second)
			if childUp(x, "ab", "net") || len(y.p.SAs()) != 0 {
				t.Fatal("came up")
			}
			if !strings.Contains(connErr(x, "ab"), "AUTHENTICATION_FAILED") {
				t.Fatalf("A's error %q", connErr(x, "ab"))
			}
			if !logged(y, tc.bLog) {
				dumpLogs(t, y, 10)
				t.Fatalf("B did not log %q", tc.bLog)
			}
		})
	}
}

// TestRemoteIDWildcard: remote_id as a DN pattern with "*" (pki.MatchID) and the ID bound
// to the certificate's subject.
func TestRemoteIDWildcard(t *testing.T) {
	ca := newTestCA(t, "oakley test CA")
	a, b := certPair(t, ca, "ecdsa", "ecdsa")
	dn, err := pki.ParseID("O=oakley test, CN=a.test")
	if err != nil {
		t.Fatal(err)
	}
	a.LocalID = dn
	if b.RemoteID, err = pki.ParseID("O=oakley test, CN=*"); err != nil {
		t.Fatal(err)
	}
	n, x, y := pair(t, a, b)
	x.core.Start(n.now)
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	if got := currentSA(y, "ba").Status().RemoteID; !strings.Contains(got, "CN=a.test") {
		t.Fatalf("remote id %q", got)
	}
}
