package ike

// Dead Peer Detection, RFC 3706: when nothing came from the peer for dpd_delay (no IKE
// message, no packet on any inbound SA of the connection), send R-U-THERE (§5: an
// Informational notification, SPI = the cookies, data = a 32-bit sequence number) and
// expect R-U-THERE-ACK with the same number; after dpd_timeout without one, the peer is
// dead and dpd_action applies. Requests are answered whenever the peer announced DPD.

import (
	"encoding/binary"
	"time"

	"go.uber.org/zap"

	"oakley/ike/isakmp"
)

// dpdState is the DPD state of one ISAKMP SA.
type dpdState struct {
	sa       *ikeSA
	t        *timer
	seq      uint32    // last R-U-THERE sent
	pending  bool      // waiting for an ACK
	since    time.Time // first unanswered R-U-THERE
	lastIn   uint64    // inbound packets counted at the last check
	lastSeen time.Time // last IKE message at the last check
}

// startDPD arms DPD on an established SA when configured and the peer supports it.
func (sa *ikeSA) startDPD(now time.Time) {
	cfg := sa.conn.cfg
	if cfg.DPDDelay <= 0 || !sa.ext.dpd {
		return
	}
	d := &dpdState{sa: sa, lastSeen: sa.lastRecv, lastIn: sa.inboundPackets()}
	// RFC 3706 §5.5: the first sequence number is random.
	d.seq = binary.BigEndian.Uint32(sa.c.randBytes(4)) & 0x7fffffff
	d.t = newTimer("dpd", d.tick)
	sa.dpd = d
	sa.c.timers.arm(d.t, now.Add(cfg.DPDDelay))
}

func (sa *ikeSA) stopDPD() {
	if sa.dpd != nil {
		sa.c.timers.stop(sa.dpd.t)
		sa.dpd = nil
	}
}

// inboundPackets sums the packets received on the SA's children (the data plane's
// counters): traffic proves the peer alive without any R-U-THERE.
func (sa *ikeSA) inboundPackets() uint64 {
	var n uint64
	if sa.conn == nil {
		return 0
	}
	for _, ch := range sa.conn.children {
		for _, csa := range ch.sas {
			if csa.in != nil {
				n += csa.in.Stats.Packets.Load()
			}
		}
	}
	return n
}

func (d *dpdState) tick(now time.Time) {
	sa := d.sa
	if sa.state != p1Established {
		return
	}
	cfg := sa.conn.cfg
	if d.pending {
		if now.Sub(d.since) >= cfg.DPDTimeout {
			sa.dpdDead(now)
			return
		}
		d.send(now)
		sa.c.timers.arm(d.t, now.Add(min(cfg.DPDDelay, d.since.Add(cfg.DPDTimeout).Sub(now))))
		return
	}
	in := sa.inboundPackets()
	if in != d.lastIn || sa.lastRecv.After(d.lastSeen) {
		// Traffic arrived since the last check: the peer is alive (idle-based DPD).
		d.lastIn, d.lastSeen = in, sa.lastRecv
		sa.c.timers.arm(d.t, now.Add(cfg.DPDDelay))
		return
	}
	d.pending, d.since = true, now
	d.send(now)
	sa.c.timers.arm(d.t, now.Add(min(cfg.DPDDelay, cfg.DPDTimeout)))
}

// send sends R-U-THERE with the next sequence number (RFC 3706 §5.3, §5.5).
func (d *dpdState) send(now time.Time) {
	d.seq++
	d.sa.c.ctr.inc(cDPDRequestsOut)
	d.sa.sendNotify(isakmp.NotifyRUThere, isakmp.ProtoISAKMP, d.sa.cookies(), binary.BigEndian.AppendUint32(nil, d.seq))
}

// handleDPD answers R-U-THERE and accepts R-U-THERE-ACK (RFC 3706 §5.2, §5.3).
func (sa *ikeSA) handleDPD(now time.Time, n *isakmp.Notification) {
	seq, err := n.DPDSequence()
	if err != nil || !equalBytes(n.SPI, sa.cookies()) {
		sa.c.ctr.inc(cMalformed)
		sa.log.Debug("ignoring malformed DPD notification", zap.Error(err))
		return
	}
	switch n.NotifyType {
	case isakmp.NotifyRUThere:
		sa.c.ctr.inc(cDPDRequestsIn)
		if sa.established() {
			sa.sendNotify(isakmp.NotifyRUThereAck, isakmp.ProtoISAKMP, sa.cookies(), binary.BigEndian.AppendUint32(nil, seq))
		}
	case isakmp.NotifyRUThereAck:
		d := sa.dpd
		if d == nil || !d.pending || seq != d.seq {
			return
		}
		d.pending = false
		d.lastIn, d.lastSeen = sa.inboundPackets(), sa.lastRecv
		sa.c.timers.arm(d.t, now.Add(sa.conn.cfg.DPDDelay))
	}
}

// dpdDead applies dpd_action to a peer that stopped answering (RFC 3706 §5.5):
// clear removes the SAs; hold removes them and re-initiates on the next acquire; restart
// removes them and initiates again at once.
func (sa *ikeSA) dpdDead(now time.Time) {
	cs := sa.conn
	action := cs.cfg.dpdAction()
	sa.c.ctr.inc(cDPDTimeouts)
	sa.log.Warn("DPD: peer is not answering, applying dpd_action", zap.String("action", action), zap.Duration("timeout", cs.cfg.DPDTimeout))
	reason := fail(0, ErrTimeout, "DPD: no answer for %s", cs.cfg.DPDTimeout)
	var touched []*childState
	for _, csa := range sa.ownedChildren() {
		touched = append(touched, csa.ch)
		csa.remove(now, false, reason)
	}
	sa.destroy(now, false, reason)
	switch action {
	case "hold":
		for _, ch := range touched {
			ch.hold = true
		}
	case "restart":
		if cs.cfg.RemoteAddr.IsValid() {
			want := cs.wanted()
			for _, ch := range touched {
				if !ch.want {
					want = append(want, ch)
				}
			}
			cs.bringUp(now, want)
		}
	}
}
