package ikev1

// XAUTH and Mode Config between two engines in memory: a client (xauth = "client", vips)
// against a gateway (xauth = "server", [[user]]s, a [[pool]]) after Main and Aggressive
// Mode; a wrong password, an unknown user, an exhausted pool, and a client without XAUTH
// against the XAUTH gateway (negative controls).

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/core/coretest"
	"oakley/ike/isakmp"
)

const (
	xaUser     = "alice"
	xaPassword = "correct horse battery staple"
)

var ipC = netip.MustParseAddr("198.18.0.3")

// addNodeWith is addNode with a hook on the core's configuration (users, pools).
func (n *lnet) addNodeWith(name string, ip netip.Addr, seed byte, tweak func(*core.Config), conns ...*core.Connection) *node {
	n.t.Helper()
	lc, obs := observer.New(zap.DebugLevel)
	nd := &node{name: name, ip: ip, dp: coretest.NewFakeDP(), logs: obs, conns: conns, ctr: core.NewCounters()}
	cfg := core.Config{Connections: conns, Dataplane: nd.dp, Rand: coretest.NewSeededRand(seed), Log: zap.New(lc).Named(name),
		LocalAddrFor: func(netip.Addr) netip.Addr { return ip }, Retransmit: testRetransmit}
	if tweak != nil {
		tweak(&cfg)
	}
	p := New()
	c, err := core.New(cfg, nd.ctr, p)
	if err != nil {
		n.t.Fatalf("%s: %v", name, err)
	}
	nd.core, nd.c = c, p
	n.nodes = append(n.nodes, nd)
	return nd
}

// xaOpts varies an XAUTH pair.
type xaOpts struct {
	aggressive   bool
	password     string        // the client's; default xaPassword
	user         string        // the client's; default xaUser
	poolLast     string        // the pool's last address; default 203.0.113.20
	clientPlain  bool          // the client does not do XAUTH
	noVIP        bool          // the client requests no virtual IP
	clients      int           // default 1
	certs        string        // "rsa2048", "p256": certificates instead of the PSK
	dualStack    bool          // the client asks for IPv4 and IPv6, the gateway has both pools
	gatewayPlain bool          // the gateway does not do XAUTH
	bobStaff     bool          // user bob gets his addresses from pool "staff" (203.0.113.100-110)
	gwRekey      time.Duration // the gateway's child rekey_time (0: the default)
}

// xaClient is a remote-access client connection to B.
func xaClient(t *testing.T, o xaOpts, local netip.Addr) *core.Connection {
	c, _ := pairConfig(t, []string{"aes256-sha256-modp2048"}, []string{"aes256gcm16"})
	c.LocalAddr = local
	c.Aggressive = o.aggressive
	c.InsecureAlgorithms = o.aggressive
	if !o.clientPlain {
		c.XAuth, c.XAuthID, c.XAuthPassword = "client", xaUser, crypto.Key(xaPassword)
		if o.user != "" {
			c.XAuthID = o.user
		}
		if o.password != "" {
			c.XAuthPassword = crypto.Key(o.password)
		}
	}
	if !o.noVIP {
		c.VIPs = []netip.Addr{netip.IPv4Unspecified()}
		if o.dualStack {
			c.VIPs = append(c.VIPs, netip.IPv6Unspecified())
		}
	}
	c.Children[0].LocalTS = []esp.Selector{sel("203.0.113.0/24")}
	return c
}

// newXAUTHPair builds client A (and C when o.clients = 2) and gateway B.
func newXAUTHPair(t *testing.T, o xaOpts) (*lnet, []*node, *node) {
	t.Helper()
	_, gw := pairConfig(t, []string{"aes256-sha256-modp2048"}, []string{"aes256gcm16"})
	gw.Aggressive = o.aggressive
	gw.InsecureAlgorithms = o.aggressive
	if !o.gatewayPlain {
		gw.XAuth = "server"
	}
	gw.Pools = []string{"rw"}
	gw.Children[0].RemoteTS = []esp.Selector{sel("203.0.113.0/24")}
	if o.gwRekey != 0 {
		gw.Children[0].RekeyTime = o.gwRekey
	}
	last := o.poolLast
	if last == "" {
		last = "203.0.113.20"
	}
	pool, err := core.NewPool("rw", netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr(last),
		[]netip.Addr{netip.MustParseAddr("198.51.100.53")}, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	pools := []*core.Pool{pool}
	if o.dualStack {
		p6, err := core.NewPool("rw6", netip.MustParseAddr("2001:db8:f::10"), netip.MustParseAddr("2001:db8:f::20"),
			[]netip.Addr{netip.MustParseAddr("2001:db8::53")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		pools = append(pools, p6)
		gw.Pools = append(gw.Pools, "rw6")
	}
	var bobPools []string
	if o.bobStaff {
		staff, err := core.NewPool("staff", netip.MustParseAddr("203.0.113.100"), netip.MustParseAddr("203.0.113.110"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		pools, bobPools = append(pools, staff), []string{"staff"}
	}
	n := newLnet(t)
	var clients []*node
	ips := []netip.Addr{ipA, ipC}
	for i := 0; i < max(o.clients, 1); i++ {
		cc := xaClient(t, o, ips[i])
		if i == 1 && o.user == "" {
			cc.XAuthID, cc.XAuthPassword = "bob", crypto.Key("bob's secret") // the same IKE identity, another login
		}
		if o.certs != "" {
			useCerts(t, newTestPKI(t, o.certs), o.certs, cc, gw)
		}
		clients = append(clients, n.addNode(string(rune('A'+2*i)), ips[i], byte(1+2*i), cc))
	}
	b := n.addNodeWith("B", ipB, 2, func(cfg *core.Config) {
		cfg.Pools = pools
		cfg.Users = []core.User{{Name: "bob", Password: crypto.Key("bob's secret"), Pools: bobPools}, {Name: xaUser, Password: crypto.Key(xaPassword)}}
	}, gw)
	t.Cleanup(func() {
		if t.Failed() {
			for _, nd := range n.nodes {
				dumpLogs(t, nd)
			}
			t.Log(n.traceTail(60))
		}
	})
	return n, clients, b
}

// loggedAnywhere reports whether s appears in any log message or field of a node.
func loggedAnywhere(nd *node, s string) bool {
	for _, e := range nd.logs.All() {
		if strings.Contains(e.Message, s) {
			return true
		}
		for k, v := range e.ContextMap() {
			if strings.Contains(k, s) || strings.Contains(fmt.Sprint(v), s) {
				return true
			}
		}
	}
	return false
}

func startAll(n *lnet) {
	for _, nd := range n.nodes {
		nd.c.Start(n.now)
	}
}

func TestXAUTHModeConfig(t *testing.T) {
	for _, aggressive := range []bool{false, true} {
		name := "MainMode"
		if aggressive {
			name = "AggressiveMode"
		}
		t.Run(name, func(t *testing.T) {
			n, cl, b := newXAUTHPair(t, xaOpts{aggressive: aggressive})
			a := cl[0]
			var got []core.VirtualIPs
			a.core.Cfg.OnVirtualIPs = func(v core.VirtualIPs) { got = append(got, v) }
			startAll(n)
			n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, 2*time.Minute)
			ca, cb := connNamed(a.c, "ab").Child("net").Newest(), connNamed(b.c, "ba").Child("net").Newest()
			checkKeysMatch(t, ca, cb)

			vip := netip.MustParseAddr("203.0.113.10")
			sa := currentSA(a.c, "ab")
			v := sa.AssignedVirtualIPs()
			if v == nil || len(v.Addrs) != 1 || v.Addrs[0] != vip {
				t.Fatalf("client's virtual IPs: %+v, want %s", v, vip)
			}
			if len(v.DNS) != 1 || v.DNS[0].String() != "198.51.100.53" || len(v.Split) != 1 || v.Split[0].String() != "198.51.100.0/24" {
				t.Fatalf("DNS / split from the pool: %+v", v)
			}
			if len(got) != 1 || !got[0].Up || got[0].Addrs[0] != vip || got[0].Gateway != ipB {
				t.Fatalf("OnVirtualIPs: %+v", got)
			}
			if st := sa.Status(); len(st.VirtualIPs) != 1 || st.VirtualIPs[0] != vip.String() {
				t.Fatalf("client status virtual_ips %v", st.VirtualIPs)
			}
			gsa := currentSA(b.c, "ba")
			if st := gsa.Status(); len(st.VirtualIPs) != 1 || st.VirtualIPs[0] != vip.String() {
				t.Fatalf("gateway status virtual_ips %v", st.VirtualIPs)
			}
			// The core's status names the user who logged in, on the gateway only.
			users := 0
			for _, c := range b.core.Status() {
				for _, st := range c.IKESAs {
					if st.EstablishedAt != nil && st.User != xaUser {
						t.Fatalf("gateway status user %q, want %q", st.User, xaUser)
					}
					users++
				}
			}
			if users != 1 {
				t.Fatalf("gateway status: %d IKE SAs, want 1", users)
			}
			for _, c := range a.core.Status() {
				for _, st := range c.IKESAs {
					if st.User != "" {
						t.Fatalf("client status names a user: %q", st.User)
					}
				}
			}
			// The Quick Mode used the virtual IP as the client's side.
			if lt := ca.Params().LocalTS; len(lt) != 1 || lt[0].Prefix.String() != "203.0.113.10/32" {
				t.Fatalf("client's local TS %v, want the virtual IP", lt)
			}
			if rt := cb.Params().RemoteTS; len(rt) != 1 || rt[0].Prefix.String() != "203.0.113.10/32" {
				t.Fatalf("gateway's remote TS %v, want the lease", rt)
			}
			for _, nd := range []*node{a, b} {
				if nd.ctr.Get(core.CtrAuthFailures) != 0 || nd.ctr.Get(core.CtrMalformed) != 0 || nd.ctr.Get(core.CtrUnexpected) != 0 {
					t.Fatalf("%s counters on a clean run: %v", nd.name, nd.ctr.Snapshot())
				}
				if loggedAnywhere(nd, xaPassword) {
					t.Fatalf("%s logged the password", nd.name)
				}
			}
			if !logged(b, "XAUTH: login accepted") || !logged(a, "XAUTH: the gateway accepted our login") {
				t.Fatal("the login is not in the logs")
			}

			// The lease goes when the ISAKMP SA dies; the client withdraws its address.
			pool := b.core.Pools()["rw"]
			if pool.InUse() != 1 {
				t.Fatalf("pool in use %d, want 1", pool.InUse())
			}
			gsa.Delete(n.now, true, ErrDeleted)
			n.runFor(time.Second)
			if pool.InUse() != 0 {
				t.Fatalf("pool in use %d after the SA died, want 0", pool.InUse())
			}
			if len(got) < 2 || got[1].Up {
				t.Fatalf("the client did not withdraw its virtual IP: %+v", got)
			}
		})
	}
}

// TestXAUTHWrongPassword: the gateway refuses, both sides say so, no child comes up, the
// password is nowhere in the logs.
func TestXAUTHWrongPassword(t *testing.T) {
	for _, o := range []xaOpts{{password: "Tr0ub4dor&3"}, {user: "mallory"}} {
		n, cl, b := newXAUTHPair(t, o)
		a := cl[0]
		startAll(n)
		n.runUntil(func() bool { return logged(a, "XAUTH: the gateway refused our login") }, time.Minute)
		n.runFor(5 * time.Second)
		if childUp(a, "ab", "net") || childUp(b, "ba", "net") || len(b.dp.InboundSPIs()) != 0 {
			t.Fatal("a child came up after a refused login")
		}
		if !logged(b, "XAUTH: login refused") || b.ctr.Get(core.CtrAuthFailures) == 0 || a.ctr.Get(core.CtrAuthFailures) == 0 {
			t.Fatalf("refusal not logged / counted: %v / %v", a.ctr.Snapshot(), b.ctr.Snapshot())
		}
		if len(b.c.SAs()) != 0 {
			t.Fatalf("the gateway kept %d SAs after the refusal", len(b.c.SAs()))
		}
		if b.core.Pools()["rw"].InUse() != 0 {
			t.Fatal("a refused client holds a lease")
		}
		for _, nd := range []*node{a, b} {
			if loggedAnywhere(nd, "Tr0ub4dor&3") || loggedAnywhere(nd, xaPassword) {
				t.Fatalf("%s logged a password", nd.name)
			}
		}
	}
}

// TestXAUTHPoolExhausted: the second client finds the one-address pool taken and is
// refused clearly on both sides; the first keeps its tunnel.
func TestXAUTHPoolExhausted(t *testing.T) {
	n, cl, b := newXAUTHPair(t, xaOpts{clients: 2, poolLast: "203.0.113.10"})
	a, c := cl[0], cl[1]
	a.c.Start(n.now)
	b.c.Start(n.now)
	n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, 2*time.Minute)
	c.c.Start(n.now)
	n.runUntil(func() bool { return logged(c, "the gateway assigned no IPv4 virtual IP") }, time.Minute)
	if childUp(c, "ab", "net") {
		t.Fatal("the second client has a child without an address")
	}
	if b.ctr.Get(core.CtrPoolExhausted) == 0 || !logged(b, "no virtual IP for the peer") {
		t.Fatal("the gateway did not count / log the exhausted pool")
	}
	if !childUp(a, "ab", "net") {
		t.Fatal("the first client lost its tunnel")
	}
}

// TestXAUTHRequired: a client that does not do XAUTH cannot reach the XAUTH gateway
// (Phase 1 methods differ), nor a client without vips get a child through a pool gateway.
func TestXAUTHRequired(t *testing.T) {
	n, cl, b := newXAUTHPair(t, xaOpts{clientPlain: true})
	startAll(n)
	n.runFor(30 * time.Second)
	if childUp(cl[0], "ab", "net") || len(b.dp.InboundSPIs()) != 0 {
		t.Fatal("a client without XAUTH got a child from the XAUTH gateway")
	}
	if b.ctr.Get(core.CtrNoProposal) == 0 {
		t.Fatalf("gateway counters %v", b.ctr.Snapshot())
	}

	n, cl, b = newXAUTHPair(t, xaOpts{noVIP: true})
	startAll(n)
	n.runUntil(func() bool { return logged(b, "not a virtual IP it leased") }, time.Minute)
	if childUp(cl[0], "ab", "net") || len(b.dp.InboundSPIs()) != 0 {
		t.Fatal("a client without a lease got a child from the pool gateway")
	}
}

// TestXAUTHNoQuickModeBefore: a Quick Mode that arrives while XAUTH is pending is refused.
func TestXAUTHNoQuickModeBefore(t *testing.T) {
	n, cl, b := newXAUTHPair(t, xaOpts{})
	a := cl[0]
	// Drop every Transaction message to the client: XAUTH never completes.
	n.filter = func(from, to *node, m []byte) []byte {
		if to == a && len(m) > 18 && isakmp.ExchangeType(m[18]) == isakmp.ExchangeTransaction {
			return nil
		}
		return m
	}
	startAll(n)
	pendingSA := func(c *Protocol) *ikeSA {
		for _, s := range c.SAs() {
			if sa := s.(*ikeSA); sa.txPending() {
				return sa
			}
		}
		return nil
	}
	n.runUntil(func() bool { return pendingSA(b.c) != nil && pendingSA(a.c) != nil }, time.Minute)
	sa := pendingSA(a.c)
	if sa == nil || !sa.txPending() || sa.Established() {
		t.Fatal("the client's SA should wait for XAUTH")
	}
	// Force a Quick Mode from the client anyway: the gateway must refuse it.
	startQM(n.now, sa, connNamed(a.c, "ab").Child("net"), nil)
	n.runFor(3 * time.Second)
	if !logged(b, "refusing Quick Mode: XAUTH / Mode Config has not completed") || len(b.dp.InboundSPIs()) != 0 {
		t.Fatal("the gateway accepted a Quick Mode before XAUTH")
	}
	if strings.Contains(n.traceTail(5), "panic") {
		t.Fatal("panic")
	}
}

// TestXAUTHOverRSASignatures: XAUTHInitRSA (65005) after a Main Mode with RSA certificates;
// ECDSA keys have no XAUTH method and are refused at configuration time.
func TestXAUTHOverRSASignatures(t *testing.T) {
	n, cl, b := newXAUTHPair(t, xaOpts{certs: "rsa2048"})
	a := cl[0]
	startAll(n)
	n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, 2*time.Minute)
	sa, sb := currentSA(a.c, "ab"), currentSA(b.c, "ba")
	if sa.tr.auth != isakmp.AuthXAUTHInitRSA || sb.tr.auth != isakmp.AuthXAUTHInitRSA {
		t.Fatalf("negotiated %s / %s, want XAUTHInitRSA", sa.tr.auth, sb.tr.auth)
	}
	if st := sb.Status(); st.PeerCert == nil || len(st.VirtualIPs) != 1 {
		t.Fatalf("gateway status: %+v", st)
	}

	p := newTestPKI(t, "p256")
	c, g := xaClient(t, xaOpts{}, ipA), &core.Connection{}
	*g = *c
	useCerts(t, p, "p256", c, g)
	if err := New().Validate(c); err == nil || !strings.Contains(err.Error(), "xauth works over a pre-shared key or RSA signatures") {
		t.Fatalf("ECDSA with xauth: %v", err)
	}
}

// TestXAUTHTwoClients: two clients of one gateway connection get distinct leases.
func TestXAUTHTwoClients(t *testing.T) {
	n, cl, b := newXAUTHPair(t, xaOpts{clients: 2})
	startAll(n)
	n.runUntil(func() bool { return childUp(cl[0], "ab", "net") && childUp(cl[1], "ab", "net") }, 2*time.Minute)
	seen := map[netip.Addr]bool{}
	for _, c := range cl {
		v := currentSA(c.c, "ab").AssignedVirtualIPs()
		if v == nil || len(v.Addrs) != 1 || seen[v.Addrs[0]] {
			t.Fatalf("client %s: virtual IPs %+v (seen %v)", c.name, v, seen)
		}
		seen[v.Addrs[0]] = true
	}
	if got := b.core.Pools()["rw"].InUse(); got != 2 {
		t.Fatalf("pool in use %d, want 2", got)
	}
	// They share the IKE identity but not the login: both stay.
	n.runFor(30 * time.Second)
	if !childUp(cl[0], "ab", "net") || !childUp(cl[1], "ab", "net") || len(b.c.SAs()) != 2 || b.ctr.Get(core.CtrIKEDuplicates) != 0 {
		t.Fatalf("two logins behind one IKE identity: %d gateway SAs, duplicates %d", len(b.c.SAs()), b.ctr.Get(core.CtrIKEDuplicates))
	}
}

// TestXAUTHUserPools: a user whose [[user]] names pools gets his address from them, the
// others from the connection's (the control: without bobStaff both come from "rw").
func TestXAUTHUserPools(t *testing.T) {
	for _, staff := range []bool{true, false} {
		n, cl, b := newXAUTHPair(t, xaOpts{clients: 2, bobStaff: staff})
		startAll(n)
		n.runUntil(func() bool { return childUp(cl[0], "ab", "net") && childUp(cl[1], "ab", "net") }, 2*time.Minute)
		alice := currentSA(cl[0].c, "ab").AssignedVirtualIPs()
		bob := currentSA(cl[1].c, "ab").AssignedVirtualIPs()
		if alice == nil || bob == nil || len(alice.Addrs) != 1 || len(bob.Addrs) != 1 {
			t.Fatalf("virtual IPs alice %+v bob %+v", alice, bob)
		}
		inStaff := bob.Addrs[0].String() == "203.0.113.100"
		if alice.Addrs[0].String() != "203.0.113.10" || inStaff != staff {
			t.Fatalf("bobStaff %v: alice got %v, bob %v", staff, alice.Addrs[0], bob.Addrs[0])
		}
		if staff && (b.core.Pools()["staff"].InUse() != 1 || b.core.Pools()["rw"].InUse() != 1) {
			t.Fatalf("pools in use: staff %d, rw %d", b.core.Pools()["staff"].InUse(), b.core.Pools()["rw"].InUse())
		}
	}
}

// TestXAUTHGatewayRekeysEachClient: a gateway whose child lifetime ends first rekeys each
// client's pair over that client's own ISAKMP SA, one after the other (they share the
// connection's child); every client keeps a working pair with new SPIs.
func TestXAUTHGatewayRekeysEachClient(t *testing.T) {
	n, cl, b := newXAUTHPair(t, xaOpts{clients: 2, gwRekey: time.Minute})
	// C comes 20 s after A: when A's pair is due, C's ISAKMP SA is the connection's newest.
	cl[0].c.Start(n.now)
	b.c.Start(n.now)
	n.runUntil(func() bool { return childUp(cl[0], "ab", "net") }, 2*time.Minute)
	n.runFor(20 * time.Second)
	cl[1].c.Start(n.now)
	n.runUntil(func() bool { return childUp(cl[0], "ab", "net") && childUp(cl[1], "ab", "net") }, 2*time.Minute)
	first := map[string]uint32{}
	vips := map[string]netip.Addr{}
	for _, c := range cl {
		first[c.name] = connNamed(c.c, "ab").Child("net").Newest().InSPI()
		vips[c.name] = currentSA(c.c, "ab").AssignedVirtualIPs().Addrs[0]
	}
	// Every pair a client holds, at every moment, is for its own virtual IP.
	for range 150 {
		n.runFor(time.Second)
		for _, c := range cl {
			for _, x := range connNamed(c.c, "ab").Child("net").SAs {
				if lt := x.Params().LocalTS; x.Alive() && (len(lt) != 1 || lt[0].Prefix.Addr() != vips[c.name]) {
					t.Fatalf("client %s (virtual IP %v) holds a pair for %v: the gateway rekeyed another client's pair over its ISAKMP SA", c.name, vips[c.name], lt)
				}
			}
		}
	}
	for _, c := range cl {
		if ch := connNamed(c.c, "ab").Child("net").Newest(); ch == nil || ch.InSPI() == first[c.name] {
			t.Fatalf("client %s: no rekeyed pair after 150 s (gateway counters %v)", c.name, b.ctr.Snapshot())
		}
	}
	if b.ctr.Get(core.CtrChildRekeys) < 2 || b.ctr.Get(core.CtrChildFailed) != 0 {
		t.Fatalf("gateway counters %v: want a rekey per client and no failure", b.ctr.Snapshot())
	}
}

// TestXAUTHSameUserTwice: the same login from a second machine replaces the first (one SA
// per peer identity, which for XAUTH is the login).
func TestXAUTHSameUserTwice(t *testing.T) {
	n, cl, b := newXAUTHPair(t, xaOpts{clients: 2, user: xaUser})
	startAll(n)
	n.runUntil(func() bool { return childUp(cl[0], "ab", "net") && childUp(cl[1], "ab", "net") }, 2*time.Minute)
	n.runFor(30 * time.Second)
	if b.ctr.Get(core.CtrIKEDuplicates) == 0 || len(b.c.SAs()) != 1 {
		t.Fatalf("the same login twice: %d gateway SAs, duplicates %d", len(b.c.SAs()), b.ctr.Get(core.CtrIKEDuplicates))
	}
}

// TestXAUTHReauth: a re-authentication logs in again and asks for the address it has; the
// children move to the new ISAKMP SA.
func TestXAUTHReauth(t *testing.T) {
	n, cl, b := newXAUTHPair(t, xaOpts{})
	a := cl[0]
	startAll(n)
	n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, 2*time.Minute)
	old := currentSA(a.c, "ab")
	old.Rekey(n.now)
	n.runUntil(func() bool { s := currentSA(a.c, "ab"); return s != nil && s != old }, time.Minute)
	n.runFor(10 * time.Second)
	sa := currentSA(a.c, "ab")
	if b.ctr.Get(core.CtrAuthFailures) != 0 || b.logs.FilterMessage("XAUTH: login accepted").Len() != 2 {
		t.Fatalf("the gateway did not check the login twice: %d", b.logs.FilterMessage("XAUTH: login accepted").Len())
	}
	if !loggedAnywhere(a, "203.0.113.10") || sa.AssignedVirtualIPs() == nil {
		t.Fatal("no virtual IP after the re-authentication")
	}
	if !childUp(a, "ab", "net") || connNamed(a.c, "ab").Child("net").Newest().IKE() != core.IKESA(sa) {
		t.Fatal("the child did not move to the new ISAKMP SA")
	}
	if got := b.core.Pools()["rw"].InUse(); got != 1 {
		t.Fatalf("the gateway holds %d leases after the old SA went, want 1", got)
	}
}

// TestModeConfigPush: a client that does not ask (push mode) gets the gateway's CFG_SET
// and acknowledges it; the gateway holds the lease.
func TestModeConfigPush(t *testing.T) {
	n, cl, b := newXAUTHPair(t, xaOpts{})
	a := cl[0]
	a.c.hooks.modeCfgWaitPush = true
	startAll(n)
	n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, 2*time.Minute)
	if !logged(b, "pushing its configuration") || !logged(b, "the client acknowledged the pushed configuration") {
		t.Fatal("the gateway did not push")
	}
	if v := currentSA(a.c, "ab").AssignedVirtualIPs(); v == nil || len(v.Addrs) != 1 || v.Addrs[0].String() != "203.0.113.10" {
		t.Fatalf("client's virtual IPs %+v", v)
	}
	if got := b.core.Pools()["rw"].InUse(); got != 1 {
		t.Fatalf("pool in use %d", got)
	}
	// Negative control: a client that asks is served, never pushed to.
	n2, cl2, b2 := newXAUTHPair(t, xaOpts{})
	startAll(n2)
	n2.runUntil(func() bool { return childUp(cl2[0], "ab", "net") }, 2*time.Minute)
	n2.runFor(5 * time.Second)
	if logged(b2, "pushing its configuration") {
		t.Fatal("the gateway pushed to a client that asked")
	}
}

// TestModeConfigDualStack: an IPv4 and an IPv6 virtual IP (INTERNAL_IP6_ADDRESS) with
// the IPv6 DNS server; the IPv4 child uses the IPv4 one.
func TestModeConfigDualStack(t *testing.T) {
	n, cl, b := newXAUTHPair(t, xaOpts{dualStack: true})
	a := cl[0]
	startAll(n)
	n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, 2*time.Minute)
	v := currentSA(a.c, "ab").AssignedVirtualIPs()
	if v == nil || fmt.Sprint(v.Addrs) != "[203.0.113.10 2001:db8:f::10]" || fmt.Sprint(v.DNS) != "[198.51.100.53 2001:db8::53]" {
		t.Fatalf("client's virtual IPs %+v", v)
	}
	if lt := connNamed(a.c, "ab").Child("net").Newest().Params().LocalTS; lt[0].Prefix.String() != "203.0.113.10/32" {
		t.Fatalf("local TS %v", lt)
	}
	if st := currentSA(b.c, "ba").Status(); len(st.VirtualIPs) != 2 {
		t.Fatalf("gateway leases %v", st.VirtualIPs)
	}
}

// TestModeConfigWithoutXAUTH: vips and pools over a plain PSK Phase 1: the client pulls
// right after Main Mode.
func TestModeConfigWithoutXAUTH(t *testing.T) {
	n, cl, b := newXAUTHPair(t, xaOpts{clientPlain: true, gatewayPlain: true})
	a := cl[0]
	startAll(n)
	n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, 2*time.Minute)
	if v := currentSA(a.c, "ab").AssignedVirtualIPs(); v == nil || len(v.Addrs) != 1 {
		t.Fatalf("client's virtual IPs %+v", v)
	}
	if sa := currentSA(a.c, "ab"); sa.tr.auth != isakmp.AuthPreSharedKey || logged(b, "XAUTH") {
		t.Fatalf("negotiated %s; XAUTH in the gateway's log: %v", sa.tr.auth, logged(b, "XAUTH"))
	}
}
