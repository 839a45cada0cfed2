package ikev1

// Test certificates made with crypto/x509 at test time (no private key is checked in): a
// root CA, an intermediate CA under it, and end entities, valid around the in-memory
// network's epoch. Keys are generated once per test binary and kind.

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

var (
	keyMu    sync.Mutex
	keyCache = map[string]crypto.Signer{}
	serialMu sync.Mutex
	serial   int64 = 100
)

// testKey returns a key of a kind ("rsa2048", "rsa4096", "p256", "p384", "p521"; a suffix
// "#n" asks for another key of that kind), generated once per test binary.
func testKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keyCache[kind]; ok {
		return k
	}
	base, _, _ := strings.Cut(kind, "#")
	var k crypto.Signer
	var err error
	switch base {
	case "rsa2048":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa3072":
		k, err = rsa.GenerateKey(rand.Reader, 3072)
	case "rsa4096":
		k, err = rsa.GenerateKey(rand.Reader, 4096)
	case "p256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "p521":
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	keyCache[kind] = k
	return k
}

func nextSerial() *big.Int {
	serialMu.Lock()
	defer serialMu.Unlock()
	serial++
	return big.NewInt(serial)
}

// testCA is a CA certificate and its key.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// certSpec describes a certificate to issue.
type certSpec struct {
	cn        string
	dns       []string
	ca        bool
	notBefore time.Time
	notAfter  time.Time
	keyKind   string
}

// issue makes a certificate signed by ca (nil: self-signed).
func issue(t testing.TB, ca *testCA, s certSpec) *testCA {
	t.Helper()
	key := testKey(t, s.keyKind)
	if s.notBefore.IsZero() {
		s.notBefore, s.notAfter = epoch.AddDate(-1, 0, 0), epoch.AddDate(1, 0, 0)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{Country: []string{"CH"}, Organization: []string{"oakley test"}, CommonName: s.cn},
		NotBefore:    s.notBefore, NotAfter: s.notAfter,
		DNSNames: s.dns,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if s.ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: c, key: key}
}

// testPKI is a root CA and an intermediate under it.
type testPKI struct{ root, inter *testCA }

func newTestPKI(t testing.TB, kind string) *testPKI {
	root := issue(t, nil, certSpec{cn: "oakley test root " + kind, ca: true, keyKind: kind + "#root"})
	inter := issue(t, root, certSpec{cn: "oakley test intermediate " + kind, ca: true, keyKind: kind + "#inter"})
	return &testPKI{root: root, inter: inter}
}

// endEntity issues an end-entity certificate under the intermediate.
func (p *testPKI) endEntity(t testing.TB, s certSpec) *testCA {
	return issue(t, p.inter, s)
}

// creds builds credentials from an end entity and its intermediate.
func (p *testPKI) creds(t testing.TB, ee *testCA) *pki.Credentials {
	t.Helper()
	c, err := pki.NewCredentials([]*x509.Certificate{ee.cert, p.inter.cert}, ee.key)
	if err != nil {
		t.Fatal(err)
	}
	return c.WithCAs([]*x509.Certificate{p.root.cert})
}

// trust trusts the root (and optionally a pinned certificate and CRLs).
func (p *testPKI) trust(t testing.TB, pinned *x509.Certificate, crls ...*x509.RevocationList) *pki.Trust {
	t.Helper()
	tr, err := pki.NewTrust([]*x509.Certificate{p.root.cert}, pinned, crls)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// pinnedTrust trusts a pinned certificate alone.
func pinnedTrust(t testing.TB, pinned *x509.Certificate) *pki.Trust {
	t.Helper()
	tr, err := pki.NewTrust(nil, pinned, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// crl makes a CRL of the intermediate that revokes serials.
func (p *testPKI) crl(t testing.TB, revoked ...*x509.Certificate) *x509.RevocationList {
	t.Helper()
	tmpl := &x509.RevocationList{Number: nextSerial(), ThisUpdate: epoch.AddDate(0, -1, 0), NextUpdate: epoch.AddDate(0, 1, 0)}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: epoch.AddDate(0, 0, -1)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, p.inter.cert, p.inter.key)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

// useCerts switches a pair's connections to certificate signatures: a's and b's end
// entities (a.test, b.test) under one PKI of the given key kind, each trusting its root.
func useCerts(t testing.TB, p *testPKI, kind string, a, b *core.Connection) (ea, eb *testCA) {
	ea = p.endEntity(t, certSpec{cn: "a.test", dns: []string{"a.test"}, keyKind: kind + "#a"})
	eb = p.endEntity(t, certSpec{cn: "b.test", dns: []string{"b.test"}, keyKind: kind + "#b"})
	for _, x := range []struct {
		c  *core.Connection
		ee *testCA
	}{{a, ea}, {b, eb}} {
		x.c.Auth, x.c.PSK = "pubkey", nil
		x.c.Creds = p.creds(t, x.ee)
		x.c.Trust = p.trust(t, nil)
	}
	return ea, eb
}
