package esp

import (
	"encoding/binary"
	"net/netip"
)

// defaultTTL is the TTL / hop limit of headers oakley builds.
const defaultTTL = 64

// Checksum returns the Internet checksum (RFC 1071) of b.
func Checksum(b []byte, initial uint32) uint16 {
	sum := initial
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// putIPv4Header writes a 20-byte IPv4 header at h, RFC 791 §3.1.
func putIPv4Header(h []byte, total int, id uint16, proto byte, src, dst netip.Addr) {
	h[0], h[1] = 0x45, 0
	binary.BigEndian.PutUint16(h[2:], uint16(total))
	binary.BigEndian.PutUint16(h[4:], id)
	h[6], h[7] = 0, 0
	h[8], h[9] = defaultTTL, proto
	h[10], h[11] = 0, 0
	s, d := src.As4(), dst.As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	binary.BigEndian.PutUint16(h[10:], Checksum(h[:20], 0))
}

// putIPv6Header writes a 40-byte IPv6 header at h, RFC 8200 §3.
func putIPv6Header(h []byte, payload int, next byte, src, dst netip.Addr) {
	h[0], h[1], h[2], h[3] = 0x60, 0, 0, 0
	binary.BigEndian.PutUint16(h[4:], uint16(payload))
	h[6], h[7] = next, defaultTTL
	s, d := src.As16(), dst.As16()
	copy(h[8:24], s[:])
	copy(h[24:40], d[:])
}

// rebuildHeader puts an IP header in front of a transport-mode payload that starts at payOff,
// using the SA's endpoints (RFC 4303 §3.4.4 leaves the outer header as the inner one in
// transport mode; the socket that received the packet consumed it). It returns the header
// length.
func rebuildHeader(buf []byte, payOff, payLen int, proto byte, src, dst netip.Addr) (int, error) {
	switch {
	case src.Is4() && dst.Is4():
		if payOff < 20 || payLen+20 > 0xffff {
			return 0, ErrNoRoom
		}
		putIPv4Header(buf[payOff-20:], payLen+20, 0, proto, src, dst)
		return 20, nil
	case src.Is6() && dst.Is6():
		if payOff < 40 || payLen > 0xffff {
			return 0, ErrNoRoom
		}
		putIPv6Header(buf[payOff-40:], payLen, proto, src, dst)
		return 40, nil
	}
	return 0, ErrMalformed
}
