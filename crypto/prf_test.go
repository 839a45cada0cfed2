package crypto

import (
	"bytes"
	"crypto/hmac"
	"strings"
	"testing"
)

func mustPRF(t testing.TB, keyword string) *PRF {
	t.Helper()
	a := Lookup(keyword)
	if a == nil {
		t.Fatalf("no algorithm %q in the registry", keyword)
	}
	p, err := NewPRF(a)
	if err != nil {
		t.Fatalf("NewPRF(%s): %v", keyword, err)
	}
	return p
}

// TestPRFHMACVectors runs RFC 2202 (HMAC-MD5, HMAC-SHA-1) and RFC 4231 (HMAC-SHA-2) through
// Sum, once with the data whole and once cut into three pieces, and through both registry
// entries of each hash (the IKEv2 PRF and the IKEv1 hash algorithm).
func TestPRFHMACVectors(t *testing.T) {
	var file struct {
		Vectors []struct {
			Source, PRF, Key, Data, Out string
			Truncated                   int
		}
	}
	dhReadJSON(t, "prf_hmac_vectors.json", &file)
	count := map[string]int{}
	for _, v := range file.Vectors {
		key, data, want := dhUnhex(t, v.Key), dhUnhex(t, v.Data), dhUnhex(t, v.Out)
		for _, kw := range []string{v.PRF, strings.TrimPrefix(v.PRF, "prf")} {
			p := mustPRF(t, kw)
			a, b := len(data)/3, 2*len(data)/3
			for _, got := range [][]byte{p.Sum(key, data), p.Sum(key, data[:a], data[a:b], nil, data[b:])} {
				if len(got) != p.Size() {
					t.Fatalf("%s: %d-byte output from %s", v.Source, len(got), kw)
				}
				if v.Truncated > 0 {
					got = got[:v.Truncated]
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s (%s): output differs", v.Source, kw)
				}
			}
		}
		count[v.PRF]++
	}
	for _, kw := range []string{"prfmd5", "prfsha1", "prfsha256", "prfsha384", "prfsha512"} {
		if count[kw] != 7 {
			t.Errorf("%s: %d vectors, want 7", kw, count[kw])
		}
	}
}

func TestNewPRF(t *testing.T) {
	sizes := map[string]int{"prfmd5": 16, "prfsha1": 20, "prfsha256": 32, "prfsha384": 48, "prfsha512": 64,
		"md5": 16, "sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64, "prfsha": 20}
	for kw, n := range sizes {
		p := mustPRF(t, kw)
		if p.Size() != n || p.PlusMax() != 255*n {
			t.Errorf("%s: Size %d, PlusMax %d", kw, p.Size(), p.PlusMax())
		}
	}
	for _, kw := range []string{"aes128gcm16", "aes256", "modp2048", "curve25519", "esn"} {
		if p, err := NewPRF(Lookup(kw)); err == nil || p != nil {
			t.Errorf("NewPRF(%s) accepted a %s algorithm", kw, Lookup(kw).Kind)
		}
	}
	if _, err := NewPRF(nil); err == nil {
		t.Error("NewPRF(nil) accepted")
	}
	if _, err := NewPRF(&Algorithm{Name: "hashless", Kind: KindPRF}); err == nil {
		t.Error("a PRF without a hash accepted")
	}
}

// prfPlusReference is RFC 7296 §2.13 written out again, block by block, on crypto/hmac.
func prfPlusReference(p *PRF, key, seed []byte, n int) []byte {
	var out, t []byte
	for i := 1; len(out) < n; i++ {
		m := hmac.New(p.Alg.Hash.New, key)
		m.Write(t)
		m.Write(seed)
		m.Write([]byte{byte(i)})
		t = m.Sum(nil)
		out = append(out, t...)
	}
	return out[:n]
}

// TestPRFPlusVectors replays published prf+ outputs: NIST CAVP SP 800-135 IKEv2 vectors for
// HMAC-SHA-256/384/512 (SKEYSEED, Ni | Nr | SPIi | SPIr → DKM) and strongSwan's own values.
func TestPRFPlusVectors(t *testing.T) {
	var file struct {
		Vectors []struct{ Name, PRF, Key, Seed, Out string }
	}
	dhReadJSON(t, "prf_plus_vectors.json", &file)
	if len(file.Vectors) < 9 {
		t.Fatalf("%d vectors", len(file.Vectors))
	}
	for _, v := range file.Vectors {
		p := mustPRF(t, v.PRF)
		key, seed, want := dhUnhex(t, v.Key), dhUnhex(t, v.Seed), dhUnhex(t, v.Out)
		if got := p.Plus(key, seed, len(want)); !bytes.Equal(got, want) {
			t.Errorf("%s: prf+ differs", v.Name)
		}
		// A shorter request is a prefix of the longer one (§2.13: taking the first bytes).
		if got := p.Plus(key, seed, len(want)-p.Size()-3); !bytes.Equal(got, want[:len(got)]) {
			t.Errorf("%s: a shorter prf+ is not a prefix", v.Name)
		}
	}
}

// TestPRFPlusDefinition checks lengths around block boundaries and the 255-block bound against
// the RFC text re-implemented above.
func TestPRFPlusDefinition(t *testing.T) {
	key, seed := []byte("SKEYSEED for prf+"), []byte("Ni | Nr | SPIi | SPIr")
	for _, kw := range []string{"prfsha1", "prfsha256", "prfsha512", "prfmd5"} {
		p := mustPRF(t, kw)
		s := p.Size()
		for _, n := range []int{0, 1, s - 1, s, s + 1, 3*s + 5, p.PlusMax() - 1, p.PlusMax()} {
			got := p.Plus(key, seed, n)
			if len(got) != n || cap(got) != n || !bytes.Equal(got, prfPlusReference(p, key, seed, n)) {
				t.Errorf("%s: prf+ of %d bytes differs from RFC 7296 §2.13", kw, n)
			}
		}
		for _, n := range []int{-1, p.PlusMax() + 1, 1 << 20} {
			if got := p.Plus(key, seed, n); got != nil {
				t.Errorf("%s: prf+ of %d bytes returned %d bytes, want nil", kw, n, len(got))
			}
		}
	}
}

// expandV1Reference is RFC 2409 Appendix B and §5.5 written out again, independently of
// ExpandV1: Appendix B truncates a long enough key, otherwise K1 = prf(K, 0x00) and
// Ki = prf(K, K(i-1)); §5.5 uses K1 = prf(K, seed), Ki = prf(K, K(i-1) | seed).
func expandV1Reference(p *PRF, key, seed []byte, n int) []byte {
	if len(seed) == 0 && n <= len(key) {
		return append([]byte(nil), key[:n]...)
	}
	var out, k []byte
	for len(out) < n {
		m := hmac.New(p.Alg.Hash.New, key)
		if k == nil && len(seed) == 0 {
			m.Write([]byte{0})
		} else {
			m.Write(k)
			m.Write(seed)
		}
		k = m.Sum(nil)
		out = append(out, k...)
	}
	return out[:n]
}

func TestExpandV1AppendixB(t *testing.T) {
	skeyidE := bytes.Repeat([]byte{0x5e}, 20) // SHA-1-sized SKEYID_e
	p := mustPRF(t, "sha1")

	// Long enough: Ka is SKEYID_e's prefix, a copy.
	ka := p.ExpandV1(skeyidE, nil, 16) // AES-128
	if !bytes.Equal(ka, skeyidE[:16]) {
		t.Fatal("AES-128 with SHA-1: Ka is not the first 16 bytes of SKEYID_e")
	}
	ka[0] ^= 1
	if skeyidE[0] != 0x5e {
		t.Fatal("ExpandV1 returned the caller's slice")
	}
	if !bytes.Equal(p.ExpandV1(skeyidE, []byte{}, 20), skeyidE) {
		t.Fatal("n = len(SKEYID_e) must truncate, not expand")
	}

	// Too short: K1 = prf(SKEYID_e, 0x00), K2 = prf(SKEYID_e, K1).
	k1 := p.Sum(skeyidE, []byte{0})
	k2 := p.Sum(skeyidE, k1)
	for _, n := range []int{24 /* 3DES */, 32 /* AES-256 */, 40} {
		got := p.ExpandV1(skeyidE, nil, n)
		if !bytes.Equal(got, append(append([]byte{}, k1...), k2...)[:n]) {
			t.Errorf("n=%d: Ka != K1 | K2", n)
		}
		if got[0] == skeyidE[0] && bytes.Equal(got[:20], skeyidE) {
			t.Errorf("n=%d: Ka starts with SKEYID_e itself", n)
		}
	}
	for _, kw := range []string{"md5", "sha1", "sha256"} {
		q := mustPRF(t, kw)
		key := bytes.Repeat([]byte{0xa7}, q.Size())
		for _, n := range []int{0, 8, q.Size(), q.Size() + 1, 2 * q.Size(), 3*q.Size() + 7} {
			if got := q.ExpandV1(key, nil, n); len(got) != n || !bytes.Equal(got, expandV1Reference(q, key, nil, n)) {
				t.Errorf("%s, n=%d: differs from Appendix B", kw, n)
			}
		}
	}
	if p.ExpandV1(skeyidE, nil, -1) != nil {
		t.Error("negative length accepted")
	}
}

func TestExpandV1QuickMode(t *testing.T) {
	skeyidD := bytes.Repeat([]byte{0xd0}, 20)
	seed := []byte("protocol | SPI | Ni_b | Nr_b")
	p := mustPRF(t, "sha1")
	k1 := p.Sum(skeyidD, seed)
	k2 := p.Sum(skeyidD, k1, seed)
	k3 := p.Sum(skeyidD, k2, seed)
	want := append(append(append([]byte{}, k1...), k2...), k3...)
	// ESP AES-256 + HMAC-SHA-1: 32 + 20 bytes of KEYMAT.
	if got := p.ExpandV1(skeyidD, seed, 52); !bytes.Equal(got, want[:52]) {
		t.Error("KEYMAT != K1 | K2 | K3 of RFC 2409 §5.5")
	}
	// Even a KEYMAT shorter than SKEYID_d comes from K1, never from the key.
	if got := p.ExpandV1(skeyidD, seed, 16); !bytes.Equal(got, k1[:16]) {
		t.Error("short KEYMAT is not K1's prefix")
	}
	for _, kw := range []string{"md5", "sha256", "sha512"} {
		q := mustPRF(t, kw)
		for _, n := range []int{1, q.Size(), q.Size() + 1, 5*q.Size() + 3} {
			if got := q.ExpandV1(skeyidD, seed, n); !bytes.Equal(got, expandV1Reference(q, skeyidD, seed, n)) {
				t.Errorf("%s, n=%d: differs from §5.5", kw, n)
			}
		}
	}
}

// TestExpandV1StrongSwan replays Phase 1 keys recorded from strongSwan: for each proposal its
// SKEYID_e and the Ka it keyed the cipher with (expanded for AES-192/256 and 3DES over SHA-1
// and MD5, truncated for AES-128 and for AES-256 over SHA-256).
func TestExpandV1StrongSwan(t *testing.T) {
	var file struct {
		Vectors []struct {
			Proposal, Encr, PRF, Ka string
			SkeyidE                 string `json:"skeyid_e"`
		}
	}
	dhReadJSON(t, "prf_expandv1_strongswan.json", &file)
	expanded := 0
	for _, v := range file.Vectors {
		p := mustPRF(t, v.PRF)
		e, ka := dhUnhex(t, v.SkeyidE), dhUnhex(t, v.Ka)
		enc := Lookup(v.Encr)
		if enc == nil || enc.KeyLen() != len(ka) {
			t.Fatalf("%s: registry key length of %s differs from strongSwan's %d", v.Proposal, v.Encr, len(ka))
		}
		if got := p.ExpandV1(e, nil, enc.KeyLen()); !bytes.Equal(got, ka) {
			t.Errorf("%s: Ka differs from strongSwan's", v.Proposal)
		}
		if len(ka) > len(e) {
			expanded++
		}
	}
	if expanded < 4 {
		t.Errorf("only %d recordings exercise the expansion", expanded)
	}
}
