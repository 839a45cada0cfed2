package esp

// Path MTU handling at the tunnel entrance (RFC 4301 §6.1 and §8): a packet too big for the
// tunnel that may not be fragmented is answered with ICMP "fragmentation needed" (RFC 1191) or
// ICMPv6 "packet too big" (RFC 8201) carrying the tunnel MTU, and TCP SYNs have their MSS
// clamped so that connections never produce such packets in the first place.

import (
	"encoding/binary"
	"net/netip"
)

// TooBig reports whether an inner packet exceeds mtu and must not be fragmented (IPv4 with DF
// set, or any IPv6 packet).
func TooBig(pkt []byte, mtu int) bool {
	if mtu <= 0 || len(pkt) <= mtu {
		return false
	}
	if pkt[0]>>4 == 6 {
		return true
	}
	return len(pkt) >= 20 && pkt[6]&0x40 != 0
}

// BuildTooBig writes into dst (which needs room for 40+8+1232 bytes) the ICMP error telling
// the sender of pkt to use mtu, from src, and returns its length (0 if pkt is unsuitable).
func BuildTooBig(dst, pkt []byte, mtu int, src netip.Addr) int {
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 || !src.Is4() {
			return 0
		}
		hl := int(pkt[0]&0x0f) * 4
		quote := min(len(pkt), hl+8) // RFC 792: the IP header and 64 bits of the datagram
		total := 20 + 8 + quote
		if len(dst) < total {
			return 0
		}
		putIPv4Header(dst, total, 0, ProtoICMP, src, netip.AddrFrom4([4]byte(pkt[12:16])))
		m := dst[20:total]
		m[0], m[1] = 3, 4 // destination unreachable, fragmentation needed and DF set
		binary.BigEndian.PutUint32(m[4:], uint32(mtu)&0xffff)
		m[2], m[3] = 0, 0
		copy(m[8:], pkt[:quote])
		binary.BigEndian.PutUint16(m[2:], Checksum(m, 0))
		return total
	case 6:
		if len(pkt) < 40 || !src.Is6() {
			return 0
		}
		quote := min(len(pkt), 1280-40-8) // RFC 4443 §3.2: as much as fits in the minimum MTU
		total := 40 + 8 + quote
		if len(dst) < total {
			return 0
		}
		dstAddr := netip.AddrFrom16([16]byte(pkt[8:24]))
		putIPv6Header(dst, 8+quote, ProtoICMPv6, src, dstAddr)
		m := dst[40:total]
		m[0], m[1] = 2, 0 // packet too big
		binary.BigEndian.PutUint32(m[4:], uint32(mtu))
		m[2], m[3] = 0, 0
		copy(m[8:], pkt[:quote])
		binary.BigEndian.PutUint16(m[2:], Checksum(m, pseudoSum6(src, dstAddr, len(m), ProtoICMPv6)))
		return total
	}
	return 0
}

func pseudoSum6(src, dst netip.Addr, length int, proto byte) uint32 {
	var sum uint32
	s, d := src.As16(), dst.As16()
	for i := 0; i < 16; i += 2 {
		sum += uint32(s[i])<<8 | uint32(s[i+1])
		sum += uint32(d[i])<<8 | uint32(d[i+1])
	}
	return sum + uint32(length) + uint32(proto)
}

// ClampMSS lowers the MSS option of a TCP SYN in pkt to fit mtu (RFC 879 / RFC 6691: MSS =
// MTU - IP header - 20), fixing the checksum incrementally (RFC 1624). It reports whether it
// changed the packet.
func ClampMSS(pkt []byte, mtu int) bool {
	if mtu <= 0 || len(pkt) < 20 {
		return false
	}
	var tcp []byte
	var ipHdr int
	switch pkt[0] >> 4 {
	case 4:
		hl := int(pkt[0]&0x0f) * 4
		if pkt[9] != ProtoTCP || hl < 20 || len(pkt) < hl+20 || binary.BigEndian.Uint16(pkt[6:8])&0x1fff != 0 {
			return false
		}
		tcp, ipHdr = pkt[hl:], 20
	case 6:
		if len(pkt) < 60 || pkt[6] != ProtoTCP {
			return false
		}
		tcp, ipHdr = pkt[40:], 40
	default:
		return false
	}
	if tcp[13]&0x02 == 0 { // SYN
		return false
	}
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || doff > len(tcp) {
		return false
	}
	limit := mtu - ipHdr - 20
	if limit < 536-20 {
		limit = 536 - 20
	}
	opts := tcp[20:doff]
	for i := 0; i < len(opts); {
		kind := opts[i]
		if kind == 0 {
			break
		}
		if kind == 1 {
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return false
		}
		if kind == 2 && opts[i+1] == 4 {
			old := binary.BigEndian.Uint16(opts[i+2:])
			if int(old) <= limit {
				return false
			}
			binary.BigEndian.PutUint16(opts[i+2:], uint16(limit))
			// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')
			sum := uint32(^binary.BigEndian.Uint16(tcp[16:18])) + uint32(^old) + uint32(limit)
			for sum > 0xffff {
				sum = sum>>16 + sum&0xffff
			}
			binary.BigEndian.PutUint16(tcp[16:18], ^uint16(sum))
			return true
		}
		i += int(opts[i+1])
	}
	return false
}
