package core

// The half-open table (RFC 2408 §2.5.3, RFC 2409 §5, RFC 7296 §2.6): what unauthenticated
// first messages can make a responder keep. It is bounded globally (HalfOpenMax) and per
// source address (HalfOpenPerSrc), every entry expires (HalfOpenTimeout), and an entry
// leaves the table the moment its SA is established or dies, so the table holds exactly
// the SAs that are half-open right now.
//
// A full table evicts rather than refuses: spoofed first messages from many addresses would
// otherwise lock every real peer out until they expire. Eviction prefers entries whose
// initiator never answered (spoofed sources cannot) over entries whose initiator sent a
// second message and so proved it receives at its address, oldest first within each.

import (
	"net/netip"
	"time"
)

// HalfOpen is one entry of the table.
type HalfOpen struct {
	src        netip.Addr
	answered   bool
	prev, next *HalfOpen
	timer      *Timer
	evict      func(now time.Time)
	t          *halfOpenTable
}

// halfOpenTable keeps entries in two lists in admission order: those whose initiator has
// not answered yet, and those whose initiator has.
type halfOpenTable struct {
	lists [2]struct{ head, tail *HalfOpen }
	n     int
	bySrc map[netip.Addr]int
}

func (t *halfOpenTable) push(h *HalfOpen) {
	l := &t.lists[b2i(h.answered)]
	h.prev, h.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = h
	} else {
		l.head = h
	}
	l.tail = h
}

func (t *halfOpenTable) unlink(h *HalfOpen) {
	l := &t.lists[b2i(h.answered)]
	if h.prev != nil {
		h.prev.next = h.next
	} else {
		l.head = h.next
	}
	if h.next != nil {
		h.next.prev = h.prev
	} else {
		l.tail = h.prev
	}
	h.prev, h.next = nil, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AdmitHalfOpen admits a responder SA for a first message from src. expire runs when the
// entry times out or is evicted (the protocol destroys the SA, which releases the entry).
// It returns false, counted, when src already holds its share of the table.
func (c *Core) AdmitHalfOpen(now time.Time, src netip.Addr, expire func(now time.Time, evicted bool)) (*HalfOpen, bool) {
	t := &c.half
	if t.bySrc == nil {
		t.bySrc = map[netip.Addr]int{}
	}
	if t.bySrc[src] >= HalfOpenPerSrc {
		c.Ctr.Inc(CtrHalfOpenDrops)
		return nil, false
	}
	for t.n >= HalfOpenMax {
		victim := t.lists[0].head
		if victim == nil {
			victim = t.lists[1].head
		}
		c.Ctr.Inc(CtrHalfOpenEvicted)
		ev := victim.evict
		c.ReleaseHalfOpen(victim)
		ev(now)
	}
	h := &HalfOpen{src: src, t: t}
	h.evict = func(now time.Time) { expire(now, true) }
	h.timer = NewTimer("half-open", func(now time.Time) {
		c.Ctr.Inc(CtrHalfOpenExpired)
		c.ReleaseHalfOpen(h)
		expire(now, false)
	})
	t.push(h)
	t.n++
	t.bySrc[src]++
	c.Ctr.Set(GaugeHalfOpen, uint64(t.n))
	c.Timers.Arm(h.timer, now.Add(HalfOpenTimeout))
	return h, true
}

// Answered marks an entry whose initiator sent its second message: it proved it receives
// at its address, so a flood of spoofed first messages evicts it last.
func (c *Core) Answered(h *HalfOpen) {
	if h == nil || h.t == nil || h.answered {
		return
	}
	h.t.unlink(h)
	h.answered = true
	h.t.push(h)
}

// ReleaseHalfOpen removes an entry (established, dead, expired or evicted). Releasing nil
// or twice is harmless.
func (c *Core) ReleaseHalfOpen(h *HalfOpen) {
	if h == nil || h.t == nil {
		return
	}
	t := h.t
	t.unlink(h)
	h.t = nil
	t.n--
	if t.bySrc[h.src]--; t.bySrc[h.src] <= 0 {
		delete(t.bySrc, h.src)
	}
	c.Timers.Stop(h.timer)
	c.Ctr.Set(GaugeHalfOpen, uint64(t.n))
}

// HalfOpenCount is the number of half-open SAs now (tests, status).
func (c *Core) HalfOpenCount() int { return c.half.n }

// HalfOpenBySource copies the per-source counts (tests, status).
func (c *Core) HalfOpenBySource() map[netip.Addr]int {
	out := make(map[netip.Addr]int, len(c.half.bySrc))
	for k, v := range c.half.bySrc {
		out[k] = v
	}
	return out
}
