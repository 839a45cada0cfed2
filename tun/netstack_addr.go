package tun

// Addresses added to a running Netstack: the virtual IPs a remote-access gateway assigns
// (IKEv2 configuration payload, IKEv1 Mode Config). An added address becomes the preferred
// source of new connections of its family (the traffic selector the gateway narrowed the
// child to is that address), and leaves the stack again when the assignment ends.

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"unsafe"

	"go.uber.org/zap"
	"golang.zx2c4.com/wireguard/tun/netstack"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// netstackNIC is the NIC wireguard-go's CreateNetTUN creates (its only one).
const netstackNIC tcpip.NICID = 1

// gvisorStack returns the gVisor stack behind wireguard-go's netstack.Net, which keeps it in
// an unexported field and offers no way to change addresses after CreateNetTUN. The field
// is found by name and type, so a wireguard-go that renames or retypes it makes this an
// error (and TestNetstackAddAddress fail), never a bad memory access.
func gvisorStack(tnet *netstack.Net) (*stack.Stack, error) {
	if tnet == nil {
		return nil, errors.New("tun: netstack: no stack")
	}
	f := reflect.ValueOf(tnet).Elem().FieldByName("stack")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*stack.Stack]() || !f.CanAddr() {
		return nil, errors.New("tun: netstack: wireguard-go's netstack has no stack field of type *stack.Stack (changed upstream?)")
	}
	s := *(**stack.Stack)(unsafe.Pointer(f.UnsafeAddr()))
	if s == nil {
		return nil, errors.New("tun: netstack: the stack is nil")
	}
	return s, nil
}

// AddAddress adds the address of p (the prefix length is ignored: the stack routes every
// destination out through the device) and makes it the preferred source of new
// connections and datagrams of its family. Adding an address the stack has is not an
// error. It is safe for concurrent use.
func (n *Netstack) AddAddress(p netip.Prefix) error {
	a := p.Addr().Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.Zone() != "" || a.IsMulticast() {
		return fmt.Errorf("tun: netstack: invalid address %v", p)
	}
	if a.Is6() && n.mtu < 1280 {
		return fmt.Errorf("tun: netstack: cannot add IPv6 address %v: MTU %d < 1280", a, n.mtu)
	}
	if n.isClosing() {
		return errors.New("tun: netstack is closed")
	}
	n.amu.Lock()
	defer n.amu.Unlock()
	if slices.Contains(n.addrs, a) || slices.Contains(n.added, a) {
		return nil
	}
	proto := ipv4.ProtocolNumber
	if a.Is6() {
		proto = ipv6.ProtocolNumber
	}
	pa := tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: tcpip.AddrFromSlice(a.AsSlice()).WithPrefix()}
	if err := n.stack.AddProtocolAddress(netstackNIC, pa, stack.AddressProperties{PEB: stack.FirstPrimaryEndpoint}); err != nil {
		return fmt.Errorf("tun: netstack: adding %v: %v", a, err)
	}
	if !n.hasFamilyLocked(a.Is4()) {
		n.stack.AddRoute(defaultRoute(a.Is4()))
	}
	n.added = append([]netip.Addr{a}, n.added...) // newest first, as the stack prefers it
	n.log.Info("tun: netstack address added", zap.Stringer("address", a))
	return nil
}

// RemoveAddress removes an address AddAddress added; connections using it fail. Removing
// an address the stack does not have (or one it was opened with) is an error.
func (n *Netstack) RemoveAddress(p netip.Prefix) error {
	a := p.Addr().Unmap()
	n.amu.Lock()
	defer n.amu.Unlock()
	i := slices.Index(n.added, a)
	if i < 0 {
		return fmt.Errorf("tun: netstack: %v was not added", a)
	}
	if err := n.stack.RemoveAddress(netstackNIC, tcpip.AddrFromSlice(a.AsSlice())); err != nil {
		return fmt.Errorf("tun: netstack: removing %v: %v", a, err)
	}
	n.added = slices.Delete(n.added, i, i+1)
	if !n.hasFamilyLocked(a.Is4()) {
		r := defaultRoute(a.Is4())
		n.stack.RemoveRoutes(func(x tcpip.Route) bool { return x.Destination == r.Destination && x.NIC == r.NIC })
	}
	n.log.Info("tun: netstack address removed", zap.Stringer("address", a))
	return nil
}

func defaultRoute(v4 bool) tcpip.Route {
	if v4 {
		return tcpip.Route{Destination: header.IPv4EmptySubnet, NIC: netstackNIC}
	}
	return tcpip.Route{Destination: header.IPv6EmptySubnet, NIC: netstackNIC}
}

// hasFamilyLocked reports whether the stack has an address of the family (n.amu held).
func (n *Netstack) hasFamilyLocked(v4 bool) bool {
	for _, l := range n.added {
		if l.Is4() == v4 {
			return true
		}
	}
	for _, l := range n.addrs {
		if l.Is4() == v4 {
			return true
		}
	}
	return false
}
