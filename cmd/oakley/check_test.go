package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oakley/config"
	"oakley/ike"
)

// writeCert issues a certificate (ca nil: self-signed CA) and writes it and its key as PEM.
func writeCert(t *testing.T, dir, name string, ca *x509.Certificate, caKey crypto.Signer, isCA bool, notAfter time.Time) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter, DNSNames: []string{name},
		KeyUsage: x509.KeyUsageDigitalSignature, IsCA: isCA, BasicConstraintsValid: true}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	parent, signer := tmpl, crypto.Signer(key)
	if ca != nil {
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

const certConfig = `[daemon]
control_socket = "%s/oakley.sock"

[device]
kind = "netstack"
addresses = ["192.0.2.1/32"]

[[connection]]
name = "site-b"
version = 1
local_addr = "198.18.0.1"
remote_addr = "198.18.0.2"
local_id = "site-a.test"
remote_id = "site-b.test"
auth = "pubkey"
cert = "%s"
key = "site-a.key"
cacerts = ["ca.pem"]

  [[connection.child]]
  name = "net"
  local_ts = ["192.0.2.0/24"]
  remote_ts = ["198.51.100.0/24"]
`

func TestCheckCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", nil, nil, true, time.Now().AddDate(1, 0, 0))
	writeCert(t, dir, "site-a", ca, caKey, false, time.Now().AddDate(1, 0, 0))
	writeCert(t, dir, "expired", ca, caKey, false, time.Now().Add(-24*time.Hour))
	// the expired certificate with site-a's key: the key mismatch is reported too
	for _, tc := range []struct {
		cert string
		code int
		want []string
	}{
		{"site-a.pem", 0, []string{"OK (1 connection(s)"}},
		{"expired.pem", 1, []string{"oakley.toml:16: connection \"site-b\": pki: cert ", "expired.pem", "expired on", "oakley.toml:17: connection \"site-b\": pki: key ", "not the key of this certificate"}},
	} {
		cfgPath := filepath.Join(dir, "oakley.toml")
		if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(certConfig, dir, tc.cert)), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		code := run([]string{"check", "-c", cfgPath}, &out, &errOut)
		all := out.String() + errOut.String()
		if code != tc.code {
			t.Fatalf("%s: exit %d, want %d:\n%s", tc.cert, code, tc.code, all)
		}
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Fatalf("%s: output lacks %q:\n%s", tc.cert, w, all)
			}
		}
		if strings.Contains(all, "PRIVATE KEY") {
			t.Fatal("check printed key material")
		}
	}
}

// TestIKECredentials: the daemon loads the certificate files into the engine's connection.
func TestIKECredentials(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", nil, nil, true, time.Now().AddDate(1, 0, 0))
	writeCert(t, dir, "site-a", ca, caKey, false, time.Now().AddDate(1, 0, 0))
	cfgPath := filepath.Join(dir, "oakley.toml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(certConfig, dir, "site-a.pem")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ic := &ike.Connection{}
	if err := ikeCredentials(ic, cfg.Connections[0]); err != nil {
		t.Fatal(err)
	}
	if ic.Creds == nil || ic.Trust == nil || ic.Fragmentation != "yes" || ic.SendCert.String() != "ifasked" {
		t.Fatalf("credentials not wired: %+v", ic.Credentials)
	}
	if !strings.Contains(ic.Creds.String(), "site-a") || len(ic.Trust.Anchors()) != 1 {
		t.Fatalf("wrong credentials: %s", ic.Creds)
	}
	// A missing key file is an error naming the file.
	c := *cfg.Connections[0]
	c.Key = filepath.Join(dir, "missing.key")
	if err := ikeCredentials(&ike.Connection{}, &c); err == nil || !strings.Contains(err.Error(), "missing.key") {
		t.Fatalf("missing key: %v", err)
	}
}

const eapTLSClientConfig = `[daemon]
control_socket = "%s/oakley.sock"

[device]
kind = "tun"

[[connection]]
name = "gateway"
version = 2
local_addr = "198.18.0.3"
remote_addr = "198.18.0.2"
local_id = "laptop.test"
remote_id = "gw.test"
auth = "pubkey"
cert = "%s"
key = "laptop.key"
cacerts = ["%s"]
eap = "tls"
eap_id = "laptop.test"
vips = ["0.0.0.0"]

  [[connection.child]]
  name = "net"
  remote_ts = ["198.51.100.0/24"]
`

// TestCheckEAPTLS: `oakley check` accepts an EAP-TLS client (it was refused as not
// implemented) and names the file that is wrong, at the line that names it; the daemon
// wires the EAP identity and the certificate into the engine.
func TestCheckEAPTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", nil, nil, true, time.Now().AddDate(1, 0, 0))
	writeCert(t, dir, "laptop", ca, caKey, false, time.Now().AddDate(1, 0, 0))
	writeCert(t, dir, "expired", ca, caKey, false, time.Now().Add(-24*time.Hour))
	for _, tc := range []struct {
		cert, ca string
		code     int
		want     []string
	}{
		{"laptop.pem", "ca.pem", 0, []string{"OK (1 connection(s)"}},
		{"expired.pem", "ca.pem", 1, []string{`oakley.toml:15: connection "gateway": pki: cert `, "expired.pem", "expired on"}},
		{"laptop.pem", "missing-ca.pem", 1, []string{`oakley.toml:17:`, "missing-ca.pem"}},
	} {
		cfgPath := filepath.Join(dir, "oakley.toml")
		if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(eapTLSClientConfig, dir, tc.cert, tc.ca)), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		code := run([]string{"check", "-c", cfgPath}, &out, &errOut)
		all := out.String() + errOut.String()
		if code != tc.code || strings.Contains(all, "not implemented") {
			t.Fatalf("%s/%s: exit %d, want %d:\n%s", tc.cert, tc.ca, code, tc.code, all)
		}
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Fatalf("%s/%s: output lacks %q:\n%s", tc.cert, tc.ca, w, all)
			}
		}
		if tc.code != 0 {
			continue
		}
		cfg, err := config.Load(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		ic := &ike.Connection{}
		if err := ikeCredentials(ic, cfg.Connections[0]); err != nil {
			t.Fatal(err)
		}
		remoteAccess(ic, cfg.Connections[0])
		if ic.EAP != "tls" || ic.EAPID != "laptop.test" || ic.Creds == nil || ic.Trust == nil || len(ic.EAPPassword) != 0 {
			t.Fatalf("EAP-TLS client not wired: eap %q, eap_id %q, creds %v", ic.EAP, ic.EAPID, ic.Creds)
		}
	}
}
