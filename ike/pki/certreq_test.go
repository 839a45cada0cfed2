package pki

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

func TestCertReqEncoding(t *testing.T) {
	p := standardPKI(t)
	cas := []*x509.Certificate{p.root.cert, p.leaf.cert, p.inter.cert} // the leaf is skipped
	v1 := CertReqV1(cas)
	if len(v1) != 2 || !bytes.Equal(v1[0], p.root.cert.RawSubject) || !bytes.Equal(v1[1], p.inter.cert.RawSubject) {
		t.Fatalf("IKEv1 CERTREQs %x", v1)
	}
	v2 := CertReqV2(cas)
	h1, h2 := sha1.Sum(p.root.cert.RawSubjectPublicKeyInfo), sha1.Sum(p.inter.cert.RawSubjectPublicKeyInfo)
	if !bytes.Equal(v2, append(h1[:], h2[:]...)) {
		t.Fatalf("IKEv2 CERTREQ %x", v2)
	}
	ids, err := ParseCertReqV2(v2)
	wantErr(t, err, nil)
	if len(ids) != 2 || ids[0] != h1 || ids[1] != h2 {
		t.Fatal("IKEv2 CERTREQ did not round-trip")
	}
	for i := 1; i < len(v2); i++ { // every length that is not a multiple of 20
		if i%KeyIDLen == 0 {
			continue
		}
		_, err := ParseCertReqV2(v2[:i])
		wantErr(t, err, ErrMalformed)
	}
	dn, err := ParseCertReqV1(v1[0])
	wantErr(t, err, nil)
	if !bytes.Equal(dn, v1[0]) {
		t.Fatal("IKEv1 CERTREQ did not round-trip")
	}
	for i := 1; i < len(v1[0]); i++ { // every proper prefix of the DN
		_, err := ParseCertReqV1(v1[0][:i])
		wantErr(t, err, ErrMalformed)
	}
	_, err = ParseCertReqV1(append(append([]byte(nil), v1[0]...), 0))
	wantErr(t, err, ErrMalformed, "trailing")
	if dn, err := ParseCertReqV1(nil); dn != nil || err != nil {
		t.Fatal("empty IKEv1 CERTREQ refused")
	}
	tr := mustTrust(t, []*x509.Certificate{p.root.cert}, nil)
	if len(tr.CertReqV1()) != 1 || len(tr.CertReqV2()) != KeyIDLen {
		t.Fatal("Trust CERTREQ contents")
	}
}

func TestCertRequestMatching(t *testing.T) {
	p := standardPKI(t)
	other := newPKI(t, "p256#o1", "p256#o2", "p256#o3")
	creds, err := NewCredentials([]*x509.Certificate{p.leaf.cert, p.inter.cert}, p.leaf.key)
	wantErr(t, err, nil)
	withRoot := creds.WithCAs([]*x509.Certificate{other.root.cert, p.root.cert})

	var none CertRequest
	if none.Seen() || creds.Answers(&none) || creds.Answers(nil) {
		t.Fatal("empty request matched")
	}
	// IKEv1: the root's DN, written with other string types, matches by name alone.
	var v1 CertRequest
	rootDN, _ := asn1.Marshal(pkix.RDNSequence{
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("CH")}}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("oakley test")}}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(p.root.cert.Subject.CommonName)}}},
	})
	wantErr(t, v1.AddV1(rootDN), nil)
	if !v1.Seen() || !creds.Answers(&v1) {
		t.Fatal("IKEv1 CERTREQ for our root not recognised")
	}
	if got := creds.ChainFor(&v1); len(got) != 2 {
		t.Fatalf("for the root, send %d certificates, want leaf + intermediate", len(got))
	}
	var v1other CertRequest
	wantErr(t, v1other.AddV1(other.root.cert.RawSubject), nil)
	if creds.Answers(&v1other) {
		t.Fatal("another CA matched")
	}
	wantErr(t, v1other.AddV1([]byte{0x30, 0x03}), ErrMalformed)

	// IKEv2: the root is named by key hash, so only credentials that know it match.
	var v2 CertRequest
	wantErr(t, v2.AddV2(CertReqV2([]*x509.Certificate{p.root.cert})), nil)
	if creds.Answers(&v2) || !withRoot.Answers(&v2) {
		t.Fatal("IKEv2 root match wrong")
	}
	// Naming the intermediate: the peer has it, so only the leaf is sent.
	var v2i CertRequest
	wantErr(t, v2i.AddV2(CertReqV2([]*x509.Certificate{other.inter.cert, p.inter.cert})), nil)
	if !creds.Answers(&v2i) {
		t.Fatal("IKEv2 intermediate not recognised")
	}
	if got := creds.ChainFor(&v2i); len(got) != 1 || !got[0].Equal(p.leaf.cert) {
		t.Fatalf("send %d certificates for a named intermediate", len(got))
	}
	if got := creds.ChainFor(nil); len(got) != 2 {
		t.Fatal("without CERTREQ the whole chain is sent")
	}
	wantErr(t, v2i.AddV2(make([]byte, 19)), ErrMalformed)
	var empty CertRequest
	wantErr(t, empty.AddV2(nil), nil)
	if !empty.Seen() || creds.Answers(&empty) {
		t.Fatal("empty IKEv2 CERTREQ")
	}
	if s := v2i.String(); s == "" || v1.String() == "(no CERTREQ)" {
		t.Fatal("String")
	}

	// Select: the credentials whose chain is named win; otherwise the first allowed.
	otherCreds, err := NewCredentials([]*x509.Certificate{other.leaf.cert, other.inter.cert}, other.leaf.key)
	wantErr(t, err, nil)
	all := []*Credentials{otherCreds, creds}
	if SelectCredentials(all, &v1, nil) != creds || SelectCredentials(all, &v1other, nil) != otherCreds || SelectCredentials(all, nil, nil) != otherCreds {
		t.Fatal("Select by CERTREQ")
	}
	onlyP := func(c *Credentials) bool { return c == creds }
	if SelectCredentials(all, &v1other, onlyP) != creds || SelectCredentials(all, nil, func(*Credentials) bool { return false }) != nil {
		t.Fatal("Select filter")
	}
}

func TestChainForNeverSendsRoot(t *testing.T) {
	p := standardPKI(t)
	creds, err := NewCredentials([]*x509.Certificate{p.leaf.cert, p.root.cert, p.inter.cert}, p.leaf.key)
	wantErr(t, err, nil)
	if n := len(creds.Chain()); n != 3 {
		t.Fatalf("chain of %d", n)
	}
	if got := creds.ChainFor(nil); len(got) != 2 || !got[1].Equal(p.inter.cert) {
		t.Fatalf("sent %d certificates", len(got))
	}
}

func TestSendCert(t *testing.T) {
	var seen CertRequest
	_ = seen.AddV1(nil)
	for _, c := range []struct {
		s          string
		p          SendCert
		asked, not bool
	}{{"", SendCertIfAsked, true, false}, {"ifasked", SendCertIfAsked, true, false}, {"always", SendCertAlways, true, true}, {"never", SendCertNever, false, false}} {
		p, err := ParseSendCert(c.s)
		wantErr(t, err, nil)
		if p != c.p || p.ShouldSend(&seen) != c.asked || p.ShouldSend(nil) != c.not || p.ShouldSend(&CertRequest{}) != c.not {
			t.Errorf("%q: %v", c.s, p)
		}
		if c.s != "" && p.String() != c.s {
			t.Errorf("String %q", p)
		}
	}
	_, err := ParseSendCert("sometimes")
	wantErr(t, err, ErrMalformed, "sometimes")
}

func TestNewCredentials(t *testing.T) {
	p := standardPKI(t)
	stray := mkCert(t, certSpec{cn: "stray", key: "p256#stray", pathLen: -1}, nil)
	c, err := NewCredentials([]*x509.Certificate{p.leaf.cert, p.root.cert, p.inter.cert}, p.leaf.key)
	wantErr(t, err, nil)
	if ch := c.Chain(); !ch[1].Equal(p.inter.cert) || !ch[2].Equal(p.root.cert) || c.Leaf() != p.leaf.cert || c.Signer() != p.leaf.key {
		t.Fatal("chain not put in issuance order")
	}
	if c.String() == "" {
		t.Fatal("String")
	}
	_, err = NewCredentials([]*x509.Certificate{p.leaf.cert}, testKey(t, "p256#other"))
	wantErr(t, err, ErrKeyMismatch, "gw.example.org", "ECDSA P-256")
	_, err = NewCredentials([]*x509.Certificate{p.inter.cert, p.leaf.cert}, p.leaf.key)
	wantErr(t, err, ErrKeyMismatch, "certificate 2", "must come first")
	_, err = NewCredentials([]*x509.Certificate{p.leaf.cert, p.inter.cert, stray.cert}, p.leaf.key)
	wantErr(t, err, ErrFile, "stray", "not in the issuer chain")
	_, err = NewCredentials(nil, p.leaf.key)
	wantErr(t, err, ErrFile)
	wantErr(t, KeyMatchesCert(p.leaf.cert, p.leaf.key), nil)
	wantErr(t, KeyMatchesCert(p.leaf.cert, p.inter.key), ErrKeyMismatch)
	// An intermediate whose name matches but whose key did not sign the leaf.
	impostor := mkCert(t, certSpec{cn: p.inter.cert.Subject.CommonName, key: "p384#impostor", ca: true, pathLen: -1}, p.root)
	_, err = NewCredentials([]*x509.Certificate{p.leaf.cert, impostor.cert}, p.leaf.key)
	wantErr(t, err, ErrBadSignature)

	dir := t.TempDir()
	certPath := writeFile(t, dir, "cert.pem", certsPEM(p.leaf.cert, p.inter.cert), 0o644)
	keyPath := writeFile(t, dir, "key.pem", keyPEM(t, p.leaf.key, "pkcs8"), 0o600)
	lc, err := LoadCredentials(certPath, keyPath)
	wantErr(t, err, nil)
	if len(lc.Chain()) != 2 {
		t.Fatal("LoadCredentials chain")
	}
	otherKey := writeFile(t, dir, "other.pem", keyPEM(t, p.inter.key, "pkcs8"), 0o600)
	_, err = LoadCredentials(certPath, otherKey)
	wantErr(t, err, ErrKeyMismatch, "cert", certPath)
}
