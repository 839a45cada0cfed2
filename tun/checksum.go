package tun

import "encoding/binary"

// The Internet checksum, RFC 1071: a ones'-complement sum of 16-bit words. Partial sums are
// kept in a 64-bit accumulator of 32-bit words (2^16 ≡ 1 modulo 2^16-1, so summing 32-bit
// big-endian words and folding at the end gives the same result as summing 16-bit words) and
// folded once at the end.

// csumAdd adds b to a running (unfolded) sum. b is taken to start at an even offset of the
// checksummed data; only the last call for a piece of data may have an odd length.
func csumAdd(sum uint64, b []byte) uint64 {
	for len(b) >= 32 {
		x0 := binary.BigEndian.Uint64(b)
		x1 := binary.BigEndian.Uint64(b[8:])
		x2 := binary.BigEndian.Uint64(b[16:])
		x3 := binary.BigEndian.Uint64(b[24:])
		sum += x0>>32 + x0&0xffffffff + x1>>32 + x1&0xffffffff + x2>>32 + x2&0xffffffff + x3>>32 + x3&0xffffffff
		b = b[32:]
	}
	for len(b) >= 4 {
		sum += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

// csumFold folds a running sum to 16 bits (not complemented).
func csumFold(sum uint64) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// pseudoSum is the running sum of the TCP/UDP pseudo-header (RFC 793 §3.1, RFC 768, RFC 8200
// §8.1): source and destination address, protocol, upper-layer length.
func pseudoSum(src, dst []byte, proto byte, length int) uint64 {
	return csumAdd(csumAdd(uint64(proto)+uint64(length), src), dst)
}
