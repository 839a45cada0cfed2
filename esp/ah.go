package esp

// AH, RFC 4302, in tunnel and transport mode. AH authenticates the outer IP header too, so
// its packets always include that header: tunnel mode builds it from the SA's endpoints,
// transport mode keeps the original one. They can only travel raw (IP protocol 51): NAT breaks
// them (RFC 3948 does not define AH in UDP), which configuration enforces.
//
// Packet layout (RFC 4302 §2): next header(1) ‖ payload len(1) ‖ reserved(2) ‖ SPI(4) ‖
// SN(4) ‖ ICV, the ICV padded to 4 bytes in IPv4 and 8 bytes in IPv6 (§3.3.3.2.1).

import (
	"encoding/binary"
	"errors"
)

// ErrUnsupported marks packets AH cannot handle here (IPv4 options, IPv6 extension headers).
var ErrUnsupported = errors.New("esp: IP options or extension headers are not supported with AH")

// ahLen is the length of an AH header carrying an ICV of icv bytes.
func ahLen(icv int, ipv6 bool) int {
	l := 12 + icv
	align := 4
	if ipv6 {
		align = 8
	}
	return (l + align - 1) / align * align
}

// zeroMutable saves and zeroes the fields of an IP header that change in transit, so that
// the ICV covers only immutable ones (RFC 4302 §3.3.3.1): IPv4 TOS, flags and fragment
// offset, TTL, checksum; IPv6 traffic class, flow label, hop limit.
func zeroMutable(h []byte, saved *[8]byte) {
	if h[0]>>4 == 4 {
		saved[0], saved[1], saved[2], saved[3], saved[4], saved[5], saved[6] = h[1], h[6], h[7], h[8], h[10], h[11], 0
		h[1], h[6], h[7], h[8], h[10], h[11] = 0, 0, 0, 0, 0, 0
		return
	}
	copy(saved[:4], h[0:4])
	saved[4] = h[7]
	h[0], h[1], h[2], h[3], h[7] = 0x60, 0, 0, 0, 0
}

func restoreMutable(h []byte, saved *[8]byte) {
	if h[0]>>4 == 4 {
		h[1], h[6], h[7], h[8], h[10], h[11] = saved[0], saved[1], saved[2], saved[3], saved[4], saved[5]
		return
	}
	copy(h[0:4], saved[:4])
	h[7] = saved[4]
}

// ahEncapRange protects packets [from, to) with AH.
func (sa *SA) ahEncapRange(b *Batch, from, to int) {
	if sa.expired.Load() {
		sa.failRange(b, from, to, ErrExpired)
		return
	}
	icv := sa.integ.ICVSize()
	for i := from; i < to; i++ {
		if b.Errs[i] != nil {
			continue
		}
		buf, off, size := b.Bufs[i], b.Offs[i], b.Sizes[i]
		if off < 0 || size < 20 || off+size > len(buf) {
			b.fail(i, &sa.Stats, ErrMalformed)
			continue
		}
		var start, hl, al int
		var nh byte
		var v6 bool
		if sa.cfg.Mode == Tunnel {
			v6 = sa.cfg.LocalAddr.Is6()
			hl = 20
			if v6 {
				hl = 40
			}
			al = ahLen(icv, v6)
			switch buf[off] >> 4 {
			case 4:
				nh = ProtoIPIP
			case 6:
				nh = ProtoIPv6
			default:
				b.fail(i, &sa.Stats, ErrMalformed)
				continue
			}
			start = off - hl - al
			if start < 0 || size+hl+al > 0xffff+hl {
				b.fail(i, &sa.Stats, ErrNoRoom)
				continue
			}
			if v6 {
				putIPv6Header(buf[start:], al+size, ProtoAHNum, sa.cfg.LocalAddr, sa.cfg.RemoteAddr)
			} else {
				putIPv4Header(buf[start:], hl+al+size, uint16(sa.ipID.Add(1)), ProtoAHNum, sa.cfg.LocalAddr, sa.cfg.RemoteAddr)
			}
		} else {
			var err error
			hl, nh, err = transportHeader(buf[off : off+size])
			if err != nil {
				b.fail(i, &sa.Stats, err)
				continue
			}
			v6 = buf[off]>>4 == 6
			if !v6 && hl != 20 {
				b.fail(i, &sa.Stats, ErrUnsupported)
				continue
			}
			al = ahLen(icv, v6)
			start = off - al
			if start < 0 || size+al > 0xffff {
				b.fail(i, &sa.Stats, ErrNoRoom)
				continue
			}
			copy(buf[start:start+hl], buf[off:off+hl]) // move the header left to make room
			h := buf[start:]
			if v6 {
				h[6] = ProtoAHNum
				binary.BigEndian.PutUint16(h[4:], uint16(size-hl+al))
			} else {
				h[9] = ProtoAHNum
				binary.BigEndian.PutUint16(h[2:], uint16(size+al))
			}
		}
		// Lifetimes before protection, as for ESP (RFC 4301 §4.4.2.1).
		if !sa.account(1, uint64(size)) {
			b.fail(i, &sa.Stats, ErrExpired)
			continue
		}
		seq, err := sa.reserve(1)
		if err != nil {
			b.fail(i, &sa.Stats, err)
			continue
		}
		ah := buf[start+hl : start+hl+al]
		ah[0], ah[1], ah[2], ah[3] = nh, byte(al/4-2), 0, 0
		binary.BigEndian.PutUint32(ah[4:], sa.cfg.SPI)
		binary.BigEndian.PutUint32(ah[8:], uint32(seq))
		clear(ah[12:])
		total := size + al
		if sa.cfg.Mode == Tunnel {
			total += hl
		}
		var saved [8]byte
		zeroMutable(buf[start:], &saved)
		sa.integ.Sum(ah[12:12+icv], buf[start:start+total], sa.esnTail(buf, start, total, seq))
		restoreMutable(buf[start:], &saved)
		if !v6 {
			buf[start+8] = defaultTTL
			binary.BigEndian.PutUint16(buf[start+10:], 0)
			binary.BigEndian.PutUint16(buf[start+10:], Checksum(buf[start:start+20], 0))
		}
		b.Offs[i], b.Sizes[i] = start, total
	}
}

// esnTail returns the high 32 bits of an extended sequence number as the unsent tail the ICV
// covers (RFC 4302 §3.3.3.1: appended after the packet), stored in the buffer's tailroom.
func (sa *SA) esnTail(buf []byte, start, total int, seq uint64) []byte {
	if !sa.cfg.ESN || start+total+4 > len(buf) {
		return nil
	}
	t := buf[start+total : start+total+4]
	binary.BigEndian.PutUint32(t, uint32(seq>>32))
	return t
}

// ahDecapRange verifies AH packets [from, to) (each a whole IP packet, outer header first)
// and leaves the inner packet (tunnel) or the original packet (transport).
func (sa *SA) ahDecapRange(b *Batch, from, to int) {
	if sa.expired.Load() {
		sa.failRange(b, from, to, ErrExpired)
		return
	}
	icv := sa.integ.ICVSize()
	var pkts, bytes uint64
	for i := from; i < to; i++ {
		if b.Errs[i] != nil {
			continue
		}
		if err := sa.ahDecapOne(b, i, icv); err != nil {
			b.fail(i, &sa.Stats, err)
			continue
		}
		pkts++
		bytes += uint64(b.Sizes[i])
	}
	if pkts > 0 {
		sa.account(pkts, bytes) // verified already; a hard limit stops the next batch
		if sa.owner != nil && sa.signalled.Load()&uint32(EventFirstUse) == 0 {
			sa.signal(EventFirstUse)
		}
	}
}

func (sa *SA) ahDecapOne(b *Batch, i, icv int) error {
	buf, off, size := b.Bufs[i], b.Offs[i], b.Sizes[i]
	if off < 0 || off+size > len(buf) || size < 20 {
		return ErrMalformed
	}
	p := buf[off : off+size]
	var hl int
	v6 := p[0]>>4 == 6
	switch {
	case p[0]>>4 == 4:
		hl = int(p[0]&0x0f) * 4
		if hl != 20 {
			return ErrUnsupported
		}
		if p[9] != ProtoAHNum || int(binary.BigEndian.Uint16(p[2:4])) != size {
			return ErrMalformed
		}
	case v6:
		hl = 40
		if size < 40 || p[6] != ProtoAHNum || 40+int(binary.BigEndian.Uint16(p[4:6])) != size {
			return ErrMalformed
		}
	default:
		return ErrMalformed
	}
	al := ahLen(icv, v6)
	if size < hl+al {
		return ErrMalformed
	}
	ah := p[hl : hl+al]
	if int(ah[1]+2)*4 != al {
		return ErrMalformed
	}
	if binary.BigEndian.Uint32(ah[4:]) != sa.cfg.SPI {
		return ErrWrongSA
	}
	seql := binary.BigEndian.Uint32(ah[8:])
	sa.replayMu.Lock()
	seq := uint64(seql)
	if sa.cfg.ESN {
		seq = sa.replay.InferESN(seql)
	}
	err := sa.replay.Check(seq)
	sa.replayMu.Unlock()
	if err != nil {
		return err
	}
	// RFC 4302 §3.4.4: zero the mutable fields and the ICV, recompute, compare.
	var got [64]byte
	copy(got[:icv], ah[12:12+icv])
	clear(ah[12:])
	var saved [8]byte
	zeroMutable(p, &saved)
	ok := sa.integ.Verify(got[:icv], p, sa.esnTail(buf, off, size, seq))
	restoreMutable(p, &saved)
	copy(ah[12:12+icv], got[:icv])
	if !ok {
		return ErrIntegrity
	}
	sa.replayMu.Lock()
	err = sa.replay.Update(seq)
	sa.replayMu.Unlock()
	if err != nil {
		return err
	}
	nh := ah[0]
	if nh == ProtoNoNext {
		return ErrDummy
	}
	if sa.cfg.Mode == Tunnel {
		if nh != ProtoIPIP && nh != ProtoIPv6 {
			return ErrNextHeader
		}
		inner, err := innerLength(p[hl+al:], nh)
		if err != nil {
			return err
		}
		b.Offs[i], b.Sizes[i] = off+hl+al, inner
	} else {
		// Remove AH: move the header right over it and restore the protocol and length.
		copy(buf[off+al:off+al+hl], buf[off:off+hl])
		h := buf[off+al:]
		if v6 {
			h[6] = nh
			binary.BigEndian.PutUint16(h[4:], uint16(size-al-40))
		} else {
			h[9] = nh
			binary.BigEndian.PutUint16(h[2:], uint16(size-al))
			h[10], h[11] = 0, 0
			binary.BigEndian.PutUint16(h[10:], Checksum(h[:20], 0))
		}
		b.Offs[i], b.Sizes[i] = off+al, size-al
	}
	if !sa.policyOK(b.Packet(i)) {
		return ErrPolicy
	}
	return nil
}
