package ikev1

// Mode Config (draft-dukes-ike-mode-cfg-02) in Transaction exchanges (transaction.go):
//
//   - pull: the client (a connection with vips) sends CFG_REQUEST for an internal address of
//     each family it wants, with netmask, DNS servers and the Cisco Unity split networks and
//     banner; the gateway (a connection with pools) answers CFG_REPLY with a lease from its
//     pools.
//   - push: a gateway's CFG_SET carries the values, the client answers CFG_ACK.
//
// The client hands what it got to the core (VirtualIPsAssigned: the daemon puts it on the
// device) and its Quick Modes use the virtual IP as the local identity. The gateway's lease
// is released when the ISAKMP SA dies (core.Gone) and a Quick Mode from the client must
// name it as the client's side.

import (
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// sendModeCfgRequest asks the gateway for the configured virtual IPs (client, pull).
func (sa *ikeSA) sendModeCfgRequest(now time.Time) {
	var attrs []isakmp.Attribute
	var previous []netip.Addr
	if old, ok := sa.ReplacesSA.(*ikeSA); ok && old != nil {
		// Re-authentication: ask for the addresses the SA we replace holds, so the children
		// keep their side (strongSwan gives an identity its online address again).
		previous = old.tx.vips
	}
	for _, v := range sa.Conn.Cfg.VIPs {
		v = v.Unmap()
		if v.IsUnspecified() {
			for _, p := range previous {
				if p.Is4() == v.Is4() {
					v = p
				}
			}
		}
		var val []byte
		if v.Is4() {
			if !v.IsUnspecified() {
				val = v.AsSlice()
			}
			attrs = append(attrs, isakmp.TLV(isakmp.CfgInternalIP4Address, val),
				isakmp.TLV(isakmp.CfgInternalIP4Netmask, nil), isakmp.TLV(isakmp.CfgInternalIP4DNS, nil))
		} else {
			if !v.IsUnspecified() {
				val = append(v.AsSlice(), 128)
			}
			attrs = append(attrs, isakmp.TLV(isakmp.CfgInternalIP6Address, val), isakmp.TLV(isakmp.CfgInternalIP6DNS, nil))
		}
	}
	attrs = append(attrs, isakmp.TLV(isakmp.CfgUnitySplitInclude, nil), isakmp.TLV(isakmp.CfgUnityBanner, nil))
	sa.Log.Info("Mode Config: requesting virtual IPs", zap.Stringers("vips", sa.Conn.Cfg.VIPs))
	sa.sendTransaction(now, isakmp.CfgRequest, attrs, whatModeCfgRequest)
}

// modeCfgReply takes the gateway's answer to our request (client, pull).
func (sa *ikeSA) modeCfgReply(now time.Time, attrs *isakmp.ConfigAttributes) error {
	if err := sa.applyModeCfg(now, attrs); err != nil {
		return err
	}
	sa.txNext(now)
	return nil
}

// modeCfgPushed takes a gateway's CFG_SET (client, push) and acknowledges the attributes
// it used.
func (sa *ikeSA) modeCfgPushed(now time.Time, attrs *isakmp.ConfigAttributes) (*isakmp.ConfigAttributes, error) {
	if !sa.wantsModeCfg() {
		sa.c.Ctr.Inc(core.CtrUnexpected)
		sa.Log.Info("Mode Config: ignoring the gateway's pushed configuration (no vips configured)")
		return &isakmp.ConfigAttributes{CfgType: isakmp.CfgAck}, nil
	}
	if sa.xauthRole() == "client" && !sa.tx.xauthDone {
		sa.c.Ctr.Inc(core.CtrUnexpected)
		return nil, fail(0, ErrUnexpected, "Mode Config SET before XAUTH completed")
	}
	if sa.tx.cfgDone {
		sa.Log.Info("Mode Config: the gateway pushed a new configuration")
	}
	if sa.tx.out != nil && sa.tx.out.what == whatModeCfgRequest {
		// Both sides started: take the push, forget our request.
		sa.tx.retrans.Stop()
		sa.tx.out = nil
	}
	if err := sa.applyModeCfg(sa.c.Now, attrs); err != nil {
		return nil, err
	}
	ack := &isakmp.ConfigAttributes{CfgType: isakmp.CfgAck}
	for _, a := range attrs.Attributes {
		ack.Attributes = append(ack.Attributes, isakmp.TLV(a.Type, nil))
	}
	return ack, nil
}

// modeCfgValues is what a gateway's REPLY or SET says.
type modeCfgValues struct {
	core.VirtualIPs
	mask4 int // -1: none
}

// parseModeCfg reads a gateway's attributes. Unknown attributes are ignored (the draft
// allows private ones); malformed known ones are an error.
func parseModeCfg(attrs *isakmp.ConfigAttributes) (modeCfgValues, error) {
	v := modeCfgValues{mask4: -1}
	for _, a := range attrs.Attributes {
		switch a.Type {
		case isakmp.CfgInternalIP4Address, isakmp.CfgInternalIP6Address:
			addr, err := isakmp.DecodeCfgAddr(a.Type, a.Value)
			if err != nil {
				return v, err
			}
			if addr.IsValid() && !addr.IsUnspecified() {
				v.Addrs = append(v.Addrs, addr)
			}
		case isakmp.CfgInternalIP4DNS, isakmp.CfgInternalIP6DNS:
			addr, err := isakmp.DecodeCfgAddr(a.Type, a.Value)
			if err != nil {
				return v, err
			}
			if addr.IsValid() && !addr.IsUnspecified() {
				v.DNS = append(v.DNS, addr)
			}
		case isakmp.CfgInternalIP4Netmask:
			if len(a.Value) == 0 {
				continue
			}
			bits, err := isakmp.DecodeIP4Netmask(a.Value)
			if err != nil {
				return v, err
			}
			v.mask4 = bits
		case isakmp.CfgInternalIP4Subnet:
			if len(a.Value) == 0 {
				continue
			}
			if len(a.Value) != 8 {
				return v, fmt.Errorf("%w: INTERNAL_IP4_SUBNET of %d bytes", ErrMalformed, len(a.Value))
			}
			split, err := isakmp.DecodeSplitInclude(append(append([]byte(nil), a.Value...), 0, 0, 0, 0, 0, 0))
			if err != nil {
				return v, err
			}
			v.Split = append(v.Split, split...)
		case isakmp.CfgUnitySplitInclude:
			split, err := isakmp.DecodeSplitInclude(a.Value)
			if err != nil {
				return v, err
			}
			v.Split = append(v.Split, split...)
		case isakmp.CfgUnityBanner:
			v.Banner = printable(string(a.Value), 1024)
		}
	}
	return v, nil
}

// applyModeCfg checks the gateway gave an address of every family we asked for and hands
// the result to the core (client).
func (sa *ikeSA) applyModeCfg(now time.Time, attrs *isakmp.ConfigAttributes) error {
	v, err := parseModeCfg(attrs)
	if err != nil {
		sa.c.Ctr.Inc(core.CtrMalformed)
		sa.c.Ctr.Inc(core.CtrIKEFailed)
		sa.Log.Warn("Mode Config: the gateway's configuration is malformed", zap.Error(err))
		sa.destroy(now, true, fmt.Errorf("%w: Mode Config: %v", ErrMalformed, err))
		return errStop
	}
	for _, want := range sa.Conn.Cfg.VIPs {
		got := false
		for _, a := range v.Addrs {
			if a.Is4() == want.Unmap().Is4() {
				got = true
			}
		}
		if !got {
			fam := "IPv6"
			if want.Unmap().Is4() {
				fam = "IPv4"
			}
			err := fmt.Errorf("%w: the gateway assigned no %s virtual IP (its pool may be exhausted, or it has none for us)", ErrPeerNotify, fam)
			sa.c.Ctr.Inc(core.CtrIKEFailed)
			sa.Log.Warn("Mode Config failed", zap.Error(err))
			sa.destroy(now, true, err)
			return errStop
		}
	}
	if v.Banner != "" {
		sa.Log.Info("Mode Config: gateway banner", zap.String("banner", v.Banner))
	}
	sa.tx.vips = v.Addrs
	sa.tx.cfgDone = true
	sa.c.VirtualIPsAssigned(sa, v.VirtualIPs)
	return nil
}

// modeCfgServe answers a client's CFG_REQUEST with leases from the connection's pools
// (gateway, pull).
func (sa *ikeSA) modeCfgServe(now time.Time, attrs *isakmp.ConfigAttributes) (*isakmp.ConfigAttributes, error) {
	if sa.Conn == nil || len(sa.Conn.Cfg.Pools) == 0 {
		sa.c.Ctr.Inc(core.CtrUnexpected)
		sa.Log.Info("Mode Config: the peer requests a configuration, but this connection has no pools; answering with none")
		return &isakmp.ConfigAttributes{CfgType: isakmp.CfgReply}, nil
	}
	if sa.xauthRole() == "server" && !sa.tx.xauthDone {
		sa.c.Ctr.Inc(core.CtrUnexpected)
		return nil, fail(0, ErrUnexpected, "Mode Config request before XAUTH completed")
	}
	sa.tx.served = true
	return &isakmp.ConfigAttributes{CfgType: isakmp.CfgReply, Attributes: sa.modeCfgLeases(attrs.Attributes)}, nil
}

// modeCfgPushDelay: a gateway pushes the configuration (CFG_SET) when the client has not
// asked for it (pull) this long after XAUTH, or after Phase 1 without XAUTH. Clients in pull
// mode (strongSwan's default, Cisco, oakley) ask within milliseconds; clients in push mode
// (strongSwan's pull = no) wait for it.
const modeCfgPushDelay = time.Second

// armModeCfgPush schedules the push of a gateway (a connection with pools).
func (sa *ikeSA) armModeCfgPush(now time.Time) {
	if sa.Conn == nil || len(sa.Conn.Cfg.Pools) == 0 || sa.wantsModeCfg() {
		return
	}
	sa.txInit()
	sa.c.Timers.Arm(sa.tx.push, now.Add(modeCfgPushDelay))
}

// modeCfgPush sends the client an address of each family the pools have (gateway, push).
func (sa *ikeSA) modeCfgPush(now time.Time) {
	if sa.state != p1Established || sa.tx.served || sa.tx.pushed {
		return
	}
	if sa.tx.out != nil {
		sa.c.Timers.Arm(sa.tx.push, now.Add(modeCfgPushDelay))
		return
	}
	var req []isakmp.Attribute
	fams := map[int]bool{}
	for _, name := range sa.Conn.Cfg.Pools {
		if p := sa.c.Pools()[name]; p != nil && !fams[p.Family()] {
			fams[p.Family()] = true
			if p.Family() == 4 {
				req = append(req, isakmp.TLV(isakmp.CfgInternalIP4Address, nil), isakmp.TLV(isakmp.CfgInternalIP4Netmask, nil), isakmp.TLV(isakmp.CfgInternalIP4DNS, nil))
			} else {
				req = append(req, isakmp.TLV(isakmp.CfgInternalIP6Address, nil), isakmp.TLV(isakmp.CfgInternalIP6DNS, nil))
			}
		}
	}
	req = append(req, isakmp.TLV(isakmp.CfgUnitySplitInclude, nil))
	attrs := sa.modeCfgLeases(req)
	if len(sa.Leases()) == 0 {
		return // modeCfgLeases logged why
	}
	sa.tx.pushed = true
	sa.Log.Info("Mode Config: the client did not ask; pushing its configuration")
	sa.sendTransaction(now, isakmp.CfgSet, attrs, whatModeCfgPush)
}

// modeCfgLeases leases an address for each address attribute of a request and returns the
// attributes of the answer, with the pools' DNS servers and split networks where asked for.
func (sa *ikeSA) modeCfgLeases(requests []isakmp.Attribute) []isakmp.Attribute {
	reply := &isakmp.ConfigAttributes{}
	var pools []*core.Pool
	want := map[isakmp.AttributeType]bool{}
	for _, a := range requests {
		want[a.Type] = true
		if a.Type != isakmp.CfgInternalIP4Address && a.Type != isakmp.CfgInternalIP6Address {
			continue
		}
		requested, err := isakmp.DecodeCfgAddr(a.Type, a.Value)
		if err != nil {
			sa.c.Ctr.Inc(core.CtrMalformed)
			requested = netip.Addr{}
		}
		fam := 4
		if a.Type == isakmp.CfgInternalIP6Address {
			fam = 6
		}
		lease, err := sa.c.AcquireVirtualIP(sa, fam, requested)
		if err != nil {
			sa.Log.Warn("Mode Config: no virtual IP for the peer", zap.Error(err))
			continue
		}
		sa.Log.Info("Mode Config: virtual IP assigned", zap.Stringer("vip", lease.Addr), zap.String("pool", lease.Pool.Name),
			zap.String("user", sa.tx.user), zap.String("remote_id", idOfPayload(sa.peerID)))
		pools = append(pools, lease.Pool)
		if fam == 4 {
			reply.Attributes = append(reply.Attributes, isakmp.TLV(isakmp.CfgInternalIP4Address, lease.Addr.AsSlice()))
		} else {
			reply.Attributes = append(reply.Attributes, isakmp.TLV(isakmp.CfgInternalIP6Address, append(lease.Addr.AsSlice(), 128)))
		}
	}
	for _, p := range pools {
		if p.Family() == 4 && want[isakmp.CfgInternalIP4Netmask] {
			reply.Attributes = append(reply.Attributes, isakmp.TLV(isakmp.CfgInternalIP4Netmask, []byte{255, 255, 255, 255}))
		}
		for _, d := range p.DNS {
			if d.Is4() && want[isakmp.CfgInternalIP4DNS] {
				reply.Attributes = append(reply.Attributes, isakmp.TLV(isakmp.CfgInternalIP4DNS, d.AsSlice()))
			}
			if d.Is6() && want[isakmp.CfgInternalIP6DNS] {
				reply.Attributes = append(reply.Attributes, isakmp.TLV(isakmp.CfgInternalIP6DNS, d.AsSlice()))
			}
		}
		if want[isakmp.CfgUnitySplitInclude] {
			if b := isakmp.AppendSplitInclude(nil, p.Split); len(b) > 0 {
				reply.Attributes = append(reply.Attributes, isakmp.TLV(isakmp.CfgUnitySplitInclude, b))
			}
		}
	}
	return reply.Attributes
}

// vipLocalSelector is the client's side of a Quick Mode: the virtual IP of the family of
// the remote selector, when the gateway assigned one and the child's local selectors
// allow it.
func (sa *ikeSA) vipLocalSelector(local []esp.Selector, remote esp.Selector) (esp.Selector, bool) {
	for _, a := range sa.tx.vips {
		if a.Is4() != remote.Prefix.Addr().Is4() {
			continue
		}
		s := hostSelector(a)
		if len(local) == 0 || allWithin([]esp.Selector{s}, local) {
			return s, true
		}
	}
	return esp.Selector{}, false
}

// checkLeasedTS refuses a gateway's Quick Mode whose client side is not an address the
// client leased (connections with pools).
func (sa *ikeSA) checkLeasedTS(remote []esp.Selector) error {
	if sa.Conn == nil || len(sa.Conn.Cfg.Pools) == 0 {
		return nil
	}
	for _, s := range remote {
		ok := false
		for _, l := range sa.Leases() {
			if s.Prefix == netip.PrefixFrom(l.Addr, l.Addr.BitLen()) {
				ok = true
			}
		}
		if !ok {
			return fail(isakmp.NotifyInvalidIDInformation, ErrInvalidID, "the client proposes %s as its side, which is not a virtual IP it leased (leases: %v)",
				selectorsString(remote), leaseAddrs(sa.Leases()))
		}
	}
	return nil
}

func leaseAddrs(ls []core.Lease) []netip.Addr {
	var out []netip.Addr
	for _, l := range ls {
		out = append(out, l.Addr)
	}
	return out
}
