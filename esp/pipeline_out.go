package esp

// The outbound pipeline: device → SPD → ESP/AH → network. See dataplane.go for the
// concurrency contract and workers.go for flights.
//
//	stage 1, the reader (one goroutine): read a batch from the device, find each packet's
//	  policy and SA, group by SA, write ESP headers and trailers and assign sequence
//	  numbers (serial per SA, in read order); with one worker, seal and send right here;
//	crypto (the worker pool): seal the groups, split into jobs;
//	stage 2, the sender (one goroutine): in read order, wait for a flight's jobs, drop what
//	  an SA retired meanwhile would send, send per destination (sendmmsg, UDP GSO).

import (
	"errors"
	"time"

	"go.uber.org/zap"
	"golang.zx2c4.com/wireguard/tun"
)

// errSkip marks batch entries that are not errors but need no further processing (an ICMP
// error was generated instead, an IKE message was handed over, ...).
var errSkip = errors.New("esp: handled")

// outState is an outbound batch and its per-batch scratch.
type outState struct {
	b       *Batch
	sizes   []int
	outs    []*Binding
	tmp     *Batch
	tmpOuts []*Binding
	send    [][]byte
	icmp    [][]byte
	icmpN   int
	groups  []outGroup
}

// outGroup is one SA's run of a batch: packets [from, to), crypto ops [lo, hi).
type outGroup struct {
	o        *Binding
	from, to int
	lo, hi   int
	ah       bool
}

// outFlight is an outbound batch in flight.
type outFlight struct {
	flight
	*outState
	n int
}

// outReader is stage 1's own state, shared by the flights it fills.
type outReader struct {
	policies policyCache
	groupTab groupTable
}

func newOutState(bs, bufSize int) *outState {
	st := &outState{
		b:       NewBatch(bs, bufSize),
		sizes:   make([]int, bs),
		outs:    make([]*Binding, bs),
		tmp:     &Batch{Bufs: make([][]byte, bs), Offs: make([]int, bs), Sizes: make([]int, bs), Errs: make([]error, bs)},
		tmpOuts: make([]*Binding, bs),
		send:    make([][]byte, 0, bs),
		icmp:    make([][]byte, 8),
	}
	for i := range st.icmp {
		st.icmp[i] = make([]byte, tunOffset+1280+64)
	}
	return st
}

// runOutbound is stage 1. With worker goroutines it queues flights for runSender.
func (d *Dataplane) runOutbound(free chan *outFlight, queue chan<- *outFlight) {
	defer d.wg.Done()
	stageLabel("out-reader")
	if queue != nil {
		defer close(queue)
	}
	r := &outReader{}
	room := d.outRoom
	for {
		f := <-free
		n, err := d.opts.Device.Read(f.b.Bufs, f.sizes, Headroom)
		if err != nil {
			if isClosed(err) || d.closing.Load() {
				return
			}
			if errors.Is(err, tun.ErrTooManySegments) {
				d.Stat.TooManySegments.Add(1)
			} else {
				d.Stat.DevReadErrors.Add(1)
				d.logLimited(logSlotDevRead, "device read failed", zap.Error(err))
				time.Sleep(10 * time.Millisecond) // a persistent error must not spin
			}
		}
		if n == 0 {
			free <- f
			continue
		}
		d.Stat.DevRx.Add(uint64(n))
		if d.quiesced.Load() {
			d.Stat.Quiesced.Add(uint64(n))
			free <- f
			continue
		}
		d.Stat.BatchesOut.Add(1)
		f.slot.enter()
		f.n = n
		d.prepareOutbound(r, f.outState, n, room)
		if queue == nil {
			d.sealInline(f.outState)
			d.finishOutbound(f.outState, n)
			d.life.batchDone(f.slot)
			free <- f
			continue
		}
		d.dispatchSeal(f)
		queue <- f
	}
}

// runSender is stage 2: flights in read order, each once its jobs are done.
func (d *Dataplane) runSender(free chan<- *outFlight, queue <-chan *outFlight) {
	defer d.wg.Done()
	stageLabel("out-sender")
	for f := range queue {
		<-f.done
		d.finishOutbound(f.outState, f.n)
		d.life.batchDone(f.slot)
		free <- f
	}
}

// processOutbound takes one batch of n device packets through every stage inline (the
// stage benchmarks use it; the pipeline's inline mode does the same in runOutbound).
func (d *Dataplane) processOutbound(r *outReader, st *outState, n int) {
	d.prepareOutbound(r, st, n, d.outRoom)
	d.sealInline(st)
	d.finishOutbound(st, n)
}

// prepareOutbound is stage 1's work on a batch: classify, group by SA, and the serial part
// of ESP (headers, trailers, sequence numbers) or all of AH.
func (d *Dataplane) prepareOutbound(r *outReader, st *outState, n, room int) {
	b := st.b
	b.Reset(n)
	st.icmpN = 0
	st.groups = st.groups[:0]
	r.policies.reset(d.SPD.snapshot())
	groups := 0
	var first *Binding
	for i := range n {
		b.Set(i, Headroom, st.sizes[i])
		var o *Binding
		if st.sizes[i] > room { // the device's MTU grew beyond the buffers
			b.Errs[i] = ErrMalformed
			d.Stat.Malformed.Add(1)
		} else {
			o = d.route(r, st, i)
		}
		st.outs[i] = o
		if o != nil && o != first {
			if first == nil {
				first = o
			}
			groups++
		}
	}
	if groups > 1 {
		groupBySA(st, &r.groupTab, n)
	}
	for i := 0; i < n; {
		o := st.outs[i]
		if o == nil {
			i++
			continue
		}
		j := i + 1
		for j < n && (st.outs[j] == o || st.outs[j] == nil) {
			j++
		}
		g := outGroup{o: o, from: i, to: j}
		if o.SA.cfg.Proto == AH {
			o.SA.ahEncapRange(b, i, j)
			g.ah = true
		} else {
			g.lo, g.hi = i, o.SA.Prepare(b, i, j)
		}
		st.groups = append(st.groups, g)
		i = j
	}
	r.policies.release()
}

// sealInline seals every group on the calling goroutine.
func (d *Dataplane) sealInline(st *outState) {
	for _, g := range st.groups {
		if !g.ah {
			g.o.SA.Seal(st.b, g.lo, g.hi)
		}
	}
}

// dispatchSeal hands the flight's sealing to the worker pool.
func (d *Dataplane) dispatchSeal(f *outFlight) {
	total := 0
	for _, g := range f.groups {
		total += g.hi - g.lo
	}
	size := d.pool.chunk(total)
	d.pool.begin(&f.flight)
	for _, g := range f.groups {
		if !g.ah && g.hi > g.lo {
			d.pool.submit(&f.flight, g.o.SA, f.b, g.lo, g.hi, size, false)
		}
	}
	d.pool.end(&f.flight)
	if total > size {
		d.Stat.ParallelBatches.Add(1)
	}
}

// finishOutbound is stage 2's work: drop what retired SAs would send, send, and write the
// ICMP errors stage 1 built.
func (d *Dataplane) finishOutbound(st *outState, n int) {
	for _, g := range st.groups {
		// Re-check after sealing: an SA retired meanwhile (deleted by the peer, or by us
		// after a rekey) sends nothing more; its keys are intact until this flight ends.
		if sa := g.o.SA; sa.retired.Load() && !d.life.wipeNow {
			sa.failRange(st.b, g.from, g.to, ErrExpired)
		}
	}
	d.sendAll(st, n)
	if st.icmpN > 0 {
		if _, err := d.opts.Device.Write(st.icmp[:st.icmpN], tunOffset); err != nil {
			d.Stat.DevWriteErrors.Add(1)
		} else {
			d.Stat.DevTx.Add(uint64(st.icmpN))
		}
	}
	// The flight waits in the free list until the next batch: it must not keep the SAs of
	// this one alive (a retired SA's memory goes once no batch holds it; its keys are wiped
	// anyway).
	clear(st.outs[:n])
	clear(st.groups)
	st.groups = st.groups[:0]
}

// route finds the outbound binding of packet i, or marks it handled/failed and returns nil.
func (d *Dataplane) route(r *outReader, st *outState, i int) *Binding {
	b := st.b
	pkt := b.Packet(i)
	p, ok := r.policies.lookup(pkt)
	if !ok {
		b.Errs[i] = ErrMalformed
		d.Stat.Malformed.Add(1)
		return nil
	}
	if p == nil {
		b.Errs[i] = errSkip
		d.Stat.NoPolicy.Add(1)
		return nil
	}
	if p.Action != Protect {
		b.Errs[i] = errSkip
		d.Stat.Discarded.Add(1)
		return nil
	}
	o := p.Binding()
	if o == nil || o.SA.Expired() {
		b.Errs[i] = errSkip
		d.Stat.NoSA.Add(1)
		p.NoSA.Add(1)
		if p.acquire(time.Now()) {
			f, _ := ParseFlow(pkt)
			p.Acquires.Add(1)
			d.events.acquire(p, f)
		}
		return nil
	}
	if TooBig(pkt, o.MTU) {
		b.Errs[i] = errSkip
		d.Stat.TooBig.Add(1)
		p.TooBig.Add(1)
		d.tooBig(st, pkt, o.MTU)
		return nil
	}
	if ClampMSS(pkt, o.MTU) {
		d.Stat.MSSClamped.Add(1)
	}
	return o
}

// tooBig queues an ICMP packet-too-big answer to the sender of pkt.
func (d *Dataplane) tooBig(st *outState, pkt []byte, mtu int) {
	if st.icmpN == len(st.icmp) {
		return
	}
	src := d.opts.ICMPSource4
	if pkt[0]>>4 == 6 {
		src = d.opts.ICMPSource6
	}
	if !src.IsValid() {
		f, _ := ParseFlow(pkt)
		src = f.Dst
	}
	buf := st.icmp[st.icmpN]
	if n := BuildTooBig(buf[tunOffset:cap(buf)], pkt, mtu, src); n > 0 {
		st.icmp[st.icmpN] = buf[:tunOffset+n]
		st.icmpN++
	}
}

// sameDest reports whether two bindings' packets leave through the same socket to the same
// address, so one send (one sendmmsg, GSO runs across SAs) carries both.
func sameDest(a, b *Binding) bool {
	return a.Encap == b.Encap && a.Peer == b.Peer && a.local == b.local &&
		(a.Encap == EncapUDP || a.SA.cfg.Proto == b.SA.cfg.Proto)
}

// sendAll sends the batch's protected packets in batch order, one send per run of packets
// with the same destination (SAs to one peer share a send).
func (d *Dataplane) sendAll(st *outState, n int) {
	b := st.b
	st.send = st.send[:0]
	var cur *Binding
	var bytes uint64
	for i := range n {
		o := st.outs[i]
		if o == nil || b.Errs[i] != nil {
			continue
		}
		if cur != nil && !sameDest(cur, o) {
			d.send(st, cur, bytes)
			st.send, bytes = st.send[:0], 0
		}
		cur = o
		p := b.Packet(i)
		st.send = append(st.send, p)
		bytes += uint64(len(p))
	}
	if cur != nil {
		d.send(st, cur, bytes)
	}
}

func (d *Dataplane) send(st *outState, o *Binding, bytes uint64) {
	var err error
	if o.Encap == EncapUDP {
		err = d.opts.NATT.Send(st.send, o.ep)
	} else {
		err = d.raw.send(st.send, o.Peer.Addr(), o.SA.cfg.Proto)
	}
	if err != nil {
		d.Stat.SendErrors.Add(1)
		d.logLimited(logSlotSend, "sending ESP failed", zap.Stringer("peer", o.Peer), zap.Error(err))
		return
	}
	d.Stat.NetTx.Add(uint64(len(st.send)))
	d.Stat.NetTxBytes.Add(bytes)
}
