package tun

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
)

// routeDsts lists the main-table destinations through the device.
func routeDsts(t *testing.T, dev *TUN) []netip.Prefix {
	t.Helper()
	c, err := dialNetlink()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	routes, err := c.listRoutes(dev.index)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		out = append(out, r.dst)
	}
	return out
}

// TestTUNUpdateRoutes: UpdateRoutes adds what is missing, removes what it added and is no
// longer wanted, leaves a route someone else added through the device alone, and Close
// still removes everything oakley added (including what an update added).
func TestTUNUpdateRoutes(t *testing.T) {
	if !inNetns(t) {
		return
	}
	dev := openTestTUN(t, "okupd0", false) // routes tunRoute4, tunRoute6
	theirs := netip.MustParsePrefix("203.0.113.128/25")
	ipCmd(t, "route", "add", theirs.String(), "dev", "okupd0")
	extra := netip.MustParsePrefix("203.0.113.0/25")

	res, err := dev.UpdateRoutes([]netip.Prefix{tunRoute4, extra}, nil)
	if err != nil {
		t.Fatalf("UpdateRoutes: %v", err)
	}
	if !slices.Equal(res.Added, []string{extra.String()}) || !slices.Equal(res.Removed, []string{tunRoute6.String()}) {
		t.Errorf("UpdateRoutes = %+v; want added [%v], removed [%v]", res, extra, tunRoute6)
	}
	got := routeDsts(t, dev)
	for _, want := range []netip.Prefix{tunRoute4, extra, theirs} {
		if !slices.Contains(got, want) {
			t.Errorf("after the update routes %v lack %v", got, want)
		}
	}
	if slices.Contains(got, tunRoute6) {
		t.Errorf("after the update %v is still routed through the device", tunRoute6)
	}
	// Nothing wanted: only what oakley added goes; the route it did not add stays.
	res, err = dev.UpdateRoutes(nil, nil)
	if err != nil || len(res.Added) != 0 || len(res.Removed) != 2 {
		t.Errorf("UpdateRoutes(nil) = %+v, %v; want two routes removed", res, err)
	}
	if got := routeDsts(t, dev); !slices.Contains(got, theirs) || slices.Contains(got, extra) || slices.Contains(got, tunRoute4) {
		t.Errorf("after removing all, routes = %v; want only %v (not ours)", got, theirs)
	}
	// The same again is a no-op.
	if res, err := dev.UpdateRoutes(nil, nil); err != nil || len(res.Added)+len(res.Removed) != 0 {
		t.Errorf("a repeated update = %+v, %v; want nothing done", res, err)
	}
	// No policy table at Open: a policy route is refused, the plain ones are still added.
	res, err = dev.UpdateRoutes([]netip.Prefix{extra}, []PolicyRoute{{Prefix: netip.MustParsePrefix("198.18.0.2/32")}})
	if !errors.Is(err, ErrNoPolicyTable) || !strings.Contains(err.Error(), "198.18.0.2/32") {
		t.Errorf("a policy route without a policy table: err = %v; want ErrNoPolicyTable naming it", err)
	}
	if !slices.Equal(res.Added, []string{extra.String()}) {
		t.Errorf("plain routes beside a refused policy route: added %v, want [%v]", res.Added, extra)
	}
	if _, err := dev.UpdateRoutes([]netip.Prefix{netip.MustParsePrefix("203.0.113.1/24")}, nil); err == nil {
		t.Error("a route with host bits set was accepted")
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	if out := ipCmd(t, "route", "show", extra.String()); out != "" {
		t.Errorf("Close left the route an update added: %s", out)
	}
	if _, err := dev.UpdateRoutes([]netip.Prefix{extra}, nil); err == nil {
		t.Error("UpdateRoutes after Close succeeded")
	}
}

// TestTUNUpdatePolicyRoutes: with a policy table from Open, policy routes follow the update
// too (a changed source is replaced), the rule stays until Close, and Close removes both.
func TestTUNUpdatePolicyRoutes(t *testing.T) {
	if !inNetns(t) {
		return
	}
	peer := netip.MustParsePrefix("198.18.0.2/32")
	src := netip.MustParseAddr("192.0.2.1")
	dev, err := Open(Options{Name: "okpol0", MTU: 1400, Addresses: []netip.Prefix{tunAddr4},
		PolicyRoutes: []PolicyRoute{{Prefix: peer}}, FwMark: FwMark, Table: Table}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	table := func() string { return ipCmd(t, "route", "show", "table", "7299435") }
	other := netip.MustParsePrefix("198.18.0.3/32")
	res, err := dev.UpdateRoutes(nil, []PolicyRoute{{Prefix: peer, Src: src}, {Prefix: other}})
	if err != nil {
		t.Fatalf("UpdateRoutes: %v", err)
	}
	if len(res.Added) != 2 || len(res.Removed) != 1 {
		t.Errorf("UpdateRoutes = %+v; want the peer's route replaced (new source) and one added", res)
	}
	if tb := table(); !strings.Contains(tb, "198.18.0.2 dev okpol0") || !strings.Contains(tb, "src 192.0.2.1") || !strings.Contains(tb, "198.18.0.3 dev okpol0") {
		t.Errorf("policy table after the update:\n%s", tb)
	}
	if _, err := dev.UpdateRoutes(nil, nil); err != nil {
		t.Fatal(err)
	}
	if tb := table(); tb != "" {
		t.Errorf("policy table after removing all:\n%s", tb)
	}
	if rules := ipCmd(t, "-4", "rule", "show"); !strings.Contains(rules, "lookup 7299435") {
		t.Errorf("the rule went with the last route; it should stay until Close:\n%s", rules)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	if rules := ipCmd(t, "-4", "rule", "show"); strings.Contains(rules, "lookup 7299435") {
		t.Errorf("rule left after Close:\n%s", rules)
	}
}
