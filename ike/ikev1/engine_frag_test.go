package ikev1

// IKEv1 fragmentation: two engines with a certificate chain whose Main Mode messages 5 and 6
// exceed the path, on a network that drops datagrams too large for it (as a path that drops
// IP fragments does); fragmentation = yes/accept/force/no with strongSwan's meanings; and
// the reassembler's bounds, each refusal counted.

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/core/coretest"
	"oakley/ike/isakmp"
)

// pathMTU is the IP MTU of the simulated path: datagrams whose IP packet would exceed it
// are dropped, as a router that drops IP fragments drops them.
const pathMTU = 1500

func dropBig(n *lnet) {
	n.filter = func(from, to *node, m []byte) []byte {
		if len(m)+8+20+4 > pathMTU {
			return nil
		}
		return m
	}
}

func TestFragmentation(t *testing.T) {
	cases := []struct {
		name       string
		a, b       string // fragmentation settings
		aggressive bool
		ok         bool
		aFrags     bool // a sends fragments
		bFrags     bool // b sends fragments
	}{
		{name: "yes-yes", a: "yes", b: "yes", ok: true, aFrags: true, bFrags: true},
		{name: "yes-yes-aggressive", a: "yes", b: "yes", aggressive: true, ok: true, aFrags: true, bFrags: true},
		{name: "no-yes", a: "no", b: "yes"},                       // a does not announce: neither fragments
		{name: "yes-accept", a: "yes", b: "accept", aFrags: true}, // b announces but never fragments its MM6
		{name: "accept-yes", a: "accept", b: "yes"},               // a never fragments its MM5
		{name: "force-no", a: "force", b: "no", aFrags: true},     // a fragments without b's VID; b's MM6 is too large
		{name: "force-force", a: "force", b: "force"},             // both fragment without announcements mattering
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, a, b, _ := certPair(t, "rsa2048", tc.aggressive, func(p *testPKI, a, b *core.Connection) {
				a.Fragmentation, b.Fragmentation = tc.a, tc.b
			})
			if tc.name == "force-force" {
				tc.ok, tc.aFrags, tc.bFrags = true, true, true
			}
			dropBig(n)
			a.c.Start(n.now)
			b.c.Start(n.now)
			if tc.ok {
				n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, 2*time.Minute)
				if b.ctr.Get(core.CtrFragmentsReassembled) == 0 && tc.aFrags {
					t.Fatal("b reassembled nothing")
				}
			} else {
				n.runFor(45 * time.Second)
				// The initiator never completes. (A Main Mode responder completes when it
				// sends MM6; when that is what the path dropped, it holds an SA nobody uses.)
				noSA(t, a)
			}
			if got := a.ctr.Get(core.CtrFragmentsOut) > 0; got != tc.aFrags {
				t.Fatalf("a sent fragments: %v, want %v", got, tc.aFrags)
			}
			if got := b.ctr.Get(core.CtrFragmentsOut) > 0; got != tc.bFrags {
				t.Fatalf("b sent fragments: %v, want %v", got, tc.bFrags)
			}
		})
	}
}

// TestFragmentationAnnouncement: the FRAGMENTATION vendor ID goes out unless
// fragmentation = "no", and a responder echoes it only to a peer that sent it.
func TestFragmentationAnnouncement(t *testing.T) {
	for _, tc := range []struct {
		a, b         string
		aVID, bVID   bool
		aSees, bSees bool
	}{
		{"yes", "yes", true, true, true, true},
		{"no", "yes", false, false, false, false},
		{"yes", "no", true, false, false, true},
		{"accept", "force", true, true, true, true},
	} {
		n, a, b, _ := certPair(t, "p256", false, func(p *testPKI, a, b *core.Connection) { a.Fragmentation, b.Fragmentation = tc.a, tc.b })
		sent := map[*node]bool{}
		n.filter = func(from, to *node, m []byte) []byte {
			if msg, err := isakmp.DecodeMessage(m); err == nil && !msg.Header.Flags.Has(isakmp.FlagEncryption) {
				for _, p := range msg.Payloads {
					if v, ok := p.(*isakmp.VendorID); ok && bytes.HasPrefix(v.Data, vidFragmentation) {
						sent[from] = true
					}
				}
			}
			return m
		}
		establish(t, n, a, b)
		if sent[a] != tc.aVID || sent[b] != tc.bVID {
			t.Fatalf("%s/%s: VID sent by a %v, b %v; want %v, %v", tc.a, tc.b, sent[a], sent[b], tc.aVID, tc.bVID)
		}
		if currentSA(a.c, "ab").ext.frag != tc.aSees || currentSA(b.c, "ba").ext.frag != tc.bSees {
			t.Fatalf("%s/%s: extension seen by a %v, b %v", tc.a, tc.b, currentSA(a.c, "ab").ext.frag, currentSA(b.c, "ba").ext.frag)
		}
	}
}

// fragmentsOf splits a message as an SA with the given cookies would.
func fragmentsOf(t *testing.T, whole []byte, size int, id uint16) [][]byte {
	t.Helper()
	h, err := isakmp.DecodeHeader(whole)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	n := (len(whole) + size - 1) / size
	for i := 0; i < n; i++ {
		f := &isakmp.Fragment{ID: id, Number: uint8(i + 1), Data: whole[i*size : min(len(whole), (i+1)*size)]}
		if i == n-1 {
			f.Flags = isakmp.FragmentLast
		}
		m, err := isakmp.EncodeMessage(isakmp.Header{InitiatorCookie: h.InitiatorCookie, ResponderCookie: h.ResponderCookie, ExchangeType: isakmp.ExchangeMainMode}, []isakmp.Payload{f})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Raw)
	}
	return out
}

// wholeMessage is a plaintext Main Mode message with a payload of n bytes.
func wholeMessage(t *testing.T, cky byte, n int) []byte {
	t.Helper()
	m, err := isakmp.EncodeMessage(isakmp.Header{InitiatorCookie: isakmp.Cookie{cky}, ResponderCookie: isakmp.Cookie{9}, ExchangeType: isakmp.ExchangeMainMode},
		[]isakmp.Payload{&isakmp.VendorID{Data: bytes.Repeat([]byte{0xab}, n)}})
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

// feedFragment hands one datagram to the reassembler as the protocol does.
func feedFragment(t *testing.T, c *Protocol, now time.Time, raw []byte, from netip.AddrPort) *core.Datagram {
	t.Helper()
	m, err := isakmp.DecodeMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c.handleFragment(now, &inbound{Datagram: &core.Datagram{Raw: raw, From: from}, msg: m})
}

func TestReassembly(t *testing.T) {
	newProto := func() *Protocol {
		c, err := newTestCore(core.Config{Dataplane: coretest.NewFakeDP()}, core.NewCounters())
		if err != nil {
			t.Fatal(err)
		}
		c.Now = epoch
		return c
	}
	peer := netip.MustParseAddrPort("198.18.0.1:500")
	t.Run("in-order-and-reordered", func(t *testing.T) {
		c := newProto()
		whole := wholeMessage(t, 1, 3000)
		frags := fragmentsOf(t, whole, 1000, 7)
		order := []int{2, 0, 3, 1}
		var got *core.Datagram
		for i, k := range order {
			got = feedFragment(t, c, epoch, frags[k], peer)
			if (got != nil) != (i == len(order)-1) {
				t.Fatalf("after %d fragments: complete = %v", i+1, got != nil)
			}
		}
		if !bytes.Equal(got.Raw, whole) || got.From != peer {
			t.Fatal("reassembled message differs")
		}
		if c.Ctr.Get(core.CtrFragmentsReassembled) != 1 || c.Ctr.Get(core.CtrFragmentsIn) != 4 || c.Ctr.Get(core.GaugeReassemblies) != 0 {
			t.Fatalf("counters %v", c.Ctr.Snapshot())
		}
	})
	t.Run("duplicate-dropped", func(t *testing.T) {
		c := newProto()
		frags := fragmentsOf(t, wholeMessage(t, 1, 3000), 1000, 7)
		feedFragment(t, c, epoch, frags[0], peer)
		if feedFragment(t, c, epoch, frags[0], peer) != nil || c.Ctr.Get(core.CtrFragmentsDropped) != 1 {
			t.Fatal("duplicate fragment not dropped and counted")
		}
	})
	t.Run("too-many-fragments", func(t *testing.T) {
		c := newProto()
		frags := fragmentsOf(t, wholeMessage(t, 1, 40*100), 100, 7)
		for _, f := range frags {
			if feedFragment(t, c, epoch, f, peer) != nil {
				t.Fatal("a message of more than maxFragments fragments was reassembled")
			}
		}
		if c.Ctr.Get(core.CtrFragmentsDropped) == 0 {
			t.Fatal("fragments beyond the bound not counted")
		}
	})
	t.Run("too-large", func(t *testing.T) {
		c := newProto()
		frags := fragmentsOf(t, wholeMessage(t, 1, maxReassembled+100), 1200, 7) // 28 fragments of 1200 bytes
		var got *core.Datagram
		for _, f := range frags {
			got = feedFragment(t, c, epoch, f, peer)
		}
		if got != nil || c.Ctr.Get(core.CtrFragmentsDropped) == 0 || c.Ctr.Get(core.GaugeReassemblies) != 0 {
			t.Fatalf("an oversized message: reassembled %v, counters %v", got != nil, c.Ctr.Snapshot())
		}
	})
	t.Run("per-source-and-total-bounds", func(t *testing.T) {
		c := newProto()
		for i := 0; i < maxReassembliesSrc+3; i++ {
			f := fragmentsOf(t, wholeMessage(t, byte(i+1), 3000), 1000, uint16(i))
			feedFragment(t, c, epoch, f[0], peer)
		}
		if c.Ctr.Get(core.GaugeReassemblies) != maxReassembliesSrc || c.Ctr.Get(core.CtrFragmentsDropped) != 3 {
			t.Fatalf("per-source bound: %v", c.Ctr.Snapshot())
		}
		for i := 0; i < maxReassemblies+5; i++ {
			from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i / 200), byte(i%200 + 1)}), 500)
			f := fragmentsOf(t, wholeMessage(t, 1, 3000), 1000, 1)
			feedFragment(t, c, epoch, f[0], from)
		}
		if c.Ctr.Get(core.GaugeReassemblies) != maxReassemblies || c.Ctr.Get(core.CtrFragmentsExpired) == 0 {
			t.Fatalf("total bound: %v", c.Ctr.Snapshot())
		}
	})
	t.Run("expiry", func(t *testing.T) {
		c := newProto()
		frags := fragmentsOf(t, wholeMessage(t, 1, 3000), 1000, 7)
		feedFragment(t, c, epoch, frags[0], peer)
		later := epoch.Add(reassemblyTimeout + time.Second)
		for _, f := range frags[1:] {
			if feedFragment(t, c, later, f, peer) != nil {
				t.Fatal("reassembled with a fragment that had expired")
			}
		}
		if c.Ctr.Get(core.CtrFragmentsExpired) != 1 {
			t.Fatalf("expiry not counted: %v", c.Ctr.Snapshot())
		}
	})
	t.Run("foreign-cookies", func(t *testing.T) {
		c := newProto()
		whole := wholeMessage(t, 1, 3000)
		frags := fragmentsOf(t, wholeMessage(t, 2, 3000), 1000, 7) // headers of another SA
		var got *core.Datagram
		for i := range frags {
			// the fragments' data is the other message's: replace it with ours
			m, _ := isakmp.DecodeMessage(frags[i])
			f := m.Payloads[0].(*isakmp.Fragment)
			f.Data = whole[i*1000 : min(len(whole), (i+1)*1000)]
			raw, _ := isakmp.EncodeMessage(m.Header, []isakmp.Payload{f})
			got = feedFragment(t, c, epoch, raw.Raw, peer)
		}
		if got != nil || c.Ctr.Get(core.CtrFragmentsDropped) != 1 {
			t.Fatal("a message of another SA was accepted from these fragments")
		}
	})
	t.Run("malformed", func(t *testing.T) {
		c := newProto()
		frags := fragmentsOf(t, wholeMessage(t, 1, 100), 1000, 7)
		m, _ := isakmp.DecodeMessage(frags[0])
		m.Payloads[0].(*isakmp.Fragment).Number = 0
		raw, _ := isakmp.EncodeMessage(m.Header, m.Payloads)
		if feedFragment(t, c, epoch, raw.Raw, peer) != nil || c.Ctr.Get(core.CtrFragmentsDropped) != 1 {
			t.Fatal("fragment number 0 accepted")
		}
	})
}
