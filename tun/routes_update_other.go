//go:build !linux

package tun

import "net/netip"

// UpdateRoutes changes nothing outside Linux: it returns ErrRoutesNotLive.
func (t *TUN) UpdateRoutes(plain []netip.Prefix, policy []PolicyRoute) (RouteUpdate, error) {
	return RouteUpdate{}, ErrRoutesNotLive
}
