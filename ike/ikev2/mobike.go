package ikev2

// MOBIKE (RFC 4555) behind mobike = true: both sides announce MOBIKE_SUPPORTED in IKE_AUTH
// (§3.2) and the initiator moves to the NAT-T port for IKE_AUTH even without a NAT (§3.3).
// Only the original initiator of the IKE SA (the client; it stays so across IKE SA rekeys)
// decides on address changes (§3.1):
//
//   - The client checks every mobikeCheckEvery whether the address its IKE SA uses still
//     exists on this host. When it is gone and the route to the peer now leaves from another
//     address, the IKE SA and its child SAs' outbound bindings take the new address at once
//     and an INFORMATIONAL request with N(UPDATE_SA_ADDRESSES) and fresh NAT detection
//     notifications goes out from it (§3.5); a request already in flight is retransmitted
//     from the new address too.
//   - The responder, on an authenticated UPDATE_SA_ADDRESSES request (§3.5), takes the
//     request's source and destination as the IKE SA's addresses, redoes NAT detection,
//     rebinds every child SA to the new peer address (no rekey, same SPIs) and answers with
//     its NAT detection notifications (and COOKIE2 echoed, §3.6).
//
// Choices: no return routability check before the responder moves (§3.8 says SHOULD;
// strongSwan does not either), no ADDITIONAL_*_ADDRESS lists (we only follow the one path
// the routing table gives), and a child SA keeps its encapsulation (a NAT appearing on a
// path that had none leaves raw ESP children as they were: use encap = "udp", the default).

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// mobikeCheckEvery is how often a MOBIKE client looks for a change of its address.
const mobikeCheckEvery = time.Second

// mobikeState is what MOBIKE negotiated for an IKE SA.
type mobikeState struct {
	peer   bool        // the peer sent MOBIKE_SUPPORTED
	on     bool        // both did: MOBIKE is in use
	client bool        // we are the original initiator: we decide on address changes
	timer  *core.Timer // the client's address check
	moves  int         // address changes followed (status, tests)
	// natDst: a client behind a NAT: the peer's last NAT_DETECTION_DESTINATION_IP, the hash of
	// the address and port the NAT maps us to (natMappingCheck)
	natDst []byte
}

// mobikeWanted reports whether the connection enables MOBIKE.
func (sa *ikeSA) mobikeWanted() bool {
	cfg := sa.cfg()
	return cfg != nil && cfg.MOBIKE
}

// mobikeNotify is MOBIKE_SUPPORTED for our IKE_AUTH request, or nil.
func (sa *ikeSA) mobikeNotify() []wire.Payload {
	if !sa.mobikeWanted() {
		return nil
	}
	return []wire.Payload{wire.NewNotify(wire.NotifyMOBIKESupported, nil)}
}

// mobikeAuthRequest records the initiator's MOBIKE_SUPPORTED and returns ours for the
// IKE_AUTH response when the chosen connection enables MOBIKE and the initiator asked.
func (sa *ikeSA) mobikeAuthRequest(c *wire.Chain) []wire.Payload {
	sa.mob.peer = hasNotify(c, wire.NotifyMOBIKESupported)
	if !sa.mob.peer || !sa.mobikeWanted() {
		return nil
	}
	sa.mob.on = true
	return []wire.Payload{wire.NewNotify(wire.NotifyMOBIKESupported, nil)}
}

// mobikeAuthResponse records the responder's MOBIKE_SUPPORTED (initiator).
func (sa *ikeSA) mobikeAuthResponse(c *wire.Chain) {
	sa.mob.peer = hasNotify(c, wire.NotifyMOBIKESupported)
	sa.mob.on = sa.mob.peer && sa.mobikeWanted()
	sa.mob.client = true
}

// mobikeInitialLocal: a new IKE SA of a MOBIKE connection whose local_addr is no longer
// one of ours (the client moved away from it) starts from the address the route to the
// peer uses now.
func (sa *ikeSA) mobikeInitialLocal() {
	if !sa.mobikeWanted() || !sa.Local.IsValid() || slices.Contains(sa.p.localAddrs(), sa.Local) {
		return
	}
	if nw := sa.p.routeFrom(sa.Remote.Addr()); nw.IsValid() && !nw.IsUnspecified() {
		sa.p.Log.Info("MOBIKE: local_addr is not one of our addresses; starting from the route's", zap.Stringer("local_addr", sa.Local), zap.Stringer("from", nw))
		sa.Local = nw
	}
}

// startMOBIKE arms the client's address check once the IKE SA is established.
func (sa *ikeSA) startMOBIKE(now time.Time) {
	if !sa.mob.on || !sa.mob.client {
		return
	}
	if sa.mob.timer == nil {
		sa.mob.timer = core.NewTimer("mobike", sa.checkAddress)
	}
	sa.p.Timers.Arm(sa.mob.timer, now.Add(mobikeCheckEvery))
	sa.Log.Debug("MOBIKE: watching our address", zap.Stringer("local", sa.Local))
}

// stopMOBIKE disarms the address check (the SA is going).
func (sa *ikeSA) stopMOBIKE() {
	if sa.mob.timer != nil {
		sa.p.Timers.Stop(sa.mob.timer)
	}
}

// localAddrs lists this host's addresses (a test hook replaces it).
func (p *Protocol) localAddrs() []netip.Addr {
	if p.hooks.localAddrs != nil {
		return p.hooks.localAddrs()
	}
	ifas, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range ifas {
		if pfx, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, pfx.Addr().Unmap())
		}
	}
	return out
}

// routeFrom is the address the routing table uses towards the peer now.
func (p *Protocol) routeFrom(remote netip.Addr) netip.Addr {
	if p.hooks.routeFrom != nil {
		return p.hooks.routeFrom(remote)
	}
	return p.LocalAddrFor(nil, remote)
}

// checkAddress is the client's periodic check: when the address the IKE SA uses is gone
// and the route to the peer leaves from another one of ours, move there.
func (sa *ikeSA) checkAddress(now time.Time) {
	if sa.state != stEstablished || !sa.mob.on {
		return
	}
	defer sa.p.Timers.Arm(sa.mob.timer, now.Add(mobikeCheckEvery))
	addrs := sa.p.localAddrs()
	if slices.Contains(addrs, sa.Local) {
		return
	}
	nw := sa.p.routeFrom(sa.Remote.Addr())
	if !nw.IsValid() || nw.IsUnspecified() || nw == sa.Local || !slices.Contains(addrs, nw) {
		return
	}
	sa.moveTo(now, nw)
}

// moveTo takes a new local address for the IKE SA and its children and tells the peer with
// UPDATE_SA_ADDRESSES (§3.5).
func (sa *ikeSA) moveTo(now time.Time, local netip.Addr) {
	old := sa.Local
	sa.Local = local
	sa.mob.moves++
	sa.p.Ctr.Inc(core.CtrMOBIKEMoves)
	sa.Log.Info("MOBIKE: our address changed; updating the SAs", zap.Stringer("old", old), zap.Stringer("new", local), zap.Stringer("peer", sa.Remote))
	sa.rebindChildren(now)
	sa.enqueue(now, sa.updateRequest())
}

// natMappingChecked reports whether our liveness checks carry NAT detection: a MOBIKE client
// behind a NAT. With MOBIKE the peer does not follow us implicitly (§3.5), so when the NAT
// gives us a new port (it forgot the mapping, or rebooted) only our UPDATE_SA_ADDRESSES
// brings the peer's traffic back; the peer's NAT_DETECTION_DESTINATION_IP in the answer to a
// liveness check is the hash of the mapping it sees, and a new hash is a new mapping (§3.8
// leaves detecting it to the initiator; strongSwan does the same).
func (sa *ikeSA) natMappingChecked() bool {
	return sa.mob.on && sa.mob.client && sa.nat.local
}

// livenessNATD is the NAT detection for our liveness check (natMappingChecked), or nothing.
func (sa *ikeSA) livenessNATD() []wire.Payload {
	if !sa.natMappingChecked() {
		return []wire.Payload{}
	}
	return sa.natNotifies(sa.spiR)
}

// natMappingCheck compares the peer's NAT_DETECTION_DESTINATION_IP in the answer to our
// liveness check with the last one: a different one (or none known yet) means the peer sees
// us at another mapping than the SAs may use, so UPDATE_SA_ADDRESSES goes out, from where we
// are, and the peer moves the SAs to the mapping it arrives from.
func (sa *ikeSA) natMappingCheck(now time.Time, m *wire.Message) {
	if !sa.natMappingChecked() || m.Inner == nil {
		return
	}
	dst := natDestination(m.Inner)
	if dst == nil {
		return // the peer does not answer NAT detection in INFORMATIONAL
	}
	if sa.mob.natDst != nil && bytes.Equal(dst, sa.mob.natDst) {
		return
	}
	if sa.mob.natDst != nil {
		sa.mob.moves++
		sa.p.Ctr.Inc(core.CtrMOBIKEMoves)
		sa.Log.Info("MOBIKE: the NAT maps us to another port now; updating the SAs", zap.Stringer("peer", sa.Remote))
	} else {
		sa.Log.Debug("MOBIKE: confirming the NAT's mapping with UPDATE_SA_ADDRESSES")
	}
	sa.mob.natDst = dst
	sa.enqueue(now, sa.updateRequest())
}

// answerNATD adds NAT detection to our answer to an INFORMATIONAL request that carries it
// (a MOBIKE client's liveness check, natMappingCheck): the destination hash is of the
// address and port the request came from.
func (sa *ikeSA) answerNATD(resp []wire.Payload, d *core.Datagram, m *wire.Message) []wire.Payload {
	if !sa.mob.on || sa.mob.client || m.Inner == nil || natDestination(m.Inner) == nil {
		return resp
	}
	return append(resp, sa.natNotifiesTo(sa.spiR, d.From)...)
}

// natDestination returns the first NAT_DETECTION_DESTINATION_IP of a chain, or nil.
func natDestination(c *wire.Chain) []byte {
	for _, n := range c.Notifies() {
		if n.NotifyType == wire.NotifyNATDetectionDestinationIP {
			return n.Data
		}
	}
	return nil
}

// updateRequest is the INFORMATIONAL request with UPDATE_SA_ADDRESSES and NAT detection
// for the addresses the SA has when it leaves; an IKE SA rekey before then moves it to the
// new SA (which inherited our address).
func (sa *ikeSA) updateRequest() *request {
	owner := sa
	r := &request{exch: wire.ExchangeInformational, what: "INFORMATIONAL (UPDATE_SA_ADDRESSES)",
		build: func(time.Time) ([]wire.Payload, error) {
			p := []wire.Payload{wire.NewNotify(wire.NotifyUpdateSAAddresses, nil)}
			return append(p, owner.natNotifies(owner.spiR)...), nil
		},
		onResp: func(now time.Time, m *wire.Message) error {
			owner.Log.Info("MOBIKE: the peer updated its SAs", zap.Stringer("local", owner.Local))
			if m.Inner != nil {
				if dst := natDestination(m.Inner); dst != nil && owner.natMappingChecked() {
					owner.mob.natDst = dst
				}
			}
			return nil
		},
	}
	r.rebind = func(n *ikeSA) { owner = n }
	return r
}

// rebindChildren points the outbound SAs of every child at the IKE SA's current addresses.
func (sa *ikeSA) rebindChildren(now time.Time) {
	_, peer := sa.childEncap()
	for _, csa := range sa.ownedChildren() {
		csa.PeerMoved(now, peer, sa.ourIP())
	}
}

// isAddressUpdate reports whether an INFORMATIONAL request is MOBIKE's UPDATE_SA_ADDRESSES.
func isAddressUpdate(m *wire.Message) bool {
	return m.Inner != nil && hasNotify(m.Inner, wire.NotifyUpdateSAAddresses)
}

// respondUpdateSA is the responder's UPDATE_SA_ADDRESSES (§3.5): move the IKE SA and the
// children to the addresses of the request and answer with NAT detection. Without MOBIKE
// negotiated, or from the IKE SA's responder, the notification is an unknown status and
// ignored (an empty answer).
func (sa *ikeSA) respondUpdateSA(now time.Time, d *core.Datagram, m *wire.Message) []wire.Payload {
	if !sa.mob.on || sa.mob.client {
		sa.p.Ctr.Inc(core.CtrUnexpected)
		sa.Log.Info("ignoring UPDATE_SA_ADDRESSES: MOBIKE is not in use on this IKE SA or the peer is not its initiator")
		sa.updatePeer(now, d)
		return []wire.Payload{}
	}
	old := sa.Remote
	sa.Remote, sa.NATT = d.From, d.NATT
	if a := d.Local.Addr(); a.IsValid() && !a.IsUnspecified() {
		sa.Local = a
	}
	sa.processNATD(m.Inner, d, sa.spiR)
	sa.mob.moves++
	sa.p.Ctr.Inc(core.CtrMOBIKEMoves)
	sa.setLog()
	sa.Log.Info("MOBIKE: the peer moved; updating the SAs", zap.Stringer("old", old), zap.Stringer("new", sa.Remote),
		zap.Bool("natt", sa.NATT), zap.Bool("nat_remote", sa.nat.remote))
	sa.rebindChildren(now)
	resp := sa.natNotifies(sa.spiR)
	for _, n := range m.Inner.Notifies() {
		if n.NotifyType == wire.NotifyCookie2 {
			resp = append(resp, wire.NewNotify(wire.NotifyCookie2, n.Data))
		}
	}
	return resp
}
