package tun

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"
)

var (
	tunAddr4  = netip.MustParsePrefix("192.0.2.1/32")
	tunAddr6  = netip.MustParsePrefix("2001:db8:1::1/128")
	tunRoute4 = netip.MustParsePrefix("198.51.100.0/24")
	tunRoute6 = netip.MustParsePrefix("2001:db8:2::/48")
	remote4   = netip.MustParseAddr("198.51.100.7")
	remote6   = netip.MustParseAddr("2001:db8:2::7")
)

func openTestTUN(t *testing.T, name string, offload bool) *TUN {
	t.Helper()
	dev, err := Open(Options{
		Name:      name,
		MTU:       1380,
		Addresses: []netip.Prefix{tunAddr4, tunAddr6},
		Routes:    []netip.Prefix{tunRoute4, tunRoute6},
		Offload:   offload,
	}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { dev.Close() })
	return dev
}

// batch is what one Read call returned, copied out of the device's buffers.
type batch struct {
	pkts [][]byte
}

// startReader reads dev from one goroutine (the package's contract) until Read fails, and
// delivers each batch on the returned channel.
func startReader(dev Device) <-chan batch {
	ch := make(chan batch, 64)
	go func() {
		defer close(ch)
		n := max(dev.BatchSize(), 1)
		bufs := make([][]byte, n)
		for i := range bufs {
			bufs[i] = make([]byte, MinOffset+65535)
		}
		sizes := make([]int, n)
		for {
			k, err := dev.Read(bufs, sizes, MinOffset)
			if err != nil && !errors.Is(err, ErrTooManySegments) {
				return
			}
			var b batch
			for i := 0; i < k; i++ {
				b.pkts = append(b.pkts, slices.Clone(bufs[i][MinOffset:MinOffset+sizes[i]]))
			}
			if k > 0 {
				ch <- b
			}
		}
	}()
	return ch
}

// nextBatch waits for a batch holding a packet match accepts, skipping others (router
// solicitations, MLD reports and the like).
func nextBatch(t *testing.T, ch <-chan batch, match func([]byte) bool) batch {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case b, ok := <-ch:
			if !ok {
				t.Fatal("device reader stopped")
			}
			if slices.ContainsFunc(b.pkts, match) {
				return b
			}
		case <-deadline:
			t.Fatal("timed out waiting for a packet from the device")
		}
	}
}

// udpTo reports whether pkt is a UDP datagram to dst:port (IPv4 or IPv6, no extension
// headers) and returns its source address and payload.
func udpTo(pkt []byte, dst netip.Addr, port uint16) (src netip.Addr, payload []byte, ok bool) {
	var hl int
	var d netip.Addr
	switch {
	case len(pkt) >= 28 && pkt[0]>>4 == 4 && pkt[9] == unix.IPPROTO_UDP:
		hl = int(pkt[0]&0xf) * 4
		src = netip.AddrFrom4([4]byte(pkt[12:16]))
		d = netip.AddrFrom4([4]byte(pkt[16:20]))
	case len(pkt) >= 48 && pkt[0]>>4 == 6 && pkt[6] == unix.IPPROTO_UDP:
		hl = 40
		src = netip.AddrFrom16([16]byte(pkt[8:24]))
		d = netip.AddrFrom16([16]byte(pkt[24:40]))
	default:
		return src, nil, false
	}
	if len(pkt) < hl+8 || d != dst || binary.BigEndian.Uint16(pkt[hl+2:]) != port {
		return src, nil, false
	}
	return src, pkt[hl+8:], true
}

// checksum is the Internet checksum (RFC 1071) of b, folded, with initial sum.
func checksum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// udpPacket builds an IPv4 or IPv6 UDP datagram with valid checksums (RFC 768, RFC 791,
// RFC 8200 §8.1).
func udpPacket(src, dst netip.AddrPort, payload []byte) []byte {
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	var pseudo []byte
	pseudo = append(pseudo, src.Addr().AsSlice()...)
	pseudo = append(pseudo, dst.Addr().AsSlice()...)
	pseudo = append(pseudo, 0, unix.IPPROTO_UDP, byte(len(udp)>>8), byte(len(udp)))
	var sum uint32
	for i := 0; i < len(pseudo); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(pseudo[i:]))
	}
	cs := checksum(udp, sum)
	if cs == 0 {
		cs = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], cs)
	if src.Addr().Is4() {
		ip := make([]byte, 20, 20+len(udp))
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
		ip[8] = 64
		ip[9] = unix.IPPROTO_UDP
		copy(ip[12:], src.Addr().AsSlice())
		copy(ip[16:], dst.Addr().AsSlice())
		binary.BigEndian.PutUint16(ip[10:], checksum(ip, 0))
		return append(ip, udp...)
	}
	ip := make([]byte, 40, 40+len(udp))
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(udp)))
	ip[6] = unix.IPPROTO_UDP
	ip[7] = 64
	copy(ip[8:], src.Addr().AsSlice())
	copy(ip[24:], dst.Addr().AsSlice())
	return append(ip, udp...)
}

func TestTUNOpenConfiguresAndCloseRemoves(t *testing.T) {
	if !inNetns(t) {
		return
	}
	dev := openTestTUN(t, "oktun0", false)
	idx := dev.index
	if mtu, err := dev.MTU(); err != nil || mtu != 1380 {
		t.Errorf("MTU() = %d, %v; want 1380", mtu, err)
	}
	c, err := dialNetlink()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if mtu, err := c.linkMTU(idx); err != nil || mtu != 1380 {
		t.Errorf("kernel IFLA_MTU = %d, %v; want 1380", mtu, err)
	}
	ifi, err := net.InterfaceByIndex(idx)
	if err != nil || ifi.Flags&net.FlagUp == 0 || ifi.Name != "oktun0" {
		t.Errorf("interface %d = %+v, %v; want oktun0, up", idx, ifi, err)
	}
	addrs, err := c.listAddrs(idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []netip.Prefix{tunAddr4, tunAddr6} {
		if !slices.Contains(addrs, want) {
			t.Errorf("addresses %v lack %v", addrs, want)
		}
	}
	routes, err := c.listRoutes(idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []netip.Prefix{tunRoute4, tunRoute6} {
		if !slices.ContainsFunc(routes, func(r routeInfo) bool { return r.dst == want }) {
			t.Errorf("routes %v lack %v", routes, want)
		}
	}
	if mtu, err := RouteMTU(remote4); err != nil || mtu != 1380 {
		t.Errorf("RouteMTU(%v) = %d, %v; want 1380 (the TUN's MTU)", remote4, mtu, err)
	}
	if mtu, err := RouteMTU(remote6); err != nil || mtu != 1380 {
		t.Errorf("RouteMTU(%v) = %d, %v; want 1380 (the TUN's MTU)", remote6, mtu, err)
	}

	waitUp := time.After(3 * time.Second)
wait:
	for {
		select {
		case ev := <-dev.Events():
			if ev == EventUp {
				break wait
			}
		case <-waitUp:
			t.Error("no EventUp from the device")
			break wait
		}
	}

	if err := dev.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := dev.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for range dev.Events() { // closed by Close
	}
	if routes, err := c.listRoutes(idx); err != nil || len(routes) != 0 {
		t.Errorf("after Close routes through %d = %v, %v; want none", idx, routes, err)
	}
	if _, err := RouteMTU(remote4); err == nil {
		t.Errorf("RouteMTU(%v) after Close succeeded; the route should be gone", remote4)
	}
	if _, err := net.InterfaceByName("oktun0"); err == nil {
		t.Error("oktun0 still exists after Close")
	}
}

// A persistent TUN outlives our file descriptor, so it shows what Close removes by itself:
// our address and route, but not the address someone else had put there.
func TestTUNCloseRemovesOnlyItsOwn(t *testing.T) {
	if !inNetns(t) {
		return
	}
	ipCmd(t, "tuntap", "add", "dev", "okpersist", "mode", "tun")
	defer ipCmd(t, "tuntap", "del", "dev", "okpersist", "mode", "tun")
	theirs := netip.MustParsePrefix("192.0.2.99/32")
	ipCmd(t, "addr", "add", theirs.String(), "dev", "okpersist")
	ipCmd(t, "link", "set", "okpersist", "up")
	ipCmd(t, "route", "add", "203.0.113.0/24", "dev", "okpersist")

	dev, err := Open(Options{
		Name:      "okpersist",
		MTU:       1400,
		Addresses: []netip.Prefix{tunAddr4, theirs},
		Routes:    []netip.Prefix{tunRoute4},
	}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Open on a persistent device: %v", err)
	}
	idx := dev.index
	if err := dev.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c, err := dialNetlink()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addrs, err := c.listAddrs(idx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(addrs, tunAddr4) || !slices.Contains(addrs, theirs) {
		t.Errorf("after Close addresses = %v; want %v kept and %v removed", addrs, theirs, tunAddr4)
	}
	routes, err := c.listRoutes(idx)
	if err != nil {
		t.Fatal(err)
	}
	var dsts []netip.Prefix
	for _, r := range routes {
		dsts = append(dsts, r.dst)
	}
	if slices.Contains(dsts, tunRoute4) || !slices.Contains(dsts, netip.MustParsePrefix("203.0.113.0/24")) {
		t.Errorf("after Close routes = %v; want 203.0.113.0/24 kept and %v removed", dsts, tunRoute4)
	}
}

func TestTUNOpenRouteConflict(t *testing.T) {
	if !inNetns(t) {
		return
	}
	ipCmd(t, "link", "set", "lo", "up")
	ipCmd(t, "route", "add", "198.51.100.0/24", "dev", "lo")
	_, err := Open(Options{
		Name:      "okconflict",
		Addresses: []netip.Prefix{tunAddr4},
		Routes:    []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), tunRoute4},
	}, zaptest.NewLogger(t))
	if err == nil || !strings.Contains(err.Error(), "198.51.100.0/24") || !errors.Is(err, unix.EEXIST) {
		t.Fatalf("Open with a conflicting route: err = %v; want EEXIST naming 198.51.100.0/24", err)
	}
	if _, err := net.InterfaceByName("okconflict"); err == nil {
		t.Error("device left behind after a failed Open")
	}
	if !strings.Contains(ipCmd(t, "route", "show", "198.51.100.0/24"), "dev lo") {
		t.Error("the conflicting route through lo was removed; it was not ours")
	}
}

func TestRouteMTU(t *testing.T) {
	if !inNetns(t) {
		return
	}
	if _, err := RouteMTU(netip.MustParseAddr("203.0.113.9")); !errors.Is(err, unix.ENETUNREACH) {
		t.Errorf("RouteMTU without any route: err = %v; want ENETUNREACH", err)
	}
	ipCmd(t, "link", "set", "lo", "up")
	loMTU, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if mtu, err := RouteMTU(netip.MustParseAddr("127.0.0.1")); err != nil || mtu != loMTU.MTU {
		t.Errorf("RouteMTU(127.0.0.1) = %d, %v; want lo's MTU %d", mtu, err, loMTU.MTU)
	}
	dev := openTestTUN(t, "okmtu", false)
	ipCmd(t, "route", "add", "203.0.113.0/24", "dev", "okmtu", "mtu", "1300")
	if mtu, err := RouteMTU(netip.MustParseAddr("203.0.113.9")); err != nil || mtu != 1300 {
		t.Errorf("RouteMTU via a route with mtu 1300 = %d, %v; want 1300", mtu, err)
	}
	if mtu, err := RouteMTU(netip.AddrFrom16(remote4.As16())); err != nil || mtu != 1380 {
		t.Errorf("RouteMTU(v4-mapped %v) = %d, %v; want 1380", remote4, mtu, err)
	}
	dev.Close()
}

func TestTUNOffloadOff(t *testing.T) {
	if !inNetns(t) {
		return
	}
	dev := openTestTUN(t, "okplain", false)
	if dev.Offload() || vnetHdrEnabled(dev.File()) || dev.BatchSize() != 1 {
		t.Fatalf("Offload=false: Offload()=%v, IFF_VNET_HDR=%v, BatchSize()=%d; want false, false, 1",
			dev.Offload(), vnetHdrEnabled(dev.File()), dev.BatchSize())
	}
	reads := startReader(dev)
	testReadWrite(t, dev, reads)
	testUDPSegments(t, reads, false)
	// Close unblocks the reader.
	dev.Close()
	timeout := time.After(3 * time.Second)
	for {
		select {
		case _, ok := <-reads:
			if !ok {
				if _, err := dev.Read([][]byte{make([]byte, 2048)}, []int{0}, MinOffset); !errors.Is(err, os.ErrClosed) {
					t.Errorf("Read after Close = %v; want os.ErrClosed", err)
				}
				return
			}
		case <-timeout:
			t.Fatal("Read still blocked after Close")
		}
	}
}

func TestTUNOffloadOn(t *testing.T) {
	if !inNetns(t) {
		return
	}
	dev := openTestTUN(t, "okvnet", true)
	if !dev.Offload() || !vnetHdrEnabled(dev.File()) || dev.BatchSize() <= 1 {
		t.Fatalf("Offload=true: Offload()=%v, IFF_VNET_HDR=%v, BatchSize()=%d; want true, true, >1",
			dev.Offload(), vnetHdrEnabled(dev.File()), dev.BatchSize())
	}
	reads := startReader(dev)
	testReadWrite(t, dev, reads)
	testUDPSegments(t, reads, kernelHasUSO(t))
}

// kernelHasUSO probes whether this kernel's TUN takes UDP segmentation offload (Linux 6.2+),
// on a throwaway device.
func kernelHasUSO(t *testing.T) bool {
	fd, err := unix.Open(cloneDevicePath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ifr, _ := unix.NewIfreq("okprobe")
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		t.Fatal(err)
	}
	return unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunTCPOffloads|unix.TUN_F_USO4|unix.TUN_F_USO6) == nil
}

// testReadWrite sends a UDP datagram toward a routed address and expects it on Read, then
// writes a datagram addressed to the namespace's own address and expects a socket to get it;
// both for IPv4 and IPv6.
func testReadWrite(t *testing.T, dev *TUN, reads <-chan batch) {
	for _, fam := range []struct {
		local, remote netip.Addr
	}{{tunAddr4.Addr(), remote4}, {tunAddr6.Addr(), remote6}} {
		// Out of the device: a datagram routed through it.
		payload := []byte("out through the tunnel " + fam.remote.String())
		dst := netip.AddrPortFrom(fam.remote, 4500)
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(payload); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		b := nextBatch(t, reads, func(p []byte) bool { _, _, ok := udpTo(p, fam.remote, 4500); return ok })
		var got []byte
		for _, p := range b.pkts {
			if src, pl, ok := udpTo(p, fam.remote, 4500); ok {
				hdr := 28
				if fam.remote.Is6() {
					hdr = 48
				}
				if len(p) != hdr+len(payload) || src != fam.local || !bytes.Equal(pl, payload) {
					t.Errorf("%v: read %d bytes from %v, payload %q; want %d bytes from %v", fam.remote, len(p), src, pl, hdr+len(payload), fam.local)
				}
				got = pl
			}
		}
		if got == nil {
			t.Fatalf("%v: no datagram read", fam.remote)
		}

		// Into the device: a datagram for our own address must reach a socket.
		ln, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(fam.local, 0)))
		if err != nil {
			t.Fatal(err)
		}
		from := netip.AddrPortFrom(fam.remote, 5353)
		pkt := udpPacket(from, netip.MustParseAddrPort(ln.LocalAddr().String()), []byte("in from the tunnel"))
		buf := make([]byte, MinOffset+len(pkt), MinOffset+65535)
		copy(buf[MinOffset:], pkt)
		if _, err := dev.Write([][]byte{buf}, MinOffset); err != nil {
			t.Fatalf("%v: Write: %v", fam.local, err)
		}
		ln.SetReadDeadline(time.Now().Add(5 * time.Second))
		rb := make([]byte, 2048)
		n, ra, err := ln.ReadFromUDPAddrPort(rb)
		if err != nil {
			snmp, _ := os.ReadFile("/proc/net/snmp6")
			t.Logf("diagnostics:\n%s\n%s\n%s", ipCmd(t, "-6", "route", "show", "table", "all"), ipCmd(t, "-6", "addr"), snmp)
			t.Fatalf("%v: socket did not receive the written datagram: %v", fam.local, err)
		}
		if string(rb[:n]) != "in from the tunnel" || ra.Addr().Unmap() != from.Addr() || ra.Port() != from.Port() {
			t.Errorf("%v: received %q from %v; want %q from %v", fam.local, rb[:n], ra, "in from the tunnel", from)
		}
		ln.Close()
	}
}

// testUDPSegments sends one UDP_SEGMENT (GSO) write of three 500-byte segments toward the
// tunnel. With USO on the device, the kernel hands it over as one super packet and a single
// Read splits it into three; otherwise the kernel segments it and three Reads return one.
func testUDPSegments(t *testing.T, reads <-chan batch, wantOneRead bool) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote4, 4600)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, 500) })
	if serr != nil {
		t.Skipf("UDP_SEGMENT not supported: %v", serr)
	}
	payload := bytes.Repeat([]byte("0123456789"), 150)
	if _, err := conn.Write(payload); err != nil {
		t.Fatal(err)
	}
	var segs [][]byte
	reads1 := 0
	for len(segs) < 3 {
		b := nextBatch(t, reads, func(p []byte) bool { _, _, ok := udpTo(p, remote4, 4600); return ok })
		reads1++
		for _, p := range b.pkts {
			if _, pl, ok := udpTo(p, remote4, 4600); ok {
				if len(p) != 28+500 {
					t.Errorf("segment %d is %d bytes; want %d", len(segs), len(p), 28+500)
				}
				if got := binary.BigEndian.Uint16(p[2:]); int(got) != len(p) {
					t.Errorf("segment %d: IPv4 total length %d, packet %d bytes", len(segs), got, len(p))
				}
				segs = append(segs, pl)
			}
		}
	}
	if !bytes.Equal(bytes.Join(segs, nil), payload) {
		t.Error("the segments do not reassemble to the payload sent")
	}
	if wantOneRead && reads1 != 1 {
		t.Errorf("with USO the three segments took %d reads; want 1", reads1)
	}
	if !wantOneRead && reads1 != 3 {
		t.Errorf("without offloads the three segments took %d reads; want 3", reads1)
	}
	t.Logf("3 UDP segments arrived in %d Read call(s)", reads1)
}

func TestOpenNotRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("skipping: this checks the error an unprivileged user gets")
	}
	_, err := Open(Options{Name: "oknoroot"}, nil)
	if err == nil {
		t.Fatal("Open succeeded without privileges")
	}
}
