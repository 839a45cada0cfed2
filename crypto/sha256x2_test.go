package crypto

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

var sha256IV = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// padSHA256 returns msg with SHA-256 padding.
func padSHA256(msg []byte) []byte {
	n := len(msg)
	out := append([]byte{}, msg...)
	out = append(out, 0x80)
	for len(out)%64 != 56 {
		out = append(out, 0)
	}
	return binary.BigEndian.AppendUint64(out, uint64(n)*8)
}

func digestBytes(d *[8]uint32) []byte {
	var out []byte
	for _, v := range d {
		out = binary.BigEndian.AppendUint32(out, v)
	}
	return out
}

func TestSHA256Blocks(t *testing.T) {
	if !haveSHANI {
		t.Skip("no SHA-NI")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		a := make([]byte, r.IntN(2000))
		b := make([]byte, r.IntN(2000))
		for j := range a {
			a[j] = byte(r.Uint32())
		}
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		pa, pb := padSHA256(a), padSHA256(b)
		wa, wb := sha256.Sum256(a), sha256.Sum256(b)
		d1 := sha256IV
		sha256Block1(&d1, &pa[0], len(pa)/64)
		if got := digestBytes(&d1); string(got) != string(wa[:]) {
			t.Fatalf("1-way len %d: %x want %x", len(a), got, wa)
		}
		da, db := sha256IV, sha256IV
		n := min(len(pa), len(pb)) / 64
		sha256Block2(&da, &db, &pa[0], &pb[0], n)
		if len(pa)/64 > n {
			sha256Block1(&da, &pa[64*n], len(pa)/64-n)
		}
		if len(pb)/64 > n {
			sha256Block1(&db, &pb[64*n], len(pb)/64-n)
		}
		if got := digestBytes(&da); string(got) != string(wa[:]) {
			t.Fatalf("2-way a len %d: %x want %x", len(a), got, wa)
		}
		if got := digestBytes(&db); string(got) != string(wb[:]) {
			t.Fatalf("2-way b len %d: %x want %x", len(b), got, wb)
		}
	}
}

// BenchmarkSHA256Blocks: two messages of size bytes (whole blocks), hashed by Go's sha256
// one after the other, by sha256Block1 twice, and by sha256Block2 in lockstep.
func BenchmarkSHA256Blocks(b *testing.B) {
	if !haveSHANI {
		b.Skip("no SHA-NI")
	}
	for _, size := range []int{64, 1408} {
		ma, mb := make([]byte, size), make([]byte, size)
		n := size / 64
		b.Run("go/"+itoa(size), func(b *testing.B) {
			b.SetBytes(int64(2 * size))
			h := sha256.New()
			for b.Loop() {
				h.Reset()
				h.Write(ma)
				h.Write(mb)
			}
		})
		b.Run("1way/"+itoa(size), func(b *testing.B) {
			b.SetBytes(int64(2 * size))
			da, db := sha256IV, sha256IV
			for b.Loop() {
				sha256Block1(&da, &ma[0], n)
				sha256Block1(&db, &mb[0], n)
			}
		})
		b.Run("2way/"+itoa(size), func(b *testing.B) {
			b.SetBytes(int64(2 * size))
			da, db := sha256IV, sha256IV
			for b.Loop() {
				sha256Block2(&da, &db, &ma[0], &mb[0], n)
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
