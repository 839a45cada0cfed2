package esp

// ESP encapsulation and decapsulation, RFC 4303.
//
// Concurrency contract: EncapRange and DecapRange may run concurrently on disjoint ranges of
// different batches for the same SA. Sequence numbers are reserved atomically per call, in the
// order calls reserve them; a caller that needs wire order equal to sequence order (the
// pipeline) assigns with AssignSeq serially and seals with SealRange in parallel. The replay
// window is checked before and updated after verification under the SA's mutex, once per call.
//
// Packet layout (RFC 4303 §2):
//
//	SPI(4) ‖ SN(4) ‖ IV ‖ [ payload ‖ padding ‖ pad length(1) ‖ next header(1) ] ‖ ICV
//
// With ESN the 4 bytes in front of the SPI are scratch: AES-GCM authenticates
// SPI ‖ SN-high ‖ SN-low (RFC 4106 §5) and HMAC appends SN-high (RFC 4303 §2.2.1), neither of
// which is contiguous in the packet, so they are assembled in place there.

import (
	"encoding/binary"
	"errors"

	ocrypto "oakley/crypto"
)

// Encap protects every packet of the batch.
func (sa *SA) Encap(b *Batch) { sa.EncapRange(b, 0, b.N) }

// EncapRange protects packets [from, to) of the batch in place: inner IP packet in, ESP (or
// AH) packet out, Offs and Sizes updated. Failed packets get an error and are counted.
func (sa *SA) EncapRange(b *Batch, from, to int) {
	if sa.cfg.Proto == AH && sa.cfg.Dir == Outbound {
		sa.ahEncapRange(b, from, to)
		return
	}
	end := sa.Prepare(b, from, to)
	sa.Seal(b, from, end)
}

// Prepare is the serial half of ESP encapsulation: it writes headers and trailers of packets
// [from, to) and assigns their sequence numbers in packet order. It returns end: crypto ops
// [from, end) are ready for Seal.
func (sa *SA) Prepare(b *Batch, from, to int) int {
	end := sa.layoutRange(b, from, to)
	n := end - from
	if n == 0 {
		return end
	}
	// Lifetimes are accounted before sealing (RFC 4301 §4.4.2.1): no packet beyond a hard
	// limit is ever protected. Inner bytes, as strongSwan and the kernel count them.
	// A batch that would cross a hard limit is cut at it: the packets beyond fail.
	l := &sa.cfg.Life
	p0, b0 := sa.Stats.Packets.Load(), sa.Stats.Bytes.Load()
	var bytes uint64
	cut := end
	for k := from; k < end; k++ {
		nb := bytes + uint64(b.innerLen[k])
		if l.HardPackets != 0 && p0+uint64(k-from) >= l.HardPackets || l.HardBytes != 0 && b0+nb > l.HardBytes {
			cut = k
			break
		}
		bytes = nb
	}
	if cut < end {
		// A packet was refused at the hard limit: the SA is spent (the key manager switches
		// to the new pair or renegotiates).
		sa.failOps(b, cut, end, ErrExpired)
		end, n = cut, cut-from
		defer sa.hardExpire()
		if n == 0 {
			return from
		}
	}
	if !sa.account(uint64(n), bytes) {
		sa.failOps(b, from, end, ErrExpired)
		return from
	}
	first, err := sa.reserve(n)
	if err != nil {
		sa.failOps(b, from, end, err)
		return from
	}
	sa.assign(b, from, end, first)
	return end
}

// Seal is the parallel half: it seals prepared ops [lo, hi). Disjoint ranges may be sealed
// concurrently.
func (sa *SA) Seal(b *Batch, lo, hi int) { sa.sealOps(b, lo, hi) }

// layoutRange writes headers and trailers for packets [from, to) and fills b.ops[from:k] in
// packet order; it returns k, the end of the ops ready to seal.
func (sa *SA) layoutRange(b *Batch, from, to int) int {
	if sa.cfg.Proto != ESP || sa.cfg.Dir != Outbound {
		sa.failRange(b, from, to, ErrWrongSA)
		return from
	}
	if sa.expired.Load() {
		sa.failRange(b, from, to, ErrExpired)
		return from
	}
	k := from
	bs := sa.cipher.BlockSize()
	icv := sa.cipher.ICVSize()
	tail := sa.cipher.Tailroom()
	esnRoom := 0
	if sa.cfg.ESN {
		esnRoom = 4
	}
	for i := from; i < to; i++ {
		if b.Errs[i] != nil {
			continue
		}
		buf, off, size := b.Bufs[i], b.Offs[i], b.Sizes[i]
		payOff, payLen := off, size
		var nh byte
		if off < 0 || size < 1 || off+size > len(buf) {
			b.fail(i, &sa.Stats, ErrMalformed)
			continue
		}
		if sa.cfg.Mode == Tunnel {
			switch buf[off] >> 4 { // RFC 4303 §2.6: next header = the inner packet's protocol
			case 4:
				nh = ProtoIPIP
			case 6:
				nh = ProtoIPv6
			default:
				b.fail(i, &sa.Stats, ErrMalformed)
				continue
			}
		} else {
			hl, proto, err := transportHeader(buf[off : off+size])
			if err != nil {
				b.fail(i, &sa.Stats, err)
				continue
			}
			payOff, payLen, nh = off+hl, size-hl, proto
		}
		start := payOff - sa.hdrLen
		pad := (bs - (payLen+2)%bs) % bs
		end := payOff + payLen + pad + 2
		if start < esnRoom || end+tail > len(buf) {
			b.fail(i, &sa.Stats, ErrNoRoom)
			continue
		}
		// RFC 4303 §2.4: default padding 1, 2, 3, ...; then pad length and next header.
		for p := range pad {
			buf[payOff+payLen+p] = byte(p + 1)
		}
		buf[end-2], buf[end-1] = byte(pad), nh
		binary.BigEndian.PutUint32(buf[start:], sa.cfg.SPI)
		op := &b.ops[k]
		*op = ocrypto.Op{
			AAD:  buf[start : start+8],
			IV:   buf[start+8 : payOff],
			Data: buf[payOff:end],
		}
		b.idx[k] = i
		b.innerLen[k] = size
		b.Offs[i], b.Sizes[i] = start, end+icv-start
		k++
	}
	return k
}

// assign writes sequence numbers first, first+1, ... into ops [lo, hi) and builds the ESN
// authenticated data around them.
func (sa *SA) assign(b *Batch, lo, hi int, first uint64) {
	for k := lo; k < hi; k++ {
		i := b.idx[k]
		seq := first + uint64(k-lo)
		buf, start := b.Bufs[i], b.Offs[i]
		op := &b.ops[k]
		op.Seq = seq
		binary.BigEndian.PutUint32(buf[start+4:], uint32(seq))
		if sa.cfg.ESN {
			sa.esnAAD(op, buf, start, uint32(seq>>32))
		}
	}
}

// esnAAD arranges SPI ‖ SN-high ‖ SN-low in the 4 scratch bytes before the ESP header (AEAD,
// RFC 4106 §5) or SN-high as the unsent integrity tail (RFC 4303 §2.2.1).
func (sa *SA) esnAAD(op *ocrypto.Op, buf []byte, start int, hi uint32) {
	if sa.cipher.Enc.AEAD {
		copy(buf[start-4:start], buf[start:start+4]) // SPI
		binary.BigEndian.PutUint32(buf[start:], hi)
		op.AAD = buf[start-4 : start+8]
	} else {
		binary.BigEndian.PutUint32(buf[start-4:], hi)
		op.Tail = buf[start-4 : start]
	}
}

// sealOps seals ops [lo, hi) and finishes their packets.
func (sa *SA) sealOps(b *Batch, lo, hi int) {
	if lo >= hi {
		return
	}
	sa.cipher.SealBatch(b.ops[lo:hi])
	for k := lo; k < hi; k++ {
		i, op := b.idx[k], &b.ops[k]
		if sa.cfg.ESN && sa.cipher.Enc.AEAD {
			binary.BigEndian.PutUint32(b.Bufs[i][b.Offs[i]:], sa.cfg.SPI) // restore the SPI
		}
		if op.Err != nil {
			b.fail(i, &sa.Stats, ErrNoRoom)
		}
	}
}

func (sa *SA) failOps(b *Batch, lo, hi int, err error) {
	for k := lo; k < hi; k++ {
		b.fail(b.idx[k], &sa.Stats, err)
	}
}

func (sa *SA) failRange(b *Batch, from, to int, err error) {
	for i := from; i < to; i++ {
		if b.Errs[i] == nil {
			b.fail(i, &sa.Stats, err)
		}
	}
}

func (b *Batch) fail(i int, s *Stats, err error) {
	b.Errs[i] = err
	s.Count(err)
}

// transportHeader returns the IP header length and upper-layer protocol of a packet to be
// protected in transport mode, RFC 4303 §3.1.1. Fragments and IPv6 extension headers are
// refused: the socket that sends the ESP packet rebuilds only a plain IP header.
func transportHeader(pkt []byte) (int, byte, error) {
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return 0, 0, ErrMalformed
		}
		hl := int(pkt[0]&0x0f) * 4
		if hl < 20 || hl > len(pkt) {
			return 0, 0, ErrMalformed
		}
		if binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0 { // MF or fragment offset
			return 0, 0, ErrFragment
		}
		return hl, pkt[9], nil
	case 6:
		if len(pkt) < 40 {
			return 0, 0, ErrMalformed
		}
		switch pkt[6] {
		case 0, 43, 44, 60:
			return 0, 0, ErrFragment
		}
		return 40, pkt[6], nil
	}
	return 0, 0, ErrMalformed
}

// Decap verifies and decrypts every packet of the batch.
func (sa *SA) Decap(b *Batch) { sa.DecapRange(b, 0, b.N) }

// DecapRange turns ESP (or AH) packets [from, to) into inner IP packets in place: replay
// pre-check, ICV verification and decryption, replay window update, trailer removal,
// transport header reconstruction and the inbound policy check (RFC 4303 §3.4, RFC 4301 §5.2).
func (sa *SA) DecapRange(b *Batch, from, to int) {
	if sa.cfg.Proto == AH && sa.cfg.Dir == Inbound {
		sa.ahDecapRange(b, from, to)
		return
	}
	end := sa.Check(b, from, to)
	sa.Open(b, from, end)
	sa.Finish(b, from, end)
}

// Check is the first, serial stage of ESP decapsulation: parse, SPI and length checks and the
// replay pre-check (RFC 4303 §3.4.3, before the ICV). It returns end: ops [from, end) go to
// Open and then Finish.
func (sa *SA) Check(b *Batch, from, to int) int {
	if sa.cfg.Proto != ESP || sa.cfg.Dir != Inbound {
		sa.failRange(b, from, to, ErrWrongSA)
		return from
	}
	if sa.expired.Load() {
		sa.failRange(b, from, to, ErrExpired)
		return from
	}
	icv := sa.cipher.ICVSize()
	cbs := sa.cipher.CipherBlockSize()
	k := from
	sa.replayMu.Lock()
	defer sa.replayMu.Unlock()
	for i := from; i < to; i++ {
		if b.Errs[i] != nil {
			continue
		}
		buf, off, size := b.Bufs[i], b.Offs[i], b.Sizes[i]
		// RFC 4303 §2.4 asks senders to align to 4 bytes; AEAD and NULL peers that do not are
		// tolerated, CBC needs whole blocks.
		if off < 4 || off+size > len(buf) || size < sa.hdrLen+2+icv || (size-sa.hdrLen-icv)%cbs != 0 {
			b.fail(i, &sa.Stats, ErrMalformed)
			continue
		}
		if binary.BigEndian.Uint32(buf[off:]) != sa.cfg.SPI {
			b.fail(i, &sa.Stats, ErrWrongSA)
			continue
		}
		seql := binary.BigEndian.Uint32(buf[off+4:])
		seq := uint64(seql)
		if sa.cfg.ESN {
			seq = sa.replay.InferESN(seql)
		}
		if err := sa.replay.Check(seq); err != nil {
			b.fail(i, &sa.Stats, err)
			continue
		}
		op := &b.ops[k]
		*op = ocrypto.Op{
			Seq:  seq,
			AAD:  buf[off : off+8],
			IV:   buf[off+8 : off+sa.hdrLen],
			Data: buf[off+sa.hdrLen : off+size-icv],
		}
		if sa.cfg.ESN {
			sa.esnAAD(op, buf, off, uint32(seq>>32))
		}
		b.idx[k] = i
		k++
	}
	return k
}

// Open verifies and decrypts ops [lo, hi) prepared by Check. Disjoint ranges may be opened
// concurrently.
func (sa *SA) Open(b *Batch, lo, hi int) {
	if lo < hi {
		sa.cipher.OpenBatch(b.ops[lo:hi])
	}
}

// Finish is the last, serial stage: the replay window update for verified packets (RFC 4303
// §3.4.3: only after the ICV), trailer removal and the policy check, for ops [lo, hi).
func (sa *SA) Finish(b *Batch, lo, hi int) {
	if lo >= hi {
		return
	}
	sa.replayMu.Lock()
	for j := lo; j < hi; j++ {
		op := &b.ops[j]
		if op.Err == nil {
			op.Err = sa.replay.Update(op.Seq)
		}
	}
	sa.replayMu.Unlock()
	var bytes, pkts uint64
	for j := lo; j < hi; j++ {
		i, op := b.idx[j], &b.ops[j]
		if err := op.Err; err != nil {
			switch {
			case errors.Is(err, ocrypto.ErrAuth):
				err = ErrIntegrity
			case errors.Is(err, ErrReplay):
			default:
				err = ErrMalformed
			}
			b.fail(i, &sa.Stats, err)
			continue
		}
		if err := sa.finishInbound(b, i, op.Data); err != nil {
			b.fail(i, &sa.Stats, err)
			continue
		}
		pkts++
		bytes += uint64(b.Sizes[i])
	}
	if pkts == 0 {
		return
	}
	if !sa.account(pkts, bytes) {
		for j := lo; j < hi; j++ {
			if i := b.idx[j]; b.Errs[i] == nil {
				b.fail(i, &sa.Stats, ErrExpired)
			}
		}
		return
	}
	if sa.owner != nil && sa.signalled.Load()&uint32(EventFirstUse) == 0 {
		sa.signal(EventFirstUse)
	}
}

// finishInbound strips the trailer from a decrypted payload and leaves the inner IP packet in
// b at packet i, RFC 4303 §2.4–2.6 and §3.4.4.
func (sa *SA) finishInbound(b *Batch, i int, data []byte) error {
	n := len(data)
	padLen, nh := int(data[n-2]), data[n-1]
	if padLen+2 > n {
		return ErrPadding
	}
	if nh == ProtoNoNext {
		return ErrDummy // RFC 4303 §2.6: dummy packets are silently discarded (and counted)
	}
	payLen := n - 2 - padLen
	payOff := b.Offs[i] + sa.hdrLen
	if sa.cfg.Mode == Tunnel {
		if nh != ProtoIPIP && nh != ProtoIPv6 {
			return ErrNextHeader
		}
		inner, err := innerLength(data[:payLen], nh)
		if err != nil {
			return err
		}
		payLen = inner
	} else {
		hl, err := rebuildHeader(b.Bufs[i], payOff, payLen, nh, sa.cfg.RemoteAddr, sa.cfg.LocalAddr)
		if err != nil {
			return err
		}
		payOff -= hl
		payLen += hl
	}
	b.Offs[i], b.Sizes[i] = payOff, payLen
	if !sa.policyOK(b.Bufs[i][payOff : payOff+payLen]) {
		return ErrPolicy
	}
	return nil
}

// innerLength validates a tunnelled packet's version against the next header and returns its
// length from its own header (anything after it is TFC padding, RFC 4303 §2.7).
func innerLength(p []byte, nh byte) (int, error) {
	if len(p) < 1 {
		return 0, ErrMalformed
	}
	switch {
	case nh == ProtoIPIP && p[0]>>4 == 4 && len(p) >= 20:
		l := int(binary.BigEndian.Uint16(p[2:4]))
		if l < 20 || l > len(p) {
			return 0, ErrMalformed
		}
		return l, nil
	case nh == ProtoIPv6 && p[0]>>4 == 6 && len(p) >= 40:
		l := 40 + int(binary.BigEndian.Uint16(p[4:6]))
		if l > len(p) {
			return 0, ErrMalformed
		}
		return l, nil
	}
	return 0, ErrMalformed
}
