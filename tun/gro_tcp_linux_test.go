package tun

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTUNCoalescedTCP drives a real TCP connection into a socket of the namespace through
// the device: the handshake by hand, then batches of data segments that the device writes as
// one super packet. It checks the bytes arrive in order, that coalescing happened, that a
// segment with a bad checksum is not let through untrusted (the negative control: the
// socket stops at the gap until a good copy comes), and that TrustChecksums does what it
// says.
func TestTUNCoalescedTCP(t *testing.T) {
	if !inNetns(t) {
		return
	}
	dev := openTestTUN(t, "okgro", true)
	gw, ok := dev.writer.(*groWriter)
	if !ok {
		t.Fatal("device with offloads has no coalescing writer")
	}
	reads := startReader(dev)
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(tunAddr4.Addr(), 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	local := netip.MustParseAddrPort(ln.Addr().String())
	remote := netip.AddrPortFrom(remote4, 40000)
	c := &tcpClient{t: t, dev: dev, src: remote, dst: local, seq: 1000, id: 1}

	c.write(c.segment(0x02, nil)) // SYN
	synAck := nextBatch(t, reads, func(p []byte) bool { return isTCPFrom(p, local, 0x12) })
	for _, p := range synAck.pkts {
		if isTCPFrom(p, local, 0x12) {
			c.ack = binary.BigEndian.Uint32(p[24:]) + 1
		}
	}
	c.seq++
	c.write(c.segment(tcpFlagACK, nil))
	ln.SetDeadline(time.Now().Add(5 * time.Second))
	conn, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// 40 segments in one batch: one super packet.
	before := gw.coalesced.Load()
	data := c.batch(40, 1000, -1)
	if got := gw.coalesced.Load() - before; got != 40 {
		t.Errorf("%d of 40 segments coalesced", got)
	}
	expectRead(t, conn, data)

	// Untrusted, a corrupted segment goes alone and the kernel drops it: the socket gets
	// what precedes it, then waits; a good copy releases the rest.
	seg5 := c.seq + 5*1000
	data = c.batch(10, 1000, 5)
	expectRead(t, conn, data[:5000])
	expectNothing(t, conn)
	resend := *c
	resend.seq, resend.id = seg5, 100
	resend.write(resend.segment(tcpFlagACK, data[5000:6000]))
	expectRead(t, conn, data[5000:])

	// Trusted: the writer does not look at checksums any more.
	dev.TrustChecksums()
	before = gw.coalesced.Load()
	data = c.batch(10, 1000, 3)
	if got := gw.coalesced.Load() - before; got != 10 {
		t.Errorf("trusted: %d of 10 segments coalesced (the bad checksum must not matter)", got)
	}
	expectRead(t, conn, data)

	// A lone trusted packet goes as CHECKSUM_PARTIAL: the kernel does not check it either.
	single := c.segment(tcpFlagACK|tcpFlagPSH, bytes.Repeat([]byte{'s'}, 100))
	single[36] ^= 0xff
	c.write(single)
	c.seq += 100
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 200)
	if n, _ := conn.Read(buf); n != 100 {
		t.Fatalf("a lone trusted packet with a bad checksum: %d bytes delivered, want 100", n)
	}
}

func isTCPFrom(p []byte, src netip.AddrPort, flags byte) bool {
	return len(p) >= 40 && p[0] == 0x45 && p[9] == unix.IPPROTO_TCP &&
		netip.AddrFrom4([4]byte(p[12:16])) == src.Addr() && binary.BigEndian.Uint16(p[20:]) == src.Port() && p[33] == flags
}

type tcpClient struct {
	t        testing.TB
	dev      *TUN
	src, dst netip.AddrPort
	seq, ack uint32
	id       uint16
}

// segment builds an IPv4 TCP segment with valid checksums at the client's state.
func (c *tcpClient) segment(flags byte, payload []byte) []byte {
	p := make([]byte, 40+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:], c.id)
	c.id++
	p[6], p[8], p[9] = 0x40, 64, unix.IPPROTO_TCP
	s, d := c.src.Addr().As4(), c.dst.Addr().As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	binary.BigEndian.PutUint16(p[10:], ^csumFold(csumAdd(0, p[:20])))
	tcp := p[20:]
	binary.BigEndian.PutUint16(tcp[0:], c.src.Port())
	binary.BigEndian.PutUint16(tcp[2:], c.dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], c.seq)
	binary.BigEndian.PutUint32(tcp[8:], c.ack)
	tcp[12], tcp[13] = 5<<4, flags
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	copy(tcp[20:], payload)
	binary.BigEndian.PutUint16(tcp[16:], ^csumFold(csumAdd(pseudoSum(s[:], d[:], unix.IPPROTO_TCP, len(tcp)), tcp)))
	return p
}

func (c *tcpClient) write(pkts ...[]byte) {
	c.t.Helper()
	bufs := make([][]byte, len(pkts))
	for i, p := range pkts {
		bufs[i] = make([]byte, MinOffset+len(p)) // no spare capacity: the writer gathers
		copy(bufs[i][MinOffset:], p)
	}
	if _, err := c.dev.Write(bufs, MinOffset); err != nil {
		c.t.Fatalf("Write: %v", err)
	}
}

// batch writes n segments of size bytes in one Write, the segment at index bad (if ≥ 0)
// with a corrupted checksum, and returns the data.
func (c *tcpClient) batch(n, size, bad int) []byte {
	var pkts [][]byte
	var data []byte
	for i := range n {
		pl := make([]byte, size)
		for j := range pl {
			pl[j] = byte(int(c.seq) + j)
		}
		flags := byte(tcpFlagACK)
		if i == n-1 {
			flags |= tcpFlagPSH
		}
		p := c.segment(flags, pl)
		if i == bad {
			p[36] ^= 0xff
		}
		pkts = append(pkts, p)
		data = append(data, pl...)
		c.seq += uint32(size)
	}
	c.write(pkts...)
	return data
}

func expectRead(t *testing.T, conn *net.TCPConn, want []byte) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("reading %d bytes: %v", len(want), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the socket received other bytes than were written")
	}
}

func expectNothing(t *testing.T, conn *net.TCPConn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _ := conn.Read(make([]byte, 100)); n != 0 {
		t.Fatalf("%d bytes arrived past a segment whose checksum was bad", n)
	}
}
