package pki

import (
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckFiles(t *testing.T) {
	p := standardPKI(t)
	dir := t.TempDir()
	w := func(name string, data []byte, mode ...int) string {
		m := 0o644
		if len(mode) > 0 {
			m = mode[0]
		}
		return writeFile(t, dir, name, data, fsMode(m))
	}
	cert := w("cert.pem", certsPEM(p.leaf.cert, p.inter.cert))
	key := w("key.pem", keyPEM(t, p.leaf.key, "sec1"), 0o600)
	ca := w("ca.pem", certsPEM(p.root.cert))
	crl := w("crl.pem", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: mkCRL(t, p.inter, validTo).Raw}))
	remote := w("remote.pem", certsPEM(p.leaf.cert))

	errs, warns := CheckFiles(cert, key, []string{ca}, []string{crl}, remote, testNow)
	if len(errs)+len(warns) != 0 {
		t.Fatalf("good files: errs %v warnings %v", errs, warns)
	}

	otherRoot := mkCert(t, certSpec{cn: "Other root", key: "rsa2048", ca: true, pathLen: -1}, nil)
	expired := mkCert(t, certSpec{cn: "expired.example.org", key: "p256", pathLen: -1, to: testNow.Add(-48 * time.Hour)}, p.inter)
	soon := mkCert(t, certSpec{cn: "soon.example.org", key: "p256", pathLen: -1, to: testNow.Add(10 * 24 * time.Hour)}, p.inter)
	encOnly := mkCert(t, certSpec{cn: "enc.example.org", key: "p256", pathLen: -1, ku: 4 /* keyEncipherment */}, p.inter)
	cases := []struct {
		name                    string
		cert, key, remote       string
		cas, crls               []string
		errKind, warnKind       error
		errParts                []string
		wantErrs, wantWarnCount int
	}{
		{name: "missing cert", cert: dir + "/nope.pem", key: key, errKind: ErrFile, errParts: []string{"cert", "nope.pem", "does not exist"}, wantErrs: 1},
		{name: "cert not PEM", cert: w("junk.pem", []byte("junk")), errKind: ErrFile, errParts: []string{"cert", "junk.pem", "neither PEM nor"}, wantErrs: 1},
		{name: "expired cert", cert: w("expired.pem", certsPEM(expired.cert, p.inter.cert)), errKind: ErrExpired, errParts: []string{"cert", "expired.example.org", "expired on 2030-05-30"}, wantErrs: 1},
		{name: "expiring soon", cert: w("soon.pem", certsPEM(soon.cert, p.inter.cert)), warnKind: ErrExpiresSoon, wantWarnCount: 1},
		{name: "key mode", cert: cert, key: w("openkey.pem", keyPEM(t, p.leaf.key, "sec1"), 0o644), errKind: ErrFileMode, errParts: []string{"key", "openkey.pem", "readable by group/other (mode 0644); chmod 600 it"}, wantErrs: 1},
		{name: "key mismatch", cert: cert, key: w("otherkey.pem", keyPEM(t, p.inter.key, "pkcs8"), 0o600), errKind: ErrKeyMismatch, errParts: []string{"key", "otherkey.pem"}, wantErrs: 1},
		{name: "cacert not a CA", cas: []string{w("leafca.pem", certsPEM(p.leaf.cert))}, errKind: ErrNotCA, errParts: []string{"cacerts", "leafca.pem", "gw.example.org"}, wantErrs: 1},
		{name: "no digitalSignature", cert: w("enc.pem", certsPEM(encOnly.cert, p.inter.cert)), errKind: ErrKeyUsage, wantErrs: 1},
		{name: "stale CRL", cert: cert, key: key, cas: []string{ca}, crls: []string{w("stale.crl", mkCRL(t, p.inter, testNow.Add(-time.Hour)).Raw)}, errKind: ErrCRLStale, errParts: []string{"crls", "stale.crl", "expired on 2030-06-01 11:00:00 UTC"}, wantErrs: 1},
		{name: "CRL garbage", crls: []string{w("junk.crl", []byte("junk"))}, errKind: ErrFile, errParts: []string{"crls", "junk.crl"}, wantErrs: 1},
		{name: "CRL of an unknown CA", cas: []string{ca}, crls: []string{w("other.crl", mkCRL(t, otherRoot, validTo).Raw)}, warnKind: ErrUntrusted, wantWarnCount: 1},
		{name: "CRL with a bad signature", cas: []string{w("imp-ca.pem", certsPEM(mkCert(t, certSpec{cn: p.root.cert.Subject.CommonName, key: "rsa2048#imp", ca: true, pathLen: -1}, nil).cert))}, crls: []string{w("root.crl", mkCRL(t, p.root, validTo).Raw)}, errKind: ErrBadSignature, wantErrs: 1},
		{name: "own cert not under cacerts (warning)", cert: cert, key: key, cas: []string{w("other-ca.pem", certsPEM(otherRoot.cert))}, warnKind: ErrUntrusted, wantWarnCount: 1},
		{name: "remote_cert with two certificates", remote: cert, errKind: ErrFile, errParts: []string{"remote_cert", "exactly one"}, wantErrs: 1},
		{name: "remote_cert expired", remote: w("rexp.pem", certsPEM(expired.cert)), errKind: ErrExpired, errParts: []string{"remote_cert"}, wantErrs: 1},
		{name: "cert file with a stray certificate", cert: w("stray.pem", certsPEM(p.leaf.cert, otherRoot.cert)), errKind: ErrFile, errParts: []string{"not in the issuer chain"}, wantErrs: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs, warns := CheckFiles(c.cert, c.key, c.cas, c.crls, c.remote, testNow)
			if len(errs) != c.wantErrs || len(warns) != c.wantWarnCount {
				t.Fatalf("errs %v\nwarnings %v", errs, warns)
			}
			if c.errKind != nil {
				wantErr(t, errs[0], c.errKind, c.errParts...)
				var fe *FileError
				if !errors.As(errs[0], &fe) {
					t.Errorf("%v is not a FileError", errs[0])
				}
			}
			if c.warnKind != nil {
				wantErr(t, warns[0], c.warnKind)
			}
			for _, e := range append(errs, warns...) {
				if strings.Contains(e.Error(), "PRIVATE KEY") {
					t.Fatalf("message quotes a key: %v", e)
				}
			}
		})
	}
}
