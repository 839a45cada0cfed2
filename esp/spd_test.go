package esp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// linearLookup is the SPD's definition: the first policy of the list that matches.
func linearLookup(list []*Policy, f *Flow) *Policy {
	for _, p := range list {
		if p.matches(f) {
			return p
		}
	}
	return nil
}

func randSPDAddr(rng *rand.Rand, v6 bool) netip.Addr {
	if v6 {
		a := netip.MustParseAddr("2001:db8::").As16()
		a[5] = byte(rng.IntN(3))
		a[14], a[15] = byte(rng.IntN(4)), byte(rng.IntN(8))
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom4([4]byte{198, 51, 100, byte(rng.IntN(16))})
}

func randSelector(rng *rand.Rand, v6 bool) Selector {
	a := randSPDAddr(rng, v6)
	bits := []int{32, 30, 28, 24, 0}[rng.IntN(5)]
	if v6 {
		bits = []int{128, 126, 120, 48, 40, 0}[rng.IntN(6)]
	}
	s := SelectorFor(netip.PrefixFrom(a, bits))
	switch rng.IntN(4) {
	case 0:
		s.Proto = ProtoUDP
	case 1:
		s.Proto, s.PortLo, s.PortHi = ProtoTCP, 5000, uint16(5000+rng.IntN(3))
	}
	return s
}

func randPolicy(rng *rand.Rand, name int) *Policy {
	p := &Policy{Name: fmt.Sprint(name), Action: Protect}
	for range 1 + rng.IntN(2) {
		p.Local = append(p.Local, randSelector(rng, rng.IntN(2) == 0))
	}
	for range rng.IntN(3) { // sometimes none: a policy that matches nothing
		p.Remote = append(p.Remote, randSelector(rng, rng.IntN(2) == 0))
	}
	if rng.IntN(20) == 0 {
		p.Remote = append(p.Remote, Selector{PortHi: 0xffff}) // invalid prefix: matches nothing
	}
	return p
}

// TestSPDIndexFirstMatch: the indexed lookup returns what a walk of the list returns, while
// random policies are added and removed; the test counts lookups where more than one policy
// matched, so first-match order is really exercised.
func TestSPDIndexFirstMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var spd SPD
	var list []*Policy
	contested, hits := 0, 0
	for round := range 3000 {
		if len(list) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(list))
			spd.Remove(list[i])
			list = append(list[:i:i], list[i+1:]...)
		} else {
			p := randPolicy(rng, round)
			spd.Add(p)
			list = append(list, p)
		}
		if got := spd.All(); len(got) != len(list) {
			t.Fatalf("All has %d policies, want %d", len(got), len(list))
		}
		for range 20 {
			v6 := rng.IntN(2) == 0
			f := Flow{Src: randSPDAddr(rng, v6), Dst: randSPDAddr(rng, v6), Proto: ProtoTCP, SrcPort: 5000, DstPort: uint16(5000 + rng.IntN(3)), HasPorts: true}
			if rng.IntN(2) == 0 {
				f.Proto, f.HasPorts = ProtoUDP, rng.IntN(3) != 0
			}
			want := linearLookup(list, &f)
			if got := spd.Lookup(&f); got != want {
				t.Fatalf("round %d: flow %+v: index gives %v, list gives %v", round, f, name(got), name(want))
			}
			if want != nil {
				hits++
				n := 0
				for _, p := range list {
					if p.matches(&f) {
						n++
					}
				}
				if n > 1 {
					contested++
				}
			}
		}
	}
	if contested < 1000 || hits < 5000 {
		t.Fatalf("only %d matching lookups, %d of them with several matches: the test does not exercise first match", hits, contested)
	}
	for _, p := range list {
		spd.Remove(p)
	}
	st := spd.snapshot()
	for f := range 2 {
		if len(st.lens[f]) != 0 {
			t.Fatalf("prefix lengths left after removing everything: %v", st.lens[f])
		}
	}
	for i, sh := range st.shards {
		if len(sh) != 0 {
			t.Fatalf("shard %d keeps %d prefixes after removing everything", i, len(sh))
		}
	}
}

func name(p *Policy) string {
	if p == nil {
		return "none"
	}
	return p.Name
}

// TestSPDSnapshotChanges: every Add and Remove publishes a new snapshot (the outbound flow
// cache relies on it), and a removed policy is not found any more.
func TestSPDSnapshotChanges(t *testing.T) {
	var spd SPD
	p := &Policy{Name: "a", Local: []Selector{SelectorFor(netip.MustParsePrefix("192.0.2.0/24"))},
		Remote: []Selector{SelectorFor(netip.MustParsePrefix("198.51.100.0/24"))}, Action: Protect}
	f := Flow{Src: innerSrc4, Dst: innerDst4}
	s0 := spd.snapshot()
	spd.Add(p)
	s1 := spd.snapshot()
	if s1 == s0 || s1.lookup(&f) != p {
		t.Fatal("Add did not publish a snapshot that finds the policy")
	}
	q := &Policy{Name: "b", Local: p.Local, Remote: []Selector{SelectorFor(netip.MustParsePrefix("198.51.100.20/32"))}, Action: Discard}
	spd.Add(q)
	if spd.Lookup(&f) != p {
		t.Fatal("a later, narrower policy won over the first match")
	}
	spd.Remove(p)
	if s2 := spd.snapshot(); s2 == s1 || s2.lookup(&f) != q {
		t.Fatal("Remove did not publish a snapshot without the policy")
	}
	if s1.lookup(&f) != p {
		t.Fatal("an old snapshot changed")
	}
}

func BenchmarkSPDLookup(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			var spd SPD
			local := []Selector{SelectorFor(netip.MustParsePrefix("2001:db8:a::/48"))}
			for i := range n {
				spd.Add(&Policy{Local: local, Remote: []Selector{SelectorFor(netip.PrefixFrom(stageRemote(i), 128))}, Action: Protect})
			}
			flows := make([]Flow, 100)
			for k := range flows {
				flows[k] = Flow{Src: netip.MustParseAddr("2001:db8:a::1"), Dst: stageRemote(k * n / 100 % n), Proto: ProtoUDP}
			}
			b.ResetTimer()
			for i := range b.N {
				if spd.Lookup(&flows[i%len(flows)]) == nil {
					b.Fatal("no policy")
				}
			}
		})
	}
}
