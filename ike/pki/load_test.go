package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestLoadCertificates(t *testing.T) {
	p := standardPKI(t)
	dir := t.TempDir()
	chainPEM := append([]byte("subject=...\nsome text openssl prints\n"), certsPEM(p.leaf.cert, p.inter.cert)...)
	cases := []struct {
		name string
		data []byte
		n    int
		kind error
		msg  string
	}{
		{"PEM chain with text", chainPEM, 2, nil, ""},
		{"DER", p.leaf.cert.Raw, 1, nil, ""},
		{"DER concatenated", append(append([]byte(nil), p.leaf.cert.Raw...), p.inter.cert.Raw...), 2, nil, ""},
		{"garbage", []byte("hello world"), 0, ErrFile, "neither PEM nor a DER certificate"},
		{"empty", nil, 0, ErrFile, "is empty"},
		{"key in cert file", append(certsPEM(p.leaf.cert), keyPEM(t, p.leaf.key, "pkcs8")...), 0, ErrFile, "PEM block 2 is a private key"},
		{"other block", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), 0, ErrFile, `"PUBLIC KEY"`},
		{"damaged PEM", []byte("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"), 0, ErrFile, "damaged"},
		{"damaged second block", append(certsPEM(p.leaf.cert), []byte("-----BEGIN CERTIFICATE-----\nAAAA")...), 0, ErrFile, "PEM block 2 is damaged"},
		{"bad certificate in PEM", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0}}), 0, ErrFile, "PEM block 1 is not a valid certificate"},
		{"too large", bytes.Repeat([]byte{'x'}, maxCertFile+1), 0, ErrFile, "larger than"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, dir, "c"+string(rune('a'+i)), c.data, 0o644)
			certs, err := LoadCertificates(path)
			if c.kind != nil {
				wantErr(t, err, c.kind, path, c.msg)
				return
			}
			wantErr(t, err, nil)
			if len(certs) != c.n || !certs[0].Equal(p.leaf.cert) {
				t.Fatalf("%d certificates", len(certs))
			}
		})
	}
	_, err := LoadCertificates(dir + "/missing.pem")
	wantErr(t, err, ErrFile, "missing.pem", "does not exist")
	_, err = LoadCertificates(dir)
	wantErr(t, err, ErrFile, "not a regular file")
}

func TestLoadPrivateKey(t *testing.T) {
	dir := t.TempDir()
	rsaKey, ecKey, edKey := testKey(t, "rsa2048"), testKey(t, "p384"), testKey(t, "ed25519")
	der := func(b []byte) []byte { blk, _ := pem.Decode(b); return blk.Bytes }
	ecParams := []byte("-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n")
	cases := []struct {
		name string
		data []byte
		want crypto.Signer
	}{
		{"RSA PKCS#1 PEM", keyPEM(t, rsaKey, "pkcs1"), rsaKey},
		{"RSA PKCS#8 PEM", keyPEM(t, rsaKey, "pkcs8"), rsaKey},
		{"RSA PKCS#1 DER", der(keyPEM(t, rsaKey, "pkcs1")), rsaKey},
		{"RSA PKCS#8 DER", der(keyPEM(t, rsaKey, "pkcs8")), rsaKey},
		{"EC SEC1 PEM", keyPEM(t, ecKey, "sec1"), ecKey},
		{"EC SEC1 PEM after EC PARAMETERS", append(ecParams, keyPEM(t, ecKey, "sec1")...), ecKey},
		{"EC PKCS#8 PEM", keyPEM(t, ecKey, "pkcs8"), ecKey},
		{"EC SEC1 DER", der(keyPEM(t, ecKey, "sec1")), ecKey},
		{"Ed25519 PKCS#8 PEM", keyPEM(t, edKey, "pkcs8"), edKey},
		{"Ed25519 PKCS#8 DER", der(keyPEM(t, edKey, "pkcs8")), edKey},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, dir, "k"+string(rune('a'+i)), c.data, 0o600)
			k, err := LoadPrivateKey(path)
			wantErr(t, err, nil)
			if !sameKey(k.Public(), c.want.Public()) {
				t.Fatal("loaded another key")
			}
		})
	}
	bad := []struct {
		name string
		data []byte
		kind error
		msg  string
	}{
		{"garbage", []byte("not a key"), ErrFile, "neither PEM nor a DER private key"},
		{"certificate", certsPEM(standardPKI(t).leaf.cert), ErrFile, "not a private key"},
		{"encrypted PKCS#8", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), ErrFile, "encrypted"},
		{"legacy encrypted PEM", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}}), ErrFile, "encrypted"},
		{"broken block", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{0x30, 0}}), ErrFile, "EC PRIVATE KEY block does not parse"},
		{"P-224", keyPEM(t, testKey(t, "p224"), "pkcs8"), ErrUnsupportedKey, "P-224"},
	}
	for i, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, dir, "b"+string(rune('a'+i)), c.data, 0o600)
			_, err := LoadPrivateKey(path)
			wantErr(t, err, c.kind, path, c.msg)
			if strings.Contains(err.Error(), "MII") {
				t.Fatalf("error quotes key material: %v", err)
			}
		})
	}
}

func TestLoadPrivateKeyMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits on Windows")
	}
	dir := t.TempDir()
	data := keyPEM(t, testKey(t, "p256"), "sec1")
	for _, c := range []struct {
		mode os.FileMode
		msg  string
	}{{0o644, "readable by group/other (mode 0644); chmod 600 it"}, {0o640, "readable by group/other (mode 0640)"}, {0o620, "writable by group/other (mode 0620); chmod 600 it"}, {0o602, "writable"}} {
		path := writeFile(t, dir, "key.pem", data, c.mode)
		_, err := LoadPrivateKey(path)
		wantErr(t, err, ErrFileMode, path, c.msg)
	}
	path := writeFile(t, dir, "key.pem", data, 0o600)
	_, err := LoadPrivateKey(path)
	wantErr(t, err, nil)
	_, err = LoadPrivateKey(writeFile(t, dir, "key400.pem", data, 0o400))
	wantErr(t, err, nil)
}

func TestLoadCRL(t *testing.T) {
	p := standardPKI(t)
	crl := mkCRL(t, p.inter, validTo, p.leaf.cert)
	dir := t.TempDir()
	pemData := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl.Raw})
	for _, data := range [][]byte{crl.Raw, pemData} {
		got, err := LoadCRL(writeFile(t, dir, "crl", data, 0o644))
		wantErr(t, err, nil)
		if len(got.RevokedCertificateEntries) != 1 {
			t.Fatal("revoked entry lost")
		}
	}
	// RFC 5280 §5.2: a CRL with an unknown critical extension must not be used.
	tmpl := &x509.RevocationList{Number: big.NewInt(2), ThisUpdate: validFrom, NextUpdate: validTo,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 2}, Critical: true, Value: []byte{5, 0}}}}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, p.inter.cert, p.inter.key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadCRL(writeFile(t, dir, "crl", der, 0o644))
	wantErr(t, err, ErrCriticalExtension, "1.3.6.1.4.1.99999.2")
	tmpl.ExtraExtensions[0].Critical = false // control: the same extension, not critical
	der, _ = x509.CreateRevocationList(rand.Reader, tmpl, p.inter.cert, p.inter.key)
	_, err = LoadCRL(writeFile(t, dir, "crl", der, 0o644))
	wantErr(t, err, nil)

	_, err = LoadCRL(writeFile(t, dir, "crl", []byte("junk"), 0o644))
	wantErr(t, err, ErrFile, "is not a CRL")
	_, err = LoadCRL(writeFile(t, dir, "crl", certsPEM(p.leaf.cert), 0o644))
	wantErr(t, err, ErrFile, `"CERTIFICATE", not an X509 CRL`)
	_, err = LoadCRL(writeFile(t, dir, "crl", []byte("-----BEGIN X509 CRL-----\n!!\n"), 0o644))
	wantErr(t, err, ErrFile, "damaged")
}
