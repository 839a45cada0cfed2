package core

// The half-open table (RFC 2408 §2.5.3, RFC 2409 §5, RFC 7296 §2.6): what unauthenticated
// first messages can make a responder keep. It is bounded globally (HalfOpenMax) and per
// source address (HalfOpenPerSrc), every entry expires (HalfOpenTimeout), and an entry
// leaves the table the moment its SA is established or dies, so the table holds exactly
// the SAs that are half-open right now.
//
// Every entry expires HalfOpenTimeout after the last message its initiator sent (Heard).
// An entry whose initiator has answered (sent MM3, or an IKE_AUTH request) lives longer:
// as long as the initiator may still be retransmitting, counted from the last message it
// sent (AnsweredTimeout). A Main Mode under loss can take minutes on strongSwan's
// schedule (165 s per exchange before it gives up); a responder that forgot it after 30 s
// made every later retransmission of MM3 or MM5 land on an unknown cookie, and the
// initiator retried for the rest of its schedule into the void.
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
// at its address, so a flood of spoofed first messages evicts it last, and it expires
// AnsweredTimeout after the last message its initiator sent (see Heard).
func (c *Core) Answered(h *HalfOpen, now time.Time) {
	if h == nil || h.t == nil {
		return
	}
	if !h.answered {
		h.t.unlink(h)
		h.answered = true
		h.t.push(h)
	}
	c.Timers.Arm(h.timer, now.Add(c.AnsweredTimeout()))
}

// Heard notes a message from the initiator of a half-open SA (a retransmission answered
// from the reply cache, or a later request) and moves the entry's expiry: AnsweredTimeout
// from now once its initiator answered, HalfOpenTimeout from now before. So an initiator
// whose first answer (MM2, the IKE_SA_INIT response) was lost until late in the 30 s
// still has HalfOpenTimeout to get its second message through; before, the responder
// could forget the SA between the initiator's MM3 retransmissions, which then met an
// unknown cookie until the initiator gave up. Retransmitted first messages buy a spoofer
// nothing the table does not already bound: a full table still evicts the oldest entry
// whose initiator never answered, however recently it was heard.
func (c *Core) Heard(h *HalfOpen, now time.Time) {
	if h == nil || h.t == nil {
		return
	}
	d := HalfOpenTimeout
	if h.answered {
		d = c.AnsweredTimeout()
	}
	c.Timers.Arm(h.timer, now.Add(d))
}

// AnsweredTimeout is how long an answered half-open entry waits for its initiator's next
// message: the whole retransmission schedule (our own stands in for the peer's; 165 s by
// default, strongSwan's too), and never less than HalfOpenTimeout.
func (c *Core) AnsweredTimeout() time.Duration {
	return max(HalfOpenTimeout, c.Cfg.Retransmit.Total())
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
