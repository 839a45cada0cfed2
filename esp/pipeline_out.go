package esp

// The outbound pipeline: device → SPD → ESP/AH → network. One goroutine; see dataplane.go for
// the concurrency contract.

import (
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.zx2c4.com/wireguard/tun"
)

// errSkip marks batch entries that are not errors but need no further processing (an ICMP
// error was generated instead, an IKE message was handed over, ...).
var errSkip = errors.New("esp: handled")

type outState struct {
	b       *Batch
	sizes   []int
	outs    []*Binding
	order   []int
	tmp     *Batch
	tmpOuts []*Binding
	send    [][]byte
	icmp    [][]byte
	icmpN   int
	wg      sync.WaitGroup

	// The SPD decision for the last flow key seen, valid while the SPD is the snapshot spd
	// (first match depends only on the key's fields and the SPD's contents).
	spd       *[]*Policy
	key       flowKey
	keyPolicy *Policy
	keyOK     bool
}

func newOutState(bs int) *outState {
	st := &outState{
		b:       NewBatch(bs, bufSize),
		sizes:   make([]int, bs),
		outs:    make([]*Binding, bs),
		order:   make([]int, 0, bs),
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

func (d *Dataplane) runOutbound(slot *epochSlot) {
	defer d.wg.Done()
	st := newOutState(max(d.opts.Device.BatchSize(), 1))
	for {
		n, err := d.opts.Device.Read(st.b.Bufs, st.sizes, Headroom)
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
			if n == 0 {
				continue
			}
		}
		d.Stat.DevRx.Add(uint64(n))
		if d.quiesced.Load() {
			d.Stat.Quiesced.Add(uint64(n))
			continue
		}
		d.Stat.BatchesOut.Add(1)
		slot.enter()
		d.processOutbound(st, n)
		d.life.batchDone(slot)
	}
}

// processOutbound classifies, encapsulates and sends one batch of n device packets.
func (d *Dataplane) processOutbound(st *outState, n int) {
	b := st.b
	b.Reset(n)
	st.icmpN = 0
	if l := d.SPD.snapshot(); l != st.spd {
		st.spd, st.keyOK = l, false
	}
	groups := 0
	var first *Binding
	for i := range n {
		b.Set(i, Headroom, st.sizes[i])
		o := d.route(st, i)
		st.outs[i] = o
		if o != nil && o != first {
			if first == nil {
				first = o
			}
			groups++
		}
	}
	if groups > 1 {
		d.groupBySA(st, n)
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
		d.encapAndSend(st, o, i, j)
		i = j
	}
	if st.icmpN > 0 {
		if _, err := d.opts.Device.Write(st.icmp[:st.icmpN], tunOffset); err != nil {
			d.Stat.DevWriteErrors.Add(1)
		} else {
			d.Stat.DevTx.Add(uint64(st.icmpN))
		}
	}
}

// route finds the outbound binding of packet i, or marks it handled/failed and returns nil.
func (d *Dataplane) route(st *outState, i int) *Binding {
	b := st.b
	pkt := b.Packet(i)
	var p *Policy
	if k, keyed := flowKeyOf(pkt); keyed && st.keyOK && k == st.key {
		p = st.keyPolicy
	} else {
		f, ok := ParseFlow(pkt)
		if !ok {
			b.Errs[i] = ErrMalformed
			d.Stat.Malformed.Add(1)
			return nil
		}
		p = lookupIn(st.spd, &f)
		if keyed {
			st.key, st.keyPolicy, st.keyOK = k, p, true
		}
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

// groupBySA makes the packets of each SA contiguous, keeping their order within an SA (a
// stable partition through scratch arrays; only batches that mix SAs pay for it).
func (d *Dataplane) groupBySA(st *outState, n int) {
	b, t := st.b, st.tmp
	st.order = st.order[:0]
	for i := range n {
		if st.outs[i] == nil {
			st.order = append(st.order, i)
		}
	}
	for i := range n {
		o := st.outs[i]
		if o == nil || seenBefore(st.outs, i) {
			continue
		}
		for j := i; j < n; j++ {
			if st.outs[j] == o {
				st.order = append(st.order, j)
			}
		}
	}
	for k, i := range st.order {
		t.Bufs[k], t.Offs[k], t.Sizes[k], t.Errs[k], st.tmpOuts[k] = b.Bufs[i], b.Offs[i], b.Sizes[i], b.Errs[i], st.outs[i]
	}
	copy(b.Bufs[:n], t.Bufs[:n])
	copy(b.Offs[:n], t.Offs[:n])
	copy(b.Sizes[:n], t.Sizes[:n])
	copy(b.Errs[:n], t.Errs[:n])
	copy(st.outs[:n], st.tmpOuts[:n])
}

func seenBefore(outs []*Binding, i int) bool {
	for k := range i {
		if outs[k] == outs[i] {
			return true
		}
	}
	return false
}

// encapAndSend protects packets [from, to) with o's SA and sends them to o's peer in order.
func (d *Dataplane) encapAndSend(st *outState, o *Binding, from, to int) {
	b, sa := st.b, o.SA
	if sa.cfg.Proto == AH {
		sa.ahEncapRange(b, from, to)
	} else {
		end := sa.Prepare(b, from, to)
		if d.pool.run(sa, b, from, end, false, &st.wg) {
			d.Stat.ParallelBatches.Add(1)
		}
	}
	// Re-check after sealing: an SA retired meanwhile (deleted by the peer, or by us after a
	// rekey) sends nothing more; its keys are still intact until this batch ends.
	if sa.retired.Load() && !d.life.wipeNow {
		sa.failRange(b, from, to, ErrExpired)
		return
	}
	st.send = st.send[:0]
	var bytes uint64
	for i := from; i < to; i++ {
		if b.Errs[i] == nil {
			p := b.Packet(i)
			st.send = append(st.send, p)
			bytes += uint64(len(p))
		}
	}
	if len(st.send) == 0 {
		return
	}
	var err error
	if o.Encap == EncapUDP {
		err = d.opts.NATT.Send(st.send, o.ep)
	} else {
		err = d.raw.send(st.send, o.Peer.Addr(), sa.cfg.Proto)
	}
	if err != nil {
		d.Stat.SendErrors.Add(1)
		d.logLimited(logSlotSend, "sending ESP failed", zap.Stringer("peer", o.Peer), zap.Error(err))
		return
	}
	d.Stat.NetTx.Add(uint64(len(st.send)))
	d.Stat.NetTxBytes.Add(bytes)
}
