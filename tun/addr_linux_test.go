package tun

import (
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
)

// TestTUNAddAddress: a device opened with a mark and table but no policy routes takes a
// virtual IP while it runs (IPv4 and IPv6), a policy route with it as source, and gives both
// back; an address it did not add is left alone; Close removes what is still there.
func TestTUNAddAddress(t *testing.T) {
	if !inNetns(t) {
		return
	}
	dev, err := Open(Options{Name: "okvip0", MTU: 1400, FwMark: FwMark, Table: Table}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	v4, v6 := netip.MustParsePrefix("203.0.113.7/32"), netip.MustParsePrefix("2001:db8:2::7/128")
	for _, p := range []netip.Prefix{v4, v6} {
		if err := dev.AddAddress(p); err != nil {
			t.Fatal(err)
		}
	}
	addrs := func() string { return ipCmd(t, "-o", "addr", "show", "dev", "okvip0") }
	if a := addrs(); !strings.Contains(a, "203.0.113.7/32") || !strings.Contains(a, "2001:db8:2::7/128") {
		t.Fatalf("addresses after AddAddress:\n%s", a)
	}
	if _, err := dev.UpdateRoutes(nil, []PolicyRoute{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Src: v4.Addr()}}); err != nil {
		t.Fatalf("a policy route from the virtual IP: %v", err)
	}
	if tb := ipCmd(t, "route", "show", "table", "7299435"); !strings.Contains(tb, "default dev okvip0") || !strings.Contains(tb, "src 203.0.113.7") {
		t.Errorf("policy table:\n%s", tb)
	}
	if _, err := dev.UpdateRoutes(nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := dev.RemoveAddress(v4); err != nil {
		t.Fatal(err)
	}
	if a := addrs(); strings.Contains(a, "203.0.113.7") || !strings.Contains(a, "2001:db8:2::7/128") {
		t.Fatalf("addresses after RemoveAddress of the IPv4 one:\n%s", a)
	}
	// Control: an address someone else put there is not ours to remove.
	ipCmd(t, "addr", "add", "198.51.100.9/32", "dev", "okvip0")
	if err := dev.AddAddress(netip.MustParsePrefix("198.51.100.9/32")); err != nil {
		t.Fatal(err)
	}
	if err := dev.RemoveAddress(netip.MustParsePrefix("198.51.100.9/32")); err != nil {
		t.Fatal(err)
	}
	if a := addrs(); !strings.Contains(a, "198.51.100.9/32") {
		t.Fatalf("RemoveAddress removed an address it did not add:\n%s", a)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
}
