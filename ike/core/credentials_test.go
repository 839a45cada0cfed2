package core

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

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

// TestRetransmitterTransmit: a protocol's Transmit sends the message on the first try and
// on every retransmission, instead of the core's outbox.
func TestRetransmitterTransmit(t *testing.T) {
	c := &Core{Ctr: NewCounters(), Cfg: Config{Retransmit: Retransmit{Timeout: time.Second, Base: 1, Tries: 2}}}
	c.Log = zap.NewNop()
	var sent int
	r := c.NewRetransmitter(func() (netip.Addr, netip.AddrPort, bool) { return netip.Addr{}, netip.AddrPort{}, false }, func(time.Time) {})
	r.Transmit = func(msg []byte, _ netip.Addr, _ netip.AddrPort, _ bool) { sent++ }
	r.Start(epoch, "test", []byte{1})
	c.Timers.Fire(epoch.Add(time.Second))
	c.Timers.Fire(epoch.Add(2 * time.Second))
	if sent != 3 || len(c.TakeOut()) != 0 {
		t.Fatalf("Transmit called %d times (want 3), outbox %d", sent, len(c.out))
	}
}
