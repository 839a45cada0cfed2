package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// makeExampleCerts writes, into a copy of examples/, the files examples/certs/make-certs.sh
// makes (certs/ca.pem, certs/site-a.pem, certs/site-b.pem and certs/laptop.pem with the
// intermediate after the site's certificate, and their private/*.key), so the certificate
// examples load. No key is checked in; these live in the test's temporary directory.
func makeExampleCerts(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{"certs", "private"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	type issued struct {
		cert *x509.Certificate
		key  crypto.Signer
	}
	issue := func(parent *issued, cn string, ca bool, san string) *issued {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{Country: []string{"CH"}, Organization: []string{"Example"}, CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), IsCA: ca, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature}
		if ca {
			tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		}
		if san != "" {
			tmpl.DNSNames = []string{san}
		}
		p, signer := tmpl, crypto.Signer(key)
		if parent != nil {
			p, signer = parent.cert, parent.key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, p, key.Public(), signer)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return &issued{c, key}
	}
	certPEM := func(c *issued) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}) }
	write := func(rel string, data []byte, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, rel), data, mode); err != nil {
			t.Fatal(err)
		}
	}
	root := issue(nil, "Example Root CA", true, "")
	inter := issue(root, "Example Intermediate CA", true, "")
	write("certs/ca.pem", certPEM(root), 0o644)
	for _, site := range []string{"site-a", "site-b", "laptop"} {
		ee := issue(inter, site+".example", false, site+".example")
		write("certs/"+site+".pem", append(certPEM(ee), certPEM(inter)...), 0o644)
		der, err := x509.MarshalPKCS8PrivateKey(ee.key)
		if err != nil {
			t.Fatal(err)
		}
		write("private/"+site+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	}
}

// TestCertExamples: the certificate site pair loads and mirrors itself.
func TestCertExamples(t *testing.T) {
	ex := loadExamples(t)
	a, b := ex["site-a-cert.toml"], ex["site-b-cert.toml"]
	if a == nil || b == nil {
		t.Fatal("site-a-cert.toml or site-b-cert.toml missing or invalid")
	}
	ca, cb := a.Connections[0], b.Connections[0]
	if ca.Auth != "pubkey" || cb.Auth != "pubkey" || ca.Cert == "" || ca.Key == "" || len(ca.CACerts) != 1 {
		t.Fatalf("certificate example not using certificates: %+v", ca)
	}
	if ca.LocalIP != cb.RemoteIP || ca.RemoteIP != cb.LocalIP || ca.LocalID.Raw != cb.RemoteID.Raw || ca.RemoteID.Raw != cb.LocalID.Raw {
		t.Fatal("site-a-cert and site-b-cert do not mirror each other")
	}
	// The EAP-MSCHAPv2 pair: the client expects the gateway's identity and logs in as its user.
	g, c := ex["eap-gateway.toml"], ex["eap-client.toml"]
	if g == nil || c == nil {
		t.Fatal("eap-gateway.toml or eap-client.toml missing or invalid")
	}
	gc, cc := g.Connections[0], c.Connections[0]
	if !gc.EAPServer() || !cc.EAPClient() || gc.LocalID.Raw != cc.RemoteID.Raw || gc.LocalIP != cc.RemoteIP ||
		len(g.Users) != 1 || g.Users[0].Name != cc.EAPID || string(g.Users[0].Password) != string(cc.Password) {
		t.Fatal("eap-gateway and eap-client do not match")
	}
	// The EAP-TLS pair: the client's certificate and CA, the gateway's CA for clients.
	g, c = ex["eap-tls-gateway.toml"], ex["eap-tls-client.toml"]
	if g == nil || c == nil {
		t.Fatal("eap-tls-gateway.toml or eap-tls-client.toml missing or invalid")
	}
	gc, cc = g.Connections[0], c.Connections[0]
	if !gc.EAPServer() || !cc.EAPClient() || gc.EAP != "tls" || cc.EAP != "tls" || gc.LocalID.Raw != cc.RemoteID.Raw ||
		gc.LocalIP != cc.RemoteIP || len(gc.CACerts) != 1 || cc.Cert == "" || cc.Key == "" || len(cc.CACerts) != 1 || cc.EAPID != "laptop.example" {
		t.Fatal("eap-tls-gateway and eap-tls-client do not match")
	}
}
