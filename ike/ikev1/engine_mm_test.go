package ikev1

// Two engines against each other in memory: Main Mode and Aggressive Mode over every DH
// group class, Quick Mode with and without PFS, ESP with AES-GCM and AES-CBC+SHA-256, AH,
// tunnel and transport mode; both sides must install matching keys.

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/core/coretest"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/isakmp"
)

// pairOpts varies pairConfig.
type pairOpts struct {
	ike        []string
	esp        []string
	ah         []string
	aggressive bool
	insecure   bool
	transport  bool
	encap      string
	// tweak edits the two connections before the engines are built from them (children,
	// selectors, proposals the engines turn into units and SPD entries at start).
	tweak func(a, b *core.Connection)
	// seed varies the nodes' random numbers (cookies, SPIs, nonces) between pairs.
	seed byte
	// retransmit is both nodes' schedule (zero: testRetransmit).
	retransmit core.Retransmit
}

// newPair builds A (initiator, start_action = start) and B (responder) on a fresh network.
func newPair(t *testing.T, o pairOpts) (*lnet, *node, *node) {
	t.Helper()
	if o.ike == nil {
		o.ike = []string{"aes256-sha256-modp2048"}
	}
	if o.esp == nil && o.ah == nil {
		o.esp = []string{"aes256-sha256"}
	}
	ca, cb := pairConfig(t, o.ike, o.esp)
	for _, c := range []*core.Connection{ca, cb} {
		c.Aggressive = o.aggressive
		c.InsecureAlgorithms = o.insecure || o.aggressive
		if o.encap != "" {
			c.Encap = o.encap
		}
		ch := c.Children[0]
		if o.ah != nil {
			ch.ESPProposals, ch.AHProposals = nil, mustProposals(t, crypto.ProtoAH, true, o.ah...)
		}
		if o.transport {
			ch.Mode = esp.Transport
			ch.LocalTS, ch.RemoteTS = nil, nil
		}
	}
	if o.tweak != nil {
		o.tweak(ca, cb)
	}
	n := newLnet(t)
	n.retransmit = o.retransmit
	a := n.addNode("A", ipA, 1+2*o.seed, ca)
	b := n.addNode("B", ipB, 2+2*o.seed, cb)
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, a)
			dumpLogs(t, b)
			t.Log(n.traceTail(60))
		}
	})
	return n, a, b
}

// establish runs start on both nodes and waits for the child on both sides.
func establish(t *testing.T, n *lnet, a, b *node) (*core.ChildSA, *core.ChildSA) {
	t.Helper()
	a.c.Start(n.now)
	b.c.Start(n.now)
	n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, 2*time.Minute)
	ca, cb := connNamed(a.c, "ab").Child("net").Newest(), connNamed(b.c, "ba").Child("net").Newest()
	checkKeysMatch(t, ca, cb)
	return ca, cb
}

func TestMainModeQuickModeBasic(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	ca, cb := establish(t, n, a, b)
	if ca.Params().Encap != esp.EncapRaw || cb.Params().Encap != esp.EncapRaw {
		t.Fatalf("encap auto without NAT must be raw ESP, got %s/%s", ca.Params().Encap, cb.Params().Encap)
	}
	if a.ctr.Get(core.CtrIKEEstablished) != 1 || b.ctr.Get(core.CtrIKEEstablished) != 1 || a.ctr.Get(core.CtrChildEstablished) != 1 {
		t.Fatalf("counters: %v / %v", a.ctr.Snapshot(), b.ctr.Snapshot())
	}
	for _, name := range []string{core.CtrMalformed, core.CtrAuthFailures, core.CtrRetransmits, core.CtrDuplicates} {
		if a.ctr.Get(name)+b.ctr.Get(name) != 0 {
			t.Fatalf("%s counted on a clean run", name)
		}
	}
}

func TestAlgorithmMatrix(t *testing.T) {
	cases := []struct {
		name string
		o    pairOpts
		pfs  string
	}{
		{name: "MM-aes256-sha256-modp2048/esp-aes256-sha256", o: pairOpts{}},
		{name: "MM-ecp256/esp-aes128gcm16", o: pairOpts{ike: []string{"aes128-sha256-ecp256"}, esp: []string{"aes128gcm16"}}},
		{name: "MM-curve25519/esp-aes256gcm16-pfs-curve25519", o: pairOpts{ike: []string{"aes256-sha512-curve25519"}, esp: []string{"aes256gcm16-curve25519"}}, pfs: "curve25519"},
		{name: "MM-aes128-sha1-modp1024-optin/esp-aes128-sha1", o: pairOpts{ike: []string{"aes128-sha1-modp1024"}, esp: []string{"aes128-sha1"}, insecure: true}},
		{name: "MM-3des-sha384-ecp384/esp-3des-sha1", o: pairOpts{ike: []string{"3des-sha384-ecp384"}, esp: []string{"3des-sha1"}}},
		{name: "MM-aes192-sha256-ecp521/pfs-modp2048", o: pairOpts{ike: []string{"aes192-sha256-ecp521"}, esp: []string{"aes256-sha256-modp2048"}}, pfs: "modp2048"},
		{name: "MM-des-md5-modp768-optin", o: pairOpts{ike: []string{"des-md5-modp768"}, esp: []string{"aes128-md5"}, insecure: true}},
		{name: "MM-pfs-esn", o: pairOpts{esp: []string{"aes256gcm16-ecp256-esn"}}, pfs: "ecp256"},
		{name: "AM-modp2048/esp-aes256-sha256", o: pairOpts{aggressive: true}},
		{name: "AM-ecp256/pfs-ecp256", o: pairOpts{aggressive: true, ike: []string{"aes128-sha256-ecp256"}, esp: []string{"aes128gcm16-ecp256"}}, pfs: "ecp256"},
		{name: "AM-curve25519", o: pairOpts{aggressive: true, ike: []string{"aes256-sha256-curve25519"}}},
		{name: "AH-sha256-tunnel", o: pairOpts{ah: []string{"sha256"}}},
		{name: "AH-sha512-transport", o: pairOpts{ah: []string{"sha512"}, transport: true}},
		{name: "ESP-transport", o: pairOpts{transport: true}},
		{name: "ESP-transport-natt-forced", o: pairOpts{transport: true, encap: "udp"}},
		{name: "ESP-null-sha256", o: pairOpts{esp: []string{"null-sha256"}}},
		{name: "several-proposals", o: pairOpts{ike: []string{"aes256-aes128-sha512-sha256-ecp384-modp2048"}, esp: []string{"aes256gcm16", "aes128-sha256-modp2048"}}, pfs: "modp2048"}, // one KE per Quick Mode: with PFS, proposals without the group are not offered
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, a, b := newPair(t, tc.o)
			ca, cb := establish(t, n, a, b)
			if got := ca.Params().PFS; (got == nil) != (tc.pfs == "") || got != nil && got.Name != tc.pfs {
				t.Fatalf("PFS group %v, want %q", got, tc.pfs)
			}
			wantProto := isakmp.ProtoESP
			if tc.o.ah != nil {
				wantProto = isakmp.ProtoAH
			}
			if v1Proto(ca.Unit()) != wantProto || v1Proto(cb.Unit()) != wantProto {
				t.Fatalf("protocol %s/%s", v1Proto(ca.Unit()), v1Proto(cb.Unit()))
			}
			wantMode := esp.Tunnel
			if tc.o.transport {
				wantMode = esp.Transport
			}
			if inOf(ca).Config().Mode != wantMode {
				t.Fatalf("mode %s", inOf(ca).Config().Mode)
			}
			if tc.o.transport && (ca.Params().LocalTS[0].Prefix.Addr() != ipA || ca.Params().RemoteTS[0].Prefix.Addr() != ipB) {
				t.Fatalf("transport selectors %v === %v", ca.Params().LocalTS, ca.Params().RemoteTS)
			}
			if tc.o.esp != nil && strings.HasSuffix(tc.o.esp[0], "-esn") != inOf(ca).Config().ESN {
				t.Fatal("ESN not negotiated as configured")
			}
			if tc.o.encap == "udp" && (ca.Params().Encap != esp.EncapUDP || ca.Params().Peer.Port() != 4500 || cb.Params().Peer.Port() != 4500) {
				t.Fatalf("forced UDP encapsulation: %s %s / %s", ca.Params().Encap, ca.Params().Peer, cb.Params().Peer)
			}
		})
	}
}

// TestProposalChoice: the responder takes the first of the initiator's transforms it
// accepts; the initiator's order wins over the responder's.
func TestProposalChoice(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	a.conns[0].Proposals = mustProposals(t, crypto.ProtoIKEv1, false, "aes128-sha256-ecp256", "aes256-sha256-modp2048")
	b.conns[0].Proposals = mustProposals(t, crypto.ProtoIKEv1, false, "aes256-sha256-modp2048", "aes128-sha256-ecp256")
	establish(t, n, a, b)
	if got := currentSA(a.c, "ab").tr.String(); got != "aes128-sha256-ecp256" {
		t.Fatalf("negotiated %s, want the initiator's first choice", got)
	}
}

// TestInsecureNeedsOptIn: a responder without the opt-in refuses MODP1024 even when its
// proposal lists it (validate refuses such a configuration; the check in selection is the
// second line).
func TestInsecureNeedsOptIn(t *testing.T) {
	_, cb := pairConfig(t, []string{"aes128-sha1-modp1024"}, []string{"aes128-sha1"})
	if _, err := newTestCore(core.Config{Connections: []*core.Connection{cb}, Dataplane: coretest.NewFakeDP()}, core.NewCounters()); err == nil {
		t.Fatal("MODP1024 accepted without insecure_algorithms")
	}
	tr := p1Transform{enc: crypto.Lookup("aes128"), hash: crypto.Lookup("sha1"), group: crypto.Lookup("modp1024"), auth: isakmp.AuthPreSharedKey}
	if p1Acceptable(cb.Proposals, tr, isakmp.AuthPreSharedKey, false) {
		t.Fatal("p1Acceptable accepts an insecure group without the opt-in")
	}
	if !p1Acceptable(cb.Proposals, tr, isakmp.AuthPreSharedKey, true) {
		t.Fatal("p1Acceptable refuses a configured group with the opt-in")
	}
}

func TestTwoChildrenAndSelectors(t *testing.T) {
	add := func(c *core.Connection, name, l, r string) {
		c.Children = append(c.Children, &core.Child{Name: name, LocalTS: []esp.Selector{sel(l)}, RemoteTS: []esp.Selector{sel(r)},
			ESPProposals: mustProposals(t, crypto.ProtoESP, false, "aes128gcm16")})
	}
	n, a, b := newPair(t, pairOpts{tweak: func(ca, cb *core.Connection) {
		// A asks for a narrower selector pair than B allows: B accepts it as is.
		add(ca, "web", "192.0.2.10/32", "198.51.100.80/32")
		add(cb, "web", "198.51.100.0/25", "192.0.2.0/28")
	}})
	establish(t, n, a, b)
	n.runUntil(func() bool { return childUp(a, "ab", "web") && childUp(b, "ba", "web") }, time.Minute)
	web := connNamed(b.c, "ba").Child("web").Newest()
	if p := web.Params(); p.LocalTS[0].Prefix != netip.MustParsePrefix("198.51.100.80/32") || p.RemoteTS[0].Prefix != netip.MustParsePrefix("192.0.2.10/32") {
		t.Fatalf("responder selectors %v === %v", p.LocalTS, p.RemoteTS)
	}
	checkKeysMatch(t, connNamed(a.c, "ab").Child("web").Newest(), web)
}

func TestIPv6Peers(t *testing.T) {
	ca, cb := pairConfig(t, []string{"aes256-sha256-ecp256"}, []string{"aes256gcm16"})
	a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	ca.LocalAddr, ca.RemoteAddr, cb.LocalAddr = a6, b6, b6
	ca.LocalID, cb.RemoteID = core.AddrIdentity(a6), core.AddrIdentity(a6)
	ca.Encap, cb.Encap = "udp", "udp"
	ca.Children[0].LocalTS, ca.Children[0].RemoteTS = []esp.Selector{sel("2001:db8:a::/48")}, []esp.Selector{sel("2001:db8:b::/48")}
	cb.Children[0].LocalTS, cb.Children[0].RemoteTS = []esp.Selector{sel("2001:db8:b::/48")}, []esp.Selector{sel("2001:db8:a::/48")}
	n := newLnet(t)
	a := n.addNode("A", a6, 1, ca)
	b := n.addNode("B", b6, 2, cb)
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, a)
			dumpLogs(t, b)
		}
	})
	x, y := establish(t, n, a, b)
	if x.Params().RemoteTS[0].Prefix != netip.MustParsePrefix("2001:db8:b::/48") || y.Params().Peer.Addr() != a6 || y.Params().Peer.Port() != 4500 {
		t.Fatalf("IPv6 child: %v, peer %s", x.Params().RemoteTS, y.Params().Peer)
	}
	if got := idOfPayload(currentSA(b.c, "ba").peerID); got != "2001:db8::1" {
		t.Fatalf("peer ID %s", got)
	}
}

// TestForcedEncapsulationBothModes: with the default encap = "udp" both Main and Aggressive
// Mode negotiate NAT-T and install UDP-encapsulated children (an Aggressive Mode answer that
// dropped the NAT-T vendor ID to save bytes would leave raw ESP, which oakley's unprivileged
// setups cannot send).
func TestForcedEncapsulationBothModes(t *testing.T) {
	for _, aggressive := range []bool{false, true} {
		n, a, b := newPair(t, pairOpts{aggressive: aggressive, insecure: true, encap: "udp"})
		ca, cb := establish(t, n, a, b)
		for _, c := range []*core.ChildSA{ca, cb} {
			if c.Params().Encap != esp.EncapUDP {
				t.Fatalf("aggressive=%v: child installed with %v encapsulation", aggressive, c.Params().Encap)
			}
		}
	}
}
