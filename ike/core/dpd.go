package core

// Dead peer detection, shared by both versions (RFC 3706 for IKEv1, RFC 7296 §2.4 liveness
// checks for IKEv2): when nothing came from the peer for dpd_delay (no authenticated IKE
// message, no packet on any inbound SA the IKE SA manages), send a liveness check and
// expect its answer; after dpd_timeout without one the peer is dead and dpd_action
// applies. Each protocol sends its own check (IKESA.SendLiveness) and reports the answer
// (LivenessAck).

import (
	"fmt"
	"time"

	"go.uber.org/zap"
)

// dpdState is the DPD state of one IKE SA.
type dpdState struct {
	t        *Timer
	pending  bool      // waiting for an answer
	since    time.Time // first unanswered check
	lastIn   uint64    // inbound packets counted at the last check
	lastSeen time.Time // last authenticated message at the last check
	active   time.Time // when a check last found traffic (or the SA came up)
}

// dpdActiveTicks: while traffic flows, DPD looks at the counters this many times per
// dpd_delay, so the liveness check goes out at most a quarter of an interval late once
// traffic stops (looking once per interval sent it up to a whole interval late: a peer
// whose NAT mapping changed, or that died, waited up to two intervals).
const dpdActiveTicks = 4

// startDPD arms DPD on an established SA when its connection wants it.
func (c *Core) startDPD(now time.Time, sa IKESA) {
	b := sa.Base()
	if b.dpd != nil || b.Conn == nil || b.Conn.Cfg.DPDDelay <= 0 {
		return
	}
	d := &dpdState{lastSeen: b.LastRecv, lastIn: c.inboundPackets(sa), active: now}
	d.t = NewTimer("dpd", func(now time.Time) { c.dpdTick(now, sa) })
	b.dpd = d
	c.Timers.Arm(d.t, now.Add(b.Conn.Cfg.DPDDelay))
}

func (c *Core) stopDPD(sa IKESA) {
	b := sa.Base()
	if b.dpd != nil {
		c.Timers.Stop(b.dpd.t)
		b.dpd = nil
	}
}

// DPDPending reports whether a liveness check of sa waits for its answer (status).
func (b *SABase) DPDPending() bool { return b.dpd != nil && b.dpd.pending }

// DPDOn reports whether DPD runs on the SA.
func (b *SABase) DPDOn() bool { return b.dpd != nil }

// inboundPackets sums the packets received on the pairs sa manages: traffic proves the
// peer alive without any liveness check.
func (c *Core) inboundPackets(sa IKESA) uint64 {
	b := sa.Base()
	if b.Conn == nil {
		return 0
	}
	var n uint64
	for _, ch := range b.Conn.Children {
		for _, csa := range ch.SAs {
			if csa.ike == sa {
				n += csa.in.Stats.Packets.Load()
			}
		}
	}
	return n
}

func (c *Core) dpdTick(now time.Time, sa IKESA) {
	b := sa.Base()
	d := b.dpd
	if d == nil || !b.Established() {
		return
	}
	cfg := b.Conn.Cfg
	if d.pending {
		if now.Sub(d.since) >= cfg.DPDTimeout {
			c.dpdDead(now, sa)
			return
		}
		sa.SendLiveness(now)
		c.Ctr.Inc(CtrDPDRequestsOut)
		c.Timers.Arm(d.t, now.Add(min(cfg.DPDDelay, d.since.Add(cfg.DPDTimeout).Sub(now))))
		return
	}
	in := c.inboundPackets(sa)
	if in != d.lastIn || b.LastRecv.After(d.lastSeen) {
		// Traffic arrived since the last check: the peer is alive.
		d.lastIn, d.lastSeen, d.active = in, b.LastRecv, now
		c.Timers.Arm(d.t, now.Add(cfg.DPDDelay/dpdActiveTicks))
		return
	}
	if quiet := now.Sub(d.active); quiet < cfg.DPDDelay {
		c.Timers.Arm(d.t, now.Add(cfg.DPDDelay-quiet))
		return
	}
	if !sa.SendLiveness(now) {
		b.Log.Debug("DPD: the peer does not support liveness checks")
		c.stopDPD(sa)
		return
	}
	c.Ctr.Inc(CtrDPDRequestsOut)
	d.pending, d.since = true, now
	c.Timers.Arm(d.t, now.Add(min(cfg.DPDDelay, cfg.DPDTimeout)))
}

// LivenessAck records the answer to a liveness check.
func (c *Core) LivenessAck(now time.Time, sa IKESA) {
	b := sa.Base()
	d := b.dpd
	if d == nil || !d.pending {
		return
	}
	d.pending = false
	d.lastIn, d.lastSeen, d.active = c.inboundPackets(sa), b.LastRecv, now
	c.Timers.Arm(d.t, now.Add(b.Conn.Cfg.DPDDelay))
}

// dpdDead applies dpd_action to a peer that stopped answering (RFC 3706 §5.5): clear removes
// the SAs; hold removes them and re-initiates on the next acquire; restart removes them and
// initiates again at once (and keeps trying with backoff).
func (c *Core) dpdDead(now time.Time, sa IKESA) {
	b := sa.Base()
	cs := b.Conn
	action := cs.Cfg.DPDActionOf()
	c.Ctr.Inc(CtrDPDTimeouts)
	b.Log.Warn("DPD: peer is not answering, applying dpd_action", zap.String("action", action), zap.Duration("timeout", cs.Cfg.DPDTimeout))
	reason := fmt.Errorf("%w: DPD: no answer for %s", ErrTimeout, cs.Cfg.DPDTimeout)
	var touched []*ChildState
	for _, ch := range cs.Children {
		for _, csa := range append([]*ChildSA(nil), ch.SAs...) {
			if csa.ike == sa {
				touched = append(touched, ch)
				csa.Remove(now, false, reason)
			}
		}
	}
	sa.Delete(now, false, reason)
	switch action {
	case "hold":
		for _, ch := range touched {
			ch.Hold = true
		}
	case "restart":
		if cs.Cfg.CanInitiate() && cs.Current() == nil {
			want := cs.Wanted()
			for _, ch := range touched {
				if !ch.Want {
					want = append(want, ch)
				}
			}
			cs.persistent = true
			cs.BringUp(now, want)
		}
	}
}

// PeerDead applies dpd_action to an established SA whose peer stopped answering outside a
// liveness check (IKEv2 §2.4: a request retransmitted without an answer means the peer is
// gone): the same as a DPD timeout.
func (c *Core) PeerDead(now time.Time, sa IKESA) {
	if sa.Base().Conn == nil || !sa.Base().Established() {
		sa.Delete(now, false, fmt.Errorf("%w: no answer", ErrTimeout))
		return
	}
	c.dpdDead(now, sa)
}
