package core

// Virtual IPs on the client side: what a gateway assigned (IKEv2 CP CFG_REPLY, IKEv1 Mode
// Config) goes to the daemon, which puts the addresses on the device, routes the split
// networks (or everything, keeping the gateway outside) and uses the DNS servers; when the
// IKE SA dies, they are withdrawn.

import (
	"net/netip"
	"slices"

	"go.uber.org/zap"
)

// VirtualIPs is what a client connection received from its gateway.
type VirtualIPs struct {
	Conn    string
	Up      bool           // false: withdraw what an earlier event gave
	Addrs   []netip.Addr   // assigned addresses
	DNS     []netip.Addr   // DNS servers
	Split   []netip.Prefix // networks to route through the tunnel; empty = everything
	Gateway netip.Addr     // the gateway's address (kept outside the tunnel)
	Banner  string         // Cisco Unity banner (IKEv1), shown in the log
}

// VirtualIPsAssigned records what the gateway gave a client IKE SA and tells the daemon.
func (c *Core) VirtualIPsAssigned(sa IKESA, v VirtualIPs) {
	b := sa.Base()
	if b.Conn == nil {
		return
	}
	c.withdrawVirtualIPs(sa)
	v.Conn, v.Up, v.Gateway = b.Conn.Cfg.Name, true, b.Remote.Addr()
	b.vips = &v
	if c.vipOwner == nil {
		c.vipOwner = map[string]IKESA{}
	}
	c.vipOwner[v.Conn] = sa
	b.Log.Info("virtual IPs assigned", zap.Stringers("addresses", v.Addrs), zap.Stringers("dns", v.DNS), zap.Stringers("split", v.Split))
	if c.Cfg.OnVirtualIPs != nil {
		c.Cfg.OnVirtualIPs(v)
	}
}

// withdrawVirtualIPs undoes what VirtualIPsAssigned gave for sa, unless a newer SA of the
// connection (a re-authentication, a second IKE SA) has had its own assignment since: the
// device keeps the connection's latest one, and the old SA's death must not take it away.
func (c *Core) withdrawVirtualIPs(sa IKESA) {
	b := sa.Base()
	if b.vips == nil {
		return
	}
	v := *b.vips
	b.vips = nil
	if c.vipOwner[v.Conn] != sa {
		return
	}
	delete(c.vipOwner, v.Conn)
	v.Up = false
	if c.Cfg.OnVirtualIPs != nil {
		c.Cfg.OnVirtualIPs(v)
	}
}

// AssignedVirtualIPs returns what the gateway gave this client SA, or nil.
func (b *SABase) AssignedVirtualIPs() *VirtualIPs { return b.vips }

// TransferVirtualIPs moves what an IKE SA holds (a gateway's leases, a client's assigned
// virtual IPs) to the SA that replaces it by a rekey (IKEv2 §2.8), so that the old SA's
// death neither frees the addresses nor withdraws them from the device.
func (c *Core) TransferVirtualIPs(from, to IKESA) {
	fb, tb := from.Base(), to.Base()
	for _, l := range fb.leases {
		if pl := l.Pool.inUse[l.Addr]; pl != nil {
			if i := slices.Index(pl.holders, from); i >= 0 {
				if slices.Contains(pl.holders, to) {
					pl.holders = slices.Delete(pl.holders, i, i+1)
				} else {
					pl.holders[i] = to
				}
			}
		}
		tb.leases = append(tb.leases, l)
	}
	fb.leases = nil
	if tb.user == "" {
		tb.user = fb.user
	}
	if fb.vips != nil {
		tb.vips, fb.vips = fb.vips, nil
		if c.vipOwner[tb.Conn.Cfg.Name] == from {
			c.vipOwner[tb.Conn.Cfg.Name] = to
		}
	}
}

// VirtualIPStrings lists an SA's virtual IPs for status: the addresses a gateway leased to
// the peer, or those a client was assigned.
func (b *SABase) VirtualIPStrings() []string {
	var out []string
	for _, l := range b.leases {
		out = append(out, l.Addr.String())
	}
	if b.vips != nil {
		for _, a := range b.vips.Addrs {
			out = append(out, a.String())
		}
	}
	return out
}
