package esp

// Benchmarks of the ESP data plane beside the bare ciphers on the same packet sizes, so the
// cost of ESP framing shows as a ratio measured in one run:
//
//	go test ./esp -run ^$ -bench 'ESP|Bare' -benchmem
//
// Each iteration processes one batch of benchBatch packets. BenchmarkRoundTrip interleaves,
// per suite and size, "esp" (encap+decap through the batch API) and "bare" (Seal+Open of the
// same bytes with the cipher used directly), both in place with no copy, so `-count N` gives
// N side-by-side pairs. BenchmarkESP "encap"/"decap" and BenchmarkBare "seal"/"open" copy the
// input into place first, in both families alike.

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"

	ocrypto "oakley/crypto"
)

const benchBatch = 64

var benchSuites = []suite{
	{"aes128gcm16", ""}, {"aes256gcm16", ""}, {"chacha20poly1305", ""},
	{"aes128", "sha1"}, {"aes128", "sha256"}, {"aes256", "sha512"}, {"3des", "sha1"},
}

var benchSizes = []int{64, 512, 1400, 8192}

func suiteName(s suite) string {
	if s.integ == "" {
		return s.enc
	}
	return s.enc + "-" + s.integ
}

func benchPacket(size int) []byte {
	if size < 28 {
		size = 28
	}
	return udpPacket(innerSrc4, innerDst4, size, 7)
}

func BenchmarkESP(b *testing.B) {
	for _, s := range benchSuites {
		for _, size := range benchSizes {
			pkt := benchPacket(size)
			bufSize := Headroom + size + Tailroom
			b.Run(fmt.Sprintf("%s/%d/encap", suiteName(s), size), func(b *testing.B) {
				out, _ := newPair(b, pairOpts{enc: s.enc, integ: s.integ})
				bt := NewBatch(benchBatch, bufSize)
				b.SetBytes(int64(size * benchBatch))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					bt.Reset(benchBatch)
					for i := range benchBatch {
						copy(bt.Bufs[i][Headroom:], pkt)
						bt.Offs[i], bt.Sizes[i] = Headroom, size
					}
					out.Encap(bt)
				}
			})
			b.Run(fmt.Sprintf("%s/%d/decap", suiteName(s), size), func(b *testing.B) {
				out, in := newPair(b, pairOpts{enc: s.enc, integ: s.integ, replay: 0})
				src := NewBatch(benchBatch, bufSize)
				load(src, func() [][]byte {
					ps := make([][]byte, benchBatch)
					for i := range ps {
						ps[i] = pkt
					}
					return ps
				}()...)
				out.Encap(src)
				bt := NewBatch(benchBatch, bufSize)
				b.SetBytes(int64(size * benchBatch))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					moveTo(bt, src)
					in.Decap(bt)
				}
				b.StopTimer()
				if bt.Errs[0] != nil {
					b.Fatal(bt.Errs[0])
				}
			})
		}
	}
}

// bare is the cipher the SA uses (the same crypto.Cipher: for AES-CBC the AES-NI kernels,
// for AES-GCM the standard library's) driven directly, one SealBatch or OpenBatch over the
// batch laid out as ESP lays it out (SPI ‖ SN, IV, data, ICV), without the rest of ESP:
// sequence numbers, padding, trailer, replay window, SA and policy lookups. So the ratio of
// the two families is what ESP adds to the cipher, not a comparison of two ciphers.
type bare struct {
	c     *ocrypto.Cipher
	ops   []ocrypto.Op
	iv    int
	block int
	icv   int
	seq   uint64
}

func newBare(b *testing.B, s suite) *bare {
	enc := ocrypto.Lookup(s.enc)
	key := make([]byte, enc.KeyLen())
	for i := range key {
		key[i] = byte(i * 7)
	}
	var integ *ocrypto.Algorithm
	var ikey []byte
	if s.integ != "" {
		integ = ocrypto.Lookup(s.integ)
		ikey = make([]byte, integ.KeyLen())
	}
	c, err := ocrypto.NewCipher(enc, integ, key, ikey, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return &bare{c: c, ops: make([]ocrypto.Op, benchBatch), iv: c.IVSize(), block: c.BlockSize(), icv: c.ICVSize()}
}

// layout points the ops at the buffers: header p[:8], IV, data up to n, the ICV after it.
func (x *bare) layout(bufs [][]byte, n int) {
	for i, p := range bufs {
		x.ops[i] = ocrypto.Op{AAD: p[:8], IV: p[8 : 8+x.iv], Data: p[8+x.iv : n]}
	}
}

// seal encrypts and authenticates every buffer in place (one batch).
func (x *bare) seal(bufs [][]byte, n int) {
	x.layout(bufs, n)
	for i := range x.ops {
		x.seq++
		x.ops[i].Seq = x.seq
	}
	x.c.SealBatch(x.ops)
}

// open verifies and decrypts every buffer in place; it reports the first failure.
func (x *bare) open(bufs [][]byte, n int) error {
	x.layout(bufs, n)
	x.c.OpenBatch(x.ops)
	for i := range x.ops {
		if err := x.ops[i].Err; err != nil {
			return err
		}
	}
	return nil
}

// bareBufs returns the batch of buffers bare works on: n bytes each (header, IV, the packet
// padded to the block size, as ESP would encrypt it) and room for the ICV.
func (x *bare) bareBufs(size int) (bufs [][]byte, n int) {
	n = 8 + x.iv + (size+2+x.block-1)/x.block*x.block
	bufs = make([][]byte, benchBatch)
	for i := range bufs {
		bufs[i] = make([]byte, n+64)
		copy(bufs[i][8+x.iv:], benchPacket(size))
	}
	return bufs, n
}

func BenchmarkBare(b *testing.B) {
	for _, s := range benchSuites {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d/seal", suiteName(s), size), func(b *testing.B) {
				x := newBare(b, s)
				bufs, n := x.bareBufs(size)
				plain := bytes.Clone(bufs[0][:n])
				b.SetBytes(int64(size * benchBatch))
				b.ReportAllocs()
				for range b.N {
					for _, p := range bufs {
						copy(p, plain)
					}
					x.seal(bufs, n)
				}
			})
			b.Run(fmt.Sprintf("%s/%d/open", suiteName(s), size), func(b *testing.B) {
				x := newBare(b, s)
				bufs, n := x.bareBufs(size)
				x.seal(bufs, n)
				sealed := make([][]byte, len(bufs))
				for i, p := range bufs {
					sealed[i] = bytes.Clone(p[:n+x.icv])
				}
				b.SetBytes(int64(size * benchBatch))
				b.ReportAllocs()
				for range b.N {
					for i, p := range bufs {
						copy(p, sealed[i])
					}
					if err := x.open(bufs, n); err != nil {
						b.Fatal("bare open failed: ", err)
					}
				}
			})
		}
	}
}

// BenchmarkRoundTrip is the ratio: ESP encap+decap through the batch API against the
// bare cipher's Seal+Open on the same bytes, interleaved so both see the same machine.
func BenchmarkRoundTrip(b *testing.B) {
	for _, s := range benchSuites {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d/esp", suiteName(s), size), func(b *testing.B) {
				benchESPRoundTrip(b, s, size)
			})
			b.Run(fmt.Sprintf("%s/%d/bare", suiteName(s), size), func(b *testing.B) {
				benchBareRoundTrip(b, s, size)
			})
		}
	}
}

func benchESPRoundTrip(b *testing.B, s suite, size int) {
	pkt := benchPacket(size)
	out, in := newPair(b, pairOpts{enc: s.enc, integ: s.integ, replay: 1024})
	bt := NewBatch(benchBatch, Headroom+size+Tailroom)
	for i := range benchBatch {
		copy(bt.Bufs[i][Headroom:], pkt)
	}
	b.SetBytes(int64(size * benchBatch))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		bt.Reset(benchBatch)
		for i := range benchBatch {
			bt.Offs[i], bt.Sizes[i] = Headroom, size
		}
		out.Encap(bt)
		in.Decap(bt)
	}
	b.StopTimer()
	for i := range benchBatch {
		if bt.Errs[i] != nil {
			b.Fatal(bt.Errs[i])
		}
	}
}

func benchBareRoundTrip(b *testing.B, s suite, size int) {
	x := newBare(b, s)
	bufs, n := x.bareBufs(size)
	b.SetBytes(int64(size * benchBatch))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		x.seal(bufs, n)
		if err := x.open(bufs, n); err != nil {
			b.Fatal("bare open failed: ", err)
		}
	}
}

// BenchmarkNewPair is the cost of installing an SA pair (both directions' key setup and
// the SA's own state), what a gateway pays per child SA and rekey: go test ./esp -bench
// NewPair.
func BenchmarkNewPair(b *testing.B) {
	for _, s := range benchSuites {
		b.Run(suiteName(s), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, in := newPair(b, pairOpts{enc: s.enc, integ: s.integ, replay: 1024})
				out.Close()
				in.Close()
			}
		})
	}
}
