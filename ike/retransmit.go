package ike

// Reliability (RFC 2408 §5, RFC 2409 §5): the sender of a request retransmits it with
// exponential backoff until the answer comes; a responder answers a retransmitted request
// with its stored reply instead of processing it again.

import (
	"net/netip"
	"time"

	"go.uber.org/zap"
)

// retransmitDelays are the waits after each transmission: 1, 2, 4, 8, 16 s, then the
// exchange gives up (31 s after the first try).
var retransmitDelays = []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}

// retransmitter resends one message until stopped. Owned by the Run goroutine.
type retransmitter struct {
	c      *core
	msg    []byte
	to     netip.AddrPort
	natt   bool
	tries  int
	t      *timer
	what   string
	giveUp func(now time.Time)
	// dest returns the current destination (the SA may float between sends).
	dest func() (netip.AddrPort, bool)
}

func newRetransmitter(c *core, dest func() (netip.AddrPort, bool), giveUp func(now time.Time)) *retransmitter {
	r := &retransmitter{c: c, giveUp: giveUp, dest: dest}
	r.t = newTimer("retransmit", r.fire)
	return r
}

// start sends msg now and arms the first retransmission.
func (r *retransmitter) start(now time.Time, what string, msg []byte) {
	r.msg, r.what, r.tries = msg, what, 0
	r.to, r.natt = r.dest()
	r.c.send(msg, r.to, r.natt)
	r.c.timers.arm(r.t, now.Add(retransmitDelays[0]))
}

// stop ends the retransmissions (the answer arrived or the exchange died).
func (r *retransmitter) stop() {
	if r == nil {
		return
	}
	r.c.timers.stop(r.t)
	r.msg = nil
}

func (r *retransmitter) active() bool { return r != nil && r.msg != nil }

func (r *retransmitter) fire(now time.Time) {
	if r.msg == nil {
		return
	}
	r.tries++
	if r.tries >= len(retransmitDelays) {
		r.c.ctr.inc(cRetransmitGiveUps)
		r.msg = nil
		r.giveUp(now)
		return
	}
	r.to, r.natt = r.dest()
	r.c.ctr.inc(cRetransmits)
	r.c.log.Debug("retransmitting", zap.String("message", r.what), zap.Int("try", r.tries+1), zap.Stringer("to", r.to))
	r.c.send(r.msg, r.to, r.natt)
	r.c.timers.arm(r.t, now.Add(retransmitDelays[r.tries]))
}

// replyCache remembers, per received datagram (by hash), the reply we sent, so a
// retransmitted request is answered again and never processed twice. Bounded FIFO.
type replyCache struct {
	keys    [][32]byte
	replies map[[32]byte][]byte
}

const replyCacheSize = 16

// lookup reports whether the datagram was seen, and the reply sent for it (nil if none).
func (rc *replyCache) lookup(h [32]byte) ([]byte, bool) {
	r, ok := rc.replies[h]
	return r, ok
}

// remember stores the reply for a datagram (reply nil: seen, nothing to resend).
func (rc *replyCache) remember(h [32]byte, reply []byte) {
	if rc.replies == nil {
		rc.replies = map[[32]byte][]byte{}
	}
	if _, ok := rc.replies[h]; !ok {
		rc.keys = append(rc.keys, h)
		if len(rc.keys) > replyCacheSize {
			delete(rc.replies, rc.keys[0])
			rc.keys = rc.keys[1:]
		}
	}
	rc.replies[h] = reply
}
