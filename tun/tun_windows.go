package tun

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"go.uber.org/zap"
	wgtun "golang.zx2c4.com/wireguard/tun"
)

// createDevice creates (or reuses) a wintun adapter; wintun.dll must be next to the binary
// or on the DLL search path. Wintun has no offloads.
func createDevice(opts Options, log *zap.Logger) (Device, bool, error) {
	if opts.Name == "" {
		opts.Name = "oakley0"
	}
	if opts.Offload {
		warnOffloadRefused(log, fmt.Errorf("tun: offloads are a Linux feature"))
	}
	dev, err := wgtun.CreateTUN(opts.Name, opts.MTU)
	if err != nil {
		return nil, false, fmt.Errorf("tun: create wintun adapter %q: %w", opts.Name, err)
	}
	return dev, false, nil
}

// ipFamily is netsh's name for an address family context.
func ipFamily(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// ifArg names the interface for netsh: by index when known (no quoting trouble with names
// containing spaces), else by name.
func (t *TUN) ifArg() string {
	if t.index > 0 {
		return strconv.Itoa(t.index)
	}
	return t.name
}

// configure sets the MTU, assigns the addresses and installs the routes with netsh, all
// with store=active so nothing survives a reboot, recording each change for Close.
func (t *TUN) configure(opts Options) error {
	if len(opts.PolicyRoutes) > 0 {
		return errors.New("tun: policy routes (transport mode) are implemented on Linux only")
	}
	if ifi, err := net.InterfaceByName(t.name); err == nil {
		t.index = ifi.Index
	}
	families := map[string]bool{}
	for _, p := range append(append([]netip.Prefix(nil), opts.Addresses...), opts.Routes...) {
		families[ipFamily(p.Addr())] = true
	}
	for fam := range families {
		if err := run(t.log, "netsh", "interface", fam, "set", "subinterface", t.ifArg(), "mtu="+strconv.Itoa(opts.MTU), "store=active"); err != nil {
			return fmt.Errorf("tun: set %s MTU of %s: %w", fam, t.name, err)
		}
	}
	for _, p := range opts.Addresses {
		var err error
		if p.Addr().Is4() {
			mask := net.IP(net.CIDRMask(p.Bits(), 32)).String()
			err = run(t.log, "netsh", "interface", "ipv4", "add", "address", "name="+t.ifArg(),
				"address="+p.Addr().String(), "mask="+mask, "store=active")
		} else {
			err = run(t.log, "netsh", "interface", "ipv6", "add", "address", "interface="+t.ifArg(),
				"address="+p.String(), "store=active")
		}
		if err != nil {
			return fmt.Errorf("tun: add address %v to %s: %w", p, t.name, err)
		}
		t.record(change{prefix: p})
	}
	for _, p := range opts.Routes {
		if err := run(t.log, "netsh", "interface", ipFamily(p.Addr()), "add", "route", "prefix="+p.String(),
			"interface="+t.ifArg(), "store=active"); err != nil {
			return fmt.Errorf("tun: add route %v dev %s: %w", p, t.name, err)
		}
		t.record(change{route: true, prefix: p})
	}
	return nil
}

// undo removes one recorded change.
func (t *TUN) undo(c change) error {
	fam := ipFamily(c.prefix.Addr())
	if c.route {
		return run(t.log, "netsh", "interface", fam, "delete", "route", "prefix="+c.prefix.String(),
			"interface="+t.ifArg(), "store=active")
	}
	if c.prefix.Addr().Is4() {
		return run(t.log, "netsh", "interface", "ipv4", "delete", "address", "name="+t.ifArg(),
			"address="+c.prefix.Addr().String(), "store=active")
	}
	return run(t.log, "netsh", "interface", "ipv6", "delete", "address", "interface="+t.ifArg(),
		"address="+c.prefix.Addr().String(), "store=active")
}

// RouteMTU returns 1500 on Windows: the path MTU is not looked up there yet.
func RouteMTU(dst netip.Addr) (int, error) {
	if !dst.IsValid() {
		return 0, fmt.Errorf("tun: route MTU: invalid address")
	}
	return 1500, nil
}
