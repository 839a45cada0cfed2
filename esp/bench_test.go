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
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/subtle"
	"fmt"
	"hash"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

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

// bare is the same cipher used directly: one Seal and one Open per packet, in place.
type bare struct {
	aead   cipher.AEAD
	enc    cipher.BlockMode
	dec    cipher.BlockMode
	mac    hash.Hash
	icv    int
	iv     int
	block  int
	nonce  [12]byte
	sum    [64]byte
	failed bool
}

func newBare(b *testing.B, s suite) *bare {
	enc := ocrypto.Lookup(s.enc)
	key := make([]byte, enc.KeyBits/8)
	for i := range key {
		key[i] = byte(i * 7)
	}
	x := &bare{iv: enc.IVSize, block: max(enc.BlockSize, 4)}
	switch {
	case s.enc == "chacha20poly1305":
		x.aead, _ = chacha20poly1305.New(key)
		x.icv = 16
	case enc.AEAD:
		blk, _ := aes.NewCipher(key)
		x.aead, _ = cipher.NewGCM(blk)
		x.icv = 16
	default:
		var blk cipher.Block
		if s.enc == "3des" {
			blk, _ = newTripleDES()
		} else {
			blk, _ = aes.NewCipher(key)
		}
		x.enc = cipher.NewCBCEncrypter(blk, make([]byte, blk.BlockSize()))
		x.dec = cipher.NewCBCDecrypter(blk, make([]byte, blk.BlockSize()))
		integ := ocrypto.Lookup(s.integ)
		x.mac = hmac.New(integ.Hash.New, make([]byte, integ.KeyLen()))
		x.icv = integ.ICVSize
	}
	return x
}

type ivSetter interface{ SetIV([]byte) }

// seal encrypts p[16:n] with header p[:8] and IV p[8:16], appending the ICV at p[n:].
func (x *bare) seal(p []byte, n int) {
	aad, iv, data := p[:8], p[8:8+x.iv], p[8+x.iv:n]
	if x.aead != nil {
		copy(x.nonce[4:], iv)
		x.aead.Seal(data[:0], x.nonce[:], data, aad)
		return
	}
	x.enc.(ivSetter).SetIV(iv)
	x.enc.CryptBlocks(data, data)
	x.mac.Reset()
	x.mac.Write(p[:n])
	copy(p[n:], x.mac.Sum(x.sum[:0])[:x.icv])
}

func (x *bare) open(p []byte, n int) {
	aad, iv, data := p[:8], p[8:8+x.iv], p[8+x.iv:n]
	if x.aead != nil {
		copy(x.nonce[4:], iv)
		if _, err := x.aead.Open(data[:0], x.nonce[:], p[8+x.iv:n+x.icv], aad); err != nil {
			x.failed = true
		}
		return
	}
	x.mac.Reset()
	x.mac.Write(p[:n])
	if subtle.ConstantTimeCompare(x.mac.Sum(x.sum[:0])[:x.icv], p[n:n+x.icv]) != 1 {
		x.failed = true
	}
	x.dec.(ivSetter).SetIV(iv)
	x.dec.CryptBlocks(data, data)
}

func BenchmarkBare(b *testing.B) {
	for _, s := range benchSuites {
		for _, size := range benchSizes {
			x := newBare(b, s)
			// The same bytes ESP would encrypt: header, IV, payload padded to the block size.
			n := 8 + x.iv + (size+2+x.block-1)/x.block*x.block
			bufs := make([][]byte, benchBatch)
			for i := range bufs {
				bufs[i] = make([]byte, n+64)
			}
			pkt := make([]byte, n)
			copy(pkt[8+x.iv:], benchPacket(size))
			b.Run(fmt.Sprintf("%s/%d/seal", suiteName(s), size), func(b *testing.B) {
				b.SetBytes(int64(size * benchBatch))
				b.ReportAllocs()
				for range b.N {
					for _, p := range bufs {
						copy(p, pkt)
						x.seal(p, n)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/%d/open", suiteName(s), size), func(b *testing.B) {
				sealed := make([]byte, n+64)
				copy(sealed, pkt)
				x.seal(sealed, n)
				b.SetBytes(int64(size * benchBatch))
				b.ReportAllocs()
				for range b.N {
					for _, p := range bufs {
						copy(p, sealed[:n+x.icv])
						x.open(p, n)
					}
				}
				if x.failed {
					b.Fatal("bare open failed")
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
	n := 8 + x.iv + (size+2+x.block-1)/x.block*x.block
	bufs := make([][]byte, benchBatch)
	for i := range bufs {
		bufs[i] = make([]byte, n+64)
		copy(bufs[i][8+x.iv:], benchPacket(size))
	}
	b.SetBytes(int64(size * benchBatch))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, p := range bufs {
			x.seal(p, n)
			x.open(p, n)
		}
	}
	if x.failed {
		b.Fatal("bare open failed")
	}
}
