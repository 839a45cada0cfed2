package crypto

// HMAC-SHA256 for ESP on the SHA-NI kernels (sha256x2_amd64.s). SHA-NI hashes one message at
// a time latency-bound: each SHA256RNDS2 waits for the previous one (measured on the 2 vCPU
// EPYC: about 4 cycles latency, 2 cycles reciprocal throughput; two independent chains run
// at the throughput, four no faster). Hashing the MACs of two packets in lockstep keeps the
// SHA unit busy: 48.7 ns per pair of blocks against 80 ns one after the other. The keyed
// states after the ipad and opad blocks (RFC 2104) are computed once per SA; per packet only
// the message blocks and one outer block are compressed. Where SHA-NI is missing, on other
// architectures, and for other hashes, crypto/hmac is used.

import (
	"crypto/sha256"
	"encoding/binary"
)

// hmacSHA256 holds the SHA-256 states after the ipad and opad blocks. They are as secret as
// the key (they let anyone compute the MAC): wipe clears them. Immutable after
// newHMACSHA256; safe for concurrent use.
type hmacSHA256 struct {
	inner, outer [8]uint32
}

var sha256Init = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// newHMACSHA256 precomputes the keyed states, or returns nil without SHA-NI.
func newHMACSHA256(key []byte) *hmacSHA256 {
	if !haveSHANI {
		return nil
	}
	var pad [64]byte
	defer Wipe(pad[:])
	if len(key) > 64 {
		sum := sha256.Sum256(key)
		copy(pad[:], sum[:])
		Wipe(sum[:])
	} else {
		copy(pad[:], key)
	}
	h := &hmacSHA256{inner: sha256Init, outer: sha256Init}
	for i := range pad {
		pad[i] ^= 0x36
	}
	sha256Block1(&h.inner, &pad[0], 1)
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	sha256Block1(&h.outer, &pad[0], 1)
	return h
}

func (h *hmacSHA256) wipe() {
	clear(h.inner[:])
	clear(h.outer[:])
}

// macLane is one packet's MAC in progress: the message AAD ‖ IV ‖ Data ‖ Tail ‖ SHA-256
// padding as up to three runs of whole 64-byte blocks. Only the partial blocks at either end
// are copied (into head and tail); the blocks in between are read from Data in place.
type macLane struct {
	st    [8]uint32
	runs  [3][]byte
	nr    int
	head  [192]byte // AAD ‖ IV ‖ the start of Data, up to Data's first block boundary
	tail  [448]byte // the rest of Data ‖ Tail ‖ padding
	outer [64]byte  // inner digest ‖ padding
}

// Limits on the copied pieces that keep head and tail in bounds; ESP uses 24 and 0 or 4.
const (
	macLaneMaxHead = 128
	macLaneMaxTail = 64
)

// prepare lays out the message; false if AAD ‖ IV or Tail is too long for the buffers.
func (l *macLane) prepare(aad, iv, data, tail []byte) bool {
	h := len(aad) + len(iv)
	if h > macLaneMaxHead || len(tail) > macLaneMaxTail {
		return false
	}
	total := 64 + h + len(data) + len(tail) // the ipad block counts
	l.nr = 0
	d0 := (64 - h%64) % 64 // Data bytes that complete the block AAD ‖ IV starts
	t := 0
	if len(data)-d0 >= 64 {
		m := d0 + (len(data)-d0)&^63
		n := copy(l.head[:], aad)
		n += copy(l.head[n:], iv)
		n += copy(l.head[n:], data[:d0])
		if n > 0 {
			l.runs[0] = l.head[:n]
			l.nr = 1
		}
		l.runs[l.nr] = data[d0:m]
		l.nr++
		t = copy(l.tail[:], data[m:])
	} else {
		t = copy(l.tail[:], aad)
		t += copy(l.tail[t:], iv)
		t += copy(l.tail[t:], data)
	}
	t += copy(l.tail[t:], tail)
	l.tail[t] = 0x80
	end := (t + 1 + 8 + 63) &^ 63
	clear(l.tail[t+1 : end-8])
	binary.BigEndian.PutUint64(l.tail[end-8:end], uint64(total)*8)
	l.runs[l.nr] = l.tail[:end]
	l.nr++
	return true
}

// setOuter writes the outer hash's only block: the inner digest and its padding.
func (l *macLane) setOuter() {
	for i, v := range l.st {
		binary.BigEndian.PutUint32(l.outer[4*i:], v)
	}
	l.outer[32] = 0x80
	clear(l.outer[33:56])
	binary.BigEndian.PutUint64(l.outer[56:], (64+32)*8)
}

// sum writes the MAC, truncated to len(dst) (at most 32) bytes, into dst.
func (l *macLane) sum(dst []byte) {
	var full [32]byte
	for i, v := range l.st {
		binary.BigEndian.PutUint32(full[4*i:], v)
	}
	copy(dst, full[:])
}

// mac1 computes the HMAC of the message prepared in a.
func (h *hmacSHA256) mac1(a *macLane) {
	a.st = h.inner
	for _, r := range a.runs[:a.nr] {
		sha256Block1(&a.st, &r[0], len(r)/64)
	}
	a.setOuter()
	a.st = h.outer
	sha256Block1(&a.st, &a.outer[0], 1)
}

// runCursor walks a lane's runs.
type runCursor struct {
	l *macLane
	i int
	r []byte // what is left of the current run
}

// more moves to the next run when the current one is used up; false at the end.
func (c *runCursor) more() bool {
	for len(c.r) == 0 {
		if c.i == c.l.nr {
			return false
		}
		c.r = c.l.runs[c.i]
		c.i++
	}
	return true
}

// mac2 computes the HMACs of the messages prepared in a and b: two-way while both have
// blocks left, then the longer one alone.
func (h *hmacSHA256) mac2(a, b *macLane) {
	a.st, b.st = h.inner, h.inner
	ca, cb := runCursor{l: a}, runCursor{l: b}
	for ca.more() && cb.more() {
		n := min(len(ca.r), len(cb.r)) / 64
		sha256Block2(&a.st, &b.st, &ca.r[0], &cb.r[0], n)
		ca.r, cb.r = ca.r[64*n:], cb.r[64*n:]
	}
	for ca.more() {
		sha256Block1(&a.st, &ca.r[0], len(ca.r)/64)
		ca.r = nil
	}
	for cb.more() {
		sha256Block1(&b.st, &cb.r[0], len(cb.r)/64)
		cb.r = nil
	}
	a.setOuter()
	b.setOuter()
	a.st, b.st = h.outer, h.outer
	sha256Block2(&a.st, &b.st, &a.outer[0], &b.outer[0], 1)
}
