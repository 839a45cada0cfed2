package ikev2

// Dead IKE SAs must become garbage: the load test (e2e TestReliability/load/v2-per-peer)
// showed a responder's heap not returning after its tunnels were dropped, the dead SAs'
// SK ciphers still reachable. These tests establish IKE SAs with many peers, delete them,
// and check with weak pointers that nothing keeps the dead SAs (or their ciphers) alive,
// that the protocol's tables are empty and that the keys were wiped.

import (
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"testing"
	"time"
	"weak"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// perPeerNet builds a responder B with one connection per peer (the load test's per-peer
// layout) and n initiators, each with its own address and identity.
func perPeerNet(t *testing.T, n int) (*lnet, []*node, *node) {
	t.Helper()
	ike, esps := []string{"aes128-sha256-ecp256"}, []string{"aes128gcm16"}
	var bconns []*core.Connection
	var aconns []*core.Connection
	for i := range n {
		peer := netip.AddrFrom4([4]byte{198, 19, 0, byte(i + 1)})
		inner := netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)})
		id := core.FQDNIdentity(fmt.Sprintf("peer-%d.test", i))
		aconns = append(aconns, &core.Connection{Version: 2,
			Name: "up", LocalAddr: peer, RemoteAddr: ipB,
			LocalID: id, RemoteID: core.FQDNIdentity("b.test"),
			PSK: testPSK, Proposals: props(t, crypto.ProtoIKEv2, ike...),
			RekeyTime: 4 * time.Hour, StartAction: "start", Encap: "auto",
			Children: []*core.Child{{
				Name: "net", LocalTS: []esp.Selector{sel(inner.String() + "/32")}, RemoteTS: []esp.Selector{sel("198.51.100.0/24")},
				ESPProposals: props(t, crypto.ProtoESP, esps...), RekeyTime: time.Hour, ReplayWindow: 64,
			}},
		})
		bconns = append(bconns, &core.Connection{Version: 2,
			Name: fmt.Sprintf("peer-%d", i), LocalAddr: ipB, RemoteAddr: peer,
			LocalID: core.FQDNIdentity("b.test"), RemoteID: id,
			PSK: testPSK, Proposals: props(t, crypto.ProtoIKEv2, ike...),
			RekeyTime: 4 * time.Hour, StartAction: "none", Encap: "auto",
			Children: []*core.Child{{
				Name: "net", LocalTS: []esp.Selector{sel("198.51.100.0/24")}, RemoteTS: []esp.Selector{sel(inner.String() + "/32")},
				ESPProposals: props(t, crypto.ProtoESP, esps...), RekeyTime: time.Hour, ReplayWindow: 64,
			}},
		})
	}
	net := newLnet(t)
	y := net.addNode("B", ipB, 200, bconns...)
	var xs []*node
	for i, c := range aconns {
		xs = append(xs, net.addNode(fmt.Sprintf("P%d", i), c.LocalAddr, byte(i+1), c))
	}
	return net, xs, y
}

// deadSA is what the test keeps of an IKE SA: weak pointers (which keep nothing alive) to
// it and its SK ciphers, and its key slices (whose backing arrays alone stay alive) to
// check they were wiped.
type deadSA struct {
	who      string
	sa       weak.Pointer[ikeSA]
	in, out  weak.Pointer[wire.SKCipher]
	ciphers  []weak.Pointer[crypto.Cipher]
	keyBytes []crypto.Key
}

// innerCipher is the crypto.Cipher inside an SK cipher (unexported: read by reflection).
func innerCipher(sk *wire.SKCipher) *crypto.Cipher {
	return (*crypto.Cipher)(reflect.ValueOf(sk).Elem().FieldByName("c").UnsafePointer())
}

func keep(who string, sa *ikeSA) deadSA {
	d := deadSA{who: who, sa: weak.Make(sa)}
	if k := sa.keys; k != nil {
		d.in, d.out = weak.Make(k.in), weak.Make(k.out)
		d.ciphers = []weak.Pointer[crypto.Cipher]{weak.Make(innerCipher(k.in)), weak.Make(innerCipher(k.out))}
		d.keyBytes = []crypto.Key{k.skD, k.skAi, k.skAr, k.skEi, k.skEr, k.skPi, k.skPr}
	}
	return d
}

// collected runs one garbage collection, as the load test's heap sample does (pprof's
// heap?gc=1), and returns the dead SAs it found still reachable, or their ciphers. One: an
// object that a runtime list keeps for a cycle (a used sync.Pool inside a cipher) survives
// the first collection, and that is what the load test measured.
func collected(kept []deadSA) []string {
	runtime.GC()
	var alive []string
	for _, d := range kept {
		switch {
		case d.sa.Value() != nil:
			alive = append(alive, d.who)
		case d.in.Value() != nil || d.out.Value() != nil:
			alive = append(alive, d.who+" (its SK ciphers)")
		default:
			for _, c := range d.ciphers {
				if c.Value() != nil {
					alive = append(alive, d.who+" (the crypto.Cipher of an SK cipher)")
					break
				}
			}
		}
	}
	return alive
}

func checkDeadSAs(t *testing.T, kept []deadSA) {
	t.Helper()
	for _, d := range kept {
		for i, k := range d.keyBytes {
			for _, b := range k {
				if b != 0 {
					t.Fatalf("%s: SK key %d not wiped after the SA died", d.who, i)
				}
			}
		}
	}
	if alive := collected(kept); len(alive) > 0 {
		t.Fatalf("%d of %d dead IKE SAs are still reachable after GC, e.g. %v", len(alive), len(kept), alive[:min(len(alive), 5)])
	}
}

// checkTablesEmpty: no IKE SA is indexed, no timer armed for one, nothing half-open.
func checkTablesEmpty(t *testing.T, nodes ...*node) {
	t.Helper()
	for _, nd := range nodes {
		if len(nd.p.sas) != 0 || len(nd.p.firsts) != 0 || nd.core.HalfOpenCount() != 0 {
			t.Fatalf("%s: %d IKE SAs, %d half-open by first message, %d half-open entries left",
				nd.name, len(nd.p.sas), len(nd.p.firsts), nd.core.HalfOpenCount())
		}
		for _, cs := range nd.core.Conns() {
			if len(cs.IKEs()) != 0 {
				t.Fatalf("%s: connection %s still lists %d IKE SAs", nd.name, cs.Cfg.Name, len(cs.IKEs()))
			}
		}
		if len(nd.dp.InboundSPIs()) != 0 {
			t.Fatalf("%s: inbound SAs left: %v", nd.name, nd.dp.InboundSPIs())
		}
		if nd.core.Timers.Len() != 0 {
			t.Fatalf("%s: %d timers still armed", nd.name, nd.core.Timers.Len())
		}
	}
}

func establishAll(t *testing.T, net *lnet, xs []*node, y *node) {
	t.Helper()
	for _, x := range xs {
		x.core.Start(net.now)
	}
	net.runUntil(func() bool {
		for i, x := range xs {
			if !childUp(x, "up", "net") || !childUp(y, fmt.Sprintf("peer-%d", i), "net") {
				return false
			}
		}
		return true
	}, time.Minute)
}

func keepAll(xs []*node, y *node) []deadSA {
	var kept []deadSA
	for _, nd := range append([]*node{y}, xs...) {
		for _, sa := range nd.p.sas {
			kept = append(kept, keep(fmt.Sprintf("%s %s", nd.name, sa.spiI), sa))
		}
	}
	return kept
}

// TestDeadIKESAsAreCollected: IKE SAs with 20 peers, each peer terminating its connection
// (a Delete to the responder, as the load generator's drop does): afterwards neither side
// indexes or reaches a dead SA, and their keys are wiped.
func TestDeadIKESAsAreCollected(t *testing.T) {
	net, xs, y := perPeerNet(t, 20)
	establishAll(t, net, xs, y)
	kept := keepAll(xs, y)
	if len(kept) != 2*len(xs) {
		t.Fatalf("%d IKE SAs for %d peers", len(kept), len(xs))
	}
	for _, x := range xs {
		cs, _ := x.core.Conn("up")
		cs.Terminate(net.now, ErrDeleted)
	}
	net.runFor(time.Minute)
	if y.ctr.Get(core.CtrDeletesIn) < uint64(len(xs)) {
		t.Fatalf("B got %d Deletes for %d peers", y.ctr.Get(core.CtrDeletesIn), len(xs))
	}
	checkTablesEmpty(t, append([]*node{y}, xs...)...)
	checkDeadSAs(t, kept)
}

// TestDeadIKESAsAreCollectedResponderDeletes: the same with the responder deleting.
func TestDeadIKESAsAreCollectedResponderDeletes(t *testing.T) {
	net, xs, y := perPeerNet(t, 20)
	establishAll(t, net, xs, y)
	kept := keepAll(xs, y)
	for _, cs := range y.core.Conns() {
		cs.Terminate(net.now, ErrDeleted)
	}
	for _, x := range xs {
		cs, _ := x.core.Conn("up")
		cs.Terminate(net.now, ErrDeleted) // no re-initiation
	}
	net.runFor(time.Minute)
	checkTablesEmpty(t, append([]*node{y}, xs...)...)
	checkDeadSAs(t, kept)
}
