package main

import (
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

	"oakley/config"
	"oakley/ike"
	"oakley/ike/pki"
)

// TestIKECredentialsSendCert: auth = "pubkey" loads cert, key, cacerts and send_cert into the
// engine's connection; a key that does not match its certificate is an error.
func TestIKECredentialsSendCert(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "a.test"},
		DNSNames: []string{"a.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, ca, key.Public(), caKey)
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c := &config.Connection{Name: "c", Auth: "pubkey", SendCert: "always", Fragmentation: "no",
		Cert: write("a.pem", "CERTIFICATE", der), Key: write("a.key", "PRIVATE KEY", p8), CACerts: []string{write("ca.pem", "CERTIFICATE", caDER)}}
	ic := &ike.Connection{}
	if err := ikeCredentials(ic, c); err != nil {
		t.Fatal(err)
	}
	if ic.Creds == nil || ic.Trust == nil || ic.SendCert != pki.SendCertAlways || ic.Fragmentation != "no" || len(ic.Trust.Anchors()) != 1 {
		t.Fatalf("credentials %+v", ic.Credentials)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p8, _ = x509.MarshalPKCS8PrivateKey(other)
	c.Key = write("other.key", "PRIVATE KEY", p8)
	if err := ikeCredentials(&ike.Connection{}, c); err == nil {
		t.Fatal("a key that does not match the certificate was accepted")
	}
	// PSK connections load nothing.
	ic = &ike.Connection{}
	if err := ikeCredentials(ic, &config.Connection{Name: "p", Auth: "psk", SendCert: "ifasked"}); err != nil || ic.Creds != nil || ic.Trust != nil {
		t.Fatalf("psk: %v %+v", err, ic.Credentials)
	}
}
