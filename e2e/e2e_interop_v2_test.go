//go:build linux

package e2e

// IKEv2 interop with strongSwan (issue 10): IKE_SA_INIT + IKE_AUTH with a PSK and with RSA
// and ECDSA certificates, the four IKE proposals of the issue, ESP with AES-GCM and
// CBC+HMAC with and without PFS, oakley as initiator and as responder, directly and through
// the NAT namespace (TestInteropNAT runs the IKEv2 NAT cases). Traffic crosses both ways; swanctl and `oakley status` must agree on the
// version, SPIs and algorithms, and both count packets. The helpers of the IKEv1 tests
// (startSwanPair, establish, the topologies) are reused with Version = 2.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	ocrypto "oakley/crypto"
)

// v2Case is one IKEv2 negotiation against charon.
type v2Case struct {
	name     string
	ike, esp string
	auth     string // "" = psk, "rsa", "ecdsa"
	nat      bool
}

var v2Cases = []v2Case{
	{name: "psk-aes128gcm16-prfsha256-ecp256-esp-aes128gcm16", ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16"},
	{name: "psk-aes256-sha384-ecp384-esp-aes256-sha256", ike: "aes256-sha384-ecp384", esp: "aes256-sha256"},
	{name: "psk-aes128-sha256-modp2048-esp-aes128gcm16-modp2048", ike: "aes128-sha256-modp2048", esp: "aes128gcm16-modp2048"},
	{name: "psk-chacha20poly1305-prfsha256-x25519-esp-aes128-sha256-ecp256", ike: "chacha20poly1305-prfsha256-x25519", esp: "aes128-sha256-ecp256"},
	{name: "rsa-aes128gcm16-prfsha256-ecp256", ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16", auth: "rsa"},
	{name: "ecdsa-aes256-sha384-ecp384", ike: "aes256-sha384-ecp384", esp: "aes256gcm16", auth: "ecdsa"},
}

// v2Algorithms is a proposal as `oakley status` shows an IKEv2 SA: enc[-integ]-prf-group.
func v2Algorithms(t *testing.T, text string) string {
	t.Helper()
	p, err := ocrypto.ParseProposal(ocrypto.ProtoIKEv2, text, true) // naming only: the opt-in is the site's
	if err != nil {
		t.Fatal(err)
	}
	parts := []string{p.Encr[0].Name}
	if len(p.Integ) > 0 {
		parts = append(parts, p.Integ[0].Name)
	}
	return dashJoin(append(parts, p.PRF[0].Name, p.DH[0].Name)...)
}

// espAlgorithms is an ESP proposal without its DH group (PFS), as the SAs show it.
func espAlgorithms(t *testing.T, text string) string {
	t.Helper()
	p, err := ocrypto.ParseProposal(ocrypto.ProtoESP, text, true)
	if err != nil {
		t.Fatal(err)
	}
	parts := []string{p.Encr[0].Name}
	if len(p.Integ) > 0 {
		parts = append(parts, p.Integ[0].Name)
	}
	return dashJoin(parts...)
}

// startV2Pair starts charon (right) and oakley (left) for an IKEv2 case.
func startV2Pair(t *testing.T, tp *ioTopo, c v2Case, oakleyInitiates bool, adjust func(*ikeSite, *swanConf)) *swanPair {
	t.Helper()
	return startSwanPair(t, tp, swanCase{ike: c.ike, esp: c.esp}, oakleyInitiates, func(s *ikeSite, w *swanConf) {
		s.Version, w.Version = 2, 2
		if c.auth != "" {
			useCerts(t, s, w, c.auth)
		}
		if adjust != nil {
			adjust(s, w)
		}
	})
}

// checkAgreeV2 compares charon's and oakley's view of an IKEv2 SA and its child.
func (sp *swanPair) checkAgreeV2(t *testing.T, c v2Case, oakleyInitiates bool) {
	t.Helper()
	sas := sp.sw.listSAs(t)
	if len(sas) != 1 {
		t.Fatalf("charon lists %d IKE SAs, want 1: %+v", len(sas), sas)
	}
	f := sas[0].Fields
	if f["state"] != "ESTABLISHED" || f["version"] != "2" {
		t.Errorf("charon's IKE SA: state %s version %s, want ESTABLISHED, 2", f["state"], f["version"])
	}
	enc, integ, dh := swanNames(f)
	prf := map[string]string{"PRF_HMAC_MD5": "prfmd5", "PRF_HMAC_SHA1": "prfsha1", "PRF_HMAC_SHA2_256": "prfsha256", "PRF_HMAC_SHA2_384": "prfsha384", "PRF_HMAC_SHA2_512": "prfsha512"}[f["prf-alg"]]
	want := v2Algorithms(t, c.ike)
	if got := dashJoin(enc, integ, prf, dh); got != want {
		t.Errorf("charon negotiated IKE %s, want %s", got, want)
	}
	st := sp.o.mustIKEStatus(t)
	if len(st.Connections) == 0 || len(st.Connections[0].IKESAs) == 0 {
		t.Fatalf("oakley status shows no IKE SA:\n%s", st.raw)
	}
	conn := st.Connections[0]
	ike := conn.IKESAs[0]
	if ike.State != "established" || ike.Algorithms != want || ike.Initiator != oakleyInitiates || ike.Mode != "IKEv2" {
		t.Errorf("oakley's IKE SA: state %q algorithms %q initiator %v mode %q; want established, %s, %v, IKEv2", ike.State, ike.Algorithms, ike.Initiator, ike.Mode, want, oakleyInitiates)
	}
	if spis := f["initiator-spi"] + ":" + f["responder-spi"]; !strings.EqualFold(ike.Cookies, spis) {
		t.Errorf("IKE SA SPIs: oakley %s, charon %s", ike.Cookies, spis)
	}
	if c.auth != "" && !strings.Contains(ike.Auth, "Digital Signature") {
		t.Errorf("oakley authenticated with %q, want an RFC 7427 signature", ike.Auth)
	}
	if len(sas[0].Children) != 1 || len(conn.Children) != 1 {
		t.Fatalf("charon lists %d child SAs, oakley %d, want 1", len(sas[0].Children), len(conn.Children))
	}
	ch := sas[0].Children[0]
	if ch["state"] != "INSTALLED" || ch["protocol"] != "ESP" || ch["encap"] != "yes" || ch["mode"] != "TUNNEL" {
		t.Errorf("charon's child SA: state %s protocol %s encap %s mode %s", ch["state"], ch["protocol"], ch["encap"], ch["mode"])
	}
	cenc, cinteg, _ := swanNames(ch)
	espAlgs := espAlgorithms(t, c.esp)
	if got := dashJoin(cenc, cinteg); got != espAlgs {
		t.Errorf("charon's child uses %s, want %s", got, espAlgs)
	}
	och := conn.Children[0]
	if len(och.SAs) != 2 {
		t.Fatalf("oakley's child has %d SAs, want 2:\n%s", len(och.SAs), st.raw)
	}
	for _, sa := range och.SAs {
		if sa.Algorithms != espAlgs || sa.Protocol != "ESP" {
			t.Errorf("oakley's %s SA %s: %s %s, want ESP %s", sa.Dir, sa.SPI, sa.Protocol, sa.Algorithms, espAlgs)
		}
		if sa.Packets == 0 || len(sa.Errors) > 0 {
			t.Errorf("oakley's %s SA %s: %d packets, errors %v", sa.Dir, sa.SPI, sa.Packets, sa.Errors)
		}
		want := ch["spi-out"]
		if sa.Dir == "out" {
			want = ch["spi-in"]
		}
		if sa.spi() != strings.ToLower(want) {
			t.Errorf("oakley's %s SA has SPI %s, charon's matching SA %s", sa.Dir, sa.spi(), want)
		}
	}
}

// TestInteropV2 runs every v2Case with oakley initiating and responding.
func TestInteropV2(t *testing.T) {
	needInterop(t)
	t.Parallel()
	names, runs := bothRoles(v2Cases, func(c v2Case) string { return c.name })
	parallelRuns(t, 4, names, func(t *testing.T, i int) {
		c, ini := runs[i].c, runs[i].initiator
		tp := newTopo(t, c.nat)
		sp := startV2Pair(t, tp, c, ini, nil)
		toPing, cmd := sp.establish(t, ini)
		how := map[bool]string{true: "oakley initiate", false: "swanctl --initiate"}[ini]
		recordResult(t, "IKEv2 IKE_SA_INIT + IKE_AUTH against strongSwan (%s, IKE %s, ESP %s, auth %s%s): %s from `%s` to the first ping reply (the command returned after %s)",
			map[bool]string{true: "oakley initiator", false: "oakley responder"}[ini], c.ike, c.esp, or(c.auth, "psk"), map[bool]string{true: ", NAT", false: ""}[c.nat],
			toPing.Round(time.Millisecond), how, cmd.Round(time.Millisecond))
		pingBoth(t, tp, 3)
		sp.checkAgreeV2(t, c, ini)
		text, _ := sp.o.statusText()
		secrets := []string{sp.site.PSK}
		assertNoSecrets(t, "oakley status", text, secrets)
		assertNoSecrets(t, "oakley's log", sp.o.p.out.String(), secrets)
	})
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Certificates.

// testPKI is a throw-away CA with a certificate for each site (ID_FQDN as dNSName).
type testPKI struct {
	caPEM               []byte
	leftCert, leftKey   []byte
	rightCert, rightKey []byte
}

func newTestPKI(t *testing.T, kind string) *testPKI {
	t.Helper()
	newKey := func() crypto.Signer {
		if kind == "rsa" {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := newKey()
	var id [4]byte
	rand.Read(id[:])
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "oakley e2e CA " + hex.EncodeToString(id[:]), Organization: []string{"oakley"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, name string) ([]byte, []byte) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name, Organization: []string{"oakley"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{name},
			KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, k.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		p8, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	}
	p := &testPKI{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	p.leftCert, p.leftKey = leaf(2, leftID)
	p.rightCert, p.rightKey = leaf(3, rightID)
	return p
}

// useCerts switches both sides to certificate authentication with a fresh PKI of kind
// ("rsa" or "ecdsa"); oakley is the left site.
func useCerts(t *testing.T, s *ikeSite, w *swanConf, kind string) {
	p := newTestPKI(t, kind)
	s.Auth, s.Cert, s.Key, s.CACerts = "pubkey", "left.pem", "left.key", []string{"ca.pem"}
	s.Files = map[string][]byte{"left.pem": p.leftCert, "left.key": p.leftKey, "ca.pem": p.caPEM}
	w.Auth, w.LocalCerts = "pubkey", "right.pem"
	w.Files = map[string][]byte{"x509ca/ca.pem": p.caPEM, "x509/right.pem": p.rightCert, "private/right.key": p.rightKey}
}
