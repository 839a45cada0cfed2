package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests run at a fixed time; certificates are valid for 2030.
var (
	testNow   = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	validFrom = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	validTo   = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
)

var (
	keyMu    sync.Mutex
	keyCache = map[string]crypto.Signer{}
)

// testKey returns a key of the given kind, generated once per test binary and name (the
// name lets tests ask for two distinct keys of one kind).
func testKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keyCache[kind]; ok {
		return k
	}
	var k crypto.Signer
	var err error
	base, _, _ := strings.Cut(kind, "#")
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
	case "p224":
		k, err = ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	keyCache[kind] = k
	return k
}

// issued is a certificate with its key.
type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
}

type certSpec struct {
	cn, o       string
	key         string // testKey kind
	ca          bool
	noBC        bool // no basicConstraints at all
	pathLen     int  // -1 none
	from, to    time.Time
	ku          x509.KeyUsage
	eku         []x509.ExtKeyUsage
	dns, emails []string
	ips         []net.IP
	serial      int64
	permitDNS   []string
	critical    bool // add an unknown critical extension
	ski         []byte
}

var serialCounter int64 = 1000

// mkCert creates a certificate from spec, signed by parent (nil: self-signed).
func mkCert(t testing.TB, spec certSpec, parent *issued) *issued {
	t.Helper()
	key := testKey(t, spec.key)
	if spec.from.IsZero() {
		spec.from = validFrom
	}
	if spec.to.IsZero() {
		spec.to = validTo
	}
	if spec.o == "" {
		spec.o = "oakley test"
	}
	serial := spec.serial
	if serial == 0 {
		serialCounter++
		serial = serialCounter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{Country: []string{"CH"}, Organization: []string{spec.o}, CommonName: spec.cn},
		NotBefore:             spec.from,
		NotAfter:              spec.to,
		KeyUsage:              spec.ku,
		ExtKeyUsage:           spec.eku,
		DNSNames:              spec.dns,
		EmailAddresses:        spec.emails,
		IPAddresses:           spec.ips,
		BasicConstraintsValid: !spec.noBC,
		IsCA:                  spec.ca,
		PermittedDNSDomains:   spec.permitDNS,
		SubjectKeyId:          spec.ski,
	}
	if spec.ca && spec.ku == 0 {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	if spec.pathLen >= 0 && spec.ca {
		tmpl.MaxPathLen = spec.pathLen
		tmpl.MaxPathLenZero = spec.pathLen == 0
	} else {
		tmpl.MaxPathLen = -1
	}
	if spec.critical {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: []int{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: true, Value: []byte{5, 0}}}
	}
	parentCert, parentKey := tmpl, key
	if parent != nil {
		parentCert, parentKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), parentKey)
	if err != nil {
		t.Fatalf("create %s: %v", spec.cn, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &issued{cert: c, key: key}
}

// pki3 is a root → intermediate → leaf hierarchy.
type pki3 struct {
	root, inter, leaf *issued
}

func newPKI(t testing.TB, rootKey, interKey, leafKey string) pki3 {
	t.Helper()
	root := mkCert(t, certSpec{cn: "Root CA " + rootKey, key: rootKey, ca: true, pathLen: -1}, nil)
	inter := mkCert(t, certSpec{cn: "Intermediate CA " + interKey, key: interKey, ca: true, pathLen: 0}, root)
	leaf := mkCert(t, certSpec{cn: "gw.example.org", key: leafKey, pathLen: -1,
		ku: x509.KeyUsageDigitalSignature, dns: []string{"gw.example.org"}, emails: []string{"ops@example.org"},
		ips: []net.IP{net.ParseIP("198.18.0.1"), net.ParseIP("2001:db8::1")}}, inter)
	return pki3{root, inter, leaf}
}

// standard is the default fixture (RSA-3072 root, P-384 intermediate, P-256 leaf).
var (
	stdOnce sync.Once
	stdPKI  pki3
)

func standardPKI(t testing.TB) pki3 {
	stdOnce.Do(func() { stdPKI = newPKI(t, "rsa3072", "p384", "p256") })
	return stdPKI
}

func mkCRL(t testing.TB, issuer *issued, next time.Time, revoked ...*x509.Certificate) *x509.RevocationList {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: validFrom, NextUpdate: next}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: validFrom.Add(time.Hour), ReasonCode: 1})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer.cert, issuer.key)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

func certsPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func writeFile(t testing.TB, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask may have narrowed it
		t.Fatal(err)
	}
	return p
}

func keyPEM(t testing.TB, k crypto.Signer, form string) []byte {
	t.Helper()
	var der []byte
	var err error
	typ := "PRIVATE KEY"
	switch form {
	case "pkcs8":
		der, err = x509.MarshalPKCS8PrivateKey(k)
	case "pkcs1":
		der, typ = x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey)), "RSA PRIVATE KEY"
	case "sec1":
		der, err = x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
		typ = "EC PRIVATE KEY"
	}
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// wantErr fails unless err matches kind (nil: no error) and its message contains every part.
func wantErr(t testing.TB, err, kind error, parts ...string) {
	t.Helper()
	if kind == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %v", kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("error %q does not match %v", err, kind)
	}
	if !strings.HasPrefix(err.Error(), "pki: ") {
		t.Errorf("error %q lacks the pki: prefix", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func fsMode(m int) os.FileMode { return os.FileMode(m) }
