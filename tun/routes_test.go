package tun

import (
	"net/netip"
	"slices"
	"testing"
)

func TestPlanRoutes(t *testing.T) {
	mp := netip.MustParsePrefix
	peer := netip.MustParseAddr("198.18.0.2")
	src := netip.MustParseAddr("198.18.0.1")
	plain, policy := PlanRoutes([]RouteSpec{
		{Prefix: mp("198.51.100.0/24")},
		{Prefix: mp("198.51.100.0/24")},                            // twice: once only
		{Prefix: mp("198.18.0.0/15")},                              // contains the peer: policy table
		{Prefix: mp("198.18.0.2/32"), Transport: true, Src: src},   // transport: policy table with src
		{Prefix: mp("2001:db8:b::/48"), Transport: true, Src: src}, // family mismatch: no src
	}, []netip.Addr{peer})
	if !slices.Equal(plain, []netip.Prefix{mp("198.51.100.0/24")}) {
		t.Fatalf("plain routes %v", plain)
	}
	want := []PolicyRoute{{Prefix: mp("198.18.0.0/15")}, {Prefix: mp("198.18.0.2/32"), Src: src}, {Prefix: mp("2001:db8:b::/48")}}
	if !slices.Equal(policy, want) {
		t.Fatalf("policy routes %v, want %v", policy, want)
	}
}
