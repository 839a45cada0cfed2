package esp

// UDPBind is oakley's batched UDP socket layer on Linux: recvmmsg/sendmmsg issued directly
// with preallocated message headers, socket addresses and control buffers, so that receiving
// and sending a batch allocates nothing; UDP GRO on receive (coalesced datagrams split into
// the caller's buffers) and UDP GSO on send (runs of equal-sized datagrams handed to the
// kernel as one scatter-gather message with a UDP_SEGMENT size, without copying); sticky
// source addresses (IP_PKTINFO) so replies leave from the address a peer talked to; SO_MARK
// for policy routing; socket buffers of a chosen size.
//
// Receiving: each socket reads up to rxMsgs datagrams per recvmmsg into an area of its own
// (64 KB per message, what one GRO-coalesced datagram can take) and hands them to the
// caller's buffers, split into segments, across as many receive calls as it takes; the
// caller's buffers need only hold one segment. A single datagram larger than the caller's
// buffer (a large IKE message) goes to the Oversize hook instead of being cut.
//
// Concurrency contract: each receive function is called from one goroutine; Send may be
// called from any number of goroutines (one send state per socket, under a mutex).

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

const (
	udpBatch        = 128 // datagrams per sendmmsg; packets per receive call
	rxMsgs          = 16  // datagrams per recvmmsg, each possibly GRO-coalesced
	rxMsgLen        = 65536
	groMaxSegments  = 64 // UDP_GRO_CNT_MAX: segments the kernel coalesces at most
	gsoMaxSegments  = 64 // the kernel refuses more segments per GSO message
	gsoMaxBytes     = 65535 - 8 - 40
	udpControlBytes = 64   // room for UDP_GRO / UDP_SEGMENT and IP(V6)_PKTINFO messages
	maxEndpoints    = 4096 // endpoint cache bound (spoofed sources must not grow it forever)
)

// NewUDPBind returns the data plane's sockets: on Linux the batched, allocation-free UDPBind
// (offload = UDP GSO/GRO when the kernel has them), elsewhere the portable PlainBind.
func NewUDPBind(offload bool, socketBuffer int) conn.Bind {
	return &UDPBind{Offload: offload, SocketBuffer: socketBuffer}
}

// UDPBind implements conn.Bind. See the file comment.
type UDPBind struct {
	Offload      bool // use UDP GSO/GRO where the kernel accepts them
	SocketBuffer int  // SO_RCVBUF/SO_SNDBUF; 0 = 4 MiB
	// Oversize, if set before Open, receives every datagram too large for the caller's
	// buffer, on the receiving goroutine, valid only during the call; without it such a
	// datagram is dropped and counted.
	Oversize func(dgram []byte, ep conn.Endpoint)

	mu    sync.Mutex
	socks []*udpSock
	mark  uint32
}

// udpEndpoint is a peer address plus the local address its datagrams arrived on.
type udpEndpoint struct {
	ap  netip.AddrPort
	src netip.Addr // sticky source; invalid = let the kernel choose
	idx int32      // interface index of src (IPv6 link-local needs it)
}

func (e *udpEndpoint) ClearSrc()           { e.src = netip.Addr{} }
func (e *udpEndpoint) SrcToString() string { return e.src.String() }
func (e *udpEndpoint) DstToString() string { return e.ap.String() }
func (e *udpEndpoint) DstToBytes() []byte  { b, _ := e.ap.MarshalBinary(); return b }
func (e *udpEndpoint) DstIP() netip.Addr   { return e.ap.Addr() }
func (e *udpEndpoint) SrcIP() netip.Addr   { return e.src }
func (e *udpEndpoint) Port() uint16        { return e.ap.Port() }

type udpSock struct {
	c    *net.UDPConn
	rc   syscall.RawConn
	v6   bool
	gso  bool
	gro  bool
	bind *UDPBind

	// receive state: one goroutine
	rxHdrs  []unix.Mmsghdr
	rxIov   []unix.Iovec
	rxNames []unix.RawSockaddrInet6
	rxCtrl  [][udpControlBytes]byte
	rxArea  []byte // rxMsgs × rxMsgLen
	rxN     int
	rxErr   syscall.Errno
	rxWait  bool // doRecv: wait for readability (false: one non-blocking attempt)
	rxFn    func(fd uintptr) bool
	rxEPs   map[netip.AddrPort]*udpEndpoint
	rxLast  *udpEndpoint
	// the datagrams of the last recvmmsg not yet handed out: qI of qN, qOff bytes into qI
	qN, qI, qOff int
	qSize        [rxMsgs]int
	qSeg         [rxMsgs]int // GRO segment size, 0 for a datagram on its own
	qEP          [rxMsgs]*udpEndpoint

	oversized   atomic.Uint64 // datagrams too large for the caller, without an Oversize hook
	rxCoalesced atomic.Uint64 // datagrams that arrived GRO-coalesced (each split into segments)
	txGSO       atomic.Uint64 // GSO messages sent (each carrying several datagrams)

	// send state: under txMu
	txMu   sync.Mutex
	txHdrs []unix.Mmsghdr
	txIov  []unix.Iovec
	txCtrl [][udpControlBytes]byte
	txName unix.RawSockaddrInet6
	txN    int
	txSent int
	txSegs [udpBatch]int // buffers carried by each message
	txErr  syscall.Errno
	txFn   func(fd uintptr) bool
}

// Open listens on port for IPv4 and, where available, IPv6 (a separate IPv6-only socket).
func (b *UDPBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.socks) > 0 {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	s4, err := b.openSock("udp4", port)
	if err != nil {
		return nil, 0, err
	}
	port = uint16(s4.c.LocalAddr().(*net.UDPAddr).Port)
	b.socks = append(b.socks, s4)
	fns := []conn.ReceiveFunc{s4.receive}
	if s6, err := b.openSock("udp6", port); err == nil {
		b.socks = append(b.socks, s6)
		fns = append(fns, s6.receive)
	}
	return fns, port, nil
}

func (b *UDPBind) openSock(network string, port uint16) (*udpSock, error) {
	c, err := net.ListenUDP(network, &net.UDPAddr{Port: int(port)})
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	s := &udpSock{c: c, rc: rc, v6: network == "udp6", bind: b, rxEPs: map[netip.AddrPort]*udpEndpoint{}, rxWait: true}
	size := b.SocketBuffer
	if size <= 0 {
		size = 4 << 20
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		f := int(fd)
		// FORCE variants pass the sysctl ceilings when privileged; the plain ones otherwise.
		if unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) != nil {
			_ = unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUF, size)
		}
		if unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size) != nil {
			_ = unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_SNDBUF, size)
		}
		if s.v6 {
			serr = unix.SetsockoptInt(f, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		} else {
			serr = unix.SetsockoptInt(f, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		}
		if b.Offload {
			// UDP_SEGMENT exists since Linux 4.18, UDP_GRO since 5.0: probe both.
			if _, err := unix.GetsockoptInt(f, unix.IPPROTO_UDP, unix.UDP_SEGMENT); err == nil {
				s.gso = true
			}
			if unix.SetsockoptInt(f, unix.IPPROTO_UDP, unix.UDP_GRO, 1) == nil {
				s.gro = true
			}
		}
		if b.mark != 0 {
			_ = unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_MARK, int(b.mark))
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("esp: UDP socket options: %w", err)
	}
	s.setup()
	return s, nil
}

func (s *udpSock) setup() {
	s.rxHdrs = make([]unix.Mmsghdr, rxMsgs)
	s.rxIov = make([]unix.Iovec, rxMsgs)
	s.rxNames = make([]unix.RawSockaddrInet6, rxMsgs)
	s.rxCtrl = make([][udpControlBytes]byte, rxMsgs)
	s.rxArea = make([]byte, rxMsgs*rxMsgLen)
	s.rxFn = s.doRecv
	s.txHdrs = make([]unix.Mmsghdr, udpBatch)
	s.txIov = make([]unix.Iovec, udpBatch)
	s.txCtrl = make([][udpControlBytes]byte, udpBatch)
	s.txFn = s.doSend
}

// receive implements conn.ReceiveFunc: it hands out queued datagrams and segments, reading
// more (waiting only if it has nothing yet) until the caller's buffers are full or the
// socket has nothing more right now.
func (s *udpSock) receive(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	out := 0
	for out < len(bufs) {
		if s.qI == s.qN {
			got, err := s.fill(out == 0)
			if err != nil {
				if out > 0 {
					return out, nil // report it on the next call
				}
				return 0, err
			}
			if got == 0 {
				break
			}
		}
		out = s.handOut(bufs, sizes, eps, out)
	}
	return out, nil
}

// fill reads up to rxMsgs datagrams into the socket's area (waiting for the first one if
// wait) and notes size, GRO segment size and endpoint of each.
func (s *udpSock) fill(wait bool) (int, error) {
	for i := range rxMsgs {
		s.prepareRx(i, s.rxArea[i*rxMsgLen:(i+1)*rxMsgLen])
	}
	s.rxWait = wait
	got, err := s.recvmmsg(rxMsgs)
	if err != nil {
		return 0, err
	}
	for i := range got {
		s.qSize[i] = int(s.rxHdrs[i].Len)
		s.qSeg[i] = s.groSize(i)
		if s.qSeg[i] >= s.qSize[i] {
			s.qSeg[i] = 0
		}
		if s.qSeg[i] > 0 {
			s.rxCoalesced.Add(1)
		}
		s.qEP[i] = s.endpoint(i)
	}
	s.qN, s.qI, s.qOff = got, 0, 0
	return got, nil
}

// handOut copies queued datagrams (segments of coalesced ones: linux/udp.h UDP_GRO, equal
// segments of qSeg bytes, the last possibly shorter) into bufs[out:], in order.
func (s *udpSock) handOut(bufs [][]byte, sizes []int, eps []conn.Endpoint, out int) int {
	for out < len(bufs) && s.qI < s.qN {
		i := s.qI
		d := s.rxArea[i*rxMsgLen : i*rxMsgLen+s.qSize[i]]
		seg := s.qSeg[i]
		if seg == 0 {
			seg = len(d)
		}
		end := min(s.qOff+seg, len(d))
		p := d[s.qOff:end]
		if s.qOff = end; end == len(d) {
			s.qI, s.qOff = s.qI+1, 0
		}
		if len(p) > len(bufs[out]) {
			if h := s.bind.Oversize; h != nil {
				h(p, s.qEP[i])
			} else {
				s.oversized.Add(1)
			}
			continue
		}
		sizes[out] = copy(bufs[out], p)
		eps[out] = s.qEP[i]
		out++
	}
	return out
}

func (s *udpSock) prepareRx(i int, buf []byte) {
	h := &s.rxHdrs[i].Hdr
	s.rxIov[i].Base = &buf[0]
	s.rxIov[i].SetLen(len(buf))
	h.Iov = &s.rxIov[i]
	h.SetIovlen(1)
	h.Name = (*byte)(unsafe.Pointer(&s.rxNames[i]))
	h.Namelen = unix.SizeofSockaddrInet6
	h.Control = &s.rxCtrl[i][0]
	h.SetControllen(udpControlBytes)
	h.Flags = 0
}

func (s *udpSock) recvmmsg(n int) (int, error) {
	s.rxN = n
	if err := s.rc.Read(s.rxFn); err != nil {
		return 0, err
	}
	if s.rxErr != 0 {
		return 0, s.rxErr
	}
	return s.rxN, nil
}

// doRecv is the RawConn read callback: false asks the poller to wait for readability.
func (s *udpSock) doRecv(fd uintptr) bool {
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.rxHdrs[0])), uintptr(s.rxN), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EINTR || e == unix.EAGAIN && s.rxWait {
		return false
	}
	if e == unix.EAGAIN {
		s.rxErr, s.rxN = 0, 0 // nothing now, and the caller does not want to wait
		return true
	}
	s.rxErr, s.rxN = e, int(r)
	return true
}

// endpoint returns the cached endpoint of datagram i's source, refreshing its sticky source.
func (s *udpSock) endpoint(i int) *udpEndpoint {
	ap := sockaddrToAddrPort(&s.rxNames[i])
	src, idx := s.pktinfo(i)
	ep := s.rxLast
	if ep == nil || ep.ap != ap {
		ep = s.rxEPs[ap]
		if ep == nil {
			if len(s.rxEPs) >= maxEndpoints {
				clear(s.rxEPs)
			}
			ep = &udpEndpoint{ap: ap}
			s.rxEPs[ap] = ep
		}
		s.rxLast = ep
	}
	if src.IsValid() && (ep.src != src || ep.idx != idx) {
		ep.src, ep.idx = src, idx
	}
	return ep
}

func sockaddrToAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

// cmsgs walks the control messages of received datagram i.
func (s *udpSock) cmsgs(i int, fn func(level, typ int32, data []byte)) {
	h := &s.rxHdrs[i].Hdr
	b := s.rxCtrl[i][:h.Controllen]
	for len(b) >= unix.SizeofCmsghdr {
		c := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(c.Len)
		if l < unix.SizeofCmsghdr || l > len(b) {
			return
		}
		fn(c.Level, c.Type, b[unix.SizeofCmsghdr:l])
		adv := unix.CmsgSpace(l - unix.SizeofCmsghdr)
		if adv > len(b) {
			return
		}
		b = b[adv:]
	}
}

func (s *udpSock) groSize(i int) int {
	seg := 0
	s.cmsgs(i, func(level, typ int32, data []byte) {
		if level == unix.IPPROTO_UDP && typ == unix.UDP_GRO && len(data) >= 2 {
			seg = int(*(*uint16)(unsafe.Pointer(&data[0])))
		}
	})
	return seg
}

func (s *udpSock) pktinfo(i int) (netip.Addr, int32) {
	var a netip.Addr
	var idx int32
	s.cmsgs(i, func(level, typ int32, data []byte) {
		switch {
		case level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			a, idx = netip.AddrFrom4(pi.Spec_dst), pi.Ifindex
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			a, idx = netip.AddrFrom16(pi.Addr), int32(pi.Ifindex)
		}
	})
	return a, idx
}

// Send writes each buffer as one datagram to ep, coalescing runs of equal-sized datagrams
// into GSO messages where the kernel supports it.
func (b *UDPBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	if len(bufs) == 0 {
		return nil
	}
	dst := ep.DstIP().Unmap()
	b.mu.Lock()
	var s *udpSock
	for _, x := range b.socks {
		if x.v6 == dst.Is6() {
			s = x
		}
	}
	b.mu.Unlock()
	if s == nil {
		return fmt.Errorf("esp: no socket for %s: %w", dst, net.ErrClosed)
	}
	var e *udpEndpoint
	switch x := ep.(type) {
	case *udpEndpoint:
		e = x
	default:
		ap, err := netip.ParseAddrPort(ep.DstToString())
		if err != nil {
			return err
		}
		e = &udpEndpoint{ap: ap}
	}
	return s.send(bufs, e)
}

func (s *udpSock) send(bufs [][]byte, ep *udpEndpoint) error {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	putSockaddr(&s.txName, ep.ap, s.v6)
	for len(bufs) > 0 {
		n, consumed := s.buildTx(bufs, ep)
		s.txN, s.txSent = n, 0
		for s.txSent < s.txN {
			if err := s.rc.Write(s.txFn); err != nil {
				return err
			}
			if s.txErr != 0 {
				break
			}
		}
		if s.txSent == s.txN {
			bufs = bufs[consumed:]
			continue
		}
		if !s.gso || (s.txErr != unix.EIO && s.txErr != unix.EINVAL) {
			return s.txErr
		}
		// The egress device cannot checksum-offload GSO: fall back for good (wireguard-go
		// meets the same with some NICs) and resend only what did not leave.
		s.gso = false
		done := 0
		for _, k := range s.txSegs[:s.txSent] {
			done += k
		}
		bufs = bufs[done:]
	}
	return nil
}

// buildTx fills message headers for as many buffers as fit one sendmmsg, returning the
// message count and how many buffers they carry.
func (s *udpSock) buildTx(bufs [][]byte, ep *udpEndpoint) (msgs, consumed int) {
	iov := 0
	for consumed < len(bufs) && msgs < udpBatch && iov < udpBatch {
		start := consumed
		size := len(bufs[start])
		total := 0
		segs := 0
		for consumed < len(bufs) && iov < udpBatch {
			l := len(bufs[consumed])
			if segs > 0 && (!s.gso || l > size || segs == gsoMaxSegments || total+l > gsoMaxBytes) {
				break
			}
			s.txIov[iov].Base = &bufs[consumed][0]
			s.txIov[iov].SetLen(l)
			iov++
			consumed++
			segs++
			total += l
			if l < size { // a shorter datagram ends a GSO run
				break
			}
		}
		s.txSegs[msgs] = segs
		h := &s.txHdrs[msgs].Hdr
		h.Name = (*byte)(unsafe.Pointer(&s.txName))
		if s.v6 {
			h.Namelen = unix.SizeofSockaddrInet6
		} else {
			h.Namelen = unix.SizeofSockaddrInet4
		}
		h.Iov = &s.txIov[iov-segs]
		h.SetIovlen(segs)
		ctl := s.txCtrl[msgs][:0:udpControlBytes]
		if segs > 1 {
			s.txGSO.Add(1)
			ctl = appendCmsg(ctl, unix.IPPROTO_UDP, unix.UDP_SEGMENT, 2, func(b []byte) {
				*(*uint16)(unsafe.Pointer(&b[0])) = uint16(size)
			})
		}
		if ep.src.IsValid() {
			ctl = appendPktinfo(ctl, ep, s.v6)
		}
		if len(ctl) > 0 {
			h.Control = &s.txCtrl[msgs][0]
			h.SetControllen(len(ctl))
		} else {
			h.Control = nil
			h.SetControllen(0)
		}
		msgs++
	}
	return msgs, consumed
}

func appendCmsg(b []byte, level, typ int32, n int, fill func([]byte)) []byte {
	start := len(b)
	b = b[:start+unix.CmsgSpace(n)]
	clear(b[start:])
	c := (*unix.Cmsghdr)(unsafe.Pointer(&b[start]))
	c.Level, c.Type = level, typ
	c.SetLen(unix.CmsgLen(n))
	fill(b[start+unix.SizeofCmsghdr:])
	return b
}

func appendPktinfo(b []byte, ep *udpEndpoint, v6 bool) []byte {
	if !v6 && ep.src.Is4() {
		return appendCmsg(b, unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo, func(d []byte) {
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&d[0]))
			pi.Spec_dst = ep.src.As4()
		})
	}
	if v6 && ep.src.Is6() {
		return appendCmsg(b, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo, func(d []byte) {
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&d[0]))
			pi.Addr = ep.src.As16()
			if ep.src.IsLinkLocalUnicast() {
				pi.Ifindex = uint32(ep.idx)
			}
		})
	}
	return b
}

func putSockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort, v6 bool) {
	*sa = unix.RawSockaddrInet6{}
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	if !v6 {
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		a.Family = unix.AF_INET
		a.Addr = ap.Addr().Unmap().As4()
		port = (*[2]byte)(unsafe.Pointer(&a.Port))
	} else {
		sa.Family = unix.AF_INET6
		sa.Addr = ap.Addr().As16()
	}
	port[0], port[1] = byte(ap.Port()>>8), byte(ap.Port())
}

// doSend is the RawConn write callback: false asks the poller to wait for writability.
func (s *udpSock) doSend(fd uintptr) bool {
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.txHdrs[s.txSent])), uintptr(s.txN-s.txSent), 0, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	s.txErr = e
	if e == 0 {
		s.txSent += int(r)
	}
	return true
}

// Close closes the sockets; receive functions then return net.ErrClosed.
func (b *UDPBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	for _, s := range b.socks {
		err = errors.Join(err, s.c.Close())
	}
	b.socks = nil
	return err
}

// SetMark sets SO_MARK on the sockets (and on sockets opened later).
func (b *UDPBind) SetMark(mark uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mark = mark
	for _, s := range b.socks {
		var serr error
		if err := s.rc.Control(func(fd uintptr) { serr = setMark(fd, mark) }); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
	}
	return nil
}

// SetOversize sets the Oversize hook; call it before Open.
func (b *UDPBind) SetOversize(fn func(dgram []byte, ep conn.Endpoint)) { b.Oversize = fn }

// BatchSize is the number of datagrams per receive call.
func (b *UDPBind) BatchSize() int { return udpBatch }

// ParseEndpoint parses "address:port".
func (b *UDPBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	return &udpEndpoint{ap: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, nil
}

// EndpointFrom returns an endpoint for dst whose datagrams leave from src (invalid, or an
// IPv6 link-local address whose interface is unknown here: the kernel chooses).
func (b *UDPBind) EndpointFrom(dst netip.AddrPort, src netip.Addr) conn.Endpoint {
	ep := &udpEndpoint{ap: netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())}
	if src = src.Unmap(); src.IsValid() && !src.IsUnspecified() && !src.IsLinkLocalUnicast() && src.Is4() == ep.ap.Addr().Is4() {
		ep.src = src
	}
	return ep
}

// OffloadStats reports whether the IPv4 socket uses UDP GSO and GRO, and how many GSO
// messages were sent and GRO-coalesced datagrams received on all sockets.
type OffloadStats struct {
	GSO, GRO             bool
	GSOSent, GROReceived uint64
	Oversized            uint64 // datagrams dropped: larger than the caller's buffer, no Oversize hook
}

// Offloads returns the bind's offload state and counters.
func (b *UDPBind) Offloads() OffloadStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	var o OffloadStats
	for i, s := range b.socks {
		if i == 0 {
			o.GSO, o.GRO = s.gso, s.gro
		}
		o.GSOSent += s.txGSO.Load()
		o.GROReceived += s.rxCoalesced.Load()
		o.Oversized += s.oversized.Load()
	}
	return o
}
