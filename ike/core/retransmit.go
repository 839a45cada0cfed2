package core

// Reliability (RFC 2408 §5, RFC 2409 §5, RFC 7296 §2.1): the sender of a request
// retransmits it until the answer comes, on strongSwan's schedule (a timeout growing by a
// base factor, a number of tries); a responder answers a retransmitted request with its
// stored reply instead of processing it again.

import (
	"math"
	"net/netip"
	"time"

	"go.uber.org/zap"
)

// schedule returns the wait after transmission n (0-based) and whether there is another
// try after it.
func (r Retransmit) delay(n int) time.Duration {
	timeout, base := r.Timeout, r.Base
	if timeout <= 0 {
		timeout = 4 * time.Second
	}
	if base < 1 {
		base = 1.8
	}
	return time.Duration(float64(timeout) * math.Pow(base, float64(n)))
}

func (r Retransmit) tries() int {
	if r.Tries <= 0 {
		return 5
	}
	return r.Tries
}

// Total is how long a request is tried before the exchange gives up.
func (r Retransmit) Total() time.Duration {
	var t time.Duration
	for n := 0; n <= r.tries(); n++ {
		t += r.delay(n)
	}
	return t
}

// Retransmitter resends one message until stopped. Owned by the core's goroutine.
type Retransmitter struct {
	c      *Core
	msg    []byte
	local  netip.Addr
	to     netip.AddrPort
	natt   bool
	tries  int
	t      *Timer
	what   string
	giveUp func(now time.Time)
	// dest returns the current addresses (the SA may float between sends).
	dest func() (netip.Addr, netip.AddrPort, bool)
	// Sent counts transmissions of the current message (tests, logs).
	Sent int
	// Transmit, when set, sends the message instead of Core.Send: a protocol that splits
	// large messages into fragments (IKEv1 fragmentation) sends them all on each try.
	Transmit func(msg []byte, local netip.Addr, to netip.AddrPort, natt bool)
}

// NewRetransmitter returns an idle retransmitter; dest gives our address, the peer's and
// whether to use the NAT-T port; giveUp runs after the last try went unanswered.
func (c *Core) NewRetransmitter(dest func() (netip.Addr, netip.AddrPort, bool), giveUp func(now time.Time)) *Retransmitter {
	r := &Retransmitter{c: c, giveUp: giveUp, dest: dest}
	r.t = NewTimer("retransmit", r.fire)
	return r
}

// Start sends msg now and arms the first retransmission.
func (r *Retransmitter) Start(now time.Time, what string, msg []byte) {
	r.msg, r.what, r.tries, r.Sent = msg, what, 0, 1
	r.local, r.to, r.natt = r.dest()
	r.send()
	r.c.Timers.Arm(r.t, now.Add(r.c.Cfg.Retransmit.delay(0)))
}

// StartAfter is Start with the first transmission held back by wait (none if wait <= 0); the
// schedule counts from that transmission.
func (r *Retransmitter) StartAfter(now time.Time, wait time.Duration, what string, msg []byte) {
	if wait <= 0 {
		r.Start(now, what, msg)
		return
	}
	r.msg, r.what, r.tries, r.Sent = msg, what, -1, 0
	r.c.Timers.Arm(r.t, now.Add(wait))
}

// Stop ends the retransmissions (the answer arrived or the exchange died).
func (r *Retransmitter) Stop() {
	if r == nil {
		return
	}
	r.c.Timers.Stop(r.t)
	r.msg = nil
}

// Active reports whether a message is being retransmitted.
func (r *Retransmitter) Active() bool { return r != nil && r.msg != nil }

// Msg is the message being retransmitted (nil when idle).
func (r *Retransmitter) Msg() []byte { return r.msg }

// Tries is how many transmissions the schedule makes in all.
func (r *Retransmitter) Tries() int { return r.c.Cfg.Retransmit.tries() + 1 }

func (r *Retransmitter) fire(now time.Time) {
	if r.msg == nil {
		return
	}
	if r.tries < 0 { // StartAfter's first transmission
		r.tries, r.Sent = 0, 1
		r.local, r.to, r.natt = r.dest()
		r.send()
		r.c.Timers.Arm(r.t, now.Add(r.c.Cfg.Retransmit.delay(0)))
		return
	}
	r.tries++
	sched := r.c.Cfg.Retransmit
	if r.tries > sched.tries() {
		r.c.Ctr.Inc(CtrRetransmitGiveUps)
		r.msg = nil
		r.giveUp(now)
		return
	}
	r.local, r.to, r.natt = r.dest()
	r.c.Ctr.Inc(CtrRetransmits)
	r.Sent++
	r.c.Log.Debug("retransmitting", zap.String("message", r.what), zap.Int("try", r.tries+1), zap.Stringer("to", r.to))
	r.send()
	r.c.Timers.Arm(r.t, now.Add(sched.delay(r.tries)))
}

// send transmits the current message through Transmit or the core's outbox.
func (r *Retransmitter) send() {
	if r.Transmit != nil {
		r.Transmit(r.msg, r.local, r.to, r.natt)
		return
	}
	r.c.Send(r.msg, r.local, r.to, r.natt)
}

// ReplyCache remembers, per received request (by hash), the reply sent, so a retransmitted
// request is answered again and never processed twice. Bounded FIFO of ReplyCacheSize
// entries per IKE SA (and IKE SAs are bounded), so a peer cannot grow it.
type ReplyCache struct {
	keys    [][32]byte
	replies map[[32]byte][]byte
}

// Lookup reports whether the request was seen, and the reply sent for it (nil if none).
func (rc *ReplyCache) Lookup(h [32]byte) ([]byte, bool) {
	r, ok := rc.replies[h]
	return r, ok
}

// Remember stores the reply for a request (reply nil: seen, nothing to resend).
func (rc *ReplyCache) Remember(h [32]byte, reply []byte) {
	if rc.replies == nil {
		rc.replies = map[[32]byte][]byte{}
	}
	if _, ok := rc.replies[h]; !ok {
		rc.keys = append(rc.keys, h)
		if len(rc.keys) > ReplyCacheSize {
			delete(rc.replies, rc.keys[0])
			rc.keys = rc.keys[1:]
		}
	}
	rc.replies[h] = reply
}

// Len is the number of remembered requests.
func (rc *ReplyCache) Len() int { return len(rc.keys) }
