package core

// Virtual IPs on the client side: what a gateway assigned (IKEv2 CP CFG_REPLY, IKEv1 Mode
// Config) goes to the daemon, which puts the addresses on the device, routes the split
// networks (or everything, keeping the gateway outside) and uses the DNS servers; when the
// IKE SA dies, they are withdrawn.

import (
	"net/netip"

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
	b.Log.Info("virtual IPs assigned", zap.Stringers("addresses", v.Addrs), zap.Stringers("dns", v.DNS), zap.Stringers("split", v.Split))
	if c.Cfg.OnVirtualIPs != nil {
		c.Cfg.OnVirtualIPs(v)
	}
}

// withdrawVirtualIPs undoes what VirtualIPsAssigned gave for sa.
func (c *Core) withdrawVirtualIPs(sa IKESA) {
	b := sa.Base()
	if b.vips == nil {
		return
	}
	v := *b.vips
	b.vips = nil
	v.Up = false
	if c.Cfg.OnVirtualIPs != nil {
		c.Cfg.OnVirtualIPs(v)
	}
}

// AssignedVirtualIPs returns what the gateway gave this client SA, or nil.
func (b *SABase) AssignedVirtualIPs() *VirtualIPs { return b.vips }
