package esp

import "encoding/binary"

// flowKey is every header field of an IP packet that a traffic selector can look at
// (RFC 4301 §4.4.1.1: addresses, next protocol, ports or ICMP type; a non-first fragment has
// no ports), packed so that two packets with equal keys match exactly the same
// selectors. The pipelines use it to skip parsing and SPD matching for the packets of a flow
// after the first: the segments of a TSO super-packet, or a batch of one TCP stream, all have
// one key. Pure; the zero key belongs to no packet.
type flowKey struct {
	// w[0]: version, protocol, whether ports were read, ports (or ICMP type); w[1..4]:
	// addresses.
	w [5]uint64
}

// flowKeyOf returns the key of pkt, or false for packets it does not cover (malformed ones,
// IPv6 with extension headers), which take the slow path through ParseFlow.
func flowKeyOf(pkt []byte) (flowKey, bool) {
	var k flowKey
	if len(pkt) < 20 {
		return k, false
	}
	var proto byte
	var l4 []byte
	frag := false
	switch pkt[0] >> 4 {
	case 4:
		ihl := int(pkt[0]&0x0f) * 4
		if ihl < 20 || len(pkt) < ihl {
			return k, false
		}
		proto = pkt[9]
		frag = binary.BigEndian.Uint16(pkt[6:8])&0x1fff != 0
		k.w[1] = uint64(binary.BigEndian.Uint32(pkt[12:16]))<<32 | uint64(binary.BigEndian.Uint32(pkt[16:20]))
		l4 = pkt[ihl:]
		k.w[0] = 4 << 56
	case 6:
		if len(pkt) < 40 {
			return k, false
		}
		proto = pkt[6]
		switch proto {
		case 0, 43, 44, 60: // extension headers: ParseFlow walks them
			return k, false
		}
		k.w[1] = binary.BigEndian.Uint64(pkt[8:16])
		k.w[2] = binary.BigEndian.Uint64(pkt[16:24])
		k.w[3] = binary.BigEndian.Uint64(pkt[24:32])
		k.w[4] = binary.BigEndian.Uint64(pkt[32:40])
		l4 = pkt[40:]
		k.w[0] = 6 << 56
	default:
		return k, false
	}
	k.w[0] |= uint64(proto) << 48
	if frag { // a non-first fragment carries no ports
		return k, true
	}
	// The same fields ParseFlow reads: ports of TCP, UDP and SCTP; the type of ICMP.
	switch proto {
	case ProtoTCP, ProtoUDP, 132:
		if len(l4) >= 4 {
			k.w[0] |= 1<<41 | uint64(binary.BigEndian.Uint32(l4))
		}
	case ProtoICMP, ProtoICMPv6:
		if len(l4) >= 2 {
			k.w[0] |= 1<<41 | uint64(l4[0])
		}
	}
	return k, true
}

func (k *flowKey) hash() uint64 {
	h := k.w[0]*0x9e3779b97f4a7c15 ^ k.w[1]
	h = (h^h>>29)*0xbf58476d1ce4e5b9 ^ k.w[2] ^ k.w[3]*0x94d049bb133111eb ^ k.w[4]
	return (h ^ h>>32) * 0x9e3779b97f4a7c15
}

const (
	flowCacheBits = 8
	flowCacheSize = 1 << flowCacheBits
)

// policyCache remembers the SPD's decision for recently seen flow keys (direct-mapped), valid
// for one SPD state: first match depends only on the key's fields and the SPD's contents.
// It holds the state only between reset and release (one batch), knows it by number after
// that, and remembers a decision as the policy's place in that state's list, so an idle
// pipeline keeps neither a removed policy nor its SPD state alive. It belongs to one
// goroutine.
type policyCache struct {
	spd  *spdState // during a batch
	gen  uint64    // the state the entries are for (a fresh cache is empty: valid for any)
	ents [flowCacheSize]struct {
		key flowKey
		idx int32 // in the state's list; -1: no policy matches
		ok  bool
	}
}

// reset makes spd the state for the batch and empties the cache when the SPD changed.
func (c *policyCache) reset(spd *spdState) {
	c.spd = spd
	if c.gen != spd.gen {
		c.gen = spd.gen
		clear(c.ents[:])
	}
}

// release drops the batch's reference to the SPD state.
func (c *policyCache) release() { c.spd = nil }

// lookup returns the first policy matching pkt (nil: none), or false for a packet that cannot
// be parsed.
func (c *policyCache) lookup(pkt []byte) (*Policy, bool) {
	k, keyed := flowKeyOf(pkt)
	if keyed {
		e := &c.ents[k.hash()>>(64-flowCacheBits)]
		if e.ok && e.key == k {
			if e.idx < 0 {
				return nil, true
			}
			return c.spd.list[e.idx], true
		}
	}
	f, ok := ParseFlow(pkt)
	if !ok {
		return nil, false
	}
	i := c.spd.lookupIndex(&f)
	if keyed {
		e := &c.ents[k.hash()>>(64-flowCacheBits)]
		e.key, e.idx, e.ok = k, int32(i), true
	}
	if i < 0 {
		return nil, true
	}
	return c.spd.list[i], true
}

// verdictCache remembers inbound policy-check verdicts (RFC 4301 §5.2) for recently seen
// (SA, flow key) pairs, direct-mapped. An SA's selectors never change, and SAs are told apart
// by a serial number that is never reused. It belongs to one goroutine.
type verdictCache struct {
	ents [flowCacheSize]struct {
		key     flowKey
		sa      uint64
		allowed bool
	}
}

func (c *verdictCache) allowed(sa *SA, pkt []byte) bool {
	k, keyed := flowKeyOf(pkt)
	if !keyed {
		return sa.policyOK(pkt)
	}
	e := &c.ents[(k.hash()^sa.serial*0x9e3779b97f4a7c15)>>(64-flowCacheBits)]
	if e.sa == sa.serial && e.key == k {
		return e.allowed
	}
	ok := sa.policyOK(pkt)
	e.key, e.sa, e.allowed = k, sa.serial, ok
	return ok
}
