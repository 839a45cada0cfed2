package ikev1

// Known answers for public-key-encryption and signature authentication, computed from the
// RFC's formulas by an independent program (testdata/pke/kat.py: Python's hashlib and hmac,
// and the openssl command for the block cipher) and checked in with its output
// (testdata/pke/kat.txt). No open implementation speaks these modes, so no recorded session
// can give them. The inputs below are kat.py's, byte for byte.

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"oakley/crypto"
	"oakley/ike/isakmp"
	"oakley/ike/pki"
)

// katInputs are kat.py's inputs.
type katInputs struct {
	ni, nr, gxi, gxr, gxy, saiB, idiiB, idirB []byte
	ckyI, ckyR                                isakmp.Cookie
}

func pkeKATInputs() katInputs {
	seq := func(mul, add int) []byte {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte((i*mul + add) % 256)
		}
		return b
	}
	var in katInputs
	in.ni = mustHex("00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210")
	in.nr = mustHex("fedcba98765432100123456789abcdefffeeddccbbaa99887766554433221100")
	copy(in.ckyI[:], mustHex("1122334455667788"))
	copy(in.ckyR[:], mustHex("99aabbccddeeff00"))
	in.gxi, in.gxr, in.gxy = seq(7, 1), seq(13, 5), seq(31, 11)
	in.saiB = mustHex("000000010000000100000024010100010000000080" + "0e010080010007800e01008002000480030005" + "80040002")
	in.idiiB = append([]byte{2, 0, 0, 0}, "a.test"...)
	in.idirB = append([]byte{2, 0, 0, 0}, "b.test"...)
	return in
}

// loadKAT reads kat.txt: case -> name -> value.
func loadKAT(t *testing.T) map[string]map[string][]byte {
	t.Helper()
	f, err := os.Open("testdata/pke/kat.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]byte{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 3 {
			t.Fatalf("kat.txt: bad line %q", line)
		}
		v, err := hex.DecodeString(fs[2])
		if err != nil {
			t.Fatal(err)
		}
		if out[fs[0]] == nil {
			out[fs[0]] = map[string][]byte{}
		}
		out[fs[0]][fs[1]] = v
	}
	return out
}

func TestPublicKeyEncryptionKnownAnswers(t *testing.T) {
	kat := loadKAT(t)
	in := pkeKATInputs()
	cases := []struct{ name, hash, enc string }{
		{"pke-aes256-sha256", "sha256", "aes256"},
		{"pke-aes128-sha1", "sha1", "aes128"},
		{"pke-3des-sha1", "sha1", "3des"},
		{"pke-aes256-sha512", "sha512", "aes256"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := kat[tc.name]
			if len(want) == 0 {
				t.Fatalf("no %s in kat.txt", tc.name)
			}
			prf, err := crypto.NewPRF(crypto.Lookup(tc.hash))
			if err != nil {
				t.Fatal(err)
			}
			enc := crypto.Lookup(tc.enc)
			a := newPKEAuth(nil, isakmp.AuthRSAEncRevised)
			skeyid := a.skeyid(prf, skeyidInput{niB: in.ni, nrB: in.nr, gxy: in.gxy, ckyI: in.ckyI, ckyR: in.ckyR})
			eq(t, "SKEYID", skeyid, want["SKEYID"])
			d, sa, e := skeyidFamily(prf, skeyid, in.gxy, in.ckyI, in.ckyR)
			eq(t, "SKEYID_d", d, want["SKEYID_d"])
			eq(t, "SKEYID_a", sa, want["SKEYID_a"])
			eq(t, "SKEYID_e", e, want["SKEYID_e"])
			eq(t, "Ka", encryptionKey(prf, e, enc.KeyLen()), want["Ka"])
			hp := a.hashPRF(prf)
			eq(t, "HASH_I", hashI(hp, skeyid, in.gxi, in.gxr, in.ckyI, in.ckyR, in.saiB, in.idiiB), want["HASH_I"])
			eq(t, "HASH_R", hashR(hp, skeyid, in.gxi, in.gxr, in.ckyI, in.ckyR, in.saiB, in.idirB), want["HASH_R"])
			eq(t, "Ne_i", prf.Sum(in.ni, in.ckyI[:]), want["Ne_i"])
			kei := pkeSymKey(prf, in.ni, in.ckyI, enc.KeyLen())
			ker := pkeSymKey(prf, in.nr, in.ckyR, enc.KeyLen())
			eq(t, "Ke_i", kei, want["Ke_i"])
			eq(t, "Ke_r", ker, want["Ke_r"])
			for _, c := range []struct {
				name     string
				key, raw []byte
			}{{"enc_IDii_b", kei, in.idiiB}, {"enc_KE_i", kei, in.gxi}, {"enc_IDir_b", ker, in.idirB}} {
				ct, err := pkeSymEncrypt(enc, c.key, c.raw)
				if err != nil {
					t.Fatal(err)
				}
				eq(t, c.name, ct, want[c.name])
				back, ok := pkeSymDecrypt(enc, c.key, want[c.name], []byte("fallback"))
				if ok != 1 || !bytes.Equal(back, c.raw) {
					t.Fatalf("%s does not decrypt back (ok %d)", c.name, ok)
				}
				// A wrong key decrypts to the fallback, never to an error.
				wrong := append([]byte(nil), c.key...)
				wrong[0] ^= 0xfe // not only the low bit: DES ignores it (parity)
				if back, ok := pkeSymDecrypt(enc, wrong, want[c.name], []byte("fallback")); ok == 1 && bytes.Equal(back, c.raw) {
					t.Fatalf("%s decrypts with a wrong key", c.name)
				}
			}
		})
	}
}

func TestSignatureKnownAnswers(t *testing.T) {
	kat := loadKAT(t)
	in := pkeKATInputs()
	for _, tc := range []struct {
		name string
		m    pki.V1Method
	}{{"sig-rsa-sha256", pki.V1RSASig}, {"sig-ecdsa384-sha256", pki.V1ECDSA384}} {
		t.Run(tc.name, func(t *testing.T) {
			want := kat[tc.name]
			prf, _ := crypto.NewPRF(crypto.Lookup("sha256"))
			a := &sigAuth{m: tc.m}
			skeyid := a.skeyid(prf, skeyidInput{niB: in.ni, nrB: in.nr, gxy: in.gxy})
			eq(t, "SKEYID", skeyid, want["SKEYID"])
			d, sa, e := skeyidFamily(prf, skeyid, in.gxy, in.ckyI, in.ckyR)
			eq(t, "SKEYID_d", d, want["SKEYID_d"])
			eq(t, "SKEYID_a", sa, want["SKEYID_a"])
			eq(t, "SKEYID_e", e, want["SKEYID_e"])
			hp := a.hashPRF(prf)
			eq(t, "HASH_I", hashI(hp, skeyid, in.gxi, in.gxr, in.ckyI, in.ckyR, in.saiB, in.idiiB), want["HASH_I"])
			eq(t, "HASH_R", hashR(hp, skeyid, in.gxi, in.gxr, in.ckyI, in.ckyR, in.saiB, in.idirB), want["HASH_R"])
		})
	}
}
