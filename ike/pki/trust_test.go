package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

func mustTrust(t *testing.T, anchors []*x509.Certificate, pinned *x509.Certificate, crls ...*x509.RevocationList) *Trust {
	t.Helper()
	tr, err := NewTrust(anchors, pinned, crls)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestVerifyGoodChain(t *testing.T) {
	p := standardPKI(t)
	tr := mustTrust(t, []*x509.Certificate{p.root.cert}, nil)
	v, err := tr.Verify([]*x509.Certificate{p.leaf.cert, p.inter.cert}, testNow)
	wantErr(t, err, nil)
	if v.Subject != "C=CH, O=oakley test, CN=gw.example.org" {
		t.Errorf("subject %q", v.Subject)
	}
	if !strings.Contains(v.Issuer, "CN=Intermediate CA") {
		t.Errorf("issuer %q", v.Issuer)
	}
	if v.Fingerprint != sha256.Sum256(p.leaf.cert.Raw) || len(v.FingerprintHex()) != 32*3-1 {
		t.Errorf("fingerprint %s", v.FingerprintHex())
	}
	if !sameKey(v.PublicKey, p.leaf.key.Public()) || v.Anchor != p.root.cert || len(v.Path) != 3 || v.Pinned {
		t.Errorf("verified %+v", v)
	}
	// Negative control: the same chain one day after the leaf expired.
	_, err = tr.Verify([]*x509.Certificate{p.leaf.cert, p.inter.cert}, validTo.Add(24*time.Hour))
	wantErr(t, err, ErrExpired, "gw.example.org", "expired on 2031-01-01")
}

func TestVerifyKeyTypes(t *testing.T) {
	kinds := []string{"rsa2048", "rsa3072", "rsa4096", "p256", "p384", "p521", "ed25519"}
	for i, leafKind := range kinds {
		rootKind := kinds[(i+1)%len(kinds)]
		interKind := kinds[(i+3)%len(kinds)]
		t.Run(rootKind+"/"+interKind+"/"+leafKind, func(t *testing.T) {
			p := newPKI(t, rootKind, interKind, leafKind)
			tr := mustTrust(t, []*x509.Certificate{p.root.cert}, nil)
			_, err := tr.Verify([]*x509.Certificate{p.leaf.cert, p.inter.cert}, testNow)
			wantErr(t, err, nil)
			other := newPKI(t, rootKind+"#other", interKind, leafKind)
			_, err = mustTrust(t, []*x509.Certificate{other.root.cert}, nil).Verify([]*x509.Certificate{p.leaf.cert, p.inter.cert}, testNow)
			wantErr(t, err, ErrUntrusted)
		})
	}
}

func TestVerifyPathErrors(t *testing.T) {
	p := standardPKI(t)
	root := p.root
	anchors := []*x509.Certificate{root.cert}
	leafSpec := func(cn string) certSpec {
		return certSpec{cn: cn, key: "p256", pathLen: -1, ku: x509.KeyUsageDigitalSignature}
	}
	expiredInter := mkCert(t, certSpec{cn: "Old CA", key: "p384", ca: true, pathLen: -1, from: validFrom.AddDate(-2, 0, 0), to: validFrom.AddDate(0, 1, 0)}, root)
	futureInter := mkCert(t, certSpec{cn: "Future CA", key: "p384", ca: true, pathLen: -1, from: testNow.AddDate(0, 1, 0)}, root)
	notCA := mkCert(t, certSpec{cn: "Not a CA", key: "p384", pathLen: -1}, root)
	noBC := mkCert(t, certSpec{cn: "No BC", key: "p384", noBC: true, pathLen: -1}, root)
	noCertSign := mkCert(t, certSpec{cn: "No certSign", key: "p384", ca: true, pathLen: -1, ku: x509.KeyUsageCRLSign}, root)
	critInter := mkCert(t, certSpec{cn: "Critical CA", key: "p384", ca: true, pathLen: -1, critical: true}, root)
	zeroRoot := mkCert(t, certSpec{cn: "Root pathlen 0", key: "rsa2048", ca: true, pathLen: 0}, nil)
	oneRoot := mkCert(t, certSpec{cn: "Root pathlen 1", key: "rsa2048#b", ca: true, pathLen: 1}, nil)
	underZero := mkCert(t, certSpec{cn: "Under zero", key: "p384", ca: true, pathLen: -1}, zeroRoot)
	underOne := mkCert(t, certSpec{cn: "Under one", key: "p384", ca: true, pathLen: -1}, oneRoot)
	selfCA := mkCert(t, certSpec{cn: "Self CA", key: "p256#self", ca: true, pathLen: -1, ku: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}, nil)
	expiredRoot := mkCert(t, certSpec{cn: "Expired root", key: "rsa2048#c", ca: true, pathLen: -1, to: validFrom.AddDate(0, 2, 0)}, nil)

	cases := []struct {
		name    string
		anchors []*x509.Certificate
		chain   []*x509.Certificate
		kind    error
		parts   []string
	}{
		{"good", anchors, []*x509.Certificate{p.leaf.cert, p.inter.cert}, nil, nil},
		{"intermediates in any order", anchors, []*x509.Certificate{p.leaf.cert, notCA.cert, p.inter.cert}, nil, nil},
		{"missing intermediate", anchors, []*x509.Certificate{p.leaf.cert}, ErrUntrusted, []string{"gw.example.org", "Intermediate CA", "neither a trust anchor"}},
		{"leaf not yet valid", anchors, []*x509.Certificate{mkCert(t, certSpec{cn: "future", key: "p256", pathLen: -1, from: testNow.Add(time.Hour)}, p.inter).cert, p.inter.cert}, ErrNotYetValid, []string{"not valid before 2030-06-01 13:00:00 UTC"}},
		{"expired intermediate", anchors, []*x509.Certificate{mkCert(t, leafSpec("under old"), expiredInter).cert, expiredInter.cert}, ErrExpired, []string{"Old CA", "expired on 2030-02-01"}},
		{"not yet valid intermediate", anchors, []*x509.Certificate{mkCert(t, leafSpec("under future"), futureInter).cert, futureInter.cert}, ErrNotYetValid, []string{"Future CA"}},
		{"expired root", []*x509.Certificate{expiredRoot.cert}, []*x509.Certificate{mkCert(t, leafSpec("under expired root"), expiredRoot).cert}, ErrExpired, []string{"Expired root"}},
		{"non-CA intermediate", anchors, []*x509.Certificate{mkCert(t, leafSpec("under non-CA"), notCA).cert, notCA.cert}, ErrNotCA, []string{"Not a CA", "under non-CA"}},
		{"intermediate without basicConstraints", anchors, []*x509.Certificate{mkCert(t, leafSpec("under noBC"), noBC).cert, noBC.cert}, ErrNotCA, []string{"No BC"}},
		{"issuer without keyCertSign", anchors, []*x509.Certificate{mkCert(t, leafSpec("under noCertSign"), noCertSign).cert, noCertSign.cert}, ErrKeyUsage, []string{"keyCertSign"}},
		{"critical extension on intermediate", anchors, []*x509.Certificate{mkCert(t, leafSpec("under crit"), critInter).cert, critInter.cert}, ErrCriticalExtension, []string{"Critical CA"}},
		{"critical extension on leaf", anchors, []*x509.Certificate{mkCert(t, certSpec{cn: "crit leaf", key: "p256", pathLen: -1, critical: true}, p.inter).cert, p.inter.cert}, ErrCriticalExtension, []string{"crit leaf"}},
		{"pathlen 0 exceeded", []*x509.Certificate{zeroRoot.cert}, []*x509.Certificate{mkCert(t, leafSpec("deep"), underZero).cert, underZero.cert}, ErrPathLen, []string{"Root pathlen 0"}},
		{"pathlen 1 holds", []*x509.Certificate{oneRoot.cert}, []*x509.Certificate{mkCert(t, leafSpec("ok depth"), underOne).cert, underOne.cert}, nil, nil},
		{"leaf without digitalSignature", anchors, []*x509.Certificate{mkCert(t, certSpec{cn: "enc only", key: "p256", pathLen: -1, ku: x509.KeyUsageKeyEncipherment}, p.inter).cert, p.inter.cert}, ErrKeyUsage, []string{"digitalSignature"}},
		{"leaf with nonRepudiation only", anchors, []*x509.Certificate{mkCert(t, certSpec{cn: "nr", key: "p256", pathLen: -1, ku: x509.KeyUsageContentCommitment}, p.inter).cert, p.inter.cert}, nil, nil},
		{"leaf without keyUsage", anchors, []*x509.Certificate{mkCert(t, certSpec{cn: "no ku", key: "p256", pathLen: -1}, p.inter).cert, p.inter.cert}, nil, nil},
		{"leaf with serverAuth only (EKU not required)", anchors, []*x509.Certificate{mkCert(t, certSpec{cn: "eku", key: "p256", pathLen: -1, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}, p.inter).cert, p.inter.cert}, nil, nil},
		{"unsupported leaf key", anchors, []*x509.Certificate{mkCert(t, certSpec{cn: "p224", key: "p224", pathLen: -1}, p.inter).cert, p.inter.cert}, ErrUnsupportedKey, []string{"P-224"}},
		{"leaf is an anchor", []*x509.Certificate{selfCA.cert}, []*x509.Certificate{selfCA.cert}, nil, nil},
		{"CA without digitalSignature as leaf", []*x509.Certificate{p.inter.cert}, []*x509.Certificate{p.inter.cert}, ErrKeyUsage, []string{"Intermediate CA"}},
		{"anchor is the intermediate", []*x509.Certificate{p.inter.cert}, []*x509.Certificate{p.leaf.cert}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := mustTrust(t, c.anchors, nil)
			_, err := tr.Verify(c.chain, testNow)
			wantErr(t, err, c.kind, c.parts...)
		})
	}
}

func TestVerifyBadSignature(t *testing.T) {
	p := standardPKI(t)
	tr := mustTrust(t, []*x509.Certificate{p.root.cert}, nil)
	raw := append([]byte(nil), p.leaf.cert.Raw...)
	raw[len(raw)-5] ^= 0x40 // inside the signature value
	tampered, err := x509.ParseCertificate(raw)
	if err != nil {
		t.Skipf("tampered certificate does not parse: %v", err)
	}
	_, err = tr.Verify([]*x509.Certificate{tampered, p.inter.cert}, testNow)
	wantErr(t, err, ErrBadSignature, "gw.example.org", "Intermediate CA")
	// An impostor CA with the intermediate's name but another key.
	impostor := mkCert(t, certSpec{cn: p.inter.cert.Subject.CommonName, key: "p384#impostor", ca: true, pathLen: -1}, p.root)
	forged := mkCert(t, certSpec{cn: "gw.example.org", key: "p256", pathLen: -1}, impostor)
	_, err = tr.Verify([]*x509.Certificate{forged.cert, p.inter.cert}, testNow)
	wantErr(t, err, ErrBadSignature)
	// Control: with the impostor sent too, the forged leaf chains through it (it is a real
	// CA under the root), so the path search must find it.
	_, err = tr.Verify([]*x509.Certificate{forged.cert, p.inter.cert, impostor.cert}, testNow)
	wantErr(t, err, nil)
}

func TestVerifyRevocation(t *testing.T) {
	p := standardPKI(t)
	anchors := []*x509.Certificate{p.root.cert}
	chain := []*x509.Certificate{p.leaf.cert, p.inter.cert}
	later := validTo
	cases := []struct {
		name string
		crls []*x509.RevocationList
		kind error
	}{
		{"no CRL", nil, nil},
		{"CRL without the leaf", []*x509.RevocationList{mkCRL(t, p.inter, later)}, nil},
		{"leaf revoked by intermediate", []*x509.RevocationList{mkCRL(t, p.inter, later, p.leaf.cert)}, ErrRevoked},
		{"intermediate revoked by root", []*x509.RevocationList{mkCRL(t, p.root, later, p.inter.cert)}, ErrRevoked},
		{"stale CRL", []*x509.RevocationList{mkCRL(t, p.inter, testNow.Add(-time.Hour))}, ErrCRLStale},
		{"stale and fresh CRL", []*x509.RevocationList{mkCRL(t, p.inter, testNow.Add(-time.Hour)), mkCRL(t, p.inter, later)}, nil},
		{"revoked in a stale CRL", []*x509.RevocationList{mkCRL(t, p.inter, testNow.Add(-time.Hour), p.leaf.cert)}, ErrRevoked},
	}
	// A CRL with the intermediate's name, signed by another key, must be ignored.
	impostor := mkCert(t, certSpec{cn: p.inter.cert.Subject.CommonName, key: "p384#impostor", ca: true, pathLen: -1}, nil)
	cases = append(cases, struct {
		name string
		crls []*x509.RevocationList
		kind error
	}{"forged CRL ignored", []*x509.RevocationList{mkCRL(t, impostor, later, p.leaf.cert)}, nil})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := mustTrust(t, anchors, nil, c.crls...)
			_, err := tr.Verify(chain, testNow)
			wantErr(t, err, c.kind)
			if c.kind == ErrRevoked && !strings.Contains(err.Error(), "keyCompromise") {
				t.Errorf("reason missing: %v", err)
			}
		})
	}
}

func TestVerifyPinning(t *testing.T) {
	p := standardPKI(t)
	other := mkCert(t, certSpec{cn: "other.example.org", key: "p256#other", pathLen: -1}, p.inter)
	chain := []*x509.Certificate{p.leaf.cert, p.inter.cert}
	wrongRoot := mkCert(t, certSpec{cn: "Wrong root", key: "rsa2048", ca: true, pathLen: -1}, nil)

	// remote_cert alone: byte-equal or nothing.
	tr := mustTrust(t, nil, p.leaf.cert)
	v, err := tr.Verify(chain, testNow)
	wantErr(t, err, nil)
	if !v.Pinned || v.Anchor != nil {
		t.Errorf("pinned verify: %+v", v)
	}
	_, err = tr.Verify([]*x509.Certificate{other.cert, p.inter.cert}, testNow)
	wantErr(t, err, ErrUntrusted, "other.example.org", "pinned remote_cert")
	_, err = tr.Verify(nil, testNow) // nothing sent: the pinned certificate is used
	wantErr(t, err, nil)
	_, err = tr.Verify(chain, validTo.Add(time.Hour))
	wantErr(t, err, ErrExpired)
	// Revocation applies when the peer sent the CRL's issuer.
	rev := mustTrust(t, nil, p.leaf.cert, mkCRL(t, p.inter, validTo, p.leaf.cert))
	_, err = rev.Verify(chain, testNow)
	wantErr(t, err, ErrRevoked)

	// remote_cert and cacerts: both must hold.
	both := mustTrust(t, []*x509.Certificate{p.root.cert}, p.leaf.cert)
	_, err = both.Verify(chain, testNow)
	wantErr(t, err, nil)
	_, err = both.Verify([]*x509.Certificate{other.cert, p.inter.cert}, testNow)
	wantErr(t, err, ErrUntrusted, "pinned")
	wrongCA := mustTrust(t, []*x509.Certificate{wrongRoot.cert}, p.leaf.cert)
	_, err = wrongCA.Verify(chain, testNow)
	wantErr(t, err, ErrUntrusted)

	// Neither: nothing is trusted; no certificate and no pin is refused.
	_, err = NewTrust(nil, nil, nil)
	wantErr(t, err, ErrUntrusted)
	_, err = mustTrust(t, []*x509.Certificate{p.root.cert}, nil).Verify(nil, testNow)
	wantErr(t, err, ErrUntrusted, "no certificate")
}

func TestNewTrustRejectsNonCA(t *testing.T) {
	p := standardPKI(t)
	_, err := NewTrust([]*x509.Certificate{p.leaf.cert}, nil, nil)
	wantErr(t, err, ErrNotCA, "gw.example.org")
	_, err = NewTrust([]*x509.Certificate{p.inter.cert}, nil, nil)
	wantErr(t, err, nil)
}

func TestVerifyNameConstraints(t *testing.T) {
	p := standardPKI(t)
	nc := mkCert(t, certSpec{cn: "Constrained CA", key: "p384", ca: true, pathLen: -1, permitDNS: []string{"example.org"}}, p.root)
	in := mkCert(t, certSpec{cn: "in", key: "p256", pathLen: -1, dns: []string{"gw.example.org"}}, nc)
	out := mkCert(t, certSpec{cn: "out", key: "p256", pathLen: -1, dns: []string{"gw.example.com"}}, nc)
	tr := mustTrust(t, []*x509.Certificate{p.root.cert}, nil)
	_, err := tr.Verify([]*x509.Certificate{in.cert, nc.cert}, testNow)
	wantErr(t, err, nil)
	_, err = tr.Verify([]*x509.Certificate{out.cert, nc.cert}, testNow)
	wantErr(t, err, ErrUntrusted, "name constraints")
}

func TestVerifyBounds(t *testing.T) {
	p := standardPKI(t)
	tr := mustTrust(t, []*x509.Certificate{p.root.cert}, nil)
	many := []*x509.Certificate{p.leaf.cert}
	for range maxPeerCerts {
		many = append(many, p.inter.cert)
	}
	_, err := tr.Verify(many, testNow)
	wantErr(t, err, ErrUntrusted, "more than")
	_, err = tr.Verify(many[:maxPeerCerts], testNow) // duplicates within the bound are fine
	wantErr(t, err, nil)
}

func TestNotYetValidMatchesExpired(t *testing.T) {
	err := error(certErr(ErrNotYetValid, "CN=x", "not valid before"))
	if !errors.Is(err, ErrExpired) || !errors.Is(err, ErrNotYetValid) || errors.Is(err, ErrRevoked) {
		t.Fatalf("errors.Is mismatch for %v", err)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	p := standardPKI(t)
	tr := mustTrust(t, []*x509.Certificate{p.root.cert}, nil, mkCRL(t, p.inter, validTo))
	done := make(chan error, 8)
	for range 8 {
		go func() {
			var err error
			for range 20 {
				if _, err = tr.Verify([]*x509.Certificate{p.leaf.cert, p.inter.cert}, testNow); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
