package esp

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// flowKeyAgrees checks the contract between two packets: equal keys imply equal flows (what
// ParseFlow gives, so what every selector sees), and a key exists only for parseable packets.
func flowKeyAgrees(t *testing.T, a, b []byte) {
	t.Helper()
	ka, okA := flowKeyOf(a)
	kb, okB := flowKeyOf(b)
	fa, pa := ParseFlow(a)
	fb, pb := ParseFlow(b)
	if okA && !pa || okB && !pb {
		t.Fatalf("a key for an unparseable packet: %x / %x", a, b)
	}
	if okA && okB && ka == kb && fa != fb {
		t.Fatalf("equal keys, different flows:\n%x\n%+v\n%x\n%+v", a, fa, b, fb)
	}
	if okA && okB && pa && pb && fa == fb && ka != kb {
		t.Fatalf("equal flows, different keys:\n%x\n%x", a, b)
	}
}

func flowKeyPackets() [][]byte {
	tcp4 := udpPacket(innerSrc4, innerDst4, 60, 1)
	tcp4[9] = ProtoTCP
	icmp6 := udpPacket(innerSrc6, innerDst6, 64, 2)
	icmp6[6] = ProtoICMPv6
	frag4 := udpPacket(innerSrc4, innerDst4, 60, 3)
	binary.BigEndian.PutUint16(frag4[6:], 0x0010) // non-first fragment: no ports
	hopByHop := udpPacket(innerSrc6, innerDst6, 80, 4)
	hopByHop[6] = 0
	hopByHop[40] = ProtoUDP
	opts4 := make([]byte, 64) // IHL 6: one word of options before the ports
	putIPv4Header(opts4, 64, 1, ProtoUDP, innerSrc4, innerDst4)
	opts4[0] = 0x46
	binary.BigEndian.PutUint16(opts4[24:], 4000)
	return [][]byte{
		udpPacket(innerSrc4, innerDst4, 60, 0), udpPacket(innerDst4, innerSrc4, 60, 0),
		udpPacket(innerSrc6, innerDst6, 80, 0), udpPacket(innerSrc6, netip.MustParseAddr("2001:db8:b::21"), 80, 0),
		tcp4, icmp6, frag4, hopByHop, opts4, {0x45}, {0x60, 0, 0},
	}
}

// TestFlowKeyMatchesParseFlow: equal keys ⇔ equal flows, over a table of packet kinds and
// random single-byte changes of them (the negative control: every header byte a selector
// reads must change the key).
func TestFlowKeyMatchesParseFlow(t *testing.T) {
	pkts := flowKeyPackets()
	for _, a := range pkts {
		for _, b := range pkts {
			flowKeyAgrees(t, a, b)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	changed := 0
	for range 20000 {
		a := pkts[rng.IntN(len(pkts))]
		b := append([]byte(nil), a...)
		if len(b) == 0 {
			continue
		}
		i := rng.IntN(min(len(b), 48))
		b[i] ^= byte(1 << rng.IntN(8))
		flowKeyAgrees(t, a, b)
		ka, okA := flowKeyOf(a)
		kb, okB := flowKeyOf(b)
		if okA && okB && ka != kb {
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("no mutation changed a key: the comparison cannot fail")
	}
	if _, ok := flowKeyOf(pkts[len(pkts)-1]); ok {
		t.Fatal("a key for a truncated packet")
	}
}

func FuzzFlowKey(f *testing.F) {
	pkts := flowKeyPackets()
	for i, p := range pkts {
		f.Add(p, pkts[(i+1)%len(pkts)])
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		flowKeyAgrees(t, a, b)
		flowKeyAgrees(t, a, a)
	})
}
