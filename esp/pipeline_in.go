package esp

// The inbound pipeline: network → IKE or SAD → ESP/AH → device. Two goroutines per receive
// function (see dataplane.go for the concurrency contract and workers.go for flights):
//
//	stage 1, the receiver: receive a batch, hand IKE messages to the key manager, find each
//	  packet's SA, run the replay pre-check (serial per SA, RFC 4303 §3.4.3); with worker
//	  goroutines, hand the opening to the pool;
//	stage 2, the writer: in receive order, open the flight (inline) or wait for its jobs,
//	  update the replay windows (only for verified packets), strip trailers, check the
//	  inner packets against the SAs' selectors, write to the device.
//
// The receiver does little per packet, so it drains the socket while the writer works: a
// burst waits in the flights (bounded, counted) rather than overflowing the socket buffer.

import (
	"encoding/binary"
	"net/netip"
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

// inState is an inbound batch and its per-batch scratch.
type inState struct {
	b      *Batch
	views  [][]byte
	sizes  []int
	eps    []conn.Endpoint
	out    [][]byte
	groups []inGroup
}

// inGroup is one SA's run of a batch: packets [from, to), crypto ops [lo, hi).
type inGroup struct {
	sa       *SA
	from, to int
	lo, hi   int
	ah       bool
}

// inFlight is an inbound batch in flight.
type inFlight struct {
	flight
	*inState
	n int
}

func newInState(bs, head, bufSize int) *inState {
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

// inbound is one receive function's pipeline.
type inbound struct {
	recv  conn.ReceiveFunc
	kind  srcKind
	port  uint16
	head  int // headroom in front of received packets
	free  chan *inFlight
	queue chan *inFlight
}

// runReceiver is stage 1.
func (d *Dataplane) runReceiver(in *inbound) {
	defer d.wg.Done()
	stageLabel("in-receiver")
	defer close(in.queue)
	for {
		f := <-in.free
		n, err := in.recv(f.views, f.sizes, f.eps)
		if err != nil {
			if isClosed(err) || d.closing.Load() {
				return
			}
			d.logLimited(logSlotDevRead, "receive failed", zap.Error(err))
			time.Sleep(10 * time.Millisecond)
		}
		if n == 0 {
			in.free <- f
			continue
		}
		d.Stat.BatchesIn.Add(1)
		f.slot.enter()
		f.n = n
		d.prepareInbound(f.inState, n, in.kind, in.port, in.head)
		if !d.pool.inline() {
			d.dispatchOpen(f)
		}
		in.queue <- f
	}
}

// runWriter is stage 2: flights in receive order.
func (d *Dataplane) runWriter(in *inbound) {
	defer d.wg.Done()
	stageLabel("in-writer")
	for f := range in.queue {
		if d.pool.inline() {
			d.openInline(f.inState)
		} else {
			<-f.done
		}
		d.finishInbound(f.inState, f.n, in.kind)
		d.life.batchDone(f.slot)
		in.free <- f
	}
}

// processInbound takes one batch through every stage inline (the stage benchmarks).
func (d *Dataplane) processInbound(st *inState, n int, kind srcKind, port uint16, head int) {
	d.prepareInbound(st, n, kind, port, head)
	d.openInline(st)
	d.finishInbound(st, n, kind)
}

// prepareInbound is stage 1's work on a batch: classify, deliver IKE, find SAs, replay
// pre-check.
func (d *Dataplane) prepareInbound(st *inState, n int, kind srcKind, port uint16, head int) {
	b := st.b
	b.Reset(n)
	st.groups = st.groups[:0]
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
	isAH := kind == srcAH4 || kind == srcAH6
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
		g := inGroup{sa: sa, from: i, to: j, ah: isAH}
		switch {
		case isAH != (sa.cfg.Proto == AH):
			sa.failRange(b, i, j, ErrWrongSA)
			g.lo, g.hi = i, i
		case isAH: // AH runs whole in stage 2
		default:
			g.lo, g.hi = i, sa.Check(b, i, j)
		}
		st.groups = append(st.groups, g)
		i = j
	}
}

// openInline verifies and decrypts every ESP group on the calling goroutine.
func (d *Dataplane) openInline(st *inState) {
	for _, g := range st.groups {
		if !g.ah {
			g.sa.Open(st.b, g.lo, g.hi)
		}
	}
}

// dispatchOpen hands the flight's opening to the worker pool.
func (d *Dataplane) dispatchOpen(f *inFlight) {
	total := 0
	for _, g := range f.groups {
		total += g.hi - g.lo
	}
	size := d.pool.chunk(total)
	d.pool.begin(&f.flight)
	for _, g := range f.groups {
		if !g.ah && g.hi > g.lo {
			d.pool.submit(&f.flight, g.sa, f.b, g.lo, g.hi, size, true)
		}
	}
	d.pool.end(&f.flight)
	if total > size {
		d.Stat.ParallelBatches.Add(1)
	}
}

// finishInbound is stage 2's work: replay window updates, trailers, policy checks, MSS
// clamping (all of AH), then one device write for the batch.
func (d *Dataplane) finishInbound(st *inState, n int, kind srcKind) {
	d.deliverInbound(st, n, kind)
	// The flight waits in the free list until the next batch: it must not keep this batch's
	// SAs and peers' endpoints alive.
	clear(st.groups)
	st.groups = st.groups[:0]
	clear(st.eps[:n])
}

// deliverInbound completes the batch's SAs' work and writes what verified to the device.
func (d *Dataplane) deliverInbound(st *inState, n int, kind srcKind) {
	b := st.b
	for _, g := range st.groups {
		sa := g.sa
		switch {
		case g.ah && sa.cfg.Proto == AH:
			if kind == srcAH6 {
				d.rebuildIPv6(b, sa, g.from, g.to)
			}
			sa.ahDecapRange(b, g.from, g.to)
		case !g.ah:
			sa.Finish(b, g.lo, g.hi)
			if kind == srcNATT {
				noteSource(st, g)
			}
		}
		if sa.cfg.MTU > 0 {
			for i := g.from; i < g.to; i++ {
				if b.Errs[i] == nil && ClampMSS(b.Packet(i), sa.cfg.MTU) {
					d.Stat.MSSClamped.Add(1)
				}
			}
		}
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

// noteSource compares the source of the group's last datagram that verified (and passed the
// replay window) with the one its SA watches, and reports a change (SA.WatchSource). Only
// authenticated datagrams count: RFC 3947 §4 lets the end not behind a NAT follow a
// NAT's new mapping on them, never on a forged or replayed one.
func noteSource(st *inState, g inGroup) {
	want := g.sa.watch.Load()
	if want == nil {
		return
	}
	for i := g.to - 1; i >= g.from; i-- {
		if st.b.Errs[i] != nil {
			continue
		}
		ep := st.eps[i]
		if ep == nil {
			return
		}
		if from := netip.AddrPortFrom(ep.DstIP(), endpointPort(ep)); from != *want && from.IsValid() {
			g.sa.sourceMoved(from)
		}
		return
	}
}

// oversize takes a datagram too large for the receive buffers (UDPBind's Oversize hook, on
// the receiving goroutine): an IKE message goes to the key manager; ESP cannot be that large
// from a peer sharing our path MTU, and is dropped and counted.
func (d *Dataplane) oversize(p []byte, ep conn.Endpoint, kind srcKind) {
	d.Stat.NetRx.Add(1)
	d.Stat.NetRxBytes.Add(uint64(len(p)))
	port := d.opts.NATTPort
	if kind == srcIKE {
		d.deliverIKE(p, ep, d.opts.IKEPort)
		return
	}
	switch ClassifyUDP(p) {
	case UDPIKE:
		d.deliverIKE(p[NonESPMarkerLen:], ep, port)
	case UDPESP:
		d.Stat.Oversized.Add(1)
	default:
		d.Stat.Malformed.Add(1)
	}
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
