package main

import (
	"net/netip"
	"slices"
	"testing"

	"go.uber.org/zap/zaptest"

	"oakley/config"
	"oakley/ike/core"
	"oakley/tun"
)

// TestVIPRoutes: a vips connection is routed only while it has a virtual IP: its remote
// selectors (or the gateway's split networks) by policy routes from the virtual IP of the
// same family; another connection's selectors are routed as before. Withdrawing removes them.
func TestVIPRoutes(t *testing.T) {
	pf := netip.MustParsePrefix
	ts := func(p string) config.TrafficSelector { return config.TrafficSelector{Prefix: pf(p), PortHi: 65535} }
	cfg := &config.Config{Connections: []*config.Connection{
		{Name: "rw", Keying: "ike", RemoteIP: netip.MustParseAddr("198.18.0.2"), VIPs: []netip.Addr{netip.IPv4Unspecified()},
			Children: []*config.Child{{Name: "all", RemoteTS: []config.TrafficSelector{ts("0.0.0.0/0"), ts("::/0")}}}},
		{Name: "site", Keying: "ike", RemoteIP: netip.MustParseAddr("198.18.0.3"),
			Children: []*config.Child{{Name: "net", RemoteTS: []config.TrafficSelector{ts("198.51.100.0/24")}}}},
	}}
	d := &daemon{cfg: cfg, log: zaptest.NewLogger(t)}
	d.vips = newVIPState(d)
	plain, policy := d.routes(cfg)
	if !slices.Equal(plain, []netip.Prefix{pf("198.51.100.0/24")}) || len(policy) != 0 {
		t.Fatalf("before any virtual IP: plain %v policy %v", plain, policy)
	}
	vip := netip.MustParseAddr("203.0.113.7")
	set := func(v core.VirtualIPs) {
		d.vips.mu.Lock()
		d.vips.active[v.Conn], d.vips.addrs[v.Conn] = v, []netip.Prefix{netip.PrefixFrom(vip, 32)}
		d.vips.mu.Unlock()
	}
	set(core.VirtualIPs{Conn: "rw", Up: true, Addrs: []netip.Addr{vip}})
	_, policy = d.routes(cfg)
	if want := []tun.PolicyRoute{{Prefix: pf("0.0.0.0/0"), Src: vip}}; !slices.Equal(policy, want) {
		t.Fatalf("with %s and no split networks: policy %v, want %v (no IPv6 route without an IPv6 address)", vip, policy, want)
	}
	set(core.VirtualIPs{Conn: "rw", Up: true, Addrs: []netip.Addr{vip}, Split: []netip.Prefix{pf("192.0.2.0/24")}})
	_, policy = d.routes(cfg)
	if want := []tun.PolicyRoute{{Prefix: pf("192.0.2.0/24"), Src: vip}}; !slices.Equal(policy, want) {
		t.Fatalf("with split networks: policy %v, want %v", policy, want)
	}
	d.vips.apply(core.VirtualIPs{Conn: "rw", Up: false, Addrs: []netip.Addr{vip}}) // no device: only the record goes
	if _, policy = d.routes(cfg); len(policy) != 0 {
		t.Fatalf("after the withdrawal: policy %v", policy)
	}
}

// TestVIPNetstack: on the netstack device an assignment puts its addresses on the stack and
// its DNS servers into the SOCKS5 proxy's resolver; a new lease replaces the old address,
// and the withdrawal takes both away.
func TestVIPNetstack(t *testing.T) {
	cfg := &config.Config{Device: config.Device{Kind: "netstack"}, Connections: []*config.Connection{
		{Name: "rw", Keying: "ike", RemoteIP: netip.MustParseAddr("198.18.0.2"), VIPs: []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}}}}
	ns, err := tun.OpenNetstack(tun.NetstackOptions{VirtualIPs: true, MTU: 1400}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	d := &daemon{cfg: cfg, log: zaptest.NewLogger(t), ns: ns}
	d.vips = newVIPState(d)
	a := netip.MustParseAddr
	v4, v6, dns := a("203.0.113.7"), a("2001:db8:2::7"), a("203.0.113.53")
	d.vips.apply(core.VirtualIPs{Conn: "rw", Up: true, Addrs: []netip.Addr{v4, v6}, DNS: []netip.Addr{dns}})
	if got := ns.Addresses(); len(got) != 2 || !slices.Contains(got, v4) || !slices.Contains(got, v6) {
		t.Fatalf("stack addresses %v, want %v and %v", got, v4, v6)
	}
	if got := ns.DNSServers(); !slices.Equal(got, []netip.Addr{dns}) {
		t.Fatalf("DNS servers %v, want [%v]", got, dns)
	}
	// A new lease keeps the IPv6 address and replaces the IPv4 one; no DNS any more.
	v4b := a("203.0.113.8")
	d.vips.apply(core.VirtualIPs{Conn: "rw", Up: true, Addrs: []netip.Addr{v4b, v6}})
	if got := ns.Addresses(); len(got) != 2 || !slices.Contains(got, v4b) || !slices.Contains(got, v6) {
		t.Fatalf("after the new lease: stack addresses %v, want %v and %v", got, v4b, v6)
	}
	if got := ns.DNSServers(); len(got) != 0 {
		t.Fatalf("after a lease without DNS: servers %v", got)
	}
	d.vips.apply(core.VirtualIPs{Conn: "rw", Up: true, Addrs: []netip.Addr{v4b, v6}, DNS: []netip.Addr{dns}})
	d.vips.apply(core.VirtualIPs{Conn: "rw", Up: false})
	if got := ns.Addresses(); len(got) != 0 {
		t.Fatalf("after the withdrawal: stack addresses %v", got)
	}
	if got := ns.DNSServers(); len(got) != 0 {
		t.Fatalf("after the withdrawal: DNS servers %v", got)
	}
	if n := d.vips.errorCount(); n != 0 {
		t.Errorf("%d errors", n)
	}
}
