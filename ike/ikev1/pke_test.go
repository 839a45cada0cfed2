package ikev1

// The decryption primitives of public-key encryption never fail: a good ciphertext gives its
// plaintext, anything else the fallback, and only the returned flag (which the exchange ORs
// into its bad state) tells them apart.

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"oakley/crypto"
)

func TestPKEDecrypt(t *testing.T) {
	priv := testKey(t, "rsa2048#pke").(*rsa.PrivateKey)
	fallback := bytes.Repeat([]byte{0xfa}, 32)
	good, err := pkeEncrypt(rand.Reader, &priv.PublicKey, []byte("a nonce of some length"))
	if err != nil {
		t.Fatal(err)
	}
	other := testKey(t, "rsa2048#other").(*rsa.PrivateKey)
	foreign, _ := pkeEncrypt(rand.Reader, &other.PublicKey, []byte("for another key"))
	garbage := make([]byte, priv.Size())
	garbage[1] = 0x55
	cases := []struct {
		name string
		ct   []byte
		ok   int
		want []byte
	}{
		{"good", good, 1, []byte("a nonce of some length")},
		{"another key", foreign, 0, fallback},
		{"invalid padding", garbage, 0, fallback},
		{"short", good[:10], 0, fallback},
		{"empty", nil, 0, fallback},
	}
	for _, c := range cases {
		got, ok := pkeDecrypt(priv, c.ct, fallback)
		if ok != c.ok || !bytes.Equal(got, c.want) {
			t.Errorf("%s: got %q ok %d, want %q ok %d", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestPKESymDecrypt(t *testing.T) {
	enc := crypto.Lookup("aes128")
	key := bytes.Repeat([]byte{7}, 16)
	fallback := []byte("fallback-fallback-fallback")
	for n := 0; n <= 40; n++ {
		body := bytes.Repeat([]byte{byte(n)}, n)
		ct, err := pkeSymEncrypt(enc, key, body)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct)%16 != 0 || len(ct) <= n {
			t.Fatalf("%d bytes encrypt to %d", n, len(ct))
		}
		got, ok := pkeSymDecrypt(enc, key, ct, fallback)
		if ok != 1 || !bytes.Equal(got, body) {
			t.Fatalf("%d bytes: round trip gave %x ok %d", n, got, ok)
		}
		// A wrong key, a truncated or a corrupted last block give the fallback.
		bad := append([]byte(nil), ct...)
		bad[len(bad)-1] ^= 0x40
		for _, tc := range []struct {
			name  string
			k, ct []byte
		}{{"wrong key", bytes.Repeat([]byte{8}, 16), ct}, {"not whole blocks", key, ct[:len(ct)-1]}, {"corrupted", key, bad}} {
			got, ok := pkeSymDecrypt(enc, tc.k, tc.ct, fallback)
			if ok == 1 && bytes.Equal(got, body) {
				t.Fatalf("%d bytes, %s: decrypted", n, tc.name)
			}
			if ok == 0 && !bytes.Equal(got, fallback) {
				t.Fatalf("%d bytes, %s: failure without the fallback: %x", n, tc.name, got)
			}
		}
	}
}
