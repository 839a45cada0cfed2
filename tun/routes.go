package tun

import "net/netip"

// Policy routing for tunnel routes (see README "Routing"): a route into the tunnel device
// for a prefix that contains a peer's own address (always the case in transport mode) would
// also capture oakley's own IKE and ESP packets to that peer. Such routes go into a separate
// table consulted only by packets without oakley's firewall mark, which every socket of the
// data plane carries.
const (
	FwMark = 0x6f616b // "oak" in ASCII
	Table  = 0x6f616b
)

// RouteSpec is a remote traffic selector to route through the tunnel device.
type RouteSpec struct {
	Prefix    netip.Prefix
	Transport bool       // a transport-mode child: the prefix is the peer itself
	Src       netip.Addr // preferred source for a transport-mode route (the address the SA protects); invalid = none
}

// PlanRoutes splits the routes to install: each prefix once, as a plain route, or as a
// policy route when it is transport mode or contains one of the peers' addresses.
func PlanRoutes(specs []RouteSpec, peers []netip.Addr) (plain []netip.Prefix, policy []PolicyRoute) {
	seen := map[netip.Prefix]bool{}
	for _, s := range specs {
		if seen[s.Prefix] {
			continue
		}
		seen[s.Prefix] = true
		if s.Transport || containsAny(s.Prefix, peers) {
			r := PolicyRoute{Prefix: s.Prefix}
			if s.Transport && s.Src.IsValid() && s.Src.Is4() == s.Prefix.Addr().Is4() {
				r.Src = s.Src
			}
			policy = append(policy, r)
			continue
		}
		plain = append(plain, s.Prefix)
	}
	return plain, policy
}

func containsAny(p netip.Prefix, addrs []netip.Addr) bool {
	for _, a := range addrs {
		if a.IsValid() && p.Contains(a) {
			return true
		}
	}
	return false
}
