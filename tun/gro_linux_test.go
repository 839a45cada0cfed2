package tun

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Tests of the coalescing writer without a device: plan and build a batch, then take every
// written packet apart again with an independent GSO splitter (what the kernel does when it
// segments a super packet) and compare with what went in.

// segSpec describes one test segment.
type segSpec struct {
	flow    int    // 0..3: addresses/ports
	v6      bool   // IPv6 instead of IPv4
	seq     uint32 // TCP sequence number
	ack     uint32
	pay     int  // payload bytes
	flags   byte // TCP flags (ACK if zero)
	udp     bool
	badSum  bool // corrupt the transport checksum
	options bool // TCP timestamp option (12 bytes); a different value per segment with optDiff
	optDiff bool
	ttl     byte
	idSkip  bool // IPv4 identification jumps ahead
}

func flowAddrs(flow int, v6 bool) (netip.AddrPort, netip.AddrPort) {
	if v6 {
		return netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("2001:db8:2::%d", 7+flow)), uint16(40000+flow)),
			netip.AddrPortFrom(netip.MustParseAddr("2001:db8:1::1"), 5201)
	}
	return netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("198.51.100.%d", 7+flow)), uint16(40000+flow)),
		netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), 5201)
}

// buildSegment returns a packet with valid IPv4 header and TCP/UDP checksums.
func buildSegment(s segSpec, id uint16) []byte {
	src, dst := flowAddrs(s.flow, s.v6)
	ipLen := 20
	if s.v6 {
		ipLen = 40
	}
	thl := 8
	if !s.udp {
		thl = 20
		if s.options {
			thl = 32
		}
	}
	p := make([]byte, ipLen+thl+s.pay)
	ttl := s.ttl
	if ttl == 0 {
		ttl = 64
	}
	proto := byte(unix.IPPROTO_TCP)
	if s.udp {
		proto = unix.IPPROTO_UDP
	}
	if s.v6 {
		p[0] = 0x60
		binary.BigEndian.PutUint16(p[4:], uint16(len(p)-40))
		p[6], p[7] = proto, ttl
		a, b := src.Addr().As16(), dst.Addr().As16()
		copy(p[8:], a[:])
		copy(p[24:], b[:])
	} else {
		p[0] = 0x45
		binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
		binary.BigEndian.PutUint16(p[4:], id)
		p[6] = 0x40 // DF
		p[8], p[9] = ttl, proto
		a, b := src.Addr().As4(), dst.Addr().As4()
		copy(p[12:], a[:])
		copy(p[16:], b[:])
		binary.BigEndian.PutUint16(p[10:], ^csumFold(csumAdd(0, p[:20])))
	}
	l4 := p[ipLen:]
	binary.BigEndian.PutUint16(l4[0:], src.Port())
	binary.BigEndian.PutUint16(l4[2:], dst.Port())
	for i := thl; i < len(l4); i++ {
		l4[i] = byte(int(s.seq) + i*7)
	}
	csumAt := 6
	if s.udp {
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	} else {
		csumAt = 16
		binary.BigEndian.PutUint32(l4[4:], s.seq)
		binary.BigEndian.PutUint32(l4[8:], s.ack)
		l4[12] = byte(thl/4) << 4
		l4[13] = s.flags
		if l4[13] == 0 {
			l4[13] = tcpFlagACK
		}
		binary.BigEndian.PutUint16(l4[14:], 512)
		if s.options {
			l4[20], l4[21], l4[22], l4[23] = 1, 1, 8, 10 // NOP NOP timestamp
			binary.BigEndian.PutUint32(l4[24:], 1000)
			if s.optDiff {
				binary.BigEndian.PutUint32(l4[24:], 1000+s.seq)
			}
		}
	}
	sa, da := src.Addr().AsSlice(), dst.Addr().AsSlice()
	sum := ^csumFold(csumAdd(pseudoSum(sa, da, proto, len(l4)), l4))
	if s.udp && sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(l4[csumAt:], sum)
	if s.badSum {
		l4[csumAt] ^= 0x55
	}
	return p
}

// splitWritten takes one written packet (virtio-net header first) apart as the kernel's
// segmentation would: IPv4 IDs counting up from the head's, sequence numbers advancing, PSH
// on the last segment only, lengths and checksums recomputed.
func splitWritten(t *testing.T, w []byte) [][]byte {
	t.Helper()
	hdr, pkt := w[:vnetHdrLen], w[vnetHdrLen:]
	if hdr[1] == 0 {
		switch hdr[0] {
		case 0, vnetFlagDataValid:
		case vnetFlagNeedsCsum: // complete the checksum, as the kernel would
			start := int(binary.NativeEndian.Uint16(hdr[6:]))
			at := start + int(binary.NativeEndian.Uint16(hdr[8:]))
			binary.BigEndian.PutUint16(pkt[at:], ^csumFold(csumAdd(0, pkt[start:])))
		default:
			t.Fatalf("single packet with header %x", hdr)
		}
		return [][]byte{pkt}
	}
	if hdr[0] != vnetFlagNeedsCsum {
		t.Fatalf("super packet without NEEDS_CSUM: %x", hdr)
	}
	hdrLen := int(binary.NativeEndian.Uint16(hdr[2:]))
	gso := int(binary.NativeEndian.Uint16(hdr[4:]))
	csumStart := int(binary.NativeEndian.Uint16(hdr[6:]))
	csumOff := int(binary.NativeEndian.Uint16(hdr[8:]))
	v6 := pkt[0]>>4 == 6
	if !v6 && (binary.BigEndian.Uint16(pkt[2:]) != uint16(len(pkt)) || csumFold(csumAdd(0, pkt[:20])) != 0xffff) {
		t.Fatal("super packet: IPv4 length or header checksum wrong")
	}
	if v6 && int(binary.BigEndian.Uint16(pkt[4:]))+40 != len(pkt) {
		t.Fatal("super packet: IPv6 payload length wrong")
	}
	addr := 4
	srcAt := 12
	if v6 {
		addr, srcAt = 16, 8
	}
	proto := byte(unix.IPPROTO_TCP)
	if hdr[1] == vnetGSOUDPL4 {
		proto = unix.IPPROTO_UDP
	}
	want := csumFold(pseudoSum(pkt[srcAt:srcAt+addr], pkt[srcAt+addr:srcAt+2*addr], proto, len(pkt)-csumStart))
	if got := binary.BigEndian.Uint16(pkt[csumStart+csumOff:]); got != want {
		t.Fatalf("super packet: partial checksum %#x, want the pseudo-header sum %#x", got, want)
	}
	var out [][]byte
	for off, k := hdrLen, 0; off < len(pkt); off, k = off+gso, k+1 {
		end := min(off+gso, len(pkt))
		s := append(append([]byte(nil), pkt[:hdrLen]...), pkt[off:end]...)
		l4 := s[csumStart:]
		if v6 {
			binary.BigEndian.PutUint16(s[4:], uint16(len(s)-40))
		} else {
			binary.BigEndian.PutUint16(s[2:], uint16(len(s)))
			binary.BigEndian.PutUint16(s[4:], binary.BigEndian.Uint16(pkt[4:])+uint16(k))
			s[10], s[11] = 0, 0
			binary.BigEndian.PutUint16(s[10:], ^csumFold(csumAdd(0, s[:20])))
		}
		if proto == unix.IPPROTO_TCP {
			binary.BigEndian.PutUint32(l4[4:], binary.BigEndian.Uint32(pkt[csumStart+4:])+uint32(k*gso))
			if end != len(pkt) {
				l4[13] &^= tcpFlagPSH
			}
		} else {
			binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		}
		l4[csumOff], l4[csumOff+1] = 0, 0
		sum := ^csumFold(csumAdd(pseudoSum(s[srcAt:srcAt+addr], s[srcAt+addr:srcAt+2*addr], proto, len(l4)), l4))
		if proto == unix.IPPROTO_UDP && sum == 0 {
			sum = 0xffff
		}
		binary.BigEndian.PutUint16(l4[csumOff:], sum)
		out = append(out, s)
	}
	return out
}

// runPlan plans and builds a batch the way Write does and returns every written packet's
// bytes (headers and gathered payloads concatenated).
func runPlan(w *groWriter, pkts [][]byte) [][]byte {
	const off = 16
	bufs := make([][]byte, len(pkts))
	for i, p := range pkts {
		bufs[i] = make([]byte, off+len(p), off+len(p)+64) // no spare capacity needed
		copy(bufs[i][off:], p)
	}
	w.plan(bufs, off)
	var out [][]byte
	for i := range w.items {
		w.build(bufs, off, &w.items[i])
		var b []byte
		for _, v := range w.iovs {
			b = append(b, unsafe.Slice(v.Base, v.Len)...)
		}
		out = append(out, b)
	}
	return out
}

// segments builds the packets; IPv4 identifications count up per flow, as a sender's do.
func segments(specs []segSpec) [][]byte {
	var pkts [][]byte
	ids := map[int]uint16{}
	for _, s := range specs {
		id := 100 + ids[s.flow]
		if s.idSkip {
			id += 1000
		}
		pkts = append(pkts, buildSegment(s, id))
		ids[s.flow]++
	}
	return pkts
}

// TestGROPlan: table of batches; each case says how many packets are written; every case
// must split back into exactly the segments that went in, in the same order per flow.
func TestGROPlan(t *testing.T) {
	run := func(n int, seq uint32, pay int, mod func(i int, s *segSpec)) []segSpec {
		var out []segSpec
		for i := range n {
			s := segSpec{seq: seq + uint32(i*pay), ack: 77, pay: pay}
			if mod != nil {
				mod(i, &s)
			}
			out = append(out, s)
		}
		return out
	}
	cases := []struct {
		name   string
		specs  []segSpec
		writes int
		trust  bool
		udpGSO bool
	}{
		{"one flow", run(10, 1000, 1000, nil), 1, false, false},
		{"one flow v6", run(10, 1000, 1000, func(i int, s *segSpec) { s.v6 = true }), 1, false, false},
		{"psh ends", run(10, 1000, 1000, func(i int, s *segSpec) {
			if i == 4 {
				s.flags = tcpFlagACK | tcpFlagPSH
			}
		}), 2, false, false},
		{"short ends", run(6, 1000, 1000, func(i int, s *segSpec) {
			if i == 2 {
				s.pay = 500
			}
			if i > 2 {
				s.seq -= 500
			}
		}), 2, false, false},
		{"gap", run(6, 1000, 1000, func(i int, s *segSpec) {
			if i >= 3 {
				s.seq += 1000
			}
		}), 2, false, false},
		{"ack changes", run(6, 1000, 1000, func(i int, s *segSpec) { s.ack = 77 + uint32(i/3) }), 2, false, false},
		{"ttl changes", run(6, 1000, 1000, func(i int, s *segSpec) { s.ttl = 64 - byte(i/3) }), 2, false, false},
		{"id jumps", run(6, 1000, 1000, func(i int, s *segSpec) { s.idSkip = i >= 4 }), 2, false, false},
		{"options equal", run(6, 1000, 1000, func(i int, s *segSpec) { s.options = true }), 1, false, false},
		{"options differ", run(3, 1000, 1000, func(i int, s *segSpec) { s.options, s.optDiff = true, true }), 3, false, false},
		{"fin alone", run(4, 1000, 1000, func(i int, s *segSpec) {
			if i == 3 {
				s.flags = tcpFlagACK | 0x01
			}
		}), 2, false, false},
		{"two flows interleaved", run(12, 1000, 1000, func(i int, s *segSpec) {
			s.flow = i % 2
			s.seq = 1000 + uint32(i/2*1000)
		}), 2, false, false},
		{"bad checksum alone", run(6, 1000, 1000, func(i int, s *segSpec) { s.badSum = i == 3 }), 3, false, false},
		{"bad checksum trusted", run(6, 1000, 1000, func(i int, s *segSpec) { s.badSum = i == 3 }), 1, true, false},
		{"lone trusted", run(4, 1000, 1000, func(i int, s *segSpec) { s.flow, s.v6, s.udp = i, i%2 == 1, i >= 2 }), 4, true, false},
		{"udp without USO", run(5, 0, 1200, func(i int, s *segSpec) { s.udp = true }), 5, false, false},
		{"udp with USO", run(5, 0, 1200, func(i int, s *segSpec) { s.udp = true }), 1, false, true},
		{"udp longer ends", run(4, 0, 1200, func(i int, s *segSpec) {
			s.udp = true
			if i == 2 {
				s.pay = 1300
			}
		}), 2, false, true},
		{"64 segments", run(70, 1000, 900, nil), 2, false, false},
		{"64 KB", run(60, 1000, 1400, nil), 2, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &groWriter{udpGSO: c.udpGSO}
			w.trust.Store(c.trust)
			pkts := segments(c.specs)
			want := make([][]byte, len(pkts))
			for i, p := range pkts {
				want[i] = append([]byte(nil), p...)
			}
			written := runPlan(w, pkts)
			if len(written) != c.writes {
				t.Errorf("%d packets written, want %d", len(written), c.writes)
			}
			var got [][]byte
			for _, wr := range written {
				got = append(got, splitWritten(t, wr)...)
			}
			checkSameFlowOrder(t, want, got, c.specs)
		})
	}
}

// checkSameFlowOrder: got holds exactly the packets of want, and each flow's packets keep
// their order. Packets with a deliberately bad checksum are compared apart from it.
func checkSameFlowOrder(t *testing.T, want, got [][]byte, specs []segSpec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d packets after splitting, want %d", len(got), len(want))
	}
	used := make([]bool, len(want))
	lastIdx := map[int]int{}
	for _, g := range got {
		found := -1
		for i, w := range want {
			if !used[i] && (bytes.Equal(g, w) || specs[i].badSum && sameButChecksum(g, w, specs[i])) {
				found = i
				break
			}
		}
		if found < 0 {
			t.Fatalf("a written segment matches nothing that went in:\n%x", g)
		}
		used[found] = true
		f := specs[found].flow
		if prev, ok := lastIdx[f]; ok && prev > found {
			t.Fatalf("flow %d: packet %d written after packet %d", f, prev, found)
		}
		lastIdx[f] = found
	}
}

func sameButChecksum(a, b []byte, s segSpec) bool {
	if len(a) != len(b) {
		return false
	}
	at := 20 + 16
	if s.v6 {
		at = 40 + 16
	}
	if s.udp {
		at -= 10
	}
	a, b = append([]byte(nil), a...), append([]byte(nil), b...)
	a[at], a[at+1], b[at], b[at+1] = 0, 0, 0, 0
	return bytes.Equal(a, b)
}

// TestGROPlanRandom: random interleavings of several flows with gaps, PSH and short
// segments split back into what went in, per-flow order kept.
func TestGROPlanRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	merged := 0
	for range 500 {
		next := map[int]uint32{}
		var specs []segSpec
		for range 1 + rng.IntN(128) {
			f := rng.IntN(4)
			s := segSpec{flow: f, v6: f%2 == 1, seq: next[f], ack: 5, pay: 1 + rng.IntN(1400)}
			if rng.IntN(4) > 0 {
				s.pay = 1400
			}
			if rng.IntN(20) == 0 {
				s.flags = tcpFlagACK | tcpFlagPSH
			}
			if rng.IntN(30) == 0 {
				s.seq += 1400 // a gap
			}
			next[f] = s.seq + uint32(s.pay)
			specs = append(specs, s)
		}
		w := &groWriter{}
		pkts := segments(specs)
		want := make([][]byte, len(pkts))
		for i, p := range pkts {
			want[i] = append([]byte(nil), p...)
		}
		written := runPlan(w, pkts)
		merged += len(pkts) - len(written)
		var got [][]byte
		for _, wr := range written {
			got = append(got, splitWritten(t, wr)...)
		}
		checkSameFlowOrder(t, want, got, specs)
	}
	if merged == 0 {
		t.Fatal("nothing was ever coalesced")
	}
}

func BenchmarkGROPlan(b *testing.B) {
	var specs []segSpec
	for i := range 46 {
		specs = append(specs, segSpec{seq: uint32(i * 1380), ack: 1, pay: 1380})
	}
	pkts := segments(specs)
	const off = 16
	bufs := make([][]byte, len(pkts))
	for _, trust := range []bool{false, true} {
		b.Run(fmt.Sprintf("trust=%v", trust), func(b *testing.B) {
			w := &groWriter{}
			w.trust.Store(trust)
			b.SetBytes(int64(46 * 1420))
			b.ReportAllocs()
			for range b.N {
				for i, p := range pkts {
					if bufs[i] == nil {
						bufs[i] = make([]byte, off+len(p))
					}
					copy(bufs[i][off:], p)
				}
				w.plan(bufs, off)
				for i := range w.items {
					w.build(bufs, off, &w.items[i])
				}
			}
		})
	}
}
