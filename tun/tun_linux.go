package tun

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	wgtun "golang.zx2c4.com/wireguard/tun"
)

const cloneDevicePath = "/dev/net/tun"

// tunTCPOffloads is what wireguard-go's Linux device switches on (TUNSETOFFLOAD) whenever it
// finds IFF_VNET_HDR set; if the kernel refuses them, wireguard-go's device creation fails,
// so Open probes them first and falls back to a device without the virtio-net header.
const tunTCPOffloads = unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6

// createDevice opens /dev/net/tun itself, with IFF_VNET_HDR only when offloads are wanted,
// and hands the file to wireguard-go, which decides on offloads from exactly that flag
// (TUNGETIFF) and sets the MTU.
func createDevice(opts Options, log *zap.Logger) (Device, bool, error) {
	if len(opts.Name) >= unix.IFNAMSIZ {
		return nil, false, fmt.Errorf("tun: interface name %q longer than %d bytes", opts.Name, unix.IFNAMSIZ-1)
	}
	if opts.Offload {
		dev, err := createFromFD(opts, true)
		if err == nil {
			return dev, vnetHdrEnabled(dev.File()), nil
		}
		plain, perr := createFromFD(opts, false)
		if perr != nil {
			// Not an offload problem: the device cannot be created at all.
			return nil, false, perr
		}
		warnOffloadRefused(log, err)
		return plain, false, nil
	}
	dev, err := createFromFD(opts, false)
	if err != nil {
		return nil, false, err
	}
	return dev, vnetHdrEnabled(dev.File()), nil
}

// createFromFD opens the clone device, attaches it to the named interface (TUNSETIFF) and
// wraps it in wireguard-go's device.
func createFromFD(opts Options, vnetHdr bool) (Device, error) {
	fd, err := unix.Open(cloneDevicePath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tun: open %s: %w", cloneDevicePath, err)
	}
	ifr, err := unix.NewIfreq(opts.Name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: interface name %q: %w", opts.Name, err)
	}
	flags := uint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if vnetHdr {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: create interface %q (TUNSETIFF): %w", opts.Name, err)
	}
	if vnetHdr {
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunTCPOffloads); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("tun: enable TCP offloads (TUNSETOFFLOAD): %w", err)
		}
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: set non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(fd), cloneDevicePath) // hands fd to the runtime poller
	dev, err := wgtun.CreateTUNFromFile(f, opts.MTU)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tun: create device %q: %w", opts.Name, err)
	}
	return dev, nil
}

// vnetHdrEnabled reports whether the device's file carries IFF_VNET_HDR, the flag
// wireguard-go reads to switch offloads on.
func vnetHdrEnabled(f *os.File) bool {
	if f == nil {
		return false
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var flags uint16
	var ierr error
	if err := sc.Control(func(fd uintptr) {
		var ifr *unix.Ifreq
		ifr, ierr = unix.NewIfreq("")
		if ierr != nil {
			return
		}
		if ierr = unix.IoctlIfreq(int(fd), unix.TUNGETIFF, ifr); ierr == nil {
			flags = ifr.Uint16()
		}
	}); err != nil || ierr != nil {
		return false
	}
	return flags&unix.IFF_VNET_HDR != 0
}

// configure brings the link up, assigns the addresses and installs the routes through
// rtnetlink, recording each change it makes so Close can remove exactly those.
func (t *TUN) configure(opts Options) error {
	ifi, err := net.InterfaceByName(t.name)
	if err != nil {
		return fmt.Errorf("tun: look up interface %s: %w", t.name, err)
	}
	t.index = ifi.Index
	c, err := dialNetlink()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.setLinkUp(t.index); err != nil {
		return fmt.Errorf("tun: set %s up: %w", t.name, err)
	}
	for _, p := range opts.Addresses {
		err := c.addAddr(t.index, p)
		if errors.Is(err, unix.EEXIST) {
			// Present before us (a persistent device): not ours to remove later.
			t.log.Info("tun: address already present; leaving it as it is", zap.Stringer("address", p))
			continue
		}
		if err != nil {
			return fmt.Errorf("tun: add address %v to %s: %w", p, t.name, err)
		}
		t.record(change{prefix: p})
	}
	for _, p := range opts.Addresses {
		if p.Addr().Is6() {
			t.waitLocal(c, p.Addr())
		}
	}
	for _, p := range opts.Routes {
		err := c.addRoute(t.index, p)
		if errors.Is(err, unix.EEXIST) {
			routes, lerr := c.listRoutes(t.index)
			if lerr == nil && slices.ContainsFunc(routes, func(r routeInfo) bool { return r.dst == p }) {
				// Already through this device (e.g. the prefix route of an address).
				t.log.Debug("tun: route already present through the device", zap.Stringer("route", p))
				continue
			}
			return fmt.Errorf("tun: add route %v dev %s: a route to this prefix already exists through another device: %w", p, t.name, err)
		}
		if err != nil {
			return fmt.Errorf("tun: add route %v dev %s: %w", p, t.name, err)
		}
		t.record(change{route: true, prefix: p})
	}
	return t.configurePolicy(c, opts)
}

// configurePolicy installs the policy routes in their table and, once per address family,
// the rule that sends unmarked packets to that table.
func (t *TUN) configurePolicy(c *nlConn, opts Options) error {
	rules := map[uint8]netip.Prefix{}
	for _, r := range opts.PolicyRoutes {
		p := r.Prefix
		if err := c.addRouteTableSrc(t.index, p, opts.Table, r.Src); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("tun: add route %v dev %s table %d: %w", p, t.name, opts.Table, err)
		} else if err == nil {
			t.record(change{route: true, prefix: p, table: opts.Table, src: r.Src})
		}
		fam := familyOf(p.Addr())
		if _, done := rules[fam]; done {
			continue
		}
		rules[fam] = p
		err := c.addRule(fam, opts.FwMark, opts.Table)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return fmt.Errorf("tun: add rule not fwmark %#x lookup %d: %w", opts.FwMark, opts.Table, err)
		}
		t.record(change{rule: true, prefix: p, table: opts.Table, mark: opts.FwMark})
	}
	return nil
}

// localRouteWait bounds how long Open waits for an IPv6 address to become deliverable.
const localRouteWait = 3 * time.Second

// waitLocal waits until the kernel delivers packets for addr locally. IPv6 installs an
// address's local route from addrconf's work queue after the netlink request has been
// acknowledged (it needs the global RTNL lock, so under load this takes a while); until
// then packets the data plane writes for the address are dropped as not ours.
func (t *TUN) waitLocal(c *nlConn, addr netip.Addr) {
	deadline := time.Now().Add(localRouteWait)
	for {
		r, err := c.getRoute(addr)
		if err == nil && r.typ == unix.RTN_LOCAL {
			return
		}
		if time.Now().After(deadline) {
			t.log.Warn("tun: IPv6 address not yet deliverable; continuing", zap.Stringer("address", addr), zap.Duration("waited", localRouteWait), zap.Error(err))
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// undo removes one recorded change. Something already gone (removed by hand, or the device
// vanished) is not an error.
func (t *TUN) undo(ch change) error {
	c, err := dialNetlink()
	if err != nil {
		return err
	}
	defer c.Close()
	return t.undoWith(c, ch)
}

// undoWith is undo on an open netlink connection.
func (t *TUN) undoWith(c *nlConn, ch change) (err error) {
	switch {
	case ch.rule:
		err = c.delRule(familyOf(ch.prefix.Addr()), ch.mark, ch.table)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
	case ch.route:
		err = c.delRouteTable(t.index, ch.prefix, ch.table)
	default:
		err = c.delAddr(t.index, ch.prefix)
	}
	if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EADDRNOTAVAIL) {
		return nil
	}
	return err
}

// RouteMTU returns the MTU of the path the kernel would use toward dst: the route's own MTU
// metric (which includes a learned path MTU) if it has one, else the MTU of the outgoing
// interface. The daemon subtracts the ESP overhead from it to size the tunnel.
func RouteMTU(dst netip.Addr) (int, error) {
	if !dst.IsValid() {
		return 0, errors.New("tun: route MTU: invalid address")
	}
	dst = dst.Unmap().WithZone("")
	c, err := dialNetlink()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	r, err := c.getRoute(dst)
	if err != nil {
		return 0, fmt.Errorf("tun: route MTU for %v: %w", dst, err)
	}
	if r.mtu > 0 {
		return r.mtu, nil
	}
	if r.oif == 0 {
		return 0, fmt.Errorf("tun: route MTU for %v: the route has no output interface", dst)
	}
	mtu, err := c.linkMTU(r.oif)
	if err != nil {
		return 0, fmt.Errorf("tun: route MTU for %v: interface %d: %w", dst, r.oif, err)
	}
	return mtu, nil
}
