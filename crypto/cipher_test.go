package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strings"
	"testing"
)

type hexVec map[string]string

func (v hexVec) b(t *testing.T, k string) []byte {
	t.Helper()
	b, err := hex.DecodeString(v[k])
	if err != nil {
		t.Fatalf("bad hex %s: %v", k, err)
	}
	return b
}

func loadVectors(t *testing.T, name string) []hexVec {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []hexVec }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return f.Vectors
}

// seedWithMask returns a reader producing the 24-byte IV seed NewCipher reads, arranged so
// that the AEAD explicit IV for sequence number seq equals iv.
func seedWithMask(iv []byte, seq uint64) *bytes.Reader {
	seed := make([]byte, 24)
	binary.BigEndian.PutUint64(seed[16:], binary.BigEndian.Uint64(iv)^seq)
	return bytes.NewReader(seed)
}

func newOp(aad, iv, data []byte, room int) Op {
	buf := make([]byte, len(data), len(data)+room)
	copy(buf, data)
	return Op{AAD: append([]byte(nil), aad...), IV: append([]byte(nil), iv...), Data: buf}
}

// TestGCMVectors checks AES-GCM sealing and opening against draft-mcgrew-gcm-test-01, and
// the 8- and 12-byte ICV variants against the truncated tags (RFC 4106 §6).
func TestGCMVectors(t *testing.T) {
	for i, v := range loadVectors(t, "esp_gcm_vectors.json") {
		key, nonce := v.b(t, "key"), v.b(t, "nonce")
		pt, ct, tag := v.b(t, "pt"), v.b(t, "ct"), v.b(t, "tag")
		for _, icv := range []int{16, 12, 8} {
			t.Run(fmt.Sprintf("%d/icv%d", i, icv), func(t *testing.T) {
				alg := Lookup(fmt.Sprintf("aes%dgcm%d", len(key)*8, icv))
				const seq = 7
				c, err := NewCipher(alg, nil, append(key, nonce[:4]...), nil, seedWithMask(nonce[4:], seq))
				if err != nil {
					t.Fatal(err)
				}
				op := newOp(v.b(t, "aad"), make([]byte, 8), pt, 16)
				op.Seq = seq
				ops := []Op{op}
				c.SealBatch(ops)
				if ops[0].Err != nil {
					t.Fatal(ops[0].Err)
				}
				if !bytes.Equal(ops[0].IV, nonce[4:]) {
					t.Fatalf("IV %x, want %x", ops[0].IV, nonce[4:])
				}
				got := ops[0].Data[:len(pt)+icv]
				want := append(append([]byte(nil), ct...), tag[:icv]...)
				if !bytes.Equal(got, want) {
					t.Fatalf("sealed\n%x\nwant\n%x", got, want)
				}
				c.OpenBatch(ops)
				if ops[0].Err != nil {
					t.Fatal(ops[0].Err)
				}
				if !bytes.Equal(ops[0].Data, pt) {
					t.Fatalf("opened %x, want %x", ops[0].Data, pt)
				}
			})
		}
	}
}

// TestChaChaVector checks RFC 7634 Appendix A.
func TestChaChaVector(t *testing.T) {
	v := loadVectors(t, "esp_chacha_vectors.json")[0]
	iv := v.b(t, "iv")
	c, err := NewCipher(Lookup("chacha20poly1305"), nil, v.b(t, "key"), nil, seedWithMask(iv, 5))
	if err != nil {
		t.Fatal(err)
	}
	ops := []Op{newOp(v.b(t, "aad"), make([]byte, 8), v.b(t, "pt"), 16)}
	ops[0].Seq = 5
	c.SealBatch(ops)
	want := append(v.b(t, "ct"), v.b(t, "tag")...)
	if got := ops[0].Data[:len(want)]; ops[0].Err != nil || !bytes.Equal(got, want) {
		t.Fatalf("sealed %x (err %v)\nwant %x", got, ops[0].Err, want)
	}
	c.OpenBatch(ops)
	if ops[0].Err != nil || !bytes.Equal(ops[0].Data, v.b(t, "pt")) {
		t.Fatalf("open: %v %x", ops[0].Err, ops[0].Data)
	}
}

// TestCBCVectors decrypts the RFC 3602 §4 vectors through the ESP cipher (with an HMAC we
// compute independently), and checks that sealing produces standard CBC under the IV it chose.
func TestCBCVectors(t *testing.T) {
	integ := Lookup("sha256")
	macKey := bytes.Repeat([]byte{0x42}, integ.KeyLen())
	aad := []byte{0, 0, 0x10, 0, 0, 0, 0, 1}
	for i, v := range loadVectors(t, "cbc_vectors.json") {
		key, iv, pt, ct := v.b(t, "key"), v.b(t, "iv"), v.b(t, "pt"), v.b(t, "ct")
		c, err := NewCipher(Lookup("aes128"), integ, key, macKey, bytes.NewReader(make([]byte, 24)))
		if err != nil {
			t.Fatal(err)
		}
		m := hmac.New(sha256.New, macKey)
		m.Write(aad)
		m.Write(iv)
		m.Write(ct)
		op := newOp(aad, iv, append(append([]byte(nil), ct...), m.Sum(nil)[:16]...), 0)
		op.Data = op.Data[:len(ct)]
		ops := []Op{op}
		c.OpenBatch(ops)
		if ops[0].Err != nil || !bytes.Equal(ops[0].Data, pt) {
			t.Fatalf("case %d: open err %v, got %x want %x", i+1, ops[0].Err, ops[0].Data, pt)
		}
		// Seal: the ciphertext must be AES-CBC of pt under the IV written, the ICV the HMAC.
		ops = []Op{newOp(aad, make([]byte, 16), pt, 16)}
		ops[0].Seq = uint64(i + 1)
		c.SealBatch(ops)
		block, _ := aes.NewCipher(key)
		wantCT := make([]byte, len(pt))
		cipher.NewCBCEncrypter(block, ops[0].IV).CryptBlocks(wantCT, pt)
		if !bytes.Equal(ops[0].Data, wantCT) {
			t.Fatalf("case %d: sealed CBC differs from standard CBC", i+1)
		}
		m.Reset()
		m.Write(aad)
		m.Write(ops[0].IV)
		m.Write(wantCT)
		if !bytes.Equal(ops[0].Data[len(pt):len(pt)+16], m.Sum(nil)[:16]) {
			t.Fatalf("case %d: ICV is not HMAC-SHA256-128 over SPI‖SN‖IV‖ciphertext", i+1)
		}
	}
}

// TestCBCIVsUnpredictable checks that consecutive packets get distinct, non-sequential IVs
// (RFC 3602 §3) and that two SAs with different seeds differ.
func TestCBCIVsUnpredictable(t *testing.T) {
	mk := func(seed byte) *Cipher {
		c, err := NewCipher(Lookup("aes128"), Lookup("sha1"), make([]byte, 16), make([]byte, 20), bytes.NewReader(bytes.Repeat([]byte{seed}, 24)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := mk(1), mk(2)
	seen := map[string]bool{}
	for seq := uint64(1); seq < 200; seq++ {
		for _, c := range []*Cipher{a, b} {
			ops := []Op{newOp(nil, make([]byte, 16), make([]byte, 16), 12)}
			ops[0].Seq = seq
			c.SealBatch(ops)
			k := string(ops[0].IV)
			if seen[k] {
				t.Fatalf("IV repeated at seq %d", seq)
			}
			seen[k] = true
		}
	}
}

// TestHMACTruncated checks the integrity transforms against RFC 4231 / RFC 2202 test case 2,
// truncated as RFC 4868 §2.3 and RFC 2404 §2 say.
func TestHMACTruncated(t *testing.T) {
	key := []byte("Jefe")
	data := []byte("what do ya want for nothing?")
	full := map[string]string{
		"sha1":   "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
		"sha256": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		"sha384": "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
		"sha512": "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
	}
	icvLen := map[string]int{"sha1": 12, "sha256": 16, "sha384": 24, "sha512": 32}
	for name, h := range full {
		alg := Lookup(name)
		if alg.ICVSize != icvLen[name] {
			t.Fatalf("%s ICV %d, want %d", name, alg.ICVSize, icvLen[name])
		}
		// Integrity keys have the hash's length in ESP; pad the RFC key the way HMAC would.
		k := make([]byte, alg.KeyLen())
		copy(k, key)
		m, err := NewIntegrity(alg, k)
		if err != nil {
			t.Fatal(err)
		}
		icv := make([]byte, alg.ICVSize)
		m.Sum(icv, data[:10], data[10:])
		want, _ := hex.DecodeString(h)
		if !bytes.Equal(icv, want[:alg.ICVSize]) {
			t.Errorf("%s: %x, want %x", name, icv, want[:alg.ICVSize])
		}
		if !m.Verify(icv, data, nil) {
			t.Errorf("%s: verify failed", name)
		}
		icv[0] ^= 1
		if m.Verify(icv, data, nil) {
			t.Errorf("%s: verify accepted a flipped bit", name)
		}
	}
}

// espSuites lists every ESP encryption/integrity combination the registry offers.
func espSuites() [][2]*Algorithm {
	var out [][2]*Algorithm
	for _, e := range All(KindEncr) {
		if e.AEAD {
			out = append(out, [2]*Algorithm{e, nil})
			continue
		}
		for _, i := range All(KindInteg) {
			out = append(out, [2]*Algorithm{e, i})
		}
	}
	return out
}

func newSuite(t testing.TB, s [2]*Algorithm) *Cipher {
	enc := bytes.Repeat([]byte{0x11}, s[0].KeyLen())
	if s[0].Name == "3des" {
		enc = []byte("0123456789abcdefFEDCBA98") // 3DES refuses K1 = K2
	}
	var ik []byte
	if s[1] != nil {
		ik = bytes.Repeat([]byte{0x22}, s[1].KeyLen())
	}
	c, err := NewCipher(s[0], s[1], enc, ik, bytes.NewReader(make([]byte, 24)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRoundTripAndTamper seals and opens with every suite, then flips every bit of AAD, IV,
// ciphertext and ICV and requires each to be rejected.
func TestRoundTripAndTamper(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	for _, s := range espSuites() {
		name := s[0].Name
		if s[1] != nil {
			name += "-" + s[1].Name
		}
		t.Run(name, func(t *testing.T) {
			c := newSuite(t, s)
			n := 3 * c.BlockSize()
			pt := make([]byte, n)
			for i := range pt {
				pt[i] = byte(rng.Uint32())
			}
			aad := []byte{1, 2, 3, 4, 0, 0, 0, 9}
			mk := func() Op {
				op := newOp(aad, make([]byte, c.IVSize()), pt, c.Tailroom())
				op.Seq = 9
				return op
			}
			ops := []Op{mk()}
			c.SealBatch(ops)
			if ops[0].Err != nil {
				t.Fatal(ops[0].Err)
			}
			sealed := ops[0]
			wire := append([]byte(nil), sealed.Data[:n+c.ICVSize()]...)
			if s[0].Name != "null" && bytes.Equal(wire[:n], pt) {
				t.Fatal("ciphertext equals plaintext")
			}
			open := func(aad, iv, wire []byte) error {
				buf := append(make([]byte, 0, len(wire)+16), wire...)
				o := []Op{{AAD: aad, IV: iv, Data: buf[:n]}}
				c.OpenBatch(o)
				if o[0].Err == nil && !bytes.Equal(o[0].Data, pt) {
					t.Fatal("opened to wrong plaintext")
				}
				return o[0].Err
			}
			if err := open(aad, sealed.IV, wire); err != nil {
				t.Fatalf("round trip: %v", err)
			}
			for _, part := range []string{"aad", "iv", "data"} {
				var b []byte
				switch part {
				case "aad":
					b = aad
				case "iv":
					b = sealed.IV
				case "data":
					b = wire
				}
				for bit := 0; bit < len(b)*8; bit++ {
					mod := append([]byte(nil), b...)
					mod[bit/8] ^= 1 << (bit % 8)
					a, iv, w := aad, sealed.IV, wire
					switch part {
					case "aad":
						a = mod
					case "iv":
						iv = mod
					case "data":
						w = mod
					}
					if err := open(a, iv, w); !errors.Is(err, ErrAuth) {
						t.Fatalf("flipped %s bit %d accepted (err %v)", part, bit, err)
					}
				}
			}
		})
	}
}

// TestTail covers the unsent integrity tail (ESN high bits) of integrity-only suites.
func TestTail(t *testing.T) {
	c := newSuite(t, [2]*Algorithm{Lookup("aes128"), Lookup("sha256")})
	op := newOp([]byte("spi-seq!"), make([]byte, 16), make([]byte, 32), 16)
	op.Tail = []byte{0, 0, 0, 1}
	ops := []Op{op}
	c.SealBatch(ops)
	buf := append([]byte(nil), ops[0].Data[:48]...)
	o := []Op{{AAD: []byte("spi-seq!"), IV: ops[0].IV, Data: buf[:32], Tail: []byte{0, 0, 0, 2}}}
	c.OpenBatch(o)
	if !errors.Is(o[0].Err, ErrAuth) {
		t.Fatalf("wrong ESN high bits accepted: %v", o[0].Err)
	}
}

func TestCipherErrors(t *testing.T) {
	if _, err := NewCipher(Lookup("aes128gcm16"), nil, make([]byte, 16), nil, bytes.NewReader(make([]byte, 24))); err == nil {
		t.Error("GCM key without salt accepted")
	}
	if _, err := NewCipher(Lookup("aes128"), nil, make([]byte, 16), nil, bytes.NewReader(make([]byte, 24))); err == nil {
		t.Error("CBC without integrity accepted")
	}
	if _, err := NewCipher(Lookup("aes128gcm16"), Lookup("sha1"), make([]byte, 20), make([]byte, 20), bytes.NewReader(make([]byte, 24))); err == nil {
		t.Error("AEAD with integrity accepted")
	}
	if _, err := NewCipher(Lookup("aes128"), Lookup("sha1"), make([]byte, 16), make([]byte, 20), strings.NewReader("short")); err == nil {
		t.Error("short random source accepted")
	}
	c := newSuite(t, [2]*Algorithm{Lookup("aes128"), Lookup("sha1")})
	ops := []Op{newOp(nil, make([]byte, 16), make([]byte, 15), 12), newOp(nil, make([]byte, 16), make([]byte, 16), 0)}
	c.SealBatch(ops)
	if ops[0].Err != ErrLength || ops[1].Err != ErrRoom {
		t.Fatalf("errors %v, %v", ops[0].Err, ops[1].Err)
	}
}

func TestZeroAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	for _, s := range [][2]*Algorithm{{Lookup("aes128gcm16"), nil}, {Lookup("aes128"), Lookup("sha256")}, {Lookup("chacha20poly1305"), nil}} {
		c := newSuite(t, s)
		ops := make([]Op, 16)
		bufs := make([][]byte, 16)
		for i := range ops {
			bufs[i] = make([]byte, 1400+64)
		}
		aad := make([]byte, 8)
		iv := make([]byte, 16)
		allocs := testing.AllocsPerRun(100, func() {
			for i := range ops {
				ops[i] = Op{Seq: uint64(i + 1), AAD: aad, IV: iv[:c.IVSize()], Data: bufs[i][:1392]}
			}
			c.SealBatch(ops)
			c.OpenBatch(ops)
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocs per batch", s[0].Name, allocs)
		}
	}
}

func TestKeyRedacted(t *testing.T) {
	k := Key{0xde, 0xad, 0xbe, 0xef}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%x %X %v %+v %#v %s %q", k, k, k, k, k, k, k)} {
		if strings.Contains(strings.ToLower(s), "dead") || strings.Contains(s, "222") {
			t.Fatalf("key leaked: %s", s)
		}
	}
	j, _ := json.Marshal(struct{ K Key }{k})
	if strings.Contains(string(j), "3q2") || strings.Contains(string(j), "222") {
		t.Fatalf("key leaked in JSON: %s", j)
	}
	k.Wipe()
	if !bytes.Equal(k, make([]byte, 4)) {
		t.Fatal("wipe left bytes")
	}
}

// raceEnabled is set under -race (race_test.go).
var raceEnabled bool

func skipAllocsUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
}
