package esp

import (
	"math/rand/v2"
	"testing"
)

// TestGroupBySA: packets without a binding first, in their order; then each binding's
// packets, groups in order of first appearance, packets in batch order within a group.
func TestGroupBySA(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	binds := make([]*Binding, 40)
	for i := range binds {
		binds[i] = &Binding{serial: uint64(1000 + i)}
	}
	for round := range 300 {
		n := 1 + rng.IntN(128)
		st := newOutState(128, 256)
		st.b.Reset(n)
		for i := range n {
			st.b.Set(i, Headroom, i+1) // the size names the packet
			if rng.IntN(5) > 0 {
				st.outs[i] = binds[rng.IntN(1+round%len(binds))]
			}
		}
		var want []int
		for i := range n {
			if st.outs[i] == nil {
				want = append(want, i+1)
			}
		}
		seen := map[*Binding]bool{}
		for i := range n {
			o := st.outs[i]
			if o == nil || seen[o] {
				continue
			}
			seen[o] = true
			for j := i; j < n; j++ {
				if st.outs[j] == o {
					want = append(want, j+1)
				}
			}
		}
		outsBefore := map[int]*Binding{}
		for i := range n {
			outsBefore[i+1] = st.outs[i]
		}
		groupBySA(st, new(groupTable), n)
		for k := range n {
			if st.b.Sizes[k] != want[k] {
				t.Fatalf("round %d: position %d holds packet %d, want %d", round, k, st.b.Sizes[k], want[k])
			}
			if st.outs[k] != outsBefore[want[k]] {
				t.Fatalf("round %d: packet %d lost its binding", round, want[k])
			}
		}
	}
}
