//go:build linux

package e2e

// Certificates for the interop tests, made by the tests with crypto/x509 (no private key is
// checked in): a root CA, one intermediate CA per site under it, and each site's end entity
// under its intermediate, for one key type (RSA 2048/3072/4096, ECDSA P-256/P-384). Keys are
// generated once per test binary and name, certificates per fixture.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	e2eKeyMu  sync.Mutex
	e2eKeys   = map[string]crypto.Signer{}
	e2eKeyGen = map[string]*sync.Once{}
)

// e2eKey returns the key named name of a kind ("rsa2048", "rsa3072", "rsa4096", "p256",
// "p384"), generated once per test binary.
func e2eKey(t *testing.T, kind, name string) crypto.Signer {
	t.Helper()
	id := kind + "/" + name
	e2eKeyMu.Lock()
	once := e2eKeyGen[id]
	if once == nil {
		once = new(sync.Once)
		e2eKeyGen[id] = once
	}
	e2eKeyMu.Unlock()
	once.Do(func() {
		var k crypto.Signer
		var err error
		switch kind {
		case "rsa2048", "rsa3072", "rsa4096":
			bits := map[string]int{"rsa2048": 2048, "rsa3072": 3072, "rsa4096": 4096}[kind]
			k, err = rsa.GenerateKey(rand.Reader, bits)
		case "p256":
			k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		case "p384":
			k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		}
		if err != nil || k == nil {
			panic("key generation failed for " + id)
		}
		e2eKeyMu.Lock()
		e2eKeys[id] = k
		e2eKeyMu.Unlock()
	})
	e2eKeyMu.Lock()
	defer e2eKeyMu.Unlock()
	return e2eKeys[id]
}

// e2eCert is a certificate with its key.
type e2eCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func (c *e2eCert) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

func (c *e2eCert) keyPEM(t *testing.T) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

var (
	e2eSerialMu sync.Mutex
	e2eSerial   = time.Now().UnixNano()
)

// certOpts describe one certificate.
type certOpts struct {
	cn        string
	dns       []string
	ca        bool
	notBefore time.Time
	notAfter  time.Time
}

// e2eIssue makes a certificate for key, signed by parent (nil: self-signed).
func e2eIssue(t *testing.T, parent *e2eCert, key crypto.Signer, o certOpts) *e2eCert {
	t.Helper()
	e2eSerialMu.Lock()
	e2eSerial++
	serial := big.NewInt(e2eSerial)
	e2eSerialMu.Unlock()
	if o.notBefore.IsZero() {
		o.notBefore, o.notAfter = time.Now().Add(-24*time.Hour), time.Now().AddDate(1, 0, 0)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Country: []string{"CH"}, Organization: []string{"oakley e2e"}, CommonName: o.cn},
		NotBefore:    o.notBefore, NotAfter: o.notAfter, DNSNames: o.dns,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if o.ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign
	}
	p, signer := tmpl, key
	if parent != nil {
		p, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &e2eCert{cert: c, key: key}
}

// e2ePKI is a root and an intermediate per site.
type e2ePKI struct {
	kind              string
	root, left, right *e2eCert // root CA, the sites' intermediate CAs
}

// newE2EPKI makes a PKI of one key kind; tag tells unrelated PKIs of a kind apart.
func newE2EPKI(t *testing.T, kind, tag string) *e2ePKI {
	root := e2eIssue(t, nil, e2eKey(t, kind, tag+"root"), certOpts{cn: "oakley e2e root " + tag + kind, ca: true})
	return &e2ePKI{kind: kind, root: root,
		left:  e2eIssue(t, root, e2eKey(t, kind, tag+"inter-left"), certOpts{cn: "oakley e2e intermediate left " + tag + kind, ca: true}),
		right: e2eIssue(t, root, e2eKey(t, kind, tag+"inter-right"), certOpts{cn: "oakley e2e intermediate right " + tag + kind, ca: true}),
	}
}

// endEntity issues a site's certificate (left: oakley, right: strongSwan) for id.
func (p *e2ePKI) endEntity(t *testing.T, site, id, keyName string, o certOpts) *e2eCert {
	inter := p.left
	if site == "right" {
		inter = p.right
	}
	o.cn, o.dns = id, []string{id}
	return e2eIssue(t, inter, e2eKey(t, p.kind, keyName), o)
}

// crl is a CRL of a site's intermediate revoking certs.
func (p *e2ePKI) crl(t *testing.T, site string, revoked ...*e2eCert) []byte {
	t.Helper()
	inter := p.left
	if site == "right" {
		inter = p.right
	}
	tmpl := &x509.RevocationList{Number: big.NewInt(time.Now().UnixNano()), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().AddDate(0, 0, 7)}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: c.cert.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, inter.cert, inter.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// writeFile writes data to dir/name (mode 0600 for keys) and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	mode := os.FileMode(0o644)
	if strings.Contains(name, "key") {
		mode = 0o600
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// oakleyCerts writes oakley's files: its end entity followed by its intermediate, its key,
// and the root as trust anchor; it sets them on the site.
func (p *e2ePKI) oakleyCerts(t *testing.T, s *ikeSite, ee *e2eCert) string {
	dir := t.TempDir()
	s.Auth = "pubkey"
	s.Cert = writeFile(t, dir, "left.pem", append(ee.certPEM(), p.left.certPEM()...))
	s.Key = writeFile(t, dir, "left-key.pem", ee.keyPEM(t))
	s.CACerts = []string{writeFile(t, dir, "ca.pem", p.root.certPEM())}
	return dir
}

// swanCerts gives strongSwan (the right site) its end entity, its key and the CAs it trusts
// (the root, and its own intermediate, from which it builds the chain it sends).
func (p *e2ePKI) swanCerts(t *testing.T, w *swanConf, ee *e2eCert) {
	p.swanCertsAs(t, w, ee, "right")
}

// swanCertsAs is swanCerts for either site (a charon on the left for strongSwan against
// strongSwan).
func (p *e2ePKI) swanCertsAs(t *testing.T, w *swanConf, ee *e2eCert, site string) {
	inter := p.right
	if site == "left" {
		inter = p.left
	}
	w.Auth, w.LocalCerts = "pubkey", site+".pem"
	w.Files = map[string][]byte{
		"x509/" + site + ".pem":         ee.certPEM(),
		"private/" + site + ".pem":      ee.keyPEM(t),
		"x509ca/root.pem":               p.root.certPEM(),
		"x509ca/inter-" + site + ".pem": inter.certPEM(),
	}
}
