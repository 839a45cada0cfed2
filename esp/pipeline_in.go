package esp

// The inbound pipeline: network → IKE or SAD → ESP/AH → device. One goroutine per receive
// function; see dataplane.go for the concurrency contract.

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.zx2c4.com/wireguard/conn"
)

// srcKind says what a receive function delivers.
type srcKind uint8

const (
	srcNATT srcKind = iota // UDP on the NAT-T port: ESP, IKE behind the marker, keepalives
	srcIKE                 // UDP on the IKE port: IKE only
	srcESP4                // raw IPv4 protocol 50: IPv4 header + ESP
	srcESP6                // raw IPv6 protocol 50: ESP (the kernel strips the IPv6 header)
	srcAH4                 // raw IPv4 protocol 51: IPv4 header + AH
	srcAH6                 // raw IPv6 protocol 51: AH (header rebuilt from the SA)
)

type inState struct {
	b     *Batch
	views [][]byte
	sizes []int
	eps   []conn.Endpoint
	out   [][]byte
	wg    sync.WaitGroup
}

func newInState(bs, head int) *inState {
	st := &inState{
		b:     NewBatch(bs, bufSize),
		views: make([][]byte, bs),
		sizes: make([]int, bs),
		eps:   make([]conn.Endpoint, bs),
		out:   make([][]byte, 0, bs),
	}
	for i := range st.views {
		st.views[i] = st.b.Bufs[i][head : bufSize-Tailroom]
	}
	return st
}

func (d *Dataplane) runInbound(recv conn.ReceiveFunc, kind srcKind, port uint16, slot *epochSlot) {
	defer d.wg.Done()
	bs := d.opts.NATT.BatchSize()
	if kind != srcNATT && kind != srcIKE {
		bs = rawBatch
	}
	// AH over IPv6 arrives without its header; leave room to rebuild it in front.
	head := Headroom
	if kind == srcAH6 {
		head += 40
	}
	st := newInState(bs, head)
	for {
		n, err := recv(st.views, st.sizes, st.eps)
		if err != nil {
			if isClosed(err) || d.closing.Load() {
				return
			}
			d.logLimited(logSlotDevRead, "receive failed", zap.Error(err))
			time.Sleep(10 * time.Millisecond)
			continue
		}
		d.Stat.BatchesIn.Add(1)
		slot.enter()
		d.processInbound(st, n, kind, port, head)
		d.life.batchDone(slot)
	}
}

func (d *Dataplane) processInbound(st *inState, n int, kind srcKind, port uint16, head int) {
	b := st.b
	b.Reset(n)
	for i := range n {
		size := st.sizes[i]
		b.Set(i, head, size)
		if size == 0 {
			b.Errs[i] = errSkip
			continue
		}
		d.Stat.NetRx.Add(1)
		d.Stat.NetRxBytes.Add(uint64(size))
		p := b.Packet(i)
		switch kind {
		case srcNATT:
			switch ClassifyUDP(p) {
			case UDPKeepalive:
				d.Stat.Keepalives.Add(1)
				b.Errs[i] = errSkip
			case UDPIKE:
				d.deliverIKE(p[NonESPMarkerLen:], st.eps[i], port)
				b.Errs[i] = errSkip
			case UDPInvalid:
				d.Stat.Malformed.Add(1)
				b.Errs[i] = ErrMalformed
			}
		case srcIKE:
			d.deliverIKE(p, st.eps[i], port)
			b.Errs[i] = errSkip
		case srcESP4:
			// RFC 791: raw IPv4 sockets deliver the header; ESP starts after it.
			hl := int(p[0]&0x0f) * 4
			if p[0]>>4 != 4 || hl < 20 || size < hl+8 {
				d.Stat.Malformed.Add(1)
				b.Errs[i] = ErrMalformed
				continue
			}
			b.Set(i, head+hl, size-hl)
		case srcESP6, srcAH4, srcAH6:
			if size < 8 {
				d.Stat.Malformed.Add(1)
				b.Errs[i] = ErrMalformed
			}
		}
	}
	if d.quiesced.Load() {
		for i := range n {
			if b.Errs[i] == nil {
				b.Errs[i] = errSkip
				d.Stat.Quiesced.Add(1)
			}
		}
		return
	}
	for i := 0; i < n; {
		if b.Errs[i] != nil {
			i++
			continue
		}
		spi := d.spiOf(b, i, kind)
		sa := d.SAD.Lookup(spi)
		if sa == nil {
			b.Errs[i] = ErrUnknownSPI
			d.Stat.UnknownSPI.Add(1)
			d.logLimited(logSlotUnknownSPI, "packet for unknown SPI dropped", zap.String("spi", spiString(spi)))
			i++
			continue
		}
		j := i + 1
		for j < n && (b.Errs[j] != nil || d.spiOf(b, j, kind) == spi) {
			j++
		}
		d.decap(st, sa, kind, i, j)
		i = j
	}
	st.out = st.out[:0]
	for i := range n {
		if b.Errs[i] != nil {
			continue
		}
		off := b.Offs[i]
		st.out = append(st.out, b.Bufs[i][off-tunOffset:off+b.Sizes[i]])
	}
	if len(st.out) == 0 {
		return
	}
	if _, err := d.opts.Device.Write(st.out, tunOffset); err != nil {
		d.Stat.DevWriteErrors.Add(1)
		d.logLimited(logSlotDevWrite, "device write failed", zap.Error(err))
		return
	}
	d.Stat.DevTx.Add(uint64(len(st.out)))
}

// spiOf returns the SPI of packet i: the first word of ESP, or the AH header's SPI.
func (d *Dataplane) spiOf(b *Batch, i int, kind srcKind) uint32 {
	p := b.Packet(i)
	switch kind {
	case srcAH4:
		hl := int(p[0]&0x0f) * 4
		if len(p) < hl+8 {
			return 0
		}
		return binary.BigEndian.Uint32(p[hl+4:])
	case srcAH6:
		return binary.BigEndian.Uint32(p[4:])
	}
	return binary.BigEndian.Uint32(p)
}

// decap runs packets [from, to) of one SA through the decapsulation stages and clamps the
// MSS of TCP SYNs coming out of the tunnel to its MTU.
func (d *Dataplane) decap(st *inState, sa *SA, kind srcKind, from, to int) {
	b := st.b
	isAH := kind == srcAH4 || kind == srcAH6
	switch {
	case isAH != (sa.cfg.Proto == AH):
		sa.failRange(b, from, to, ErrWrongSA)
		return
	case isAH:
		if kind == srcAH6 {
			d.rebuildIPv6(b, sa, from, to)
		}
		sa.ahDecapRange(b, from, to)
	default:
		end := sa.Check(b, from, to)
		if d.pool.run(sa, b, from, end, true, &st.wg) {
			d.Stat.ParallelBatches.Add(1)
		}
		sa.Finish(b, from, end)
	}
	if sa.cfg.MTU > 0 {
		for i := from; i < to; i++ {
			if b.Errs[i] == nil && ClampMSS(b.Packet(i), sa.cfg.MTU) {
				d.Stat.MSSClamped.Add(1)
			}
		}
	}
}

// rebuildIPv6 puts back the IPv6 header a raw IPv6 socket stripped from AH packets; AH
// authenticates it (RFC 4302 §3.3.3.1.2). Mutable fields are zero as the ICV computation
// wants them anyway.
func (d *Dataplane) rebuildIPv6(b *Batch, sa *SA, from, to int) {
	for i := from; i < to; i++ {
		if b.Errs[i] != nil {
			continue
		}
		off, size := b.Offs[i], b.Sizes[i]
		if off < 40 || size > 0xffff {
			b.Errs[i] = ErrMalformed
			continue
		}
		putIPv6Header(b.Bufs[i][off-40:], size, ProtoAHNum, sa.cfg.RemoteAddr, sa.cfg.LocalAddr)
		b.Set(i, off-40, size+40)
	}
}

// deliverIKE hands an IKE message to the key manager with the address it came from and our
// address it arrived on (replies leave from there). Nothing about it is stored here.
func (d *Dataplane) deliverIKE(msg []byte, ep conn.Endpoint, port uint16) {
	d.Stat.IKERx.Add(1)
	if ep == nil {
		return
	}
	from := netip.AddrPortFrom(ep.DstIP(), endpointPort(ep))
	if d.opts.OnIKE != nil {
		d.opts.OnIKE(msg, from, netip.AddrPortFrom(ep.SrcIP(), port))
	}
}

func endpointPort(ep conn.Endpoint) uint16 {
	if e, ok := ep.(interface{ Port() uint16 }); ok {
		return e.Port()
	}
	if ap, err := netip.ParseAddrPort(ep.DstToString()); err == nil {
		return ap.Port()
	}
	return 0
}

func spiString(spi uint32) string {
	const hexdigits = "0123456789abcdef"
	var s [10]byte
	s[0], s[1] = '0', 'x'
	for i := range 8 {
		s[2+i] = hexdigits[spi>>(28-4*i)&0xf]
	}
	return string(s[:])
}
