package crypto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	mrand "math/rand/v2"
	"testing"
)

func needSHANI(t testing.TB) {
	t.Helper()
	if !haveSHANI {
		t.Skip("no SHA-NI: HMAC-SHA256 uses crypto/hmac")
	}
}

func randBytes(r *mrand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func refHMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

type macMsg struct{ aad, iv, data, tail []byte }

// checkMAC2 computes the MACs of a and b one-way and two-way and compares them with crypto/hmac.
func checkMAC2(t *testing.T, key []byte, a, b macMsg) {
	t.Helper()
	h := newHMACSHA256(key)
	var la, lb macLane
	wa, wb := refHMAC(key, a.aad, a.iv, a.data, a.tail), refHMAC(key, b.aad, b.iv, b.data, b.tail)
	got := make([]byte, 32)
	if !la.prepare(a.aad, a.iv, a.data, a.tail) || !lb.prepare(b.aad, b.iv, b.data, b.tail) {
		t.Fatalf("prepare refused aad %d iv %d tail %d", len(a.aad), len(a.iv), len(a.tail))
	}
	h.mac2(&la, &lb)
	la.sum(got)
	if !bytes.Equal(got, wa) {
		t.Fatalf("2-way lane a: aad %d iv %d data %d tail %d (b: data %d): %x want %x", len(a.aad), len(a.iv), len(a.data), len(a.tail), len(b.data), got, wa)
	}
	lb.sum(got)
	if !bytes.Equal(got, wb) {
		t.Fatalf("2-way lane b: aad %d iv %d data %d tail %d (a: data %d): %x want %x", len(b.aad), len(b.iv), len(b.data), len(b.tail), len(a.data), got, wb)
	}
	la.prepare(a.aad, a.iv, a.data, a.tail)
	h.mac1(&la)
	la.sum(got[:16]) // truncated
	if !bytes.Equal(got[:16], wa[:16]) {
		t.Fatalf("1-way: aad %d iv %d data %d tail %d: %x want %x", len(a.aad), len(a.iv), len(a.data), len(a.tail), got[:16], wa[:16])
	}
}

// TestHMACSHA256 compares the SHA-NI HMAC with crypto/hmac over every data length up to 300
// bytes (every position of the 55/56/64-byte padding edges, for each header length) and random
// lengths up to 3,000, with and without Tail, paired with messages of other lengths.
func TestHMACSHA256(t *testing.T) {
	needSHANI(t)
	r := mrand.New(mrand.NewPCG(3, 4))
	keys := [][]byte{randBytes(r, 32), nil, randBytes(r, 64), randBytes(r, 65), randBytes(r, 200)}
	heads := [][2]int{{8, 16}, {0, 0}, {8, 0}, {12, 16}, {40, 24}, {64, 0}, {0, 64}, {100, 28}}
	tails := []int{0, 4, 1, 55, 56, 63, 64}
	for ki, key := range keys {
		for _, hd := range heads {
			for _, tl := range tails {
				if ki > 0 && tl > 4 {
					continue
				}
				aad, iv, tail := randBytes(r, hd[0]), randBytes(r, hd[1]), randBytes(r, tl)
				buf := randBytes(r, 3000)
				for n := 0; n <= 300; n++ {
					other := macMsg{randBytes(r, 8), randBytes(r, 16), buf[:r.IntN(3000)], tail[:r.IntN(len(tail)+1)]}
					checkMAC2(t, key, macMsg{aad, iv, buf[:n], tail}, other)
					checkMAC2(t, key, other, macMsg{aad, iv, buf[3000-n:], tail})
				}
				for range 100 {
					a := macMsg{aad, iv, buf[r.IntN(64):][:r.IntN(2900)], tail}
					b := macMsg{aad, iv, buf[:r.IntN(3000)], nil}
					checkMAC2(t, key, a, b)
				}
			}
		}
	}
}

func TestHMACSHA256Prepare(t *testing.T) {
	var l macLane
	big := make([]byte, macLaneMaxHead+1)
	if l.prepare(big, nil, nil, nil) || l.prepare(nil, nil, nil, make([]byte, macLaneMaxTail+1)) {
		t.Fatal("prepare accepted pieces its buffers cannot hold")
	}
	// The largest accepted pieces around the shortest data that gets a middle run, and all
	// short data: the buffers must hold them (no panic).
	for n := 0; n < 300; n++ {
		if !l.prepare(big[:macLaneMaxHead], nil, make([]byte, n), make([]byte, macLaneMaxTail)) {
			t.Fatal("prepare refused pieces at the limits")
		}
		if !l.prepare(big[:macLaneMaxHead-1], nil, make([]byte, n), make([]byte, macLaneMaxTail)) {
			t.Fatal("prepare refused pieces at the limits")
		}
	}
}

// newSHA256Pair returns two AES-CBC HMAC-SHA256 ciphers with the same keys and IV seed: one
// on the SHA-NI HMAC, one forced onto crypto/hmac.
func newSHA256Pair(t testing.TB, enc string) (fast, slow *Cipher) {
	mk := func() *Cipher {
		e := Lookup(enc)
		c, err := NewCipher(e, Lookup("sha256"), bytes.Repeat([]byte{7}, e.KeyLen()), bytes.Repeat([]byte{9}, 32), bytes.NewReader(make([]byte, 24)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	fast, slow = mk(), mk()
	if fast.hs == nil {
		t.Fatal("SHA-NI present but the cipher did not use it")
	}
	slow.hs = nil
	return fast, slow
}

// TestCipherHMACPairs seals and opens batches of 1, 2, 3, 5 and 64 packets of random sizes,
// some with Tail and some bad (skipped), on the SHA-NI HMAC and on crypto/hmac: identical
// packets, each opens the other's, and a corrupted ICV (or data) fails without decrypting.
func TestCipherHMACPairs(t *testing.T) {
	needSHANI(t)
	r := mrand.New(mrand.NewPCG(5, 6))
	for _, enc := range []string{"aes128", "aes256", "3des", "null"} {
		fast, slow := newSHA256Pair(t, enc)
		bs := fast.BlockSize()
		for _, size := range []int{1, 2, 3, 5, 64} {
			for round := range 20 {
				type spec struct {
					n, room int
					tail    []byte
				}
				specs := make([]spec, size)
				for i := range specs {
					specs[i] = spec{n: bs * r.IntN(1500/bs+1), room: 16}
					if r.IntN(3) == 0 {
						specs[i].tail = randBytes(r, 4)
					}
					switch {
					case size > 2 && i == size/2 && round%2 == 0:
						specs[i].room = 15 // ErrRoom
					case size > 2 && i == size/2 && bs > 1:
						specs[i].n++ // ErrLength
					}
				}
				pts := make([][]byte, size)
				mkOps := func() []Op {
					ops := make([]Op, size)
					for i, s := range specs {
						if pts[i] == nil {
							pts[i] = randBytes(r, s.n)
						}
						ops[i] = newOp(randBytes(mrand.New(mrand.NewPCG(uint64(i), 0)), 8), make([]byte, fast.IVSize()), pts[i], s.room)
						ops[i].Seq = uint64(100*round + i + 1)
						ops[i].Tail = s.tail
					}
					return ops
				}
				a, b := mkOps(), mkOps()
				fast.SealBatch(a)
				slow.SealBatch(b)
				for i := range a {
					if a[i].Err != b[i].Err {
						t.Fatalf("%s batch %d op %d: err %v vs %v", enc, size, i, a[i].Err, b[i].Err)
					}
					if a[i].Err == nil && (!bytes.Equal(a[i].Data[:len(a[i].Data)+16], b[i].Data[:len(b[i].Data)+16]) || !bytes.Equal(a[i].IV, b[i].IV)) {
						t.Fatalf("%s batch %d op %d (len %d, tail %d): sealed packet differs from crypto/hmac's", enc, size, i, len(a[i].Data), len(a[i].Tail))
					}
					if specs[i].room == 16 && len(pts[i])%bs == 0 && a[i].Err != nil {
						t.Fatalf("%s batch %d op %d: unexpected %v", enc, size, i, a[i].Err)
					}
				}
				// Corrupt some: an ICV bit, a data bit, a tail bit.
				bad := map[int]bool{}
				for i := range a {
					if a[i].Err != nil || r.IntN(4) != 0 {
						continue
					}
					bad[i] = true
					n := len(a[i].Data)
					switch r.IntN(3) {
					case 0:
						a[i].Data[:n+16][n+r.IntN(16)] ^= 1 << r.IntN(8)
					case 1:
						if n > 0 {
							a[i].Data[r.IntN(n)] ^= 1 << r.IntN(8)
						} else {
							a[i].IV[0] ^= 1
						}
					default:
						a[i].AAD = append([]byte(nil), a[i].AAD...)
						a[i].AAD[r.IntN(8)] ^= 1
					}
					copy(b[i].Data[:n+16], a[i].Data[:n+16])
					b[i].AAD, b[i].IV = a[i].AAD, a[i].IV
				}
				wire := make([][]byte, size)
				for i := range a {
					wire[i] = append([]byte(nil), a[i].Data...)
				}
				slow.OpenBatch(a)
				fast.OpenBatch(b)
				for i := range a {
					if specs[i].room != 16 || specs[i].n%bs != 0 {
						continue
					}
					if bad[i] {
						if a[i].Err != ErrAuth || b[i].Err != ErrAuth {
							t.Fatalf("%s batch %d op %d: corrupted packet not rejected: %v %v", enc, size, i, a[i].Err, b[i].Err)
						}
						if !bytes.Equal(b[i].Data, wire[i]) {
							t.Fatalf("%s batch %d op %d: rejected packet was decrypted", enc, size, i)
						}
						continue
					}
					if a[i].Err != nil || b[i].Err != nil || !bytes.Equal(a[i].Data, pts[i]) || !bytes.Equal(b[i].Data, pts[i]) {
						t.Fatalf("%s batch %d op %d: cross open failed: %v %v", enc, size, i, a[i].Err, b[i].Err)
					}
				}
			}
		}
		fast.Close()
		if fast.hs.inner != [8]uint32{} || fast.hs.outer != [8]uint32{} {
			t.Fatal("Close left the HMAC states in memory")
		}
	}
}

// TestCorruptICVFails is the negative control: a packet whose ICV was flipped after sealing
// must fail open on the SHA-NI path, alone and in a pair.
func TestCorruptICVFails(t *testing.T) {
	needSHANI(t)
	fast, _ := newSHA256Pair(t, "aes128")
	for _, size := range []int{1, 2} {
		ops := make([]Op, size)
		for i := range ops {
			ops[i] = newOp([]byte{1, 2, 3, 4, 0, 0, 0, 1}, make([]byte, 16), make([]byte, 1408), 16)
			ops[i].Seq = uint64(i + 1)
		}
		fast.SealBatch(ops)
		ops[size-1].Data[:1408+16][1408+15] ^= 0x80
		fast.OpenBatch(ops)
		if ops[size-1].Err != ErrAuth {
			t.Fatalf("batch %d: corrupted ICV accepted", size)
		}
		if size == 2 && ops[0].Err != nil {
			t.Fatalf("good packet beside a bad one rejected: %v", ops[0].Err)
		}
	}
}

// FuzzHMAC2 compares the two-way SHA-NI HMAC with crypto/hmac.
func FuzzHMAC2(f *testing.F) {
	f.Add([]byte("key"), 8, 16, []byte("abc"), []byte("defgh"), []byte{0, 0, 0, 1})
	f.Add(make([]byte, 32), 8, 16, make([]byte, 40), make([]byte, 1408), []byte{})
	f.Add(make([]byte, 65), 0, 0, make([]byte, 55), make([]byte, 56), make([]byte, 64))
	f.Fuzz(func(t *testing.T, key []byte, aadLen, ivLen int, a, b, tail []byte) {
		if !haveSHANI {
			t.Skip()
		}
		aadLen, ivLen = min(max(aadLen, 0), 64), min(max(ivLen, 0), 64)
		if len(tail) > macLaneMaxTail {
			tail = tail[:macLaneMaxTail]
		}
		hdr := make([]byte, aadLen+ivLen)
		for i := range hdr {
			hdr[i] = byte(i)
		}
		checkMAC2(t, key, macMsg{hdr[:aadLen], hdr[aadLen:], a, tail}, macMsg{hdr[:aadLen], hdr[aadLen:], b, nil})
	})
}

func BenchmarkHMACSHA256(b *testing.B) {
	needSHANI(b)
	for _, n := range []int{64, 1400} {
		aad, iv := make([]byte, 8), make([]byte, 16)
		da, db := make([]byte, n), make([]byte, n)
		key := make([]byte, 32)
		b.Run(fmt.Sprintf("hmac/%d", n), func(b *testing.B) {
			m := hmac.New(sha256.New, key)
			var sum [32]byte
			b.SetBytes(int64(n))
			for b.Loop() {
				for _, d := range [][]byte{da, db} {
					m.Reset()
					m.Write(aad)
					m.Write(iv)
					m.Write(d)
					m.Sum(sum[:0])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/pkt")
		})
		h := newHMACSHA256(key)
		var la, lb macLane
		var sum [16]byte
		b.Run(fmt.Sprintf("1way/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				for _, d := range [][]byte{da, db} {
					la.prepare(aad, iv, d, nil)
					h.mac1(&la)
					la.sum(sum[:])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/pkt")
		})
		b.Run(fmt.Sprintf("2way/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				la.prepare(aad, iv, da, nil)
				lb.prepare(aad, iv, db, nil)
				h.mac2(&la, &lb)
				la.sum(sum[:])
				lb.sum(sum[:])
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/pkt")
		})
	}
}
