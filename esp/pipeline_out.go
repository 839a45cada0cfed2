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
	tmp     *Batch
	tmpOuts []*Binding
	send    [][]byte
	icmp    [][]byte
	icmpN   int
	wg      sync.WaitGroup

	policies policyCache
	groupTab groupTable
}

func newOutState(bs int) *outState {
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
	st.policies.reset(d.SPD.snapshot())
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
		d.encap(st, o, i, j)
		i = j
	}
	d.sendAll(st, n)
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
	p, ok := st.policies.lookup(pkt)
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

// groupBySA makes the packets of each SA contiguous, keeping their order within an SA and
// the groups in order of first appearance (a stable counting sort, O(n); only batches that
// mix SAs pay for it). Packets without a binding go first.
func (d *Dataplane) groupBySA(st *outState, n int) {
	b, t, g := st.b, st.tmp, &st.groupTab
	g.reset(n)
	nilCount := 0
	for i := range n {
		if o := st.outs[i]; o == nil {
			g.of[i] = -1
			nilCount++
		} else {
			g.of[i] = g.id(o)
		}
	}
	next := g.count[:g.groups] // becomes each group's next destination index
	pos := nilCount
	for k, c := range next {
		next[k], pos = pos, pos+c
	}
	nilNext := 0
	for i := range n {
		k := nilNext
		if id := g.of[i]; id < 0 {
			nilNext++
		} else {
			k = next[id]
			next[id]++
		}
		t.Bufs[k], t.Offs[k], t.Sizes[k], t.Errs[k], st.tmpOuts[k] = b.Bufs[i], b.Offs[i], b.Sizes[i], b.Errs[i], st.outs[i]
	}
	copy(b.Bufs[:n], t.Bufs[:n])
	copy(b.Offs[:n], t.Offs[:n])
	copy(b.Sizes[:n], t.Sizes[:n])
	copy(b.Errs[:n], t.Errs[:n])
	copy(st.outs[:n], st.tmpOuts[:n])
}

// groupTable numbers the distinct bindings of a batch in order of first appearance (open
// addressing on the binding's serial number) and counts their packets.
type groupTable struct {
	slots  []*Binding
	ids    []int
	used   []int
	of     []int // packet → group (-1: none)
	count  []int // group → packets
	groups int
}

func (g *groupTable) reset(n int) {
	if len(g.of) < n {
		size := 1
		for size < 2*n {
			size <<= 1
		}
		*g = groupTable{slots: make([]*Binding, size), ids: make([]int, size), used: make([]int, 0, n),
			of: make([]int, n), count: make([]int, n)}
	}
	for _, s := range g.used {
		g.slots[s] = nil
	}
	g.used = g.used[:0]
	clear(g.count[:g.groups])
	g.groups = 0
}

func (g *groupTable) id(o *Binding) int {
	mask := uint64(len(g.slots) - 1)
	for s := (o.serial * 0x9e3779b97f4a7c15) >> 32 & mask; ; s = (s + 1) & mask {
		switch g.slots[s] {
		case o:
			g.count[g.ids[s]]++
			return g.ids[s]
		case nil:
			g.slots[s], g.ids[s] = o, g.groups
			g.used = append(g.used, int(s))
			g.count[g.groups] = 1
			g.groups++
			return g.groups - 1
		}
	}
}

// encap protects packets [from, to) with o's SA.
func (d *Dataplane) encap(st *outState, o *Binding, from, to int) {
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
