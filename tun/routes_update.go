package tun

import (
	"errors"
	"net/netip"
	"runtime"
)

// RouteUpdate says what UpdateRoutes changed, each route as "PREFIX" (main table) or
// "PREFIX table N" (the policy table).
type RouteUpdate struct {
	Added, Removed []string
}

// ErrNoPolicyTable is returned (wrapped, naming the routes) by UpdateRoutes for policy routes
// when the device was opened without any: then no rule sends unmarked packets to the policy
// table and the data plane's sockets carry no mark, so the first policy route needs a
// restart.
var ErrNoPolicyTable = errors.New("tun: the device was opened without policy routes, so none can be added while it runs")

// ErrRoutesNotLive is returned by UpdateRoutes where routes are set only when the device
// opens (every OS but Linux).
var ErrRoutesNotLive = errors.New("tun: routes cannot be changed while the device runs on " + runtime.GOOS)

// normalizeRoutes validates and de-duplicates the arguments of UpdateRoutes with the rules
// of Open (the MTU, mark and table only satisfy normalize; they are not used).
func normalizeRoutes(plain []netip.Prefix, policy []PolicyRoute) ([]netip.Prefix, []PolicyRoute, error) {
	o, err := Options{MTU: 65535, Routes: plain, PolicyRoutes: policy, FwMark: 1, Table: 1}.normalize()
	if err != nil {
		return nil, nil, err
	}
	return o.Routes, o.PolicyRoutes, nil
}
