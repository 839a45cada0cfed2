package ikev2

// NAT traversal (RFC 7296 §2.23): NAT_DETECTION_SOURCE_IP / _DESTINATION_IP in IKE_SA_INIT,
// the move to the NAT-T port after it, UDP-encapsulated ESP (RFC 3948) when either side is
// behind a NAT, keepalives from the side behind it, and following the peer when its
// address changes. With encap = "udp" our source hash is random, so the peer sees us behind
// a NAT and both sides encapsulate (what strongSwan's encap = yes does).

import (
	"bytes"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// natState is what NAT detection found.
type natState struct {
	local  bool // we are behind a NAT: the peer saw another address or port for us
	remote bool // the peer is behind a NAT
	fake   bool // encap = "udp": our source hash was random, to force UDP encapsulation
	seen   bool // the peer sent NAT detection notifications
}

// natNotifies returns the two NAT detection notifications for a message with these SPIs
// (SPIr zero in the request). None with encap = "raw".
func (sa *ikeSA) natNotifies(spir wire.SPI) []wire.Payload { return sa.natNotifiesTo(spir, sa.Remote) }

// natNotifiesTo is natNotifies for a message to peer (a response goes where its request came
// from).
func (sa *ikeSA) natNotifiesTo(spir wire.SPI, peer netip.AddrPort) []wire.Payload {
	cfg := sa.cfg()
	if cfg != nil && cfg.EncapOf() == "raw" {
		return nil
	}
	var src []byte
	if cfg != nil && cfg.EncapOf() == "udp" {
		sa.nat.fake = true
		src = sa.p.RandBytes(20)
	} else {
		src = wire.NATDetectionHash(sa.spiI, spir, netip.AddrPortFrom(sa.ourIP(), sa.ourPort()))
	}
	dst := wire.NATDetectionHash(sa.spiI, spir, peer)
	return []wire.Payload{
		wire.NewNotify(wire.NotifyNATDetectionSourceIP, src),
		wire.NewNotify(wire.NotifyNATDetectionDestinationIP, dst),
	}
}

// processNATD compares the peer's NAT detection hashes with the addresses of the message
// (§2.23): none of the source hashes matching the sender means it is behind a NAT; the
// destination hash not matching our address means we are.
func (sa *ikeSA) processNATD(c *wire.Chain, d *core.Datagram, spir wire.SPI) {
	var srcs, dsts [][]byte
	for _, n := range c.Notifies() {
		switch n.NotifyType {
		case wire.NotifyNATDetectionSourceIP:
			srcs = append(srcs, n.Data)
		case wire.NotifyNATDetectionDestinationIP:
			dsts = append(dsts, n.Data)
		}
	}
	if len(srcs) == 0 || len(dsts) == 0 {
		return
	}
	if cfg := sa.cfg(); cfg != nil && cfg.EncapOf() == "raw" {
		return
	}
	sa.nat.seen = true
	them := wire.NATDetectionHash(sa.spiI, spir, d.From)
	sa.nat.remote = true
	for _, h := range srcs {
		if bytes.Equal(h, them) {
			sa.nat.remote = false
		}
	}
	local := d.Local.Addr()
	if !local.IsValid() || local.IsUnspecified() {
		local = sa.ourIP()
	}
	me := wire.NATDetectionHash(sa.spiI, spir, netip.AddrPortFrom(local, d.Local.Port()))
	sa.nat.local = !bytes.Equal(dsts[0], me)
	if cfg := sa.cfg(); cfg != nil && cfg.EncapOf() == "udp" {
		sa.nat.fake = true
	}
	sa.Log.Debug("NAT detection", zap.Bool("local_behind_nat", sa.nat.local), zap.Bool("remote_behind_nat", sa.nat.remote), zap.Bool("forced", sa.nat.fake))
}

// nattInUse reports whether the SA uses NAT-T: a NAT was found (or faked) on either side.
func (sa *ikeSA) nattInUse() bool {
	return sa.nat.seen && (sa.nat.local || sa.nat.remote || sa.nat.fake)
}

// float moves the initiator to the peer's NAT-T port after IKE_SA_INIT (§2.23: "the
// initiator MUST" when a NAT was detected).
func (sa *ikeSA) float() {
	// RFC 4555 §3.3: a MOBIKE initiator moves to the NAT-T port even without a NAT.
	if !sa.nattInUse() && !sa.mobikeWanted() || sa.NATT || sa.Conn == nil {
		return
	}
	sa.NATT = true
	sa.Remote = netip.AddrPortFrom(sa.Remote.Addr(), sa.Conn.Cfg.RemoteNATTPortOf())
	sa.Log.Debug("floating to the NAT-T port", zap.Stringer("to", sa.Remote))
}

// updatePeer follows the peer to a new address or port after an authenticated message
// (§2.23: a NAT may change its mapping; the responder floats when IKE_AUTH arrives on the
// NAT-T port). Without a NAT only the move to the NAT-T port is taken.
func (sa *ikeSA) updatePeer(now time.Time, d *core.Datagram) {
	if d.From == sa.Remote && d.NATT == sa.NATT {
		return
	}
	if !(d.NATT || !sa.NATT) || (!sa.nattInUse() && d.From.Addr() != sa.Remote.Addr()) {
		return
	}
	if sa.mob.on && d.From.Addr() != sa.Remote.Addr() {
		// RFC 4555 §3.5: with MOBIKE only UPDATE_SA_ADDRESSES moves the SA (mobike.go).
		return
	}
	sa.Remote, sa.NATT = d.From, d.NATT
	if a := d.Local.Addr(); a.IsValid() && !a.IsUnspecified() {
		sa.Local = a
	}
	sa.Log.Debug("peer address updated", zap.Stringer("peer", sa.Remote), zap.Bool("natt", sa.NATT))
	for _, csa := range sa.ownedChildren() {
		if csa.Params().Encap == esp.EncapUDP {
			csa.PeerMoved(now, sa.Remote, sa.ourIP())
		}
	}
}

// ESPSourceMoved follows the peer to the source of an ESP-in-UDP datagram that verified under
// one of its inbound SAs (core.ESPSourceFollower). RFC 7296 §2.23: a NAT may drop a mapping
// that is still in use; a host that is not behind a NAT, whose peer is, and that has no other
// way to recover (MOBIKE, RFC 4555 §3.8) SHOULD send everything to the address and port of the
// latest validated packet; a host behind a NAT SHOULD NOT. The data plane reports a source
// only for a datagram that passed its integrity check and the replay window, so a replayed
// old packet cannot move us back. The IKE SA and every pair it manages move (strongSwan does
// the same on the kernel's NAT mapping events).
func (sa *ikeSA) ESPSourceMoved(now time.Time, csa *core.ChildSA, from netip.AddrPort) {
	if sa.state != stEstablished || !sa.NATT || !sa.nat.remote || sa.nat.local || from == sa.Remote {
		return
	}
	if sa.mob.on && from.Addr() != sa.Remote.Addr() {
		return // a new address is MOBIKE's to announce (UPDATE_SA_ADDRESSES); a new port is the NAT's
	}
	sa.p.FollowESPSource(now, &sa.SABase, csa, from, sa.ownedChildren(), sa.ourIP())
}

// childEncap is the encapsulation of the SA's child SAs, and the peer address ESP goes to.
func (sa *ikeSA) childEncap() (esp.Encap, netip.AddrPort) {
	if sa.nattInUse() {
		peer := sa.Remote
		if !sa.NATT && sa.Conn != nil {
			peer = netip.AddrPortFrom(sa.Remote.Addr(), sa.Conn.Cfg.RemoteNATTPortOf())
		}
		return esp.EncapUDP, peer
	}
	return esp.EncapRaw, netip.AddrPortFrom(sa.Remote.Addr(), 0)
}

var (
	netipZero  netip.Addr
	netipZero4 = netip.IPv4Unspecified()
)
