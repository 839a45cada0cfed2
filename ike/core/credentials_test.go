package core

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"

	"oakley/ike/pki"
)

// TestValidateCredentials: certificate auth needs our credentials and a trust; the
// fragmentation setting is one of strongSwan's four.
func TestValidateCredentials(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "a.test"}, NotBefore: epoch, NotAfter: epoch.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	creds, err := pki.NewCredentials([]*x509.Certificate{cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := pki.NewTrust([]*x509.Certificate{cert}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := func() *Connection {
		return &Connection{Name: "c", Version: 1, Auth: "pubkey", LocalID: FQDNIdentity("a.test"), RemoteID: AnyIdentity,
			Credentials: Credentials{Creds: creds, Trust: trust}}
	}
	if err := validate(base()); err != nil {
		t.Fatalf("valid connection refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *Connection)
		want string
	}{
		{"no credentials", func(c *Connection) { c.Creds = nil }, "needs our certificate and key"},
		{"no trust", func(c *Connection) { c.Trust = nil }, "needs cacerts or remote_cert"},
		{"pke no trust", func(c *Connection) { c.Auth, c.Trust = "pke-revised", nil }, "needs cacerts or remote_cert"},
		{"fragmentation", func(c *Connection) { c.Fragmentation = "maybe" }, `fragmentation "maybe"`},
		{"unknown auth", func(c *Connection) { c.Auth = "eap" }, "not implemented"},
	} {
		c := base()
		tc.edit(c)
		if err := validate(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if got := (&Connection{}).FragmentationOf(); got != "yes" {
		t.Errorf("default fragmentation %q", got)
	}
}
