package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	mrand "math/rand/v2"
	"testing"
)

func needAESNI(t testing.TB) {
	t.Helper()
	if !haveAESNI {
		t.Skip("no AES-NI kernels on this CPU/architecture; the standard library path is used")
	}
}

// TestSubWord checks the key schedule's SubWord (AESENCLAST where AES-NI is) against the
// computed S-box for every byte value in every position and for random words.
func TestSubWord(t *testing.T) {
	want := func(x uint32) uint32 {
		return uint32(sboxCT(byte(x>>24)))<<24 | uint32(sboxCT(byte(x>>16)))<<16 |
			uint32(sboxCT(byte(x>>8)))<<8 | uint32(sboxCT(byte(x)))
	}
	check := func(x uint32) {
		t.Helper()
		if got, w := subWord(x), want(x); got != w {
			t.Fatalf("subWord(%#08x) = %#08x, want %#08x", x, got, w)
		}
	}
	for b := range 256 {
		for shift := 0; shift < 32; shift += 8 {
			check(uint32(b) << shift)
			check(uint32(b)<<shift | 0x5a5a5a5a&^(0xff<<shift))
		}
	}
	r := mrand.New(mrand.NewPCG(5, 6))
	for range 100000 {
		check(r.Uint32())
	}
}

func BenchmarkExpandKey(b *testing.B) {
	key := make([]byte, 32)
	for _, n := range []int{16, 32} {
		b.Run(fmt.Sprint(n*8), func(b *testing.B) {
			for b.Loop() {
				expandKeyFIPS197(key[:n]).Wipe()
			}
		})
	}
}

// TestSbox spot-checks the computed S-box against FIPS-197 Figure 7, checks it is a
// permutation, and checks the constant-time GF(2^8) product against schoolbook
// multiplication for every pair.
func TestSbox(t *testing.T) {
	for in, want := range map[byte]byte{0x00: 0x63, 0x01: 0x7c, 0x53: 0xed, 0xff: 0x16, 0x10: 0xca, 0x9a: 0xb8} {
		if got := sboxCT(in); got != want {
			t.Errorf("sbox[%#02x] = %#02x, want %#02x", in, got, want)
		}
	}
	var seen [256]bool
	for x := range 256 {
		v := sboxCT(byte(x))
		if seen[v] {
			t.Fatalf("sbox is not a permutation: %#02x twice", v)
		}
		seen[v] = true
	}
	for a := range 256 {
		for b := range 256 {
			// Schoolbook: carry-less product, then reduction by x^8+x^4+x^3+x+1.
			var p uint16
			for i := range 8 {
				if b>>i&1 == 1 {
					p ^= uint16(a) << i
				}
			}
			for i := 15; i >= 8; i-- {
				if p>>i&1 == 1 {
					p ^= 0x11b << (i - 8)
				}
			}
			if got := gfMulCT(byte(a), byte(b)); got != byte(p) {
				t.Fatalf("gfMulCT(%#02x, %#02x) = %#02x, want %#02x", a, b, got, p)
			}
		}
	}
}

// TestKeyExpansion checks the FIPS-197 Appendix A.1 last round key for AES-128 and that
// single-block encryption with our schedule equals crypto/aes for every key size.
func TestKeyExpansion(t *testing.T) {
	ek := expandKeyFIPS197([]byte{0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c})
	if got := fmt.Sprintf("%x", []byte(ek[160:176])); got != "d014f9a8c9ee2589e13f0cc8b6630ca6" {
		t.Fatalf("AES-128 round key 10 = %s", got)
	}
	needAESNI(t)
	for _, bits := range []int{128, 192, 256} {
		key := make([]byte, bits/8)
		for i := range key {
			key[i] = byte(i*7 + bits)
		}
		a := newAESNICBC(key)
		std, _ := aes.NewCipher(key)
		for trial := range 64 {
			var blk, want [16]byte
			for i := range blk {
				blk[i] = byte(trial*31 + i*13)
			}
			std.Encrypt(want[:], blk[:])
			var iv [16]byte
			got := blk
			cbcEncrypt1(a.nr, &a.ek[0], &got[0], 1, &iv[0])
			if got != want {
				t.Fatalf("AES-%d: encrypt %x = %x, want %x", bits, blk, got, want)
			}
			a.decrypt(got[:], make([]byte, 16))
			if got != blk {
				t.Fatalf("AES-%d: decrypt does not invert encrypt", bits)
			}
		}
	}
}

// TestAESNICBCMatchesStdlib compares both kernels with crypto/cipher's CBC over random keys,
// IVs and lengths (0 to 100 blocks, covering the 8-block and tail paths), in place.
func TestAESNICBCMatchesStdlib(t *testing.T) {
	needAESNI(t)
	r := mrand.New(mrand.NewPCG(1, 2))
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
	for trial := range 300 {
		bits := []int{128, 192, 256}[trial%3]
		key := make([]byte, bits/8)
		fill(key)
		a := newAESNICBC(key)
		std, _ := aes.NewCipher(key)

		// Decrypt one buffer.
		iv := make([]byte, 16)
		fill(iv)
		ct := make([]byte, 16*r.IntN(101))
		fill(ct)
		want := make([]byte, len(ct))
		cipher.NewCBCDecrypter(std, iv).CryptBlocks(want, ct)
		got := bytes.Clone(ct)
		ivCopy := bytes.Clone(iv)
		a.decrypt(got, ivCopy)
		if !bytes.Equal(got, want) {
			t.Fatalf("trial %d AES-%d: decrypt of %d blocks differs", trial, bits, len(ct)/16)
		}
		if !bytes.Equal(ivCopy, iv) {
			t.Fatal("decrypt modified the caller's IV")
		}

		// Encrypt 1..4 lanes of independent lengths.
		n := 1 + r.IntN(4)
		lanes, ivs, wants := make([][]byte, n), make([][]byte, n), make([][]byte, n)
		for i := range n {
			lanes[i] = make([]byte, 16*r.IntN(101))
			fill(lanes[i])
			ivs[i] = make([]byte, 16)
			fill(ivs[i])
			wants[i] = make([]byte, len(lanes[i]))
			cipher.NewCBCEncrypter(std, ivs[i]).CryptBlocks(wants[i], lanes[i])
		}
		a.encryptLanes(lanes, ivs)
		for i := range n {
			if !bytes.Equal(lanes[i], wants[i]) {
				t.Fatalf("trial %d AES-%d: lane %d/%d (%d blocks) differs", trial, bits, i, n, len(wants[i])/16)
			}
		}
	}
}

// TestAESNICipherMatchesStdlib runs whole ESP batches through a Cipher on the kernels and
// one forced onto the standard library, with the same keys and IV seed: identical packets,
// and each opens the other's. Bad ops inside a batch must not disturb the good ones.
func TestAESNICipherMatchesStdlib(t *testing.T) {
	needAESNI(t)
	for _, bits := range []int{128, 192, 256} {
		enc := Lookup(fmt.Sprintf("aes%d", bits))
		mk := func() *Cipher {
			c, err := NewCipher(enc, Lookup("sha256"), bytes.Repeat([]byte{7}, enc.KeyLen()), bytes.Repeat([]byte{9}, 32), bytes.NewReader(make([]byte, 24)))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		fast, slow := mk(), mk()
		if fast.ni == nil {
			t.Fatal("AES-NI present but the cipher did not use the kernels")
		}
		slow.ni = nil
		slow.hs = nil // and crypto/hmac
		lens := []int{16, 1408, 64, 0, 48, 1024, 16 * 90, 32, 17, 1424, 160}
		mkOps := func() []Op {
			ops := make([]Op, len(lens))
			for i, l := range lens {
				data := make([]byte, l)
				for j := range data {
					data[j] = byte(i + j)
				}
				room := 16
				if i == 2 {
					room = 3 // no room for the ICV
				}
				ops[i] = newOp([]byte{1, 2, 3, 4, 0, 0, 0, byte(i)}, make([]byte, 16), data, room)
				ops[i].Seq = uint64(i + 1)
			}
			return ops
		}
		a, b := mkOps(), mkOps()
		fast.SealBatch(a)
		slow.SealBatch(b)
		for i := range a {
			if a[i].Err != b[i].Err {
				t.Fatalf("AES-%d op %d: err %v vs stdlib %v", bits, i, a[i].Err, b[i].Err)
			}
			if a[i].Err == nil && (!bytes.Equal(a[i].Data[:len(a[i].Data)+16], b[i].Data[:len(b[i].Data)+16]) || !bytes.Equal(a[i].IV, b[i].IV)) {
				t.Fatalf("AES-%d op %d: sealed packet differs from the stdlib path", bits, i)
			}
		}
		if a[2].Err != ErrRoom || a[8].Err != ErrLength {
			t.Fatalf("bad ops not flagged: %v %v", a[2].Err, a[8].Err)
		}
		slow.OpenBatch(a)
		fast.OpenBatch(b)
		want := mkOps()
		for i := range a {
			if want[i].Err = nil; i == 2 || i == 8 {
				continue
			}
			if a[i].Err != nil || b[i].Err != nil || !bytes.Equal(a[i].Data, want[i].Data) || !bytes.Equal(b[i].Data, want[i].Data) {
				t.Fatalf("AES-%d op %d: cross open failed: %v %v", bits, i, a[i].Err, b[i].Err)
			}
		}
		fast.Close()
		for _, k := range []Key{fast.ni.ek, fast.ni.dk} {
			if !bytes.Equal(k, make([]byte, len(k))) {
				t.Fatal("Close left AES-NI round keys in memory")
			}
		}
	}
}

func BenchmarkAESCBC(b *testing.B) {
	key := make([]byte, 16)
	iv := make([]byte, 16)
	std, _ := aes.NewCipher(key)
	const size = 1408
	b.Run("stdlib-encrypt", func(b *testing.B) {
		buf := make([]byte, size)
		b.SetBytes(size)
		for b.Loop() {
			cipher.NewCBCEncrypter(std, iv).CryptBlocks(buf, buf)
		}
	})
	b.Run("stdlib-decrypt", func(b *testing.B) {
		buf := make([]byte, size)
		b.SetBytes(size)
		for b.Loop() {
			cipher.NewCBCDecrypter(std, iv).CryptBlocks(buf, buf)
		}
	})
	if !haveAESNI {
		return
	}
	a := newAESNICBC(key)
	b.Run("aesni-encrypt4", func(b *testing.B) {
		lanes := [][]byte{make([]byte, size), make([]byte, size), make([]byte, size), make([]byte, size)}
		ivs := [][]byte{iv, iv, iv, iv}
		b.SetBytes(4 * size)
		for b.Loop() {
			a.encryptLanes(lanes, ivs)
		}
	})
	b.Run("aesni-decrypt", func(b *testing.B) {
		buf := make([]byte, size)
		b.SetBytes(size)
		for b.Loop() {
			a.decrypt(buf, iv)
		}
	})
}
