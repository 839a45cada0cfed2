package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"testing"
)

func needVAESGCM(tb testing.TB) {
	tb.Helper()
	if !haveVAESGCM {
		tb.Skip("no VAES/VPCLMULQDQ/AVX-512 here")
	}
}

// ghMulRef is the GF(2^128) product of NIST SP 800-38D §6.3 (Algorithm 1), bit by bit.
func ghMulRef(xb, yb []byte) [16]byte {
	x, v := u128From(xb), u128From(yb)
	var z u128
	for i := range 128 {
		var bit uint64
		if i < 64 {
			bit = x.hi >> (63 - i) & 1
		} else {
			bit = x.lo >> (127 - i) & 1
		}
		if bit == 1 {
			z.hi ^= v.hi
			z.lo ^= v.lo
		}
		lsb := v.lo & 1
		v.lo = v.lo>>1 | v.hi<<63
		v.hi >>= 1
		if lsb == 1 {
			v.hi ^= 0xe1 << 56
		}
	}
	var out [16]byte
	binary.BigEndian.PutUint64(out[:], z.hi)
	binary.BigEndian.PutUint64(out[8:], z.lo)
	return out
}

func u128Bytes(u u128) [16]byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return b
}

// clmul64Ref is the carry-less product of a and b, bit by bit.
func clmul64Ref(a, b uint64) (hi, lo uint64) {
	for i := range 64 {
		if b>>i&1 == 1 {
			lo ^= a << i
			if i > 0 {
				hi ^= a >> (64 - i)
			}
		}
	}
	return hi, lo
}

// TestClmul64 checks the multiplication-based carry-less product against the bit loop, on
// the operands that carry most (all ones, every fourth bit) and on random ones. A wrong
// mask or a carry that reached a kept bit would change the product.
func TestClmul64(t *testing.T) {
	edge := []uint64{0, 1, 2, 1 << 63, ^uint64(0), 0x1111111111111111, 0x8888888888888888,
		0xf000000000000000, 0x000000000000000f, 0xc200000000000000, 0x5555555555555555, 0xaaaaaaaaaaaaaaaa}
	check := func(a, b uint64) {
		t.Helper()
		hi, lo := clmul64(a, b)
		whi, wlo := clmul64Ref(a, b)
		if hi != whi || lo != wlo {
			t.Fatalf("clmul64(%#x, %#x) = %#x:%#x, want %#x:%#x", a, b, hi, lo, whi, wlo)
		}
	}
	for _, a := range edge {
		for _, b := range edge {
			check(a, b)
		}
	}
	r := mrand.New(mrand.NewPCG(3, 4))
	for range 200000 {
		check(r.Uint64(), r.Uint64())
	}
}

func BenchmarkGHASHPowers(b *testing.B) {
	var h [16]byte
	h[3] = 0x5a
	tab := make([]byte, gcmVAESPowers*16)
	for b.Loop() {
		ghashPowers(tab, &h)
	}
}

// TestGHASHModel checks the Go model of the kernels' multiplication (ghMul with H·x) and the
// table of powers against the bit-by-bit reference.
func TestGHASHModel(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	rnd := func() []byte {
		b := make([]byte, 16)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	for i := range 2000 {
		x, h := rnd(), rnd()
		if i == 0 {
			h[0] |= 0x80 // exercise both branches of ghTimesX
			h[15] |= 1
		}
		want := ghMulRef(x, h)
		if got := u128Bytes(ghMul(u128From(x), ghTimesX(u128From(h)))); got != want {
			t.Fatalf("x=%x h=%x: %x, want %x", x, h, got, want)
		}
	}
	var h [16]byte
	copy(h[:], rnd())
	tab := make([]byte, 16*gcmVAESPowers)
	ghashPowers(tab, &h)
	pow := h // H^1
	for k := 1; k <= gcmVAESPowers; k++ {
		off := (gcmVAESPowers - k) * 16
		e := u128{binary.LittleEndian.Uint64(tab[off+8:]), binary.LittleEndian.Uint64(tab[off:])}
		// e = H^k·x; multiplying 1 (byte-reflected 0x80...) by it gives H^k back.
		one := make([]byte, 16)
		one[0] = 0x80
		if got := u128Bytes(ghMul(u128From(one), e)); got != pow {
			t.Fatalf("H^%d: %x, want %x", k, got, pow)
		}
		pow = ghMulRef(pow[:], h[:])
	}
}

// stdGCM seals with crypto/cipher.
func stdGCM(t testing.TB, key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// checkGCMVAES seals pt in place with g (with tailroom) and compares with std for every ICV
// length, then opens it again.
func checkGCMVAES(t testing.TB, g *gcmVAES, std cipher.AEAD, nonce, aad, pt []byte) {
	t.Helper()
	want := std.Seal(nil, nonce, pt, aad)
	for _, icv := range []int{16, 12, 8} {
		buf := make([]byte, len(pt), len(pt)+16)
		copy(buf, pt)
		g.seal(nonce, buf, aad, icv)
		if got := buf[:len(pt)+icv]; !bytes.Equal(got, want[:len(pt)+icv]) {
			t.Fatalf("len %d aad %d icv %d: sealed\n%x\nwant\n%x", len(pt), len(aad), icv, got, want[:len(pt)+icv])
		}
		if !g.open(nonce, buf[:len(pt)], aad, icv) {
			t.Fatalf("len %d aad %d icv %d: open failed", len(pt), len(aad), icv)
		}
		if !bytes.Equal(buf[:len(pt)], pt) {
			t.Fatalf("len %d aad %d icv %d: opened\n%x\nwant\n%x", len(pt), len(aad), icv, buf[:len(pt)], pt)
		}
	}
	// Open of std's output must agree with std.Open.
	ct := bytes.Clone(want)
	if !g.open(nonce, ct[:len(pt)], aad, 16) || !bytes.Equal(ct[:len(pt)], pt) {
		t.Fatalf("len %d aad %d: open of crypto/cipher's output failed", len(pt), len(aad))
	}
}

func gcmRand(r *mrand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

var gcmTestAADLens = []int{0, 8, 12, 13, 16, 20, 33, 100}

// TestGCMVAESEqual compares the kernels with crypto/cipher: every plaintext length 0..600 and
// random ones up to 9,000 bytes, several AAD lengths, all three key sizes.
func TestGCMVAESEqual(t *testing.T) {
	needVAESGCM(t)
	r := mrand.New(mrand.NewPCG(3, 4))
	for _, kl := range []int{16, 24, 32} {
		key := gcmRand(r, kl)
		g, std := newGCMVAES(key), stdGCM(t, key)
		for _, al := range gcmTestAADLens {
			t.Run(fmt.Sprintf("key%d/aad%d", kl*8, al), func(t *testing.T) {
				lens := make([]int, 0, 700)
				for n := range 601 {
					lens = append(lens, n)
				}
				for range 60 {
					lens = append(lens, r.IntN(9001))
				}
				for k := 1; k <= 4; k++ { // around the 32-block groups
					for d := -17; d <= 17; d++ {
						lens = append(lens, 512*k+d)
					}
				}
				lens = append(lens, 9000, 65536)
				for _, n := range lens {
					checkGCMVAES(t, g, std, gcmRand(r, 12), gcmRand(r, al), gcmRand(r, n))
				}
			})
		}
		t.Run(fmt.Sprintf("key%d/longaad", kl*8), func(t *testing.T) {
			for range 200 {
				checkGCMVAES(t, g, std, gcmRand(r, 12), gcmRand(r, r.IntN(2000)), gcmRand(r, r.IntN(2000)))
			}
		})
	}
}

// TestGCMVAESCounterCarry: the 32-bit counter wraps without carrying into the nonce (inc32).
// A GCM nonce of 96 bits always starts the counter at 2, so the wrap is only reachable
// through the kernel directly.
func TestGCMVAESCounterCarry(t *testing.T) {
	needVAESGCM(t)
	key := make([]byte, 16)
	g := newGCMVAES(key)
	b, _ := aes.NewCipher(key)
	var ctr [16]byte
	for i := range 12 {
		ctr[i] = 0xa0 + byte(i)
	}
	binary.BigEndian.PutUint32(ctr[12:], 0xfffffff0)
	data := make([]byte, 40*16+5)
	gcmVAESCtr(g.nr, &g.ek[0], &ctr, &data[0], &data[0], len(data))
	var blk, ks [16]byte
	for i := 0; i < len(data); i += 16 {
		blk = ctr
		binary.BigEndian.PutUint32(blk[12:], 0xfffffff0+uint32(i/16))
		b.Encrypt(ks[:], blk[:])
		if n := min(16, len(data)-i); !bytes.Equal(data[i:i+n], ks[:n]) {
			t.Fatalf("block %d: %x, want %x", i/16, data[i:i+n], ks[:n])
		}
	}
}

// gcmOpenTamper is set by TestGCMVAESRejectNegative to show that TestGCMVAESReject catches an
// Open that ignores the tag.
var gcmOpenTamper bool

func gcmOpenForTest(g *gcmVAES, nonce, data, aad []byte, icv int) bool {
	if gcmOpenTamper {
		var ctr [16]byte
		copy(ctr[:12], nonce)
		binary.BigEndian.PutUint32(ctr[12:], 2)
		if len(data) > 0 {
			gcmVAESCtr(g.nr, &g.ek[0], &ctr, &data[0], &data[0], len(data))
		}
		return true // "verified"
	}
	return g.open(nonce, data, aad, icv)
}

// rejectFailures flips single bits of ciphertext, tag, AAD and nonce and counts the opens that
// wrongly succeed.
func rejectFailures(t *testing.T, g *gcmVAES) int {
	r := mrand.New(mrand.NewPCG(5, 6))
	bad := 0
	for _, n := range []int{0, 1, 15, 16, 17, 100, 1400} {
		for _, icv := range []int{16, 12, 8} {
			nonce, aad, pt := gcmRand(r, 12), gcmRand(r, 12), gcmRand(r, n)
			sealed := make([]byte, n, n+16)
			copy(sealed, pt)
			g.seal(nonce, sealed, aad, icv)
			sealed = sealed[:n+icv]
			try := func(nonce, aad, msg []byte) {
				buf := bytes.Clone(msg)
				if gcmOpenForTest(g, nonce, buf[:n], aad, icv) {
					bad++
				}
			}
			for bit := 0; bit < 8*len(sealed); bit += 1 + 5*(bit/64) {
				m := bytes.Clone(sealed)
				m[bit/8] ^= 1 << (bit % 8)
				try(nonce, aad, m)
			}
			for bit := range 8 * len(aad) {
				a := bytes.Clone(aad)
				a[bit/8] ^= 1 << (bit % 8)
				try(nonce, a, sealed)
			}
			for bit := 0; bit < 96; bit += 7 {
				nn := bytes.Clone(nonce)
				nn[bit/8] ^= 1 << (bit % 8)
				try(nn, aad, sealed)
			}
			try(nonce, aad[:8], sealed) // shorter AAD
			// The untouched message opens.
			buf := bytes.Clone(sealed)
			if !g.open(nonce, buf[:n], aad, icv) || !bytes.Equal(buf[:n], pt) {
				t.Fatalf("len %d icv %d: genuine message rejected", n, icv)
			}
		}
	}
	return bad
}

// TestGCMVAESReject: Open refuses every single-bit change of ciphertext, tag (16, 12 and 8
// bytes), AAD and nonce.
func TestGCMVAESReject(t *testing.T) {
	needVAESGCM(t)
	g := newGCMVAES(bytes.Repeat([]byte{7}, 16))
	if bad := rejectFailures(t, g); bad != 0 {
		t.Fatalf("%d forgeries accepted", bad)
	}
}

// TestGCMVAESRejectNegative is the control: with an Open that ignores the tag, the same
// checks must find forgeries.
func TestGCMVAESRejectNegative(t *testing.T) {
	needVAESGCM(t)
	g := newGCMVAES(bytes.Repeat([]byte{7}, 16))
	gcmOpenTamper = true
	defer func() { gcmOpenTamper = false }()
	if bad := rejectFailures(t, g); bad == 0 {
		t.Fatal("the reject test does not catch an Open that ignores the tag")
	}
}

// TestGCMVAESKnownAnswers: the test cases with 96-bit IVs from McGrew and Viega, "The
// Galois/Counter Mode of Operation (GCM)", Appendix B (1-4, 7-10, 13-16).
func TestGCMVAESKnownAnswers(t *testing.T) {
	needVAESGCM(t)
	const (
		k0  = "00000000000000000000000000000000"
		kf  = "feffe9928665731c6d6a8f9467308308"
		iv3 = "cafebabefacedbaddecaf888"
		p3  = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
		p4  = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
		a4  = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
		z12 = "000000000000000000000000"
	)
	cases := []struct{ tc, key, iv, pt, aad, ct, tag string }{
		{"1", k0, z12, "", "", "", "58e2fccefa7e3061367f1d57a4e7455a"},
		{"2", k0, z12, k0, "", "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"},
		{"3", kf, iv3, p3, "", "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985", "4d5c2af327cd64a62cf35abd2ba6fab4"},
		{"4", kf, iv3, p4, a4, "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091", "5bc94fbc3221a5db94fae95ae7121a47"},
		{"7", k0 + k0[:16], z12, "", "", "", "cd33b28ac773f74ba00ed1f312572435"},
		{"8", k0 + k0[:16], z12, k0, "", "98e7247c07f0fe411c267e4384b0f600", "2ff58d80033927ab8ef4d4587514f0fb"},
		{"9", kf + kf[:16], iv3, p3, "", "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256", "9924a7c8587336bfb118024db8674a14"},
		{"10", kf + kf[:16], iv3, p4, a4, "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710", "2519498e80f1478f37ba55bd6d27618c"},
		{"13", k0 + k0, z12, "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
		{"14", k0 + k0, z12, k0, "", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
		{"15", kf + kf, iv3, p3, "", "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad", "b094dac5d93471bdec1a502270e3cc6c"},
		{"16", kf + kf, iv3, p4, a4, "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662", "76fc6ece0f4e1768cddf8853bb2d551b"},
	}
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range cases {
		g := newGCMVAES(h(c.key))
		pt := h(c.pt)
		buf := make([]byte, len(pt), len(pt)+16)
		copy(buf, pt)
		g.seal(h(c.iv), buf, h(c.aad), 16)
		if want := append(h(c.ct), h(c.tag)...); !bytes.Equal(buf[:len(pt)+16], want) {
			t.Fatalf("test case %s: %x, want %x", c.tc, buf[:len(pt)+16], want)
		}
		if !g.open(h(c.iv), buf[:len(pt)], h(c.aad), 16) || !bytes.Equal(buf[:len(pt)], pt) {
			t.Fatalf("test case %s: open failed", c.tc)
		}
	}
}

// FuzzGCMVAES compares seal and open with crypto/cipher in both directions.
func FuzzGCMVAES(f *testing.F) {
	f.Add(make([]byte, 16), make([]byte, 12), []byte{}, []byte{})
	f.Add(bytes.Repeat([]byte{1}, 24), bytes.Repeat([]byte{2}, 12), make([]byte, 8), make([]byte, 1400))
	f.Add(bytes.Repeat([]byte{3}, 32), bytes.Repeat([]byte{4}, 12), make([]byte, 12), make([]byte, 257))
	f.Fuzz(func(t *testing.T, key, nonce, aad, pt []byte) {
		if !haveVAESGCM {
			t.Skip()
		}
		switch {
		case len(key) >= 32:
			key = key[:32]
		case len(key) >= 24:
			key = key[:24]
		case len(key) >= 16:
			key = key[:16]
		default:
			key = append(key, make([]byte, 16-len(key))...)
		}
		nonce = append(nonce, make([]byte, 12)...)[:12]
		g, std := newGCMVAES(key), stdGCM(t, key)
		checkGCMVAES(t, g, std, nonce, aad, pt)
		// A corrupted message (ciphertext or tag) is refused, by both, and left untouched.
		ct := std.Seal(nil, nonce, pt, aad)
		ct[int(key[0])%len(ct)] ^= 1 << (key[1] % 8)
		if _, err := std.Open(nil, nonce, ct, aad); err == nil {
			t.Fatal("crypto/cipher opened a corrupted message")
		}
		buf := bytes.Clone(ct)
		if g.open(nonce, buf[:len(pt)], aad, 16) {
			t.Fatal("corrupted message opened")
		}
		if !bytes.Equal(buf, ct) {
			t.Fatal("refused message modified")
		}
	})
}

func BenchmarkGCM(b *testing.B) {
	key, nonce, aad := make([]byte, 16), make([]byte, 12), make([]byte, 8)
	std := stdGCM(b, key)
	var g *gcmVAES
	if haveVAESGCM {
		g = newGCMVAES(key)
	}
	for _, n := range []int{64, 576, 1400, 8192} {
		buf := make([]byte, n, n+16)
		b.Run(fmt.Sprintf("std/%d/seal", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				std.Seal(buf[:0], nonce, buf, aad)
			}
		})
		if g != nil {
			b.Run(fmt.Sprintf("vaes/%d/seal", n), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					g.seal(nonce, buf, aad, 16)
				}
			})
		}
		sealed := std.Seal(nil, nonce, make([]byte, n), aad)
		b.Run(fmt.Sprintf("std/%d/open", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				copy(buf[:n+16], sealed)
				if _, err := std.Open(buf[:0], nonce, buf[:n+16], aad); err != nil {
					b.Fatal(err)
				}
			}
		})
		if g != nil {
			b.Run(fmt.Sprintf("vaes/%d/open", n), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					copy(buf[:n+16], sealed)
					if !g.open(nonce, buf[:n], aad, 16) {
						b.Fatal("open failed")
					}
				}
			})
		}
	}
}

// withoutVAESGCM runs f with new ciphers on the standard library's GCM.
func withoutVAESGCM(f func()) {
	saved := useVAESGCM
	useVAESGCM = false
	defer func() { useVAESGCM = saved }()
	f()
}

// TestCipherGCMFallback runs the ESP cipher tests that cover AES-GCM on the standard
// library's path as well (the kernels' path is what they run on by default here).
func TestCipherGCMFallback(t *testing.T) {
	withoutVAESGCM(func() {
		c := newSuite(t, [2]*Algorithm{Lookup("aes128gcm16"), nil})
		if c.vg != nil || c.aead == nil {
			t.Fatal("fallback cipher uses the kernels")
		}
		t.Run("GCMVectors", TestGCMVectors)
		t.Run("RoundTripAndTamper", TestRoundTripAndTamper)
		t.Run("ZeroAllocs", TestZeroAllocs)
	})
}

// TestCipherGCMPaths: an ESP cipher on the kernels and one on the standard library, same keys
// and IV seed, produce the same packets for every AES-GCM transform and open each other's;
// truncated ICVs and single-bit changes are refused by the kernels' path.
func TestCipherGCMPaths(t *testing.T) {
	needVAESGCM(t)
	r := mrand.New(mrand.NewPCG(7, 8))
	for _, bits := range []int{128, 192, 256} {
		for _, icv := range []int{16, 12, 8} {
			alg := Lookup(fmt.Sprintf("aes%dgcm%d", bits, icv))
			t.Run(alg.Name, func(t *testing.T) {
				key, seed := gcmRand(r, alg.KeyLen()), gcmRand(r, 24)
				fast, err := NewCipher(alg, nil, key, nil, bytes.NewReader(seed))
				if err != nil {
					t.Fatal(err)
				}
				defer fast.Close()
				if fast.vg == nil || fast.aead != nil || fast.Tailroom() < icv {
					t.Fatal("cipher not on the kernels")
				}
				var slow *Cipher
				withoutVAESGCM(func() { slow, err = NewCipher(alg, nil, key, nil, bytes.NewReader(seed)) })
				if err != nil {
					t.Fatal(err)
				}
				if slow.vg != nil || slow.Tailroom() != fast.Tailroom() {
					t.Fatal("fallback cipher differs in shape")
				}
				for i := range 200 {
					n := 4 * r.IntN(400)
					aad := gcmRand(r, []int{8, 12}[i%2])
					pt := gcmRand(r, n)
					a, b := newOp(aad, make([]byte, 8), pt, fast.Tailroom()), newOp(aad, make([]byte, 8), pt, slow.Tailroom())
					a.Seq, b.Seq = uint64(i+1), uint64(i+1)
					fa, sb := []Op{a}, []Op{b}
					fast.SealBatch(fa)
					slow.SealBatch(sb)
					if fa[0].Err != nil || sb[0].Err != nil {
						t.Fatal(fa[0].Err, sb[0].Err)
					}
					wa, wb := fa[0].Data[:n+icv], sb[0].Data[:n+icv]
					if !bytes.Equal(wa, wb) || !bytes.Equal(fa[0].IV, sb[0].IV) {
						t.Fatalf("len %d: packets differ\n%x\n%x", n, wa, wb)
					}
					// Each opens the other's packet.
					for _, c := range []*Cipher{fast, slow} {
						buf := append(make([]byte, 0, n+16), wa...)
						o := []Op{{AAD: aad, IV: fa[0].IV, Data: buf[:n]}}
						c.OpenBatch(o)
						if o[0].Err != nil || !bytes.Equal(o[0].Data, pt) {
							t.Fatalf("len %d: open: %v", n, o[0].Err)
						}
					}
					// A flipped bit anywhere in the packet, or a flipped IV bit, is refused
					// by both.
					bit := r.IntN(8 * (n + icv + 8))
					for _, c := range []*Cipher{fast, slow} {
						buf := append(make([]byte, 0, n+16), wa...)
						iv := bytes.Clone(fa[0].IV)
						if bit < 8*(n+icv) {
							buf[bit/8] ^= 1 << (bit % 8)
						} else {
							iv[bit/8-n-icv] ^= 1 << (bit % 8)
						}
						o := []Op{{AAD: aad, IV: iv, Data: buf[:n]}}
						c.OpenBatch(o)
						if o[0].Err != ErrAuth {
							t.Fatalf("len %d: flipped bit %d: %v", n, bit, o[0].Err)
						}
					}
				}
				// Room: too little capacity for the ICV is refused, not overrun.
				o := []Op{newOp(make([]byte, 8), make([]byte, 8), make([]byte, 32), icv-1)}
				fast.SealBatch(o)
				if o[0].Err != ErrRoom {
					t.Fatalf("seal without room: %v", o[0].Err)
				}
				fast.OpenBatch(o)
				if o[0].Err != ErrRoom {
					t.Fatalf("open without room: %v", o[0].Err)
				}
			})
		}
	}
}

// TestCipherGCMClose: Close wipes the kernels' round keys and powers of H.
func TestCipherGCMClose(t *testing.T) {
	needVAESGCM(t)
	c := newSuite(t, [2]*Algorithm{Lookup("aes256gcm16"), nil})
	g := c.vg
	c.Close()
	if !bytes.Equal(g.ek, make([]byte, len(g.ek))) || !bytes.Equal(g.htab, make([]byte, len(g.htab))) {
		t.Fatal("key material left after Close")
	}
}
