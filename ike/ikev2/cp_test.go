package ikev2

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/core/coretest"
)

// addNodeWith is addNode with a hook on the core's configuration (pools, key log, ...).
func (n *lnet) addNodeWith(name string, ip netip.Addr, seed byte, tweak func(*core.Config), conns ...*core.Connection) *node {
	n.t.Helper()
	lc, obs := observer.New(zap.DebugLevel)
	nd := &node{name: name, ip: ip, dp: coretest.NewFakeDP(), logs: obs, ctr: core.NewCounters(), used: map[*esp.SA]bool{}}
	cfg := core.Config{Connections: conns, Dataplane: nd.dp, Rand: coretest.NewSeededRand(seed), Log: zap.New(lc).Named(name),
		LocalAddrFor: func(netip.Addr) netip.Addr { return ip }, Retransmit: testRetransmit}
	tweak(&cfg)
	p := New()
	c, err := core.New(cfg, nd.ctr, p)
	if err != nil {
		n.t.Fatalf("%s: %v", name, err)
	}
	nd.core, nd.p = c, p
	n.nodes = append(n.nodes, nd)
	return nd
}

// rwClient is a remote-access client asking for an IPv4 virtual IP.
func rwClient(t *testing.T, name, id string, local, remote netip.Addr) *core.Connection {
	return &core.Connection{Version: 2, Name: name, LocalAddr: local, RemoteAddr: remote,
		LocalID: core.FQDNIdentity(id), RemoteID: core.FQDNIdentity("gw.test"),
		PSK: testPSK, RekeyTime: 4 * time.Hour, StartAction: "none", Encap: "auto",
		VIPs: []netip.Addr{netip.IPv4Unspecified()},
		Children: []*core.Child{{
			Name: "net", LocalTS: []esp.Selector{sel("0.0.0.0/0")}, RemoteTS: []esp.Selector{sel("198.51.100.0/24")},
			ESPProposals: props(t, crypto.ProtoESP, "aes128gcm16"), RekeyTime: time.Hour,
		}},
	}
}

// TestConfigPayload: a client gets the gateway's only pool address, its DNS server and split
// network; both children carry the virtual IP as the client's selector; the key log has the
// IKE SA's keys (again after an IKE SA rekey, which keeps the lease and the assignment) and
// the ESP keys. Negative controls: a second client finds the pool exhausted
// (INTERNAL_ADDRESS_FAILURE, counted on both sides, no child, its IKE SA deleted); when the
// first client's IKE SA goes, its addresses are withdrawn and the lease freed.
func TestConfigPayload(t *testing.T) {
	ipC := netip.MustParseAddr("198.18.0.3")
	pool, err := core.NewPool("rw", netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.10"),
		[]netip.Addr{netip.MustParseAddr("203.0.113.53")}, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	gw := &core.Connection{Version: 2, Name: "gw", LocalAddr: ipB,
		LocalID: core.FQDNIdentity("gw.test"), RemoteID: core.AnyIdentity,
		PSK: testPSK, RekeyTime: 4 * time.Hour, StartAction: "none", Encap: "auto", Pools: []string{"rw"},
		Children: []*core.Child{{
			Name: "net", LocalTS: []esp.Selector{sel("198.51.100.0/24")}, RemoteTS: []esp.Selector{sel("203.0.113.0/24")},
			ESPProposals: props(t, crypto.ProtoESP, "aes128gcm16"), RekeyTime: time.Hour,
		}},
	}
	var klA, klB bytes.Buffer
	var events []core.VirtualIPs
	var eventsC []core.VirtualIPs
	n := newLnet(t)
	x := n.addNodeWith("A", ipA, 1, func(c *core.Config) {
		c.KeyLog = core.NewKeyLog(&klA)
		c.OnVirtualIPs = func(v core.VirtualIPs) { events = append(events, v) }
	}, rwClient(t, "rw", "a.test", ipA, ipB))
	y := n.addNodeWith("B", ipB, 2, func(c *core.Config) {
		c.KeyLog = core.NewKeyLog(&klB)
		c.Pools = []*core.Pool{pool}
	}, gw)
	z := n.addNodeWith("C", ipC, 3, func(c *core.Config) {
		c.OnVirtualIPs = func(v core.VirtualIPs) { eventsC = append(eventsC, v) }
	}, rwClient(t, "rw", "c.test", ipC, ipB))

	csA, _ := x.core.Conn("rw")
	csA.BringUp(n.now, csA.Children)
	n.runUntil(func() bool { return childUp(x, "rw", "net") && childUp(y, "gw", "net") }, time.Minute)
	vip := netip.MustParseAddr("203.0.113.10")
	if len(events) != 1 || !events[0].Up || len(events[0].Addrs) != 1 || events[0].Addrs[0] != vip ||
		len(events[0].DNS) != 1 || events[0].DNS[0] != netip.MustParseAddr("203.0.113.53") ||
		len(events[0].Split) != 1 || events[0].Split[0] != netip.MustParsePrefix("198.51.100.0/24") || events[0].Gateway != ipB {
		t.Fatalf("client's virtual IP events: %+v", events)
	}
	ca, cb := unit(x, "rw", "net").Newest(), unit(y, "gw", "net").Newest()
	checkKeysMatch(t, ca, cb)
	if l := ca.Params().LocalTS; len(l) != 1 || l[0].Prefix != netip.PrefixFrom(vip, 32) {
		t.Fatalf("client child's local selectors %v, want the virtual IP", l)
	}
	if r := cb.Params().RemoteTS; len(r) != 1 || r[0].Prefix != netip.PrefixFrom(vip, 32) {
		t.Fatalf("gateway child's remote selectors %v, want the lease", r)
	}
	for _, nd := range []*node{x, y} {
		if st := currentSA(nd, map[*node]string{x: "rw", y: "gw"}[nd]).Status(); len(st.VirtualIPs) != 1 || st.VirtualIPs[0] != vip.String() {
			t.Fatalf("%s: status virtual IPs %v", nd.name, st.VirtualIPs)
		}
	}
	if pool.InUse() != 1 {
		t.Fatalf("pool in use %d", pool.InUse())
	}
	sa := currentSA(x, "rw")
	ikeLine := "ikev2_decryption_table " + sa.spiI.String() + "," + sa.spiR.String() + ","
	for name, kl := range map[string]string{"A": klA.String(), "B": klB.String()} {
		if !strings.Contains(kl, ikeLine) || !strings.Contains(kl, `"AES-GCM-128 with 16 octet ICV [RFC5282]"`) {
			t.Fatalf("%s's key log lacks the IKE SA:\n%s", name, kl)
		}
		if strings.Count(kl, "esp_sa ") != 2 {
			t.Fatalf("%s's key log has %d ESP SAs, want 2:\n%s", name, strings.Count(kl, "esp_sa "), kl)
		}
	}
	if a, b := klA.String(), klB.String(); a[strings.Index(a, ikeLine):strings.Index(a, ikeLine)+200] != b[strings.Index(b, ikeLine):strings.Index(b, ikeLine)+200] {
		t.Fatal("the two sides log different IKE keys")
	}

	// IKE SA rekey: the new SA holds the lease and the assignment; its keys are logged.
	sa.Rekey(n.now)
	n.runUntil(func() bool { s := currentSA(x, "rw"); return s != nil && s != sa && s.state == stEstablished }, time.Minute)
	n.runFor(time.Minute)
	sa2 := currentSA(x, "rw")
	if strings.Count(klA.String(), "ikev2_decryption_table ") != 2 || !strings.Contains(klA.String(), sa2.spiI.String()+","+sa2.spiR.String()) {
		t.Fatalf("key log after the IKE SA rekey:\n%s", klA.String())
	}
	if len(events) != 1 || pool.InUse() != 1 || len(sa2.VirtualIPStrings()) != 1 || len(currentSA(y, "gw").VirtualIPStrings()) != 1 {
		t.Fatalf("after the IKE SA rekey: events %+v, pool in use %d", events, pool.InUse())
	}

	// Negative control: the pool's only address is taken.
	csC, _ := z.core.Conn("rw")
	csC.BringUp(n.now, csC.Children)
	moved := false
	n.afterStep = func() {
		if x := unit(y, "gw", "net").Newest(); x != nil && x.IKE().Base().Remote.Addr() == ipC {
			moved = true
		}
	}
	n.runFor(time.Minute)
	n.afterStep = nil
	if moved {
		t.Fatal("the first client's child moved to the second client's IKE SA on the gateway")
	}
	if childUp(z, "rw", "net") || len(eventsC) != 0 {
		t.Fatalf("the second client got a child or a virtual IP from an exhausted pool: %+v", eventsC)
	}
	if e := unit(z, "rw", "net").LastError; !errors.Is(e, ErrNoVirtualIP) || !strings.Contains(e.Error(), "INTERNAL_ADDRESS_FAILURE") {
		t.Fatalf("second client's child error: %v", e)
	}
	if y.ctr.Get(core.CtrPoolExhausted) != 1 || z.ctr.Get(core.CtrVirtualIPFailures) != 1 {
		t.Fatalf("pool_exhausted %d, virtual_ip_failures %d", y.ctr.Get(core.CtrPoolExhausted), z.ctr.Get(core.CtrVirtualIPFailures))
	}
	if csC.Current() != nil {
		t.Fatal("the second client kept its IKE SA without a virtual IP")
	}
	if !childUp(x, "rw", "net") || pool.InUse() != 1 {
		t.Fatal("the first client lost its child or lease")
	}

	// Negative control: when the IKE SA goes, the client withdraws, the gateway frees.
	csA.Terminate(n.now, errors.New("test"))
	n.runFor(time.Minute)
	if len(events) != 2 || events[1].Up || len(events[1].Addrs) != 1 || events[1].Addrs[0] != vip {
		t.Fatalf("events after terminate: %+v", events)
	}
	if pool.InUse() != 0 {
		t.Fatalf("pool in use %d after the client left", pool.InUse())
	}
}

// TestConfigPayloadNoPool: a gateway whose connection names no pools ignores the
// CFG_REQUEST; the client, which got no address, fails clearly and deletes the IKE SA.
func TestConfigPayloadNoPool(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	a.StartAction, a.VIPs = "none", []netip.Addr{netip.IPv4Unspecified()}
	a.Children[0].LocalTS = []esp.Selector{sel("0.0.0.0/0")}
	b.Children[0].RemoteTS = []esp.Selector{sel("0.0.0.0/0")}
	n, x, _ := pair(t, a, b)
	cs, _ := x.core.Conn("ab")
	cs.BringUp(n.now, cs.Children)
	n.runFor(time.Minute)
	if childUp(x, "ab", "net") || cs.Current() != nil {
		t.Fatal("the client kept a child or IKE SA without a virtual IP")
	}
	if e := unit(x, "ab", "net").LastError; !errors.Is(e, ErrNoVirtualIP) {
		t.Fatalf("client's child error: %v", e)
	}
	if x.ctr.Get(core.CtrVirtualIPFailures) != 1 {
		t.Fatalf("virtual_ip_failures %d", x.ctr.Get(core.CtrVirtualIPFailures))
	}
}

// TestConfigPayloadDualStack: a client asking for any IPv4 and a given IPv6 address gets one
// of each (the IPv6 hint honoured) from two pools, its child's selectors are both leases, and
// IPv6 DNS and split networks arrive as INTERNAL_IP6_DNS / INTERNAL_IP6_SUBNET. Control: a
// gateway with only an IPv4 pool serves the IPv4 request and leaves IPv6 out.
func TestConfigPayloadDualStack(t *testing.T) {
	for _, both := range []bool{true, false} {
		p4, _ := core.NewPool("rw", netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.20"), nil, nil)
		p6, _ := core.NewPool("rw6", netip.MustParseAddr("2001:db8:2::10"), netip.MustParseAddr("2001:db8:2::ff"),
			[]netip.Addr{netip.MustParseAddr("2001:db8:2::53")}, []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/64")})
		pools, names := []*core.Pool{p4}, []string{"rw"}
		if both {
			pools, names = append(pools, p6), append(names, "rw6")
		}
		cl := rwClient(t, "rw", "a.test", ipA, ipB)
		cl.VIPs = append(cl.VIPs, netip.MustParseAddr("2001:db8:2::42"))
		cl.Children[0].LocalTS = append(cl.Children[0].LocalTS, sel("::/0"))
		cl.Children[0].RemoteTS = append(cl.Children[0].RemoteTS, sel("2001:db8:1::/64"))
		gw := &core.Connection{Version: 2, Name: "gw", LocalAddr: ipB,
			LocalID: core.FQDNIdentity("gw.test"), RemoteID: core.AnyIdentity,
			PSK: testPSK, StartAction: "none", Encap: "auto", Pools: names,
			Children: []*core.Child{{
				Name: "net", LocalTS: []esp.Selector{sel("198.51.100.0/24"), sel("2001:db8:1::/64")},
				RemoteTS:     []esp.Selector{sel("203.0.113.0/24"), sel("2001:db8:2::/64")},
				ESPProposals: props(t, crypto.ProtoESP, "aes128gcm16"),
			}},
		}
		var events []core.VirtualIPs
		n := newLnet(t)
		x := n.addNodeWith("A", ipA, 1, func(c *core.Config) { c.OnVirtualIPs = func(v core.VirtualIPs) { events = append(events, v) } }, cl)
		y := n.addNodeWith("B", ipB, 2, func(c *core.Config) { c.Pools = pools }, gw)
		cs, _ := x.core.Conn("rw")
		cs.BringUp(n.now, cs.Children)
		n.runUntil(func() bool { return childUp(x, "rw", "net") && childUp(y, "gw", "net") }, time.Minute)
		want := []netip.Addr{netip.MustParseAddr("203.0.113.10")}
		if both {
			want = append(want, netip.MustParseAddr("2001:db8:2::42"))
		}
		if len(events) != 1 || !slices.Equal(events[0].Addrs, want) {
			t.Fatalf("both pools %v: events %+v, want addresses %v", both, events, want)
		}
		if both && (!slices.Equal(events[0].DNS, []netip.Addr{netip.MustParseAddr("2001:db8:2::53")}) ||
			!slices.Equal(events[0].Split, []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/64")})) {
			t.Fatalf("IPv6 DNS / split: %+v", events[0])
		}
		var local []netip.Prefix
		for _, s := range unit(x, "rw", "net").Newest().Params().LocalTS {
			local = append(local, s.Prefix)
		}
		var wantTS []netip.Prefix
		for _, a := range want {
			wantTS = append(wantTS, netip.PrefixFrom(a, a.BitLen()))
		}
		if !slices.Equal(local, wantTS) {
			t.Fatalf("both pools %v: client's local selectors %v, want %v", both, local, wantTS)
		}
	}
}

// TestConfigPayloadStableLease: leases are stable per identity. A client that restarts
// (its old IKE SA still alive at the gateway; the new one carries INITIAL_CONTACT) gets the
// same address again, not the pool's other one, which another client then gets.
func TestConfigPayloadStableLease(t *testing.T) {
	pool, _ := core.NewPool("rw", netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11"), nil, nil)
	gw := &core.Connection{Version: 2, Name: "gw", LocalAddr: ipB,
		LocalID: core.FQDNIdentity("gw.test"), RemoteID: core.AnyIdentity,
		PSK: testPSK, StartAction: "none", Encap: "auto", Pools: []string{"rw"},
		Children: []*core.Child{{
			Name: "net", LocalTS: []esp.Selector{sel("198.51.100.0/24")}, RemoteTS: []esp.Selector{sel("203.0.113.0/24")},
			ESPProposals: props(t, crypto.ProtoESP, "aes128gcm16"),
		}},
	}
	n := newLnet(t)
	got := map[string][]netip.Addr{}
	client := func(name, id string, ip netip.Addr, seed byte) *node {
		nd := n.addNodeWith(name, ip, seed, func(c *core.Config) {
			c.OnVirtualIPs = func(v core.VirtualIPs) {
				if v.Up {
					got[name] = append(got[name], v.Addrs...)
				}
			}
		}, rwClient(t, "rw", id, ip, ipB))
		cs, _ := nd.core.Conn("rw")
		cs.BringUp(n.now, cs.Children)
		return nd
	}
	y := n.addNodeWith("B", ipB, 2, func(c *core.Config) { c.Pools = []*core.Pool{pool} }, gw)
	x := client("A", "a.test", ipA, 1)
	n.runUntil(func() bool { return childUp(x, "rw", "net") }, time.Minute)
	// A restarts: a new node at its address, the old one gone without a word.
	for i, nd := range n.nodes {
		if nd == x {
			n.nodes = append(n.nodes[:i], n.nodes[i+1:]...)
			break
		}
	}
	x2 := client("A2", "a.test", ipA, 7)
	n.runUntil(func() bool { return childUp(x2, "rw", "net") }, time.Minute)
	ipC := netip.MustParseAddr("198.18.0.3")
	z := client("C", "c.test", ipC, 3)
	n.runUntil(func() bool { return childUp(z, "rw", "net") }, time.Minute)
	a, c := netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")
	if !slices.Equal(got["A"], []netip.Addr{a}) || !slices.Equal(got["A2"], []netip.Addr{a}) || !slices.Equal(got["C"], []netip.Addr{c}) {
		t.Fatalf("addresses: %v", got)
	}
	if pool.InUse() != 2 || y.ctr.Get(core.CtrPoolExhausted) != 0 {
		t.Fatalf("pool in use %d, pool_exhausted %d", pool.InUse(), y.ctr.Get(core.CtrPoolExhausted))
	}
}

// TestConfigPayloadTwoClients: a gateway serves two clients at once on one connection: each
// client's pair sends through its own SPD entry (remote selector = its lease), both stay
// bound, and one client leaving takes only its own entry. Control: the child's own entry
// (the pool's whole network) is not in the SPD, so no packet for an unleased address finds
// an SA.
func TestConfigPayloadTwoClients(t *testing.T) {
	pool, _ := core.NewPool("rw", netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11"), nil, nil)
	gw := &core.Connection{Version: 2, Name: "gw", LocalAddr: ipB,
		LocalID: core.FQDNIdentity("gw.test"), RemoteID: core.AnyIdentity,
		PSK: testPSK, StartAction: "none", Encap: "auto", Pools: []string{"rw"},
		Children: []*core.Child{{
			Name: "net", LocalTS: []esp.Selector{sel("198.51.100.0/24")}, RemoteTS: []esp.Selector{sel("203.0.113.0/24")},
			ESPProposals: props(t, crypto.ProtoESP, "aes128gcm16"),
		}},
	}
	n := newLnet(t)
	y := n.addNodeWith("B", ipB, 2, func(c *core.Config) { c.Pools = []*core.Pool{pool} }, gw)
	ipC := netip.MustParseAddr("198.18.0.3")
	var clients []*node
	for i, c := range []struct {
		id string
		ip netip.Addr
	}{{"a.test", ipA}, {"c.test", ipC}} {
		nd := n.addNodeWith(c.id, c.ip, byte(10+i), func(*core.Config) {}, rwClient(t, "rw", c.id, c.ip, ipB))
		cs, _ := nd.core.Conn("rw")
		cs.BringUp(n.now, cs.Children)
		clients = append(clients, nd)
	}
	n.runUntil(func() bool { return childUp(clients[0], "rw", "net") && childUp(clients[1], "rw", "net") }, time.Minute)
	n.runFor(10 * time.Second)
	ch := unit(y, "gw", "net")
	byRemote := map[string]*esp.SA{}
	for _, p := range y.dp.Policies() {
		if p == ch.Policy {
			t.Fatal("the child's own SPD entry is in the SPD of a remote-access gateway")
		}
		if b := p.Binding(); b != nil {
			byRemote[core.SelectorsString(p.Remote)] = b.SA
		}
	}
	if len(ch.SAs) != 2 || len(byRemote) != 2 {
		t.Fatalf("gateway: %d pairs, bound entries %v", len(ch.SAs), byRemote)
	}
	for _, csa := range ch.SAs {
		_, out := csa.SAs()
		if !csa.Bound() || byRemote[core.SelectorsString(csa.Params().RemoteTS)] != out {
			t.Fatalf("the pair for %s does not send through its own entry", core.SelectorsString(csa.Params().RemoteTS))
		}
	}
	// Client A leaves: only its entry goes; C's pair stays bound.
	csA, _ := clients[0].core.Conn("rw")
	csA.Terminate(n.now, errors.New("test"))
	n.runFor(time.Minute)
	if len(ch.SAs) != 1 || !ch.SAs[0].Bound() || len(y.dp.Policies()) != 1 || y.dp.Policies()[0].Binding() == nil {
		t.Fatalf("after A left: %d pairs, %d SPD entries", len(ch.SAs), len(y.dp.Policies()))
	}
	if r := core.SelectorsString(y.dp.Policies()[0].Remote); !strings.Contains(r, "203.0.113.11") {
		t.Fatalf("the entry left is for %s, want C's lease", r)
	}
}

// TestGatewayRekeysEachClientOverItsOwnSA: a gateway whose child lifetime is the shorter
// rekeys each client's pair with CREATE_CHILD_SA on that client's IKE SA (RFC 7296 §1.3.3:
// the SA that owns the child), though another client's IKE SA is the connection's newest.
func TestGatewayRekeysEachClientOverItsOwnSA(t *testing.T) {
	pool, _ := core.NewPool("rw", netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.20"), nil, nil)
	gw := &core.Connection{Version: 2, Name: "gw", LocalAddr: ipB,
		LocalID: core.FQDNIdentity("gw.test"), RemoteID: core.AnyIdentity,
		PSK: testPSK, StartAction: "none", Encap: "auto", Pools: []string{"rw"},
		Children: []*core.Child{{
			Name: "net", LocalTS: []esp.Selector{sel("198.51.100.0/24")}, RemoteTS: []esp.Selector{sel("203.0.113.0/24")},
			ESPProposals: props(t, crypto.ProtoESP, "aes128gcm16"), RekeyTime: time.Minute,
		}},
	}
	n := newLnet(t)
	y := n.addNodeWith("B", ipB, 2, func(c *core.Config) { c.Pools = []*core.Pool{pool} }, gw)
	client := func(name, id string, ip netip.Addr, seed byte) *node {
		nd := n.addNode(name, ip, seed, rwClient(t, "rw", id, ip, ipB))
		cs, _ := nd.core.Conn("rw")
		cs.BringUp(n.now, cs.Children)
		return nd
	}
	a := client("A", "a.test", ipA, 1)
	n.runUntil(func() bool { return childUp(a, "rw", "net") }, time.Minute)
	n.runFor(20 * time.Second) // C's IKE SA is the newest when A's pair is due
	c := client("C", "c.test", netip.MustParseAddr("198.18.0.3"), 3)
	n.runUntil(func() bool { return childUp(c, "rw", "net") }, time.Minute)
	first := map[*node]uint32{a: unit(a, "rw", "net").Newest().InSPI(), c: unit(c, "rw", "net").Newest().InSPI()}
	n.runFor(100 * time.Second)
	for _, x := range []*node{a, c} {
		if p := unit(x, "rw", "net").Newest(); p == nil || p.InSPI() == first[x] {
			t.Fatalf("client %s: no rekeyed pair (gateway counters %v)", x.name, y.ctr.Snapshot())
		}
	}
	if y.ctr.Get(core.CtrChildRekeys) < 2 || y.ctr.Get(core.CtrChildFailed) != 0 || a.ctr.Get(core.CtrChildFailed) != 0 || c.ctr.Get(core.CtrChildFailed) != 0 {
		t.Fatalf("counters: gateway %v\nA %v\nC %v", y.ctr.Snapshot(), a.ctr.Snapshot(), c.ctr.Snapshot())
	}
}
