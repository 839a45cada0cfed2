package tun

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"

	"go.uber.org/zap"
	wgtun "golang.zx2c4.com/wireguard/tun"
)

// createDevice opens a utun device. macOS names utun devices itself: a name that is not
// "utun" or "utunN" is replaced by "utun", which lets the kernel pick the number. utun has
// no virtio-net header, so offloads are never on.
func createDevice(opts Options, log *zap.Logger) (Device, bool, error) {
	name := opts.Name
	if !isUtunName(name) {
		log.Info("tun: macOS interface names are utunN; letting the kernel choose", zap.String("requested", name))
		name = "utun"
	}
	if opts.Offload {
		warnOffloadRefused(log, fmt.Errorf("tun: offloads are a Linux feature"))
	}
	dev, err := wgtun.CreateTUN(name, opts.MTU)
	if err != nil {
		return nil, false, fmt.Errorf("tun: create %s: %w", name, err)
	}
	return dev, false, nil
}

// configure assigns the addresses and installs the routes with ifconfig and route, the way
// wg-quick does on macOS, recording each change for Close.
func (t *TUN) configure(opts Options) error {
	if len(opts.PolicyRoutes) > 0 {
		return errors.New("tun: policy routes (transport mode) are implemented on Linux only")
	}
	if ifi, err := net.InterfaceByName(t.name); err == nil {
		t.index = ifi.Index
	}
	if err := run(t.log, "ifconfig", t.name, "mtu", strconv.Itoa(opts.MTU)); err != nil {
		return fmt.Errorf("tun: set MTU of %s: %w", t.name, err)
	}
	for _, p := range opts.Addresses {
		var err error
		if p.Addr().Is4() {
			// utun is point-to-point: the destination is the address itself.
			err = run(t.log, "ifconfig", t.name, "inet", p.String(), p.Addr().String(), "alias")
		} else {
			err = run(t.log, "ifconfig", t.name, "inet6", p.String(), "alias")
		}
		if err != nil {
			return fmt.Errorf("tun: add address %v to %s: %w", p, t.name, err)
		}
		t.record(change{prefix: p})
	}
	if err := run(t.log, "ifconfig", t.name, "up"); err != nil {
		return fmt.Errorf("tun: set %s up: %w", t.name, err)
	}
	for _, p := range opts.Routes {
		if err := run(t.log, "route", "-q", "-n", "add", inetFlag(p.Addr()), p.String(), "-interface", t.name); err != nil {
			return fmt.Errorf("tun: add route %v dev %s: %w", p, t.name, err)
		}
		t.record(change{route: true, prefix: p})
	}
	return nil
}

func inetFlag(a netip.Addr) string {
	if a.Is4() {
		return "-inet"
	}
	return "-inet6"
}

// undo removes one recorded change.
func (t *TUN) undo(c change) error {
	if c.route {
		return run(t.log, "route", "-q", "-n", "delete", inetFlag(c.prefix.Addr()), c.prefix.String(), "-interface", t.name)
	}
	fam := "inet"
	if c.prefix.Addr().Is6() {
		fam = "inet6"
	}
	return run(t.log, "ifconfig", t.name, fam, c.prefix.Addr().String(), "-alias")
}

// RouteMTU returns the MTU macOS reports for the route toward dst (`route -n get`), or
// 1500 when that cannot be determined.
func RouteMTU(dst netip.Addr) (int, error) {
	if !dst.IsValid() {
		return 0, fmt.Errorf("tun: route MTU: invalid address")
	}
	dst = dst.Unmap()
	out, err := exec.Command("route", "-n", "get", inetFlag(dst), dst.WithZone("").String()).Output()
	if err != nil {
		return 1500, nil
	}
	if mtu, ok := parseRouteGetMTU(string(out)); ok {
		return mtu, nil
	}
	return 1500, nil
}
