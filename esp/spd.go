package esp

// The SPD's ordered list and its index, RFC 4301 §4.4.1: the first policy (in list order)
// whose selectors match a packet decides it. A gateway holds thousands of policies, so lookups
// go through an index by destination prefix instead of walking the list: every remote
// selector of every policy is filed under its prefix; a lookup masks the packet's destination
// to each prefix length present in its family, takes the candidates filed there (each list in
// SPD order), and keeps the earliest candidate that matches completely. That is exactly the
// first match of the list: a policy matches only if one of its remote selectors' prefixes
// contains the destination, and it is filed under that prefix. Cost: one map lookup per
// distinct prefix length, plus candidates that share a prefix but not ports or source.
//
// Concurrency: the list and the index are published together as one immutable snapshot
// (copy-on-write). Index maps are split into shards, and a change copies only the shards it
// touches, so installing n policies costs O(n²/shards) rather than O(n²). Lookups take no lock.

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

const spdShards = 64

// spdEntry is one policy filed under one prefix; pos is its place in the list.
type spdEntry struct {
	pos uint64
	p   *Policy
}

type spdShard map[netip.Prefix][]spdEntry

// spdState is one published snapshot of the SPD. Immutable.
type spdState struct {
	gen    uint64 // unique per state (policyCache tells states apart without holding one)
	list   []*Policy
	pos    []uint64 // pos[i] is list[i]'s order key (increasing)
	lens   [2][]int // per family (0: IPv4, 1: IPv6): distinct prefix lengths filed, with
	counts [2][]int // how many selectors use each
	shards [spdShards]spdShard
}

// SPD is the ordered list of policies; the first match wins. Lookups are lock-free. Safe for
// concurrent use. A policy is in at most one position of one SPD at a time.
type SPD struct {
	mu      sync.Mutex
	state   atomic.Pointer[spdState]
	nextPos uint64
}

func famOf(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

func shardOf(p netip.Prefix) int {
	a := p.Addr().As16()
	h := binary.LittleEndian.Uint64(a[0:8]) ^ binary.LittleEndian.Uint64(a[8:16])*0x9e3779b97f4a7c15 ^ uint64(p.Bits())
	h *= 0xbf58476d1ce4e5b9
	return int(h >> (64 - 6))
}

// indexKeys returns the distinct prefixes p's remote selectors file it under.
func indexKeys(p *Policy) []netip.Prefix {
	var keys []netip.Prefix
	for _, s := range p.Remote {
		if !s.Prefix.IsValid() {
			continue // matches nothing
		}
		k := s.Prefix.Masked()
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// edit copies the state for a change: the list is copied by the caller, the shard array is
// shared and replaced shard by shard through file.
func (st *spdState) clone() *spdState {
	next := &spdState{shards: st.shards, gen: spdGen.Add(1)}
	for f := range 2 {
		next.lens[f] = slices.Clone(st.lens[f])
		next.counts[f] = slices.Clone(st.counts[f])
	}
	return next
}

// file adds (delta +1) or removes (-1) entry e under prefix k, copying k's shard once per
// change (copied tracks which shards this change already owns).
func (st *spdState) file(k netip.Prefix, e spdEntry, delta int, copied *[spdShards]bool) {
	i := shardOf(k)
	if !copied[i] {
		old := st.shards[i]
		m := make(spdShard, len(old)+1)
		for kk, v := range old {
			m[kk] = v
		}
		st.shards[i], copied[i] = m, true
	}
	m := st.shards[i]
	if delta > 0 {
		m[k] = append(slices.Clip(m[k]), e) // positions only grow: the list stays sorted
	} else {
		cands := slices.DeleteFunc(slices.Clone(m[k]), func(x spdEntry) bool { return x.p == e.p })
		if len(cands) == 0 {
			delete(m, k)
		} else {
			m[k] = cands
		}
	}
	f := famOf(k.Addr())
	j := slices.Index(st.lens[f], k.Bits())
	switch {
	case j < 0 && delta > 0:
		st.lens[f] = append(st.lens[f], k.Bits())
		st.counts[f] = append(st.counts[f], 1)
	case j >= 0:
		st.counts[f][j] += delta
		if st.counts[f][j] == 0 {
			st.lens[f] = slices.Delete(st.lens[f], j, j+1)
			st.counts[f] = slices.Delete(st.counts[f], j, j+1)
		}
	}
}

// emptySPD is the state of an SPD nothing was added to.
var emptySPD = &spdState{}

// spdGen numbers SPD states; the empty one is 0.
var spdGen atomic.Uint64

func (s *SPD) load() *spdState {
	if st := s.state.Load(); st != nil {
		return st
	}
	return emptySPD
}

// Add appends a policy.
func (s *SPD) Add(p *Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.load()
	next := old.clone()
	s.nextPos++
	pos := s.nextPos
	next.list = append(slices.Clip(old.list), p)
	next.pos = append(slices.Clip(old.pos), pos)
	var copied [spdShards]bool
	for _, k := range indexKeys(p) {
		next.file(k, spdEntry{pos: pos, p: p}, +1, &copied)
	}
	s.state.Store(next)
}

// Remove deletes a policy.
func (s *SPD) Remove(p *Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.load()
	i := slices.Index(old.list, p)
	if i < 0 {
		return
	}
	next := old.clone()
	next.list = slices.Delete(slices.Clone(old.list), i, i+1)
	next.pos = slices.Delete(slices.Clone(old.pos), i, i+1)
	var copied [spdShards]bool
	for _, k := range indexKeys(p) {
		next.file(k, spdEntry{p: p}, -1, &copied)
	}
	s.state.Store(next)
}

// All returns the policies in order. The slice is shared: do not modify it.
func (s *SPD) All() []*Policy { return s.load().list }

// Lookup returns the first policy matching the flow, or nil.
func (s *SPD) Lookup(f *Flow) *Policy { return s.snapshot().lookup(f) }

// snapshot is the current state; it changes identity with every Add and Remove.
func (s *SPD) snapshot() *spdState { return s.load() }

// lookup returns the first policy of the snapshot matching the flow, or nil.
func (st *spdState) lookup(f *Flow) *Policy {
	if i := st.lookupIndex(f); i >= 0 {
		return st.list[i]
	}
	return nil
}

// lookupIndex returns the index in st.list of the first policy matching the flow, or -1.
func (st *spdState) lookupIndex(f *Flow) int {
	if !f.Dst.IsValid() {
		return -1
	}
	var best *Policy
	var bestPos uint64
	for _, bits := range st.lens[famOf(f.Dst)] {
		k := netip.PrefixFrom(f.Dst, bits).Masked()
		for _, e := range st.shards[shardOf(k)][k] {
			if best != nil && e.pos >= bestPos {
				break
			}
			if e.p.matches(f) {
				best, bestPos = e.p, e.pos
				break
			}
		}
	}
	if best == nil {
		return -1
	}
	i, _ := slices.BinarySearch(st.pos, bestPos)
	return i
}
