package esp

// Grouping a batch by SA: the outbound pipeline seals and sends each SA's packets together.

// groupBySA makes the packets of each SA contiguous, keeping their order within an SA and
// the groups in order of first appearance (a stable counting sort, O(n); only batches that
// mix SAs pay for it). Packets without a binding go first.
func groupBySA(st *outState, g *groupTable, n int) {
	b, t := st.b, st.tmp
	g.reset(n)
	nilCount := 0
	for i := range n {
		if o := st.outs[i]; o == nil {
			g.of[i] = -1
			nilCount++
		} else {
			g.of[i] = g.id(o)
		}
	}
	next := g.count[:g.groups] // becomes each group's next destination index
	pos := nilCount
	for k, c := range next {
		next[k], pos = pos, pos+c
	}
	nilNext := 0
	for i := range n {
		k := nilNext
		if id := g.of[i]; id < 0 {
			nilNext++
		} else {
			k = next[id]
			next[id]++
		}
		t.Bufs[k], t.Offs[k], t.Sizes[k], t.Errs[k], st.tmpOuts[k] = b.Bufs[i], b.Offs[i], b.Sizes[i], b.Errs[i], st.outs[i]
	}
	copy(b.Bufs[:n], t.Bufs[:n])
	copy(b.Offs[:n], t.Offs[:n])
	copy(b.Sizes[:n], t.Sizes[:n])
	copy(b.Errs[:n], t.Errs[:n])
	copy(st.outs[:n], st.tmpOuts[:n])
	clear(st.tmpOuts[:n])
	g.release()
}

// groupTable numbers the distinct bindings of a batch in order of first appearance (open
// addressing on the binding's serial number) and counts their packets.
type groupTable struct {
	slots  []*Binding
	ids    []int
	used   []int
	of     []int // packet → group (-1: none)
	count  []int // group → packets
	groups int
}

func (g *groupTable) reset(n int) {
	if len(g.of) < n {
		size := 1
		for size < 2*n {
			size <<= 1
		}
		*g = groupTable{slots: make([]*Binding, size), ids: make([]int, size), used: make([]int, 0, n),
			of: make([]int, n), count: make([]int, n)}
	}
	for _, s := range g.used {
		g.slots[s] = nil
	}
	g.used = g.used[:0]
	clear(g.count[:g.groups])
	g.groups = 0
}

// release forgets the batch's bindings (an idle pipeline must not keep retired SAs alive).
func (g *groupTable) release() {
	for _, s := range g.used {
		g.slots[s] = nil
	}
	g.used = g.used[:0]
}

func (g *groupTable) id(o *Binding) int {
	mask := uint64(len(g.slots) - 1)
	for s := (o.serial * 0x9e3779b97f4a7c15) >> 32 & mask; ; s = (s + 1) & mask {
		switch g.slots[s] {
		case o:
			g.count[g.ids[s]]++
			return g.ids[s]
		case nil:
			g.slots[s], g.ids[s] = o, g.groups
			g.used = append(g.used, int(s))
			g.count[g.groups] = 1
			g.groups++
			return g.groups - 1
		}
	}
}
