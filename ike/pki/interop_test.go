package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// These tests run only where the tools are installed: strongSwan's pki makes keys,
// certificates and a CRL that this package must load, trust and sign with; openssl checks
// the signature formats byte for byte (PKCS#1 v1.5 is deterministic) or by verifying them.

func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

// run runs a tool in dir; stdout goes to the file out when set.
func run(t *testing.T, dir, out string, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	if out != "" {
		if err := os.WriteFile(filepath.Join(dir, out), stdout.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return stdout.Bytes()
}

func TestStrongSwanPKI(t *testing.T) {
	pki := tool(t, "pki")
	dir := t.TempDir()
	run(t, dir, "ca.key", nil, pki, "--gen", "--type", "rsa", "--size", "3072", "--outform", "pem")
	run(t, dir, "ca.pem", nil, pki, "--self", "--ca", "--in", "ca.key", "--dn", "C=CH, O=strongSwan test, CN=Test CA", "--outform", "pem")
	for _, k := range []struct{ name, typ, size string }{{"ec", "ecdsa", "384"}, {"rsa", "rsa", "2048"}, {"ed", "ed25519", ""}} {
		t.Run(k.typ, func(t *testing.T) {
			args := []string{"--gen", "--type", k.typ, "--outform", "pem"}
			if k.size != "" {
				args = append(args, "--size", k.size)
			}
			run(t, dir, k.name+".key", nil, pki, args...)
			pub := run(t, dir, "", nil, pki, "--pub", "--in", k.name+".key")
			run(t, dir, k.name+".pem", pub, pki, "--issue", "--cacert", "ca.pem", "--cakey", "ca.key",
				"--dn", "C=CH, O=strongSwan test, CN="+k.name+".example.org", "--san", k.name+".example.org",
				"--san", "198.18.0.7", "--flag", "serverAuth", "--outform", "pem")
			run(t, dir, k.name+".crl", nil, pki, "--signcrl", "--cacert", "ca.pem", "--cakey", "ca.key",
				"--reason", "key-compromise", "--cert", k.name+".pem", "--outform", "pem") // --reason applies to the --cert after it

			creds, err := LoadCredentials(filepath.Join(dir, k.name+".pem"), filepath.Join(dir, k.name+".key"))
			wantErr(t, err, nil)
			now := time.Now()
			tr, err := LoadTrust([]string{filepath.Join(dir, "ca.pem")}, "", nil)
			wantErr(t, err, nil)
			v, err := tr.Verify(creds.ChainFor(nil), now)
			wantErr(t, err, nil)
			if v.Subject != "C=CH, O=strongSwan test, CN="+k.name+".example.org" {
				t.Errorf("subject %q", v.Subject)
			}
			for _, id := range []string{k.name + ".example.org", "198.18.0.7", "C=CH, O=strongSwan test, CN=" + k.name + ".example.org"} {
				wantErr(t, BindID(v.Leaf, mustID(t, id)), nil)
			}
			wantErr(t, BindID(v.Leaf, mustID(t, "198.18.0.8")), ErrIDMismatch)
			revoked, err := LoadTrust([]string{filepath.Join(dir, "ca.pem")}, "", []string{filepath.Join(dir, k.name+".crl")})
			wantErr(t, err, nil)
			_, err = revoked.Verify(creds.ChainFor(nil), now)
			wantErr(t, err, ErrRevoked, "keyCompromise")

			octets := []byte("signed octets")
			scheme, err := SelectScheme(creds.Leaf().PublicKey, SupportedHashAlgs(), true)
			wantErr(t, err, nil)
			auth, err := SignV2(rand.Reader, creds.Signer(), V2DigitalSignature, scheme, octets)
			wantErr(t, err, nil)
			_, err = VerifyV2(v.PublicKey, V2DigitalSignature, octets, auth)
			wantErr(t, err, nil)
			if m, err := V1MethodFor(creds.Leaf().PublicKey); err == nil {
				h := make([]byte, 48)
				if m == V1RSASig {
					h = h[:20]
				}
				sig, err := SignV1(rand.Reader, creds.Signer(), m, h)
				wantErr(t, err, nil)
				wantErr(t, VerifyV1(v.PublicKey, m, h, sig), nil)
			}
		})
	}
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	return writeFile(t, dir, name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func TestOpenSSLSignatureFormats(t *testing.T) {
	openssl := tool(t, "openssl")
	dir := t.TempDir()
	rk := testKey(t, "rsa2048").(*rsa.PrivateKey)
	writeFile(t, dir, "rsa.key", keyPEM(t, rk, "pkcs8"), 0o600)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	writePEM(t, dir, "rsa.pub", "PUBLIC KEY", pubDER)
	hash := sha256.Sum256([]byte("HASH_I"))
	writeFile(t, dir, "hash", hash[:20], 0o600)

	// IKEv1 RSA: openssl's raw PKCS#1 v1.5 signature of the hash bytes (no DigestInfo).
	want := run(t, dir, "", nil, openssl, "pkeyutl", "-sign", "-inkey", "rsa.key", "-pkeyopt", "rsa_padding_mode:pkcs1", "-in", "hash")
	got, err := SignV1(rand.Reader, rk, V1RSASig, hash[:20])
	wantErr(t, err, nil)
	if !bytes.Equal(got, want) {
		t.Fatal("IKEv1 RSA signature differs from openssl pkeyutl's")
	}

	// IKEv2 method 1: openssl dgst -sha1 -sign gives PKCS#1 v1.5 with the SHA-1 DigestInfo.
	octets := []byte("IKEv2 signed octets")
	writeFile(t, dir, "octets", octets, 0o600)
	want = run(t, dir, "", nil, openssl, "dgst", "-sha1", "-sign", "rsa.key", "octets")
	got, err = SignV2(rand.Reader, rk, V2RSASig, SchemeNone, octets)
	wantErr(t, err, nil)
	if !bytes.Equal(got, want) {
		t.Fatal("IKEv2 method 1 signature differs from openssl dgst -sha1's")
	}
	// RFC 7427 PKCS#1 SHA-384 likewise.
	want = run(t, dir, "", nil, openssl, "dgst", "-sha384", "-sign", "rsa.key", "octets")
	auth, err := SignV2(rand.Reader, rk, V2DigitalSignature, RSAPKCS1SHA384, octets)
	wantErr(t, err, nil)
	if sa, _ := DecodeSignatureAuth(auth); !bytes.Equal(sa.Signature, want) {
		t.Fatal("RFC 7427 sha384WithRSAEncryption differs from openssl's")
	}
	// RSASSA-PSS: openssl verifies our signature with salt length 32.
	auth, err = SignV2(rand.Reader, rk, V2DigitalSignature, RSAPSSSHA256, octets)
	wantErr(t, err, nil)
	sa, _ := DecodeSignatureAuth(auth)
	writeFile(t, dir, "pss.sig", sa.Signature, 0o600)
	run(t, dir, "", nil, openssl, "dgst", "-sha256", "-verify", "rsa.pub", "-sigopt", "rsa_padding_mode:pss",
		"-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256", "-signature", "pss.sig", "octets")

	// IKEv1 ECDSA: openssl signs the HASH_I bytes as the digest (pkeyutl without -digest);
	// our r||s verifier must accept it, and openssl must accept ours.
	ek := testKey(t, "p256").(*ecdsa.PrivateKey)
	writeFile(t, dir, "ec.key", keyPEM(t, ek, "sec1"), 0o600)
	ecPub, _ := x509.MarshalPKIXPublicKey(&ek.PublicKey)
	writePEM(t, dir, "ec.pub", "PUBLIC KEY", ecPub)
	writeFile(t, dir, "hash32", hash[:], 0o600)
	der := run(t, dir, "", nil, openssl, "pkeyutl", "-sign", "-inkey", "ec.key", "-in", "hash32")
	raw, err := ecdsaDERToRaw(der, ek.Curve)
	wantErr(t, err, nil)
	wantErr(t, VerifyV1(&ek.PublicKey, V1ECDSA256, hash[:], raw), nil)
	ours, err := SignV1(rand.Reader, ek, V1ECDSA256, hash[:])
	wantErr(t, err, nil)
	ourDER, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(ours[:32]), new(big.Int).SetBytes(ours[32:])})
	writeFile(t, dir, "ours.sig", ourDER, 0o600)
	run(t, dir, "", nil, openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "ec.pub", "-in", "hash32", "-sigfile", "ours.sig")
}
