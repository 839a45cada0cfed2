package esp

// PlainBind is a conn.Bind over ordinary UDP sockets: batched with recvmmsg/sendmmsg where
// the OS has them (golang.org/x/net), but without UDP GSO/GRO, and with socket buffers of a
// chosen size. The data plane uses it when udp_offload = false; with offloads it uses
// wireguard-go's StdNetBind. Safe for concurrent use: one goroutine per receive function,
// any number of senders.

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.zx2c4.com/wireguard/conn"
)

// PlainBatch is the number of datagrams a PlainBind moves per system call.
const PlainBatch = 64

// PlainBind implements conn.Bind without offloads.
type PlainBind struct {
	SocketBuffer int // SO_RCVBUF/SO_SNDBUF; 0 = OS default

	mu   sync.Mutex
	v4   *net.UDPConn
	v6   *net.UDPConn
	pc4  *ipv4.PacketConn
	pc6  *ipv6.PacketConn
	msgs sync.Pool
}

// PlainEndpoint is a PlainBind peer.
type PlainEndpoint struct{ netip.AddrPort }

func (e PlainEndpoint) ClearSrc()           {}
func (e PlainEndpoint) SrcToString() string { return "" }
func (e PlainEndpoint) DstToString() string { return e.AddrPort.String() }
func (e PlainEndpoint) DstToBytes() []byte  { b, _ := e.AddrPort.MarshalBinary(); return b }
func (e PlainEndpoint) DstIP() netip.Addr   { return e.Addr() }
func (e PlainEndpoint) SrcIP() netip.Addr   { return netip.Addr{} }

// Open listens on port for IPv4 and (where available) IPv6.
func (b *PlainBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v4 != nil || b.v6 != nil {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	v4, err := net.ListenUDP("udp4", &net.UDPAddr{Port: int(port)})
	if err != nil {
		return nil, 0, err
	}
	port = uint16(v4.LocalAddr().(*net.UDPAddr).Port)
	b.v4, b.pc4 = v4, ipv4.NewPacketConn(v4)
	fns := []conn.ReceiveFunc{b.receive4}
	if v6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: int(port)}); err == nil {
		b.v6, b.pc6 = v6, ipv6.NewPacketConn(v6)
		fns = append(fns, b.receive6)
	}
	if b.SocketBuffer > 0 {
		for _, c := range []*net.UDPConn{b.v4, b.v6} {
			if c != nil {
				_ = c.SetReadBuffer(b.SocketBuffer)
				_ = c.SetWriteBuffer(b.SocketBuffer)
			}
		}
	}
	b.msgs.New = func() any {
		m := make([]ipv4.Message, PlainBatch)
		for i := range m {
			m[i].Buffers = make([][]byte, 1)
		}
		return &m
	}
	return fns, port, nil
}

func (b *PlainBind) receive4(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	return b.receive(b.pc4, nil, b.v4, packets, sizes, eps)
}

func (b *PlainBind) receive6(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	return b.receive(nil, b.pc6, b.v6, packets, sizes, eps)
}

func (b *PlainBind) receive(pc4 *ipv4.PacketConn, pc6 *ipv6.PacketConn, c *net.UDPConn, packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	if runtime.GOOS != "linux" {
		n, ap, err := c.ReadFromUDPAddrPort(packets[0])
		if err != nil {
			return 0, err
		}
		sizes[0], eps[0] = n, PlainEndpoint{netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
		return 1, nil
	}
	mp := b.msgs.Get().(*[]ipv4.Message)
	defer b.msgs.Put(mp)
	msgs := (*mp)[:min(len(packets), PlainBatch)]
	for i := range msgs {
		msgs[i].Buffers[0] = packets[i]
		msgs[i].OOB = nil
	}
	var n int
	var err error
	if pc4 != nil {
		n, err = pc4.ReadBatch(msgs, 0)
	} else {
		n, err = pc6.ReadBatch(msgs, 0)
	}
	if err != nil {
		return 0, err
	}
	for i := range n {
		sizes[i] = msgs[i].N
		if ua, ok := msgs[i].Addr.(*net.UDPAddr); ok {
			ap := ua.AddrPort()
			eps[i] = PlainEndpoint{netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
		}
	}
	return n, nil
}

// Close closes the sockets; receive functions then return net.ErrClosed.
func (b *PlainBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	for _, c := range []*net.UDPConn{b.v4, b.v6} {
		if c != nil {
			err = errors.Join(err, c.Close())
		}
	}
	b.v4, b.v6 = nil, nil
	return err
}

// SetMark sets SO_MARK on the sockets (Linux; a no-op elsewhere).
func (b *PlainBind) SetMark(mark uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range []*net.UDPConn{b.v4, b.v6} {
		if c == nil {
			continue
		}
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = setMark(fd, mark) }); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
	}
	return nil
}

// BatchSize is the number of datagrams per receive.
func (b *PlainBind) BatchSize() int { return PlainBatch }

// ParseEndpoint parses "address:port".
func (b *PlainBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	return PlainEndpoint{netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, nil
}

// Send writes each buffer as one datagram to ep.
func (b *PlainBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	ap, err := netip.ParseAddrPort(ep.DstToString())
	if err != nil {
		return err
	}
	b.mu.Lock()
	c4, c6, pc4, pc6 := b.v4, b.v6, b.pc4, b.pc6
	b.mu.Unlock()
	ua := net.UDPAddrFromAddrPort(ap)
	if ap.Addr().Is4() && c4 == nil || ap.Addr().Is6() && c6 == nil {
		return net.ErrClosed
	}
	if runtime.GOOS != "linux" {
		c := c4
		if ap.Addr().Is6() {
			c = c6
		}
		for _, p := range bufs {
			if _, err := c.WriteToUDP(p, ua); err != nil {
				return err
			}
		}
		return nil
	}
	mp := b.msgs.Get().(*[]ipv4.Message)
	defer b.msgs.Put(mp)
	for start := 0; start < len(bufs); {
		msgs := (*mp)[:min(len(bufs)-start, PlainBatch)]
		for i := range msgs {
			msgs[i].Buffers[0] = bufs[start+i]
			msgs[i].Addr = ua
			msgs[i].OOB = nil
		}
		var n int
		if ap.Addr().Is4() {
			n, err = pc4.WriteBatch(msgs, 0)
		} else {
			n, err = pc6.WriteBatch(msgs, 0)
		}
		if err != nil {
			return err
		}
		start += n
	}
	return nil
}
