package ikev2

// The configuration payload of IKE_AUTH (RFC 7296 §2.19, §3.15): remote access.
//
//	client (vips)                             gateway (pools)
//	HDR, SK {IDi, AUTH, CP(CFG_REQUEST), SAi2, TSi, TSr}  -->
//	                     <--  HDR, SK {IDr, AUTH, CP(CFG_REPLY), SAr2, TSi, TSr}
//
// The client asks for INTERNAL_IP4_ADDRESS / INTERNAL_IP6_ADDRESS (empty, or the address of
// its vips as a hint) and the DNS servers of those families, and hands the reply to the core
// (core.VirtualIPsAssigned), which tells the daemon; the child's own side is what the
// gateway narrows TSi to, the virtual IP. A client that asked for an address and got none
// fails the child (INTERNAL_ADDRESS_FAILURE or no address in the reply) and deletes the IKE
// SA: a remote-access client without its address has nothing to send.
//
// The gateway leases an address per requested family from the connection's pools
// (core.AcquireVirtualIPFor: stable per client identity, released when the IKE SA dies, moved
// to the new SA on an IKE SA rekey; a client's INITIAL_CONTACT ends its stale IKE SA first,
// so that a client that restarted gets its address back), answers with the addresses, the pools' DNS servers and
// their split networks (INTERNAL_IP4_SUBNET / INTERNAL_IP6_SUBNET), and narrows the
// client's TSi to the leased addresses (within its remote_ts). When no requested address can
// be leased it answers INTERNAL_ADDRESS_FAILURE and creates no child (§3.10.1); the IKE SA
// stays up, as strongSwan's does. A CFG_REQUEST to a connection without pools is ignored
// (§3.15.4 lets the responder); CFG_SET / CFG_ACK are not used.

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// ErrNoVirtualIP: a client asked for virtual IPs and the gateway assigned none.
var ErrNoVirtualIP = errors.New("ikev2: no virtual IP assigned")

// maxCPValues bounds the DNS servers and split networks taken from one CFG_REPLY.
const maxCPValues = 16

// cpRequest is the client's CFG_REQUEST for its vips, or nil without vips.
func (sa *ikeSA) cpRequest() *wire.Configuration {
	vips := sa.Conn.Cfg.VIPs
	if len(vips) == 0 {
		return nil
	}
	c := &wire.Configuration{CFGType: wire.CFGRequest}
	for _, v := range vips {
		v = v.Unmap()
		if v.Is4() {
			a := wire.ConfigAttribute{Type: wire.AttrInternalIP4Address}
			if !v.IsUnspecified() {
				a = wire.AddrAttr(wire.AttrInternalIP4Address, v)
			}
			c.Attributes = append(c.Attributes, a, wire.ConfigAttribute{Type: wire.AttrInternalIP4DNS})
			continue
		}
		a := wire.ConfigAttribute{Type: wire.AttrInternalIP6Address}
		if !v.IsUnspecified() {
			a = wire.PrefixAttr(wire.AttrInternalIP6Address, netip.PrefixFrom(v, 128))
		}
		c.Attributes = append(c.Attributes, a, wire.ConfigAttribute{Type: wire.AttrInternalIP6DNS})
	}
	return c
}

// cpPayload returns the message's configuration payload of type t, if any.
func cpPayload(c *wire.Chain, t wire.CFGType) *wire.Configuration {
	for _, p := range c.Payloads {
		if cp, ok := p.(*wire.Configuration); ok && cp.CFGType == t {
			return cp
		}
	}
	return nil
}

// takeCPReply reads the gateway's CFG_REPLY (client) and gives the core what it assigned.
// It fails when vips were requested and no address of a requested family came back.
func (sa *ikeSA) takeCPReply(now time.Time, c *wire.Chain) error {
	vips := sa.Conn.Cfg.VIPs
	if len(vips) == 0 {
		return nil
	}
	want := map[bool]bool{}
	for _, v := range vips {
		want[v.Unmap().Is4()] = true
	}
	cp := cpPayload(c, wire.CFGReply)
	var v core.VirtualIPs
	if cp != nil {
		got := map[bool]bool{}
		for _, a := range cp.Attributes {
			switch a.Type {
			case wire.AttrInternalIP4Address, wire.AttrInternalIP6Address:
				addr, ok := a.Addr()
				addr = addr.Unmap()
				switch {
				case !ok || !addr.IsGlobalUnicast() && !addr.IsPrivate():
					sa.Log.Warn("ignoring an unusable virtual IP in the gateway's CFG_REPLY", zap.Stringer("attribute", a.Type), zap.Stringer("address", addr))
				case !want[addr.Is4()]:
					sa.Log.Info("ignoring a virtual IP of a family we did not ask for", zap.Stringer("address", addr))
				case got[addr.Is4()]:
					sa.Log.Info("ignoring a second virtual IP of the same family", zap.Stringer("address", addr))
				default:
					got[addr.Is4()] = true
					v.Addrs = append(v.Addrs, addr)
				}
			case wire.AttrInternalIP4DNS, wire.AttrInternalIP6DNS:
				if addr, ok := a.Addr(); ok && len(v.DNS) < maxCPValues && !slices.Contains(v.DNS, addr.Unmap()) {
					v.DNS = append(v.DNS, addr.Unmap())
				}
			case wire.AttrInternalIP4Subnet, wire.AttrInternalIP6Subnet:
				p, ok := a.Prefix()
				if !ok {
					sa.Log.Warn("ignoring an unusable split network in the gateway's CFG_REPLY", zap.Stringer("attribute", a.Type))
					continue
				}
				if p.Addr().Is4In6() {
					p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
				}
				if p = p.Masked(); len(v.Split) < maxCPValues && !slices.Contains(v.Split, p) {
					v.Split = append(v.Split, p)
				}
			}
		}
	}
	if len(v.Addrs) == 0 {
		sa.p.Ctr.Inc(core.CtrVirtualIPFailures)
		for _, n := range c.Notifies() {
			if n.NotifyType == wire.NotifyInternalAddressFailure || n.NotifyType == wire.NotifyFailedCPRequired {
				sa.p.Ctr.Inc(core.CtrErrorNotifiesIn)
				return fmt.Errorf("%w: %w", ErrNoVirtualIP, peerError(n))
			}
		}
		if cp == nil {
			return fmt.Errorf("%w: the gateway answered our CFG_REQUEST without a configuration payload (it has no pool for this connection?)", ErrNoVirtualIP)
		}
		return fmt.Errorf("%w: the gateway's CFG_REPLY holds no address of the families we asked for", ErrNoVirtualIP)
	}
	sa.p.VirtualIPsAssigned(sa, v)
	return nil
}

// cpFailed ends a client's IKE SA whose gateway assigned no virtual IP: the first child
// fails with the reason, the IKE SA is deleted.
func (sa *ikeSA) cpFailed(now time.Time, err error) {
	sa.Log.Warn("virtual IP assignment failed; deleting the IKE SA", zap.Error(err))
	if fc := sa.first1; fc != nil {
		sa.first1 = nil
		fc.failed(now, err)
	}
	sa.Delete(now, true, err)
}

// respondAuthChild is the gateway's part of IKE_AUTH after authentication: the
// configuration payload (leases for who: the client's identity, or "eap:" and its EAP
// identity), then the first child with TSi narrowed to the leases.
func (sa *ikeSA) respondAuthChild(now time.Time, c *wire.Chain, who string) ([]wire.Payload, func(time.Time)) {
	if sa.Conn.RemoteAccess() {
		// A client that restarted (INITIAL_CONTACT) gets its address back: its stale IKE SA
		// goes, and its leases with it, before the new ones are made.
		sa.processStatusNotifies(now, c)
	}
	reply, err := sa.answerCP(c, who)
	if err != nil {
		sa.p.CountError(err)
		sa.p.Ctr.Inc(core.CtrErrorNotifiesOut)
		sa.Log.Warn("no virtual IP for the peer: answering INTERNAL_ADDRESS_FAILURE, no CHILD_SA", zap.Error(err))
		return []wire.Payload{wire.NewNotify(wire.NotifyInternalAddressFailure, nil)}, nil
	}
	var out []wire.Payload
	if reply != nil {
		out = append(out, reply)
	}
	child, commit := sa.respondChild(now, c, true)
	return append(out, child...), commit
}

// answerCP leases the addresses a client's CFG_REQUEST asks for (gateway) and returns the
// CFG_REPLY; nil without a request or without pools. The error means no address could be
// leased (INTERNAL_ADDRESS_FAILURE).
func (sa *ikeSA) answerCP(c *wire.Chain, who string) (*wire.Configuration, error) {
	req := cpPayload(c, wire.CFGRequest)
	if req == nil {
		return nil, nil
	}
	cfg := sa.Conn.Cfg
	if len(cfg.Pools) == 0 {
		sa.Log.Info("ignoring the peer's CFG_REQUEST: the connection names no pools")
		return nil, nil
	}
	hint := map[int]netip.Addr{}
	var families []int
	for _, a := range req.Attributes {
		fam := 0
		switch a.Type {
		case wire.AttrInternalIP4Address:
			fam = 4
		case wire.AttrInternalIP6Address:
			fam = 6
		default:
			continue
		}
		if slices.Contains(families, fam) {
			continue
		}
		families = append(families, fam)
		if addr, ok := a.Addr(); ok {
			hint[fam] = addr.Unmap()
		}
	}
	if len(families) == 0 {
		return nil, nil
	}
	reply := &wire.Configuration{CFGType: wire.CFGReply}
	var errs []error
	var leased []core.Lease
	for _, fam := range families {
		if !sa.hasPoolOf(fam) {
			errs = append(errs, fmt.Errorf("%w: the connection's pools %v have no IPv%d addresses", core.ErrPoolExhausted, cfg.Pools, fam))
			continue
		}
		l, err := sa.p.AcquireVirtualIPFor(sa, who, fam, hint[fam])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		leased = append(leased, l)
		if fam == 4 {
			reply.Attributes = append(reply.Attributes, wire.AddrAttr(wire.AttrInternalIP4Address, l.Addr))
		} else {
			reply.Attributes = append(reply.Attributes, wire.PrefixAttr(wire.AttrInternalIP6Address, netip.PrefixFrom(l.Addr, 128)))
		}
		sa.Log.Info("virtual IP leased", zap.Stringer("address", l.Addr), zap.String("pool", l.Pool.Name), zap.String("identity", who))
	}
	if len(leased) == 0 {
		return nil, errors.Join(errs...)
	}
	for _, err := range errs {
		sa.Log.Info("a requested virtual IP family was not served", zap.Error(err))
	}
	for _, l := range leased {
		for _, d := range l.Pool.DNS {
			t := wire.AttrInternalIP4DNS
			if d.Is6() {
				t = wire.AttrInternalIP6DNS
			}
			reply.Attributes = append(reply.Attributes, wire.AddrAttr(t, d))
		}
		for _, p := range l.Pool.Split {
			t := wire.AttrInternalIP4Subnet
			if p.Addr().Is6() {
				t = wire.AttrInternalIP6Subnet
			}
			reply.Attributes = append(reply.Attributes, wire.PrefixAttr(t, p))
		}
	}
	return reply, nil
}

// hasPoolOf reports whether one of the connection's pools hands out addresses of family.
func (sa *ikeSA) hasPoolOf(family int) bool {
	pools := sa.p.Pools()
	for _, name := range sa.PoolNames() {
		if p := pools[name]; p != nil && p.Family() == family {
			return true
		}
	}
	return false
}

// leaseTS narrows the selectors for the peer's side of a child to the addresses leased to it
// (gateway): each leased address that lies within one of theirs, as a host selector with
// that selector's protocol and ports. Without leases theirs is returned as it is.
func (sa *ikeSA) leaseTS(theirs []wire.TrafficSelector) []wire.TrafficSelector {
	leases := sa.Leases()
	if len(leases) == 0 {
		return theirs
	}
	var hosts []wire.TrafficSelector
	for _, l := range leases {
		hosts = append(hosts, hostTS(l.Addr))
	}
	return narrow(hosts, theirs)
}
