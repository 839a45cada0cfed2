package main

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// A known ICMPv6 echo request: ::1 → ::1, id 0, seq 0, no data, type 128.
func TestICMPv6Checksum(t *testing.T) {
	lo := netip.IPv6Loopback().As16()
	msg := []byte{128, 0, 0, 0, 0, 0, 0, 0}
	// Sum: src 1 + dst 1 + length 8 + next header 58 + type/code 0x8000 = 0x8044.
	if got, want := icmpv6Checksum(lo, lo, msg), ^uint16(0x8044); got != want {
		t.Fatalf("checksum %#04x, want %#04x", got, want)
	}
	// A message carrying its own correct checksum sums to zero (all ones before the
	// complement).
	p := echoRequest(netip.MustParseAddr("2001:db8:a::5"), netip.MustParseAddr("2001:db8:b::1"), 5, 1)
	s, d := [16]byte(p[8:24]), [16]byte(p[24:40])
	if c := icmpv6Checksum(s, d, p[40:]); c != 0 {
		t.Errorf("checksum over a checksummed request = %#04x, want 0", c)
	}
	p[50] ^= 1 // a tampered byte (negative control)
	if c := icmpv6Checksum(s, d, p[40:]); c == 0 {
		t.Errorf("a tampered request still checks")
	}
}

func TestReplyMatching(t *testing.T) {
	peer := netip.MustParseAddr("2001:db8:a::8")
	dev := newMemDevice(func(a netip.Addr) (int, bool) { return 7, a == peer })
	reply := echoRequest(netip.MustParseAddr("2001:db8:b::1"), peer, 7, 1)
	reply[40] = 129
	dev.receive(reply)
	if m := dev.missing([]int{0, 1, 2, 3, 4, 5, 6, 7}); len(m) != 7 || m[len(m)-1] != 6 {
		t.Errorf("after peer 7's reply, missing %v", m)
	}
	wrongID := append([]byte(nil), reply...)
	binary.BigEndian.PutUint16(wrongID[44:], 3)
	dev2 := newMemDevice(func(a netip.Addr) (int, bool) { return 7, a == peer })
	dev2.receive(wrongID)
	dev2.receive(reply[:30])
	if len(dev2.missing([]int{0, 1, 2, 3, 4, 5, 6, 7})) != 8 || dev2.stray.Load() != 2 {
		t.Errorf("a reply with another id or a short packet counted: missing %v, stray %d", dev2.missing([]int{0, 1, 2, 3, 4, 5, 6, 7}), dev2.stray.Load())
	}
}

func TestOuterAddrs(t *testing.T) {
	a := outerAddrs(netip.MustParseAddr("198.19.0.253"), 4)
	want := []string{"198.19.0.253", "198.19.0.254", "198.19.1.1", "198.19.1.2"}
	for i, w := range want {
		if a[i].String() != w {
			t.Errorf("outerAddrs[%d] = %s, want %s", i, a[i], w)
		}
	}
}
