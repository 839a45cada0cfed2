package main

// The generator's tunnel device, in memory: packets the generator injects are what the data
// plane reads (and encrypts); what it writes (decrypted) is checked for ICMPv6 echo replies.
// Safe for concurrent use.

import (
	"encoding/binary"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
)

type memDevice struct {
	in     chan []byte
	closed chan struct{}
	once   sync.Once
	index  func(netip.Addr) (int, bool) // inner address → peer
	mu     sync.Mutex
	got    map[int]bool
	stray  atomic.Uint64 // packets that were not a reply to one of our echoes
}

func newMemDevice(index func(netip.Addr) (int, bool)) *memDevice {
	return &memDevice{in: make(chan []byte, 4096), closed: make(chan struct{}), index: index, got: map[int]bool{}}
}

func (d *memDevice) inject(p []byte) {
	select {
	case d.in <- p:
	case <-d.closed:
	}
}

// Read hands the data plane the next injected packet.
func (d *memDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	select {
	case p := <-d.in:
		sizes[0] = copy(bufs[0][offset:], p)
		return 1, nil
	case <-d.closed:
		return 0, os.ErrClosed
	}
}

// Write takes decrypted packets from the data plane.
func (d *memDevice) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		d.receive(b[offset:])
	}
	return len(bufs), nil
}

func (d *memDevice) BatchSize() int { return 16 }

func (d *memDevice) Close() { d.once.Do(func() { close(d.closed) }) }

// receive records an ICMPv6 echo reply to one of the peers' inner addresses.
func (d *memDevice) receive(p []byte) {
	if len(p) < 48 || p[0]>>4 != 6 || p[6] != 58 || p[40] != 129 {
		d.stray.Add(1)
		return
	}
	dst := netip.AddrFrom16([16]byte(p[24:40]))
	i, ok := d.index(dst)
	if !ok || int(binary.BigEndian.Uint16(p[44:])) != i&0xffff {
		d.stray.Add(1)
		return
	}
	d.mu.Lock()
	d.got[i] = true
	d.mu.Unlock()
}

// missing lists the peers of want without a reply yet.
func (d *memDevice) missing(want []int) []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []int
	for _, i := range want {
		if !d.got[i] {
			out = append(out, i)
		}
	}
	return out
}

// echoRequest builds an ICMPv6 echo request (RFC 4443 §4.1) from src to dst with 16 bytes
// of data.
func echoRequest(src, dst netip.Addr, id, seq uint16) []byte {
	const dataLen = 16
	p := make([]byte, 40+8+dataLen)
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], 8+dataLen)
	p[6], p[7] = 58, 64
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	icmp := p[40:]
	icmp[0] = 128
	binary.BigEndian.PutUint16(icmp[4:], id)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	for i := range dataLen {
		icmp[8+i] = byte(i)
	}
	binary.BigEndian.PutUint16(icmp[2:], icmpv6Checksum(s, d, icmp))
	return p
}

// icmpv6Checksum is the Internet checksum over the IPv6 pseudo-header and the message
// (RFC 4443 §2.3, RFC 8200 §8.1).
func icmpv6Checksum(src, dst [16]byte, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(msg)))
	l[7] = 58
	add(l[:])
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
